"""record_polls(): a source is reported failing once per run of failures, and recovered once;
store_validators(): a feed's validators are kept only once its entries are dealt with.

On SQLite and PostgreSQL, with the health counters the database keeps between cycles.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import SourceConfig
from monitor.models import SourceError, SourceErrorKind
from monitor.pipeline.sources import (
    FeedPoll,
    SourceHealthChange,
    record_polls,
    source_health,
    store_validators,
    sync_sources,
)
from monitor.storage.tables import ArticleRow, FeedValidatorRow, SourceRow

T0 = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)
SOURCES = [
    SourceConfig(name="wire", url="https://wire.test/rss"),
    SourceConfig(name="flaky", url="https://flaky.test/rss"),
]


def _cycles(
    sessions: sessionmaker[Session], outcomes: dict[str, str], failing_after: int = 3
) -> list[list[SourceHealthChange]]:
    """One poll cycle per character of each source's outcome string ("x" failed, "." worked)."""
    cycles = len(next(iter(outcomes.values())))
    changes = []
    for i in range(cycles):
        with sessions.begin() as session:
            states = sync_sources(session, SOURCES)
            polls = [
                FeedPoll(
                    s,
                    error=SourceError(
                        s.name, s.url, SourceErrorKind.FETCH, "FetchError", "HTTP 503"
                    )
                    if outcomes[s.name][i] == "x"
                    else None,
                )
                for s in states
            ]
            now = T0 + timedelta(minutes=15 * i)
            changes.append(record_polls(session, polls, now, failing_after=failing_after))
    return changes


def test_failing_is_reported_once_at_the_threshold_and_recovery_once(
    sessions: sessionmaker[Session],
) -> None:
    changes = _cycles(sessions, {"wire": "..xxxxx.x.", "flaky": "xx.xx.xx.."})
    reported = [[(c.source, c.status, c.failures) for c in cycle] for cycle in changes]
    # wire: worked twice, then failed five times (reported at the third), then recovered;
    # a single failure afterwards is below the threshold. flaky never failed three in a row.
    assert reported == [
        [],
        [],
        [],
        [],
        [("wire", "failing", 3)],
        [],
        [],
        [("wire", "recovered", 5)],
        [],
        [],
    ]
    failing = changes[4][0]
    assert failing.url == "https://wire.test/rss"
    assert (failing.error_type, failing.error) == ("FetchError", "HTTP 503")
    assert failing.last_success_at == T0 + timedelta(minutes=15)  # its last good poll
    assert failing.describe() == (
        "source wire is failing: 3 polls in a row (last worked 2031-05-06 08:15 UTC); "
        "FetchError: HTTP 503"
    )
    recovered = changes[7][0]
    assert (recovered.error_type, recovered.error) == (None, None)
    assert recovered.describe() == "source wire works again after 5 failed polls"


def test_a_threshold_of_one_reports_the_first_failure(sessions: sessionmaker[Session]) -> None:
    changes = _cycles(sessions, {"wire": "x.", "flaky": ".."}, failing_after=1)
    assert [[(c.source, c.status) for c in cycle] for cycle in changes] == [
        [("wire", "failing")],
        [("wire", "recovered")],
    ]
    assert changes[0][0].last_success_at is None
    assert "(never worked)" in changes[0][0].describe()


def test_validators_are_stored_for_finished_sources_only(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        wire, flaky = sync_sources(session, SOURCES)
        polls = [
            FeedPoll(wire, etag='"w1"', last_modified="Tue, 06 May 2031 08:00:00 GMT"),
            FeedPoll(flaky, etag='"f1"'),
        ]
        store_validators(session, polls, unfinished={flaky.id})
    with sessions.begin() as session:
        states = {s.name: s for s in sync_sources(session, SOURCES)}
        assert (states["wire"].etag, states["wire"].last_modified) == (
            '"w1"',
            "Tue, 06 May 2031 08:00:00 GMT",
        )
        assert states["flaky"].etag is None  # a page of it was left for later

        # The feed moved (another config, or an edit) while the poll ran: the validators the
        # poll got belong to the old URL, and the new URL starts without any.
        moved = SourceConfig(name="wire", url="https://wire.test/feed.xml")
        sync_sources(session, [moved, SOURCES[1]])
        store_validators(session, [FeedPoll(wire, etag='"w2"')])
    with sessions() as session:
        row = session.scalars(select(SourceRow).where(SourceRow.name == "wire")).one()
        assert row.url == "https://wire.test/feed.xml"
        validators = {v.url: v.etag for v in session.scalars(select(FeedValidatorRow))}
        assert validators == {"https://wire.test/rss": '"w2"'}
        [state, _] = sync_sources(session, [moved, SOURCES[1]])
        assert state.etag is None
        # Under its old URL again (or another config's name for it), the feed's are found.
        [back, _] = sync_sources(session, [SourceConfig(name="w", url=wire.url), SOURCES[1]])
        assert back.etag == '"w2"'


def test_a_failing_sources_new_url_is_polled_at_once(sessions: sessionmaker[Session]) -> None:
    # "flaky" fails until it backs off (a failure class and a next poll in the future)...
    _cycles(sessions, {"wire": ".....", "flaky": "xxxxx"}, failing_after=3)
    later = T0 + timedelta(hours=1, minutes=1)
    with sessions.begin() as session:
        flaky = next(s for s in sync_sources(session, SOURCES) if s.name == "flaky")
    assert flaky.failures == 5
    assert not flaky.due(later)  # backing off
    # ...until the operator gives it the URL it moved to: its old failures are not the new one's.
    moved = [SOURCES[0], SourceConfig(name="flaky", url="https://flaky.test/feed.xml")]
    with sessions.begin() as session:
        flaky = next(s for s in sync_sources(session, moved) if s.name == "flaky")
    assert flaky.due(later)
    assert (flaky.failures, flaky.failure_class, flaky.next_poll_at) == (0, None, None)
    with sessions() as session:
        row = session.scalars(select(SourceRow).where(SourceRow.name == "flaky")).one()
    assert (row.consecutive_failures, row.last_error) == (0, None)


def test_entries_seen_per_day_count_the_articles_first_stored_from_each_source(
    sessions: sessionmaker[Session],
) -> None:
    """source_health(): articles stored over the last 7 days, per day, and since midnight UTC,
    per source, from the articles' stored times (older ones and other sources' left out)."""
    now = datetime(2031, 5, 6, 15, 0, tzinfo=UTC)
    stored = {
        "wire": [
            now - timedelta(hours=1),  # today
            now - timedelta(hours=14),  # today, 01:00
            now - timedelta(hours=16),  # yesterday 23:00
            now - timedelta(days=3),
            now - timedelta(days=6, hours=23),
            now - timedelta(days=7, hours=1),  # older than the week: counted in total only
        ],
        "flaky": [now - timedelta(days=8)],
    }
    with sessions.begin() as session:
        sync_sources(session, SOURCES)
        n = 0
        for source, times in stored.items():
            for when in times:
                n += 1
                url = f"https://{source}.test/a/{n}"
                session.add(
                    ArticleRow(
                        source_name=source,
                        url=url,
                        canonical_url=url,
                        title=f"Story {n}",
                        text="",
                        fetched_at=when,
                        content_hash=f"{n:064d}",
                    )
                )
    with sessions() as session:
        health = {s.name: s for s in source_health(session, now)}
    assert health["wire"].articles == 6
    assert health["wire"].seen_per_day == 5 / 7
    assert health["wire"].seen_today == 2
    assert (health["flaky"].articles, health["flaky"].seen_per_day) == (1, 0.0)
    assert health["flaky"].seen_today == 0
