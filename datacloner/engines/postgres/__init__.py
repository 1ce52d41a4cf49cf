"""PostgreSQL engine: one module per job (see README Layout)."""
