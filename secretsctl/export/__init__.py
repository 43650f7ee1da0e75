"""`secretsctl export`: a stack's configuration for other tools (wrangler)."""
