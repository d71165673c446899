"""A story's alerts read from an index: the web view's story page asked which topics alerted on
the story by scanning every alert.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 18:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alerts_story_id_topic", "alerts", ["story_id", "topic"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alerts_story_id_topic", table_name="alerts")
