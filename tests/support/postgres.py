"""Throw-away PostgreSQL databases for tests."""

from __future__ import annotations

from sqlalchemy import Engine, text


def drop_database(admin: Engine, name: str) -> None:
    """Drop database ``name`` through ``admin`` (an AUTOCOMMIT engine), ending its sessions
    first: a test's leftover connection must not keep it alive."""
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
