"""Articles read again because their feed marked them updated: ``articles.revision_of_id``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision_of_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_articles_revision_of_id"), ["revision_of_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_articles_revision_of_id_articles"),
            "articles",
            ["revision_of_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_articles_revision_of_id_articles"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_articles_revision_of_id"))
        batch_op.drop_column("revision_of_id")
