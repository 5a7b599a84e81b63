"""Runs the ledger's Alembic migrations against the MySQL primary."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from paystream.errors import ServiceUnavailableError
from paystream.settings import MySQLSettings
from paystream.stores.mysql import primary_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at ``url`` and the bundled migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: MySQLSettings, revision: str = "head") -> None:
    """Bring the ledger schema on the primary up to ``revision`` (idempotent).

    Raises:
        ServiceUnavailableError: the primary cannot be reached.
    """
    url = settings.primary_url.get_secret_value()
    engine = primary_engine(settings)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        where = f"{engine.url.host}:{engine.url.port}"
        raise ServiceUnavailableError("MySQL primary", where, str(exc.orig)[:120]) from exc
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), revision)
