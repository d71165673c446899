"""State shared by every config on a database: topic cursors, feed validators by URL, and
who runs a cycle of a config.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 19:30:00.000000

A topic's cursor is created the first time a cycle evaluates the topic, at the newest article
then stored: topics of an existing database start from there, not from the whole archive.
Validators stored per source are copied to their feed URL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_validators",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_feed_validators")),
    )
    op.create_table(
        "topic_cursors",
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", name=op.f("pk_topic_cursors")),
    )
    op.create_table(
        "cycle_locks",
        sa.Column("config", sa.String(length=500), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("config", name=op.f("pk_cycle_locks")),
    )
    op.execute(
        "INSERT INTO feed_validators (url, etag, last_modified, updated_at) "
        "SELECT url, MAX(etag), MAX(last_modified), CURRENT_TIMESTAMP FROM sources "
        "WHERE etag IS NOT NULL OR last_modified IS NOT NULL GROUP BY url"
    )


def downgrade() -> None:
    op.drop_table("cycle_locks")
    op.drop_table("topic_cursors")
    op.drop_table("feed_validators")
