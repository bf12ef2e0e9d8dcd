"""Bring an audit database to the newest schema with Alembic. Every start of the service does this
(under a PostgreSQL advisory lock, so that several workers starting together migrate once);
`jingce audit migrate` does it alone, for a deployment that migrates before it starts the app."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

_SCRIPTS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x6A696E6763  # "jingc": the advisory lock key the workers share


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Runs the migrations not yet applied; returns the revision the database is now at."""
    head = head_revision()
    if current_revision(engine) == head:
        return head
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            connection.commit()
        try:
            command.upgrade(_config(connection), "head")
            connection.commit()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                connection.commit()
    return head
