"""The ``monitor`` listing and maintenance commands against real databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

from monitor.cli import app
from monitor.cli.stories import register as register_stories
from monitor.config import parse_config
from monitor.detection_settings import DetectionSettings
from monitor.errors import ConfigError
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.pipeline.report import CycleReport, save_report
from monitor.storage.db import head_revisions, session_factory
from monitor.storage.tables import SourceRow
from tests.support.articles import article
from tests.support.cli import stage_app

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
FERRY = (
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June. "
    "Engineers found corrosion in 14 of its 22 steel piles, council leader Ines Varga said. "
    "The ferry to Kell Island will move to the north quay while a new terminal is built."
)
FERRY_FOLLOW_UP = (
    "Kell Lines said on Thursday it would add a second ferry, the Marta, from 3 April. "
    "Fares on the Tarrow crossing will rise by 8 percent, the operator's director Juno Pell said."
)
CHOIR = (
    "The Fenwick youth choir won the national title in Carrow on Saturday with 91 points. "
    "Conductor Alma Rudd said the 40 singers had rehearsed twice a week since September."
)


# A feed's server asked to be left alone for two hours (whole minutes, as printed).
RETRY_AT = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)


def _article(n: int, source: str, title: str, text: str, hours: int) -> Article:
    return article(
        source, f"https://{source}.example/{n}", title, text, T0 + timedelta(hours=hours)
    )


@pytest.fixture
def seeded(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add(
            SourceRow(
                name="gazette",
                url="https://gazette.example/rss",
                consecutive_failures=0,
                articles_seen=0,
            )
        )
        s.add(
            SourceRow(
                name="post",
                url="https://post.example/rss",
                consecutive_failures=3,
                articles_seen=0,
                last_error="HTTP 503 from https://post.example/rss, asked to wait 7200s",
                last_error_type="TransientFetchError",
                retry_at=RETRY_AT,
                last_success_at=T0,
            )
        )
    articles = [
        _article(1, "gazette", "Tarrow to close ferry terminal", FERRY, 0),
        _article(2, "post", "Tarrow to close ferry terminal", FERRY, 1),  # a reprint
        _article(3, "gazette", "Kell Lines adds a second ferry", FERRY_FOLLOW_UP + " " + FERRY, 30),
        _article(4, "post", "Fenwick choir wins", CHOIR, 31),
    ]
    config = parse_config({"topics": [{"name": "ferry", "query": "tarrow AND ferry"}]})
    detect(sessions, articles, {}, config, DetectionSettings(), now=T0)
    with sessions.begin() as s:
        save_report(
            s,
            CycleReport(T0, T0 + timedelta(seconds=3), 2, 0, 1, 0, 4, 4, 0, 1, 0, 2, 2, 0, 2, 0, 0),
        )
    return db_url


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_articles_lists_duplicates_and_developments(seeded: str) -> None:
    code, out = _run("articles", "--json")
    assert code == 0, out
    rows = {r["id"]: r for r in json.loads(out)}
    assert len(rows) == 4
    assert rows[2]["duplicate_of"] == 1
    assert rows[1]["is_development"]
    assert rows[3]["is_development"]
    assert rows[1]["story_id"] == rows[3]["story_id"] != rows[4]["story_id"]
    code, out = _run("articles", "--duplicates")
    assert code == 0
    assert "dup of #1" in out
    assert "choir" not in out


def test_sources_show_health(seeded: str) -> None:
    code, out = _run("sources", "--json")
    assert code == 0, out
    health = {r["name"]: r for r in json.loads(out)}
    assert health["post"]["consecutive_failures"] == 3
    assert datetime.fromisoformat(health["post"]["retry_at"]) == RETRY_AT
    assert health["gazette"]["retry_at"] is None
    assert health["gazette"]["articles"] == 2
    code, out = _run("sources")
    post = next(line for line in out.splitlines() if line.startswith("post"))
    assert f"not polled until {RETRY_AT:%Y-%m-%d %H:%M} UTC (asked to wait)" in post
    assert "FAILING x3 (last worked 2025-03-04 08:00 UTC): TransientFetchError: HTTP 503" in post
    gazette = next(line for line in out.splitlines() if line.startswith("gazette"))
    assert gazette.endswith(" ok")


def test_sources_show_rhythm_failure_class_and_next_poll(seeded: str, engine: Engine) -> None:
    next_at = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    with session_factory(engine).begin() as s:
        gazette = s.query(SourceRow).filter_by(name="gazette").one()
        gazette.new_per_day = 3.2
        gazette.last_new_entry_at = T0
        gazette.next_poll_at = next_at
        gazette.quiet = True
        s.query(SourceRow).filter_by(name="post").one().failure_class = "temporary"
    code, out = _run("sources", "--json")
    assert code == 0, out
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["gazette"]["new_per_day"] == 3.2
    assert rows["gazette"]["rhythm"] == "~3 new/day"
    assert datetime.fromisoformat(rows["gazette"]["next_poll_at"]) == next_at
    assert rows["gazette"]["quiet"] is True
    assert rows["post"]["failure_class"] == "temporary"
    assert (rows["post"]["rhythm"], rows["post"]["next_poll_at"]) == ("rhythm unknown", None)
    code, out = _run("sources")
    gazette_line = next(line for line in out.splitlines() if line.startswith("gazette"))
    assert "~3 new/day" in gazette_line
    assert f"next {next_at:%Y-%m-%d %H:%M}" in gazette_line
    assert gazette_line.endswith(f"QUIET: nothing new since {T0:%Y-%m-%d %H:%M} UTC")
    post_line = next(line for line in out.splitlines() if line.startswith("post"))
    assert "rhythm unknown  next: each cycle" in post_line
    # What it gave lately (from the stored articles' times), next to its rhythm.
    assert rows["post"]["seen_today"] == 0
    assert "seen 0.0/day, 0 today" in post_line
    assert "TransientFetchError: HTTP 503" in post_line
    assert post_line.endswith("(temporary failure)")


def test_topics_test_backtests_without_sending(seeded: str) -> None:
    code, out = _run("topics", "test", "tarrow AND ferry", "--json")
    assert code == 0, out
    (report,) = json.loads(out)
    assert report["relevance"] == "prominent"
    hits = report["alerts"]
    # The first report and the follow-up; never the reprint or the choir.
    assert [h["article_id"] for h in hits] == [1, 3]
    assert all(h["is_development"] for h in hits)
    code, out = _run("topics", "test", "choir", "--since", "2025-03-05")
    assert code == 0
    assert "Fenwick choir wins" in out
    code, out = _run("topics", "test", "choir", "--since", "2025-03-09")
    assert "no stored article would have alerted" in out


def test_topics_test_rejects_a_malformed_query(seeded: str) -> None:
    code, _ = _run("topics", "test", "(tarrow AND")
    assert code == 2
    code, _out = _run("topics", "test", "ferry", "--since", "last tuesday")
    assert code == 2


def test_cycles_and_db_upgrade(seeded: str) -> None:
    code, out = _run("cycles", "--json")
    assert code == 0, out
    assert json.loads(out)[0]["articles_stored"] == 4
    code, out = _run("db", "upgrade")
    assert code == 0
    (head,) = head_revisions()
    assert f"database at revision {head}" in out


def test_db_prune_drops_old_texts_and_explain_keeps_the_outcome(seeded: str) -> None:
    code, out = _run("db", "prune", "--older-than", "0")
    assert code == 2  # refused by the option's bounds, nothing pruned
    code, out = _run("db", "prune", "--older-than", "30", "--dry-run", "--json")
    assert code == 0, out
    dry = json.loads(out)
    assert dry["articles"] == 4
    assert dry["dry_run"] is True
    result = _run_stage("explain", "3")
    assert "[NEW ]" in result.output  # the dry run left the explain record alone
    # A sentence the story had already says which earlier sentence it repeats.
    assert "[seen] The harbour council of Tarrow voted" in result.output
    assert "~ The harbour council of Tarrow voted" in result.output

    code, out = _run("db", "prune", "--older-than", "30", "--vacuum")
    assert code == 0, out
    assert "4 articles fetched before" in out
    assert "lost their text" in out
    assert "database size:" in out
    result = _run_stage("explain", "3")
    assert result.exit_code == 0, result.output
    assert "outcome: development" in result.output
    assert "details pruned on" in result.output
    assert "[NEW ]" not in result.output
    result = _run_stage("explain", "2")
    assert "duplicate of article 1" in result.output
    code, out = _run("db", "prune", "--older-than", "30", "--json")
    assert json.loads(out)["articles"] == 0


def _run_stage(*args: str) -> Result:
    """A command of :mod:`monitor.cli.stories` (``monitor eval ...``), registered on its own."""
    return CliRunner().invoke(stage_app(register_stories), list(args))


def _stream_row(n: int, event: str, source: str, title: str, text: str, hours: int) -> str:
    return json.dumps(
        {
            "id": f"item-{n}",
            "date_publish": (T0 + timedelta(hours=hours)).isoformat(),
            "source_domain": f"{source}.example",
            "url": f"https://{source}.example/{n}",
            "title": title,
            "description": "",
            "text": text,
            "event": event,
        }
    )


def test_eval_stream_scores_a_labelled_stream_and_shows_where_it_errs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    stream = tmp_path / "stream.jsonl"
    rows = [
        _stream_row(1, "ferry", "gazette", "Tarrow to close ferry terminal", FERRY, 0),
        _stream_row(2, "ferry", "post", "Tarrow to close ferry terminal", FERRY, 1),  # reprint
        _stream_row(
            3,
            "ferry",
            "gazette",
            "Kell Lines adds a second ferry",
            FERRY_FOLLOW_UP + " " + FERRY,
            30,
        ),
        _stream_row(4, "choir", "post", "Fenwick choir wins", CHOIR, 31),
        # Labelled as the ferry event, but it shares nothing with it: a split the report names.
        _stream_row(5, "ferry", "post", "Fenwick choir wins again", CHOIR + " The encore won.", 32),
    ]
    stream.write_text("\n".join(rows) + "\n", encoding="utf-8")

    result = _run_stage("eval", "stream", str(stream), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["articles"], report["events"]) == (5, 2)
    [dup] = report["duplicates"]
    assert (dup["item"], dup["of_item"], dup["same_event"]) == ("item-2", "item-1", True)
    assert report["containment_violations"] == []
    # Item 5 joined the choir story: one story mixes the two events, and the ferry event is
    # split over two stories (4 articles in its own, 1 in the choir's).
    [mixed] = report["mixed_stories"]
    assert mixed["events"] == {"choir": 1, "ferry": 1}
    [split] = report["split_events"]
    assert split["event"] == "ferry"
    assert [n for _, n in split["stories"]] == [3, 1]
    assert report["bcubed"]["precision"] < 1.0
    assert report["bcubed"]["recall"] < 1.0

    result = _run_stage("eval", "stream", str(stream))
    assert result.exit_code == 0, result.output
    assert "stories mixing events: 1" in result.output
    assert "ferry: 2 stories (3+1 articles)" in result.output
    assert "BCubed precision" in result.output


def test_eval_stream_names_the_line_that_is_not_a_stream_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stream = tmp_path / "stream.jsonl"
    good = _stream_row(1, "ferry", "gazette", "Tarrow to close ferry terminal", FERRY, 0)
    stream.write_text(good + "\n" + '{"title": "no id, no date"}\n', encoding="utf-8")
    result = _run_stage("eval", "stream", str(stream))
    assert isinstance(result.exception, ConfigError)  # `monitor` prints it and exits with 2
    assert f"{stream}:2: not a stream item" in str(result.exception)


def test_eval_stream_counts_alerts_per_labelled_development(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    stream = tmp_path / "stream.jsonl"
    rows = [
        _stream_row(1, "ferry", "gazette", "Tarrow to close ferry terminal", FERRY, 0),
        _stream_row(2, "ferry", "post", "Tarrow to close ferry terminal", FERRY, 1),  # reprint
        _stream_row(
            3,
            "ferry",
            "gazette",
            "Kell Lines adds a second ferry",
            FERRY_FOLLOW_UP + " " + FERRY,
            30,
        ),
        _stream_row(4, "choir", "post", "Fenwick choir wins", CHOIR, 31),
    ]
    stream.write_text("\n".join(rows) + "\n", encoding="utf-8")
    labels = tmp_path / "developments.json"
    ferry = [
        {"id": "item-1", "development": 1, "kind": "new"},
        {"id": "item-2", "development": 1, "kind": "same", "form": "copy"},
        # Labelled as another report of the first development: its alert is redundant.
        {"id": "item-3", "development": 1, "kind": "same"},
    ]
    choir = [{"id": "item-4", "development": 1, "kind": "new"}]
    labels.write_text(json.dumps({"events": {"ferry": ferry, "choir": choir}}), encoding="utf-8")

    result = _run_stage("eval", "stream", str(stream), "--developments", str(labels), "--json")
    assert result.exit_code == 0, result.output
    total = json.loads(result.output)["developments"]["total"]
    assert (total["groups"], total["alerted_groups"]) == (2, 2)
    assert (total["alerts"], total["redundant_alerts"]) == (3, 1)
    assert (total["copies"], total["copies_caught"]) == (1, 1)
    assert total["alerts_per_development"] == 1.5

    result = _run_stage("eval", "stream", str(stream), "--developments", str(labels))
    assert result.exit_code == 0, result.output
    assert "development recall 2/2 = 1.000; alerts per development 1.50" in result.output

    labels.write_text(json.dumps({"events": {"ferry": [{"id": "item-1"}]}}), encoding="utf-8")
    result = _run_stage("eval", "stream", str(stream), "--developments", str(labels))
    assert isinstance(result.exception, ConfigError)  # `monitor` prints it and exits with 2
    assert "not development labels" in str(result.exception)
