"""`secretsctl rotate`, `promote`, `check` and `diff`: the rotation workflow (not yet built)."""
