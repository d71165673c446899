"""Two writers on one database at once: two deployments, or a manual cycle during a scheduled
one, on PostgreSQL and on the SQLite file of the embedded default."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import MonitorConfig, SourceConfig
from monitor.demo.synthetic import synthetic_stream
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.pipeline.detect import DetectReport, detect
from monitor.pipeline.sources import sync_sources
from monitor.storage.db import session_factory, take_write_lock
from monitor.storage.tables import ArticleRow

NOW = datetime(2025, 2, 3, 12, 0, tzinfo=UTC)


def _articles(seed: int, n: int) -> list[Article]:
    return synthetic_stream(n, seed, "test")


def test_two_writers_detect_at_once(engine: Engine) -> None:
    """Every article upserts the document count and its terms: without the detection lock, the
    two writers' transactions lock those rows in different orders and PostgreSQL aborts one;
    SQLite refuses the write of a transaction whose snapshot another writer made stale."""
    sessions: sessionmaker[Session] = session_factory(engine)
    config = MonitorConfig.model_validate({"topics": [{"name": "all", "query": "said"}]})
    work = {"first": _articles(seed=11, n=40), "second": _articles(seed=12, n=40)}
    reports: dict[str, DetectReport] = {}
    failures: dict[str, Exception] = {}
    start = threading.Barrier(2)

    def write(name: str) -> None:
        start.wait()
        try:
            reports[name] = detect(
                sessions, work[name], {}, config, DetectionSettings(), now=NOW, batch_size=4
            )
        except Exception as exc:  # reported by the assertion below
            failures[name] = exc

    threads = [threading.Thread(target=write, args=(name,)) for name in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert failures == {}
    assert {name: (r.stored, r.errors) for name, r in reports.items()} == {
        "first": (40, []),
        "second": (40, []),
    }
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 80


def test_two_writers_add_the_same_new_source_at_once(engine: Engine) -> None:
    sessions: sessionmaker[Session] = session_factory(engine)
    source = SourceConfig(name="wire", url="https://wire.test/feed.xml")
    outcome: dict[str, object] = {}

    def second_writer() -> None:
        try:
            with sessions.begin() as session:
                take_write_lock(session)  # as the poll stage does
                outcome["states"] = sync_sources(session, [source])
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    with sessions.begin() as session:
        take_write_lock(session)
        first = sync_sources(session, [source])  # inserted, not yet committed
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the first writer: the race is on
    thread.join(30)

    assert "error" not in outcome
    assert outcome["states"] == first
