"""Alembic environment: runs against the engine handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from monitor.storage.tables import Base

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 0x6D6F6E6D6967  # PostgreSQL advisory lock key of schema migrations


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # invoked from the alembic CLI
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes migrating an empty database at once (two `monitor db upgrade`, two
            # first cycles): the second waits here until the first commits, then finds the
            # schema at head. Held until this transaction ends.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
