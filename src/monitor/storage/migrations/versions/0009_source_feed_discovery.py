"""A source set to a home or section page: the feed found for it (``sources.feed_url``), why it
was chosen (``feed_choice``) and when (``discovered_at``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("feed_choice", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("discovered_at")
        batch_op.drop_column("feed_choice")
        batch_op.drop_column("feed_url")
