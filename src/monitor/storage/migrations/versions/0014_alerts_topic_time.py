"""A topic's newest alerts read in order from an index: the web view's topic timeline and feed
took the topic's every alert and sorted them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_alerts_topic_created_at_id", "alerts", ["topic", "created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_topic_created_at_id", table_name="alerts")
