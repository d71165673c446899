"""A source's rhythm and polling: new entries per day, its last new entry, when it is next
due, the class of its latest failure, whether it went quiet (see monitor.polling).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("new_per_day", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("last_new_entry_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure_class", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column("quiet", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("quiet")
        batch_op.drop_column("failure_class")
        batch_op.drop_column("next_poll_at")
        batch_op.drop_column("last_new_entry_at")
        batch_op.drop_column("new_per_day")
