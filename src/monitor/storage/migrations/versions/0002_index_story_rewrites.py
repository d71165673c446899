"""Index the per-article rewrites by story: ``story_terms`` keyed by (story, term); alerts by
(topic, story) and deliveries by (channel, created_at) for the lookups of raising an alert.

Every stored article deletes and rewrites its story's ``story_terms`` rows. With the key led by
``term``, that delete had no index to use: SQLite walked every distinct term of the active index
and PostgreSQL scanned the table, once per article, so ingest slowed as the active index grew.
The (term, weight) index still serves candidate lookup.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.drop_constraint("pk_story_terms", type_="primary")
        batch_op.create_primary_key("pk_story_terms", ["story_id", "term"])
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_topic")
        batch_op.create_index("ix_alerts_topic_story_id", ["topic", "story_id"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_channel_created_at", ["channel", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_channel_created_at")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_topic_story_id")
        batch_op.create_index("ix_alerts_topic", ["topic"], unique=False)
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.drop_constraint("pk_story_terms", type_="primary")
        batch_op.create_primary_key("pk_story_terms", ["term", "story_id"])
