"""`secretsctl rehearse`: local rotation rehearsal on workerd (not yet built)."""
