"""The web view's search: a topic query run over the stored articles, as ``monitor topics test``
runs it, shown as a page.

:func:`search_request` checks the page's parameters (``q``, ``relevance``, ``since``, by
default :data:`DEFAULT_SINCE`) and
returns a :class:`SearchRequest`, or raises :class:`~monitor.errors.SearchError` for a query
longer than :data:`MAX_QUERY` characters, a relevance rule not in
:data:`~monitor.topics.RELEVANCE` or a ``since`` that is neither ``<n>d`` / ``<n>h`` /
``<n>m`` nor an ISO date or time. The query itself is parsed by
:func:`~monitor.topics.parse_query`, whose :class:`~monitor.errors.QueryError` carries the
position of the problem.

:func:`run_search` replays the detect stage's alert rule over stored history
(:func:`monitor.backtest.backtest`) and keeps the newest :data:`MAX_HITS` alerts it would have
raised, grouped by story (the story with the newest alert first; within a story, oldest
first), and the newest :data:`MAX_HITS` borderline articles. It only reads and sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.backtest import BacktestHit, backtest
from monitor.errors import SearchError
from monitor.timeutil import since_time
from monitor.topics import RELEVANCE, Query

MAX_QUERY = 500
MAX_HITS = 200
# A search reads every stored article since ``since`` (seconds over 100,000 articles): without
# one it looks back this far, so a page cannot make the server read the whole archive by default.
DEFAULT_SINCE = "30d"


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """The page's parameters, checked; ``since`` resolved against the page's clock."""

    query: str
    relevance: str
    since_text: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class StoryHits:
    """The alerts one story would have raised, oldest first."""

    story_id: int | None
    headline: str
    hits: tuple[BacktestHit, ...]


@dataclass(frozen=True, slots=True)
class SearchResult:
    alerts: int  # every alert the query would have raised, shown or not
    stories: tuple[StoryHits, ...]  # the newest MAX_HITS of them, by story
    borderline_count: int
    borderline: tuple[BacktestHit, ...]  # the newest MAX_HITS, newest first


def search_request(query: str, relevance: str, since: str, *, now: datetime) -> SearchRequest:
    """The checked parameters (see the module docstring); a :class:`SearchError` otherwise."""
    if len(query) > MAX_QUERY:
        raise SearchError(f"the query is {len(query)} characters long; at most {MAX_QUERY}")
    relevance = relevance or "prominent"
    if relevance not in RELEVANCE:
        raise SearchError(f"relevance must be one of {', '.join(RELEVANCE)}")
    since = since.strip() or DEFAULT_SINCE
    return SearchRequest(query, relevance, since, _since(since, now))


def _since(value: str, now: datetime) -> datetime | None:
    if not value:
        return None
    try:
        return since_time(value, now)
    except ValueError as exc:
        raise SearchError("since must be 7d, 12h, 30m, a date or an ISO time") from exc


def run_search(session: Session, query: Query, request: SearchRequest) -> SearchResult:
    """What the query would have alerted on (see the module docstring)."""
    result = backtest(session, query, since=request.since, relevance=request.relevance)
    newest = result.hits[-MAX_HITS:]
    groups: dict[int | None, list[BacktestHit]] = {}
    for hit in reversed(newest):  # newest first, so the dict orders stories by newest alert
        groups.setdefault(hit.story_id, []).append(hit)
    stories = tuple(
        StoryHits(story_id, hits[0].story_headline, tuple(reversed(hits)))
        for story_id, hits in groups.items()
    )
    return SearchResult(
        alerts=len(result.hits),
        stories=stories,
        borderline_count=len(result.borderline),
        borderline=tuple(reversed(result.borderline[-MAX_HITS:])),
    )
