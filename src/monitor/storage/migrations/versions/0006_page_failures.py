"""Pages that keep failing, counted and parked: ``page_failures``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 19:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "page_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url_key", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_page_failures_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_failures")),
        sa.UniqueConstraint("url_key", name=op.f("uq_page_failures_url_key")),
    )
    with op.batch_alter_table("page_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_page_failures_source_id"), ["source_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("page_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_page_failures_source_id"))
    op.drop_table("page_failures")
