"""The ledger: SQLAlchemy models, Alembic migrations and the migration runner."""
