"""No index on ``articles.development_id``: no query looks articles up by their development
(alerting joins developments by their primary key; a report's lookup reads the article by its
id), and every stored article wrote an entry into it twice, when inserted and when placed.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 17:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_articles_development_id", table_name="articles")


def downgrade() -> None:
    op.create_index("ix_articles_development_id", "articles", ["development_id"], unique=False)
