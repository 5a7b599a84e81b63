"""Alembic environment: the URL comes from paystream settings (the MySQL primary)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from paystream.ledger.models import Base

config = context.config


def run_migrations_online() -> None:
    """Run migrations against the URL the caller put in the Alembic config."""
    url = config.get_main_option("sqlalchemy.url")
    assert url, "paystream.ledger.migrate sets sqlalchemy.url"
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
