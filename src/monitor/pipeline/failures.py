"""Pages that fail every cycle: counted, then parked, so they are not fetched for ever.

A page left for a later cycle (a transient fetch failure: a timeout, a reset, a 5xx) or an
article the database refused is fetched again next cycle; one that fails that way every time
would be fetched every cycle for ever, and would keep its feed's validators from being stored.
Each such failure counts as one attempt of that page (its canonical URL); after
``max_attempts`` in a row it is *parked*: recorded with its last error, shown by
``monitor articles --failed`` and counted by ``monitor sources``, and no longer fetched
(:func:`parked_urls`). A page that is fetched and stored clears its count. Pages not fetched
because a budget ran out or their host asked to wait are not attempts: that is not the page's
failure.

* :func:`decide` is pure: given the failures of a cycle and the counts stored, the new counts
  and the pages to park.
* :func:`record_page_failures` loads, decides and writes them in one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import HeldBackError, OverBudgetError
from monitor.models import Article, SourceError
from monitor.storage.db import take_write_lock
from monitor.storage.tables import PageFailureRow

# Not the page's own failure: the cycle's or the source's budget ran out, or its host asked
# every client to wait.
NOT_ATTEMPTS = frozenset({OverBudgetError.__name__, HeldBackError.__name__})


@dataclass(frozen=True, slots=True)
class PageFailure:
    source_id: int
    url: str  # canonical URL of the page
    error_type: str
    message: str

    @classmethod
    def of(cls, source_id: int, url: str, error: SourceError) -> PageFailure:
        return cls(source_id, url, error.error_type, error.message)


@dataclass(frozen=True, slots=True)
class FailureCount:
    attempts: int
    parked: bool


def url_key(url: str) -> str:
    """The unique key of a page's row: URLs can be longer than an index allows."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def counts(failure: PageFailure) -> bool:
    return failure.error_type not in NOT_ATTEMPTS


def decide(
    failures: Sequence[PageFailure], stored: Mapping[str, FailureCount], max_attempts: int
) -> dict[str, FailureCount]:
    """The count of every page that failed this cycle (one attempt per cycle), by URL."""
    out: dict[str, FailureCount] = {}
    for failure in failures:
        if not counts(failure) or failure.url in out:
            continue
        before = stored.get(failure.url, FailureCount(0, parked=False))
        attempts = before.attempts + 1
        out[failure.url] = FailureCount(attempts, parked=attempts >= max_attempts)
    return out


def record_page_failures(
    sessions: sessionmaker[Session],
    failures: Sequence[PageFailure],
    succeeded: Iterable[str],
    now: datetime,
    *,
    max_attempts: int,
) -> list[PageFailure]:
    """Clear the counts of pages in ``succeeded``, count this cycle's ``failures``; returns
    the failures whose page was parked by this cycle."""
    done = [url_key(u) for u in succeeded]
    with sessions.begin() as session:
        take_write_lock(session)
        for start in range(0, len(done), 500):
            session.execute(
                delete(PageFailureRow).where(PageFailureRow.url_key.in_(done[start : start + 500]))
            )
        keys = [url_key(f.url) for f in failures]
        rows = {
            row.url: row
            for row in session.scalars(
                select(PageFailureRow).where(PageFailureRow.url_key.in_(keys))
            )
        }
        stored = {url: FailureCount(r.attempts, r.parked_at is not None) for url, r in rows.items()}
        decided = decide(failures, stored, max_attempts)
        parked: list[PageFailure] = []
        for failure in failures:
            count = decided.pop(failure.url, None)
            if count is None:
                continue
            row = rows.get(failure.url)
            if row is None:
                row = PageFailureRow(
                    url_key=url_key(failure.url),
                    url=failure.url,
                    source_id=failure.source_id,
                    first_failed_at=now,
                )
                session.add(row)
            row.attempts = count.attempts
            row.error_type = failure.error_type
            row.error = failure.message
            row.last_failed_at = now
            if count.parked and row.parked_at is None:
                row.parked_at = now
                parked.append(failure)
        return parked


def parked_urls(session: Session, urls: Sequence[str]) -> set[str]:
    """Of ``urls``, those parked: not to be fetched again."""
    keys = [url_key(u) for u in urls]
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        found.update(
            session.scalars(
                select(PageFailureRow.url).where(
                    PageFailureRow.url_key.in_(keys[start : start + 500]),
                    PageFailureRow.parked_at.is_not(None),
                )
            )
        )
    return found


def refused_articles(
    articles: Sequence[Article], errors: Sequence[SourceError], source_ids: Mapping[str, int]
) -> list[PageFailure]:
    """The articles of a batch that detection could not store (its errors name them by their
    entry URL), as failures of their pages."""
    by_url = {(a.source, a.url): a for a in articles}
    out: list[PageFailure] = []
    for error in errors:
        article = by_url.get((error.source, error.url))
        if article is not None and article.source in source_ids:
            out.append(PageFailure.of(source_ids[article.source], article.canonical_url, error))
    return out


def describe(failure: PageFailure, source: str, attempts: int) -> str:
    """One line for the cycle's summary about a page parked now."""
    return (
        f"page {failure.url} of source {source} parked after {attempts} failed cycles "
        f"(not fetched again; monitor articles --failed): {failure.error_type}: {failure.message}"
    )
