"""On PostgreSQL the large JSON and text values every stored article writes are compressed with
LZ4.

``stories.state`` (the centroid every candidate lookup reads) and ``stories.memory`` are
rewritten at each article a story takes in, and are over the size at which PostgreSQL
compresses a row's values; ``articles.text`` and ``articles.decision`` likewise, once each.
PostgreSQL's default compression (pglz) costs the server more CPU than LZ4 to compress and to
read back, for about the same size. Values stored before keep their compression until they are
written again (a story's state, at its next article); both are read alike. A server built
without LZ4 (or older than PostgreSQL 14) keeps pglz.

SQLite has no such setting; nothing changes there.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 03:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COMPRESSED = (
    ("stories", "state"),
    ("stories", "memory"),
    ("articles", "text"),
    ("articles", "decision"),
)

_HAS_LZ4 = text(
    "SELECT current_setting('server_version_num')::int >= 140000 AND EXISTS ("
    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
    "AND 'lz4' = ANY(enumvals))"
)


def _set(compression: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.execute(_HAS_LZ4).scalar():
        for table, column in _COMPRESSED:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {compression}")


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
