"""record_polls(): a source is reported failing once per run of failures, and recovered once.

On SQLite and PostgreSQL, with the health counters the database keeps between cycles.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import SourceConfig
from monitor.models import SourceError, SourceErrorKind
from monitor.pipeline.collect import FeedPoll, SourceHealthChange, record_polls, sync_sources

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
