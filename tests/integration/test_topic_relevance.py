"""Topic relevance end to end: a query term mentioned once, deep in an unrelated article, does
not alert a ``relevance: prominent`` topic (the default); ``monitor topics test`` lists such
articles as borderline and ``monitor explain`` says why a topic passed over one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import parse_config
from monitor.detection_settings import DetectionSettings
from monitor.pipeline.detect import detect
from monitor.storage.db import session_factory
from monitor.storage.tables import AlertRow
from tests.support.articles import article

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
FERRY = (
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June. "
    "Engineers found corrosion in 14 of its 22 steel piles, council leader Ines Varga said. "
    "The ferry to Kell Island will move to the north quay while a new terminal is built."
)
# A choir story that mentions the ferry once, in its last sentence, past the lead.
CHOIR = (
    "The Fenwick youth choir won the national title in Carrow on Saturday with 91 points. "
    "Conductor Alma Rudd said the 40 singers had rehearsed twice a week since September, "
    "often late into the evening in the cold church hall on Mill Lane, where the heating "
    "broke in November and parents brought blankets and soup for the rehearsals. The choir "
    "sang works by Byrd, Tallis and two young local composers, and the jury praised its "
    "tuning and the clarity of its diction in the final round. After the results the "
    "singers took the Tarrow ferry home, still wearing their medals."
)
TOPICS = [
    {"name": "ferry", "query": "tarrow AND ferry"},
    {"name": "ferry-anywhere", "query": "tarrow AND ferry", "relevance": "anywhere"},
]


@pytest.fixture
def stored(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    articles = [
        article(
            "gazette", "https://gazette.example/1", "Tarrow to close ferry terminal", FERRY, T0
        ),
        article(
            "post", "https://post.example/2", "Fenwick choir wins", CHOIR, T0 + timedelta(hours=2)
        ),
    ]
    config = parse_config({"topics": TOPICS})
    detect(session_factory(engine), articles, {}, config, DetectionSettings(), now=T0)
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({"topics": TOPICS}))
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_a_mention_in_passing_alerts_only_the_anywhere_topic(stored: Path, engine: Engine) -> None:
    with session_factory(engine)() as session:
        alerted = {(a.topic, a.article_id) for a in session.scalars(select(AlertRow))}
    assert alerted == {("ferry", 1), ("ferry-anywhere", 1), ("ferry-anywhere", 2)}
    with session_factory(engine)() as session:
        reason = session.scalars(select(AlertRow.reason).where(AlertRow.article_id == 2)).one()
    assert 'once, deep in the text: "tarrow", "ferry"' in reason


def test_topics_test_reports_alerts_and_borderline_articles(stored: Path) -> None:
    code, out = _run("topics", "test", "tarrow AND ferry", "--json")
    assert code == 0, out
    (report,) = json.loads(out)
    assert [h["article_id"] for h in report["alerts"]] == [1]
    assert report["borderline_count"] == 1
    assert report["borderline"][0]["article_id"] == 2
    code, out = _run("topics", "test", "tarrow AND body:ferry", "--relevance", "strict", "--json")
    assert json.loads(out)[0]["borderline_count"] == 1  # tarrow is still only in passing
    code, out = _run("topics", "test", "body:(tarrow AND ferry)", "--json")
    assert [h["article_id"] for h in json.loads(out)[0]["alerts"]] == [1, 2]
    code, out = _run("topics", "test", "tarrow AND ferry", "--relevance", "loose")
    assert code == 2
    code, out = _run("topics", "test", "--config", str(stored))
    assert code == 0, out
    assert "topic 'ferry': tarrow AND ferry  (relevance: prominent)" in out
    assert "borderline: 1 more would have alerted" in out
    assert "#2 [post] development: Fenwick choir wins" in out
    assert "topic 'ferry-anywhere': tarrow AND ferry  (relevance: anywhere)" in out


def test_explain_shows_each_topics_reading(stored: Path) -> None:
    code, out = _run("explain", "2", "--config", str(stored))
    assert code == 0, out
    assert "topic 'ferry' (prominent): mentions its terms only in passing" in out
    assert "topic 'ferry-anywhere' (anywhere): matches (once, deep in the text:" in out
    code, out = _run("explain", "1", "--config", str(stored), "--json")
    readings = {r["topic"]: r for r in json.loads(out)["topics"]}
    assert readings["ferry"]["why"] == 'title: "tarrow", "ferry"'
