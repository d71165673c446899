"""The retention flow under the session's Prefect test server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from monitor.config import parse_config
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.storage.db import session_factory
from monitor.storage.tables import ArticleRow

pytestmark = pytest.mark.usefixtures("prefect_harness")

RECALL = (
    "The Lowen district council recalled 3,000 water meters on Monday after a fault in their "
    "valves. Council engineer Marit Sand said households would get new meters within 6 weeks. "
    "Bills for the last quarter will be estimated from the same quarter of the previous year."
)


def test_prune_flow_drops_old_texts_and_publishes_a_summary(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from flows.maintenance import prune_archive_flow
    from prefect.artifacts import Artifact

    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    now = datetime.now(UTC)
    sessions = session_factory(engine)
    articles = [
        Article(
            source="lowen-post",
            url=f"https://lowen-post.test/{n}",
            canonical_url=f"https://lowen-post.test/{n}",
            title="Lowen recalls water meters",
            text=RECALL if n == 1 else RECALL.replace("Monday", "Friday") + " Sand apologised.",
            fetched_at=when,
            published_at=when,
        )
        for n, when in ((1, now - timedelta(days=400)), (2, now - timedelta(days=1)))
    ]
    config = parse_config({"topics": []})
    detect(sessions, articles, {}, config, DetectionSettings(), now=now)

    url = engine.url.render_as_string(hide_password=False)
    result = prune_archive_flow(keep_days=30, database_url=url)

    assert result["articles"] == 1
    assert result["dry_run"] is False
    with sessions() as s:
        texts = dict(s.execute(select(ArticleRow.id, ArticleRow.text)).all())
    assert texts[1] == ""
    assert texts[2].startswith("The Lowen district council")
    artifact = Artifact.get("monitor-prune-summary")
    assert artifact is not None
    assert "- 1 article fetched before" in str(artifact.data)
    assert "lost their text and explain record" in str(artifact.data)


def test_prune_flow_refuses_zero_days_before_touching_anything(engine: Engine) -> None:
    from flows.maintenance import prune_archive_flow
    from prefect.exceptions import ParameterTypeError

    url = engine.url.render_as_string(hide_password=False)
    with pytest.raises(ParameterTypeError, match="keep_days"):
        prune_archive_flow(keep_days=0, database_url=url)
