"""A source's kind as configured: a feed (or a page whose feed is found), or a section page
whose article links are read (see monitor.sections).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), server_default="feed", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("kind")
