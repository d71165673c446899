"""Resolving polls: a source set to a page gets its feed, a sitemap index its sitemaps' entries.

:func:`resolve_polls` takes the polls of a cycle as fetched and parsed and, with one
:class:`~monitor.discovery.Reader` per source (the cycle's client, limits and robots.txt
rules):

* discovers the feed of a source whose URL answered with an HTML page (a home or section page),
  or whose stored choice answered 404 or 410, or turned into a page (see
  :meth:`monitor.discovery.Reader.discover`); the poll then reads the chosen candidate, carries
  the :class:`~monitor.discovery.Discovery` (stored by
  :func:`monitor.pipeline.sources.record_polls`, so later polls go straight to it) and fails,
  with the discovery's reason, when nothing usable was found;
* reads a sitemap index into the entries of its newest sitemaps
  (:meth:`monitor.discovery.Reader.read_index`), with the stored validators of each sitemap
  (``validators``, looked up by URL) for a conditional GET. A sitemap that could not be read is
  one of the poll's entry errors, never the source's failure; one that failed transiently
  makes the reading incomplete (``FeedPoll.complete``): none of its validators are kept, so the
  next poll reads the index again, from the same point.

Every other poll is returned as it was. A source's sitemap (and index) is read only for what
changed since its last poll whose entries were all dealt with (:attr:`SourceState.read_at`,
:meth:`~monitor.discovery.IndexRules.cutoff`): :func:`recent_only` leaves out the older URLs of
a plain sitemap, :meth:`~monitor.discovery.Reader.read_index` the older sitemaps of an index.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from monitor.discovery import (
    Discovery,
    IndexRules,
    Reader,
    Reading,
    Validators,
    recent_entries,
)
from monitor.errors import ParseError
from monitor.models import ParsedFeed, SourceError, SourceErrorKind
from monitor.pipeline.sources import FeedPoll, SourceState
from monitor.redact import redact_url

logger = logging.getLogger(__name__)

ValidatorLookup = Callable[[Sequence[str]], Mapping[str, Validators]]
"""Stored validators of the given URLs (those it has)."""

# Entries left out of one feed that are listed one by one in a cycle's errors; the rest are
# counted in the last one.
_ENTRY_ERRORS_LISTED = 3


def entry_errors(
    source: SourceState, feed: ParsedFeed, problems: Sequence[str] = ()
) -> tuple[SourceError, ...]:
    """The entries of ``feed`` left out for invalid links, and the sitemaps of an index that
    could not be read (``problems``), as the poll's entry errors."""
    errors = [
        SourceError(source.name, source.url, SourceErrorKind.PARSE, "ParseError", f"sitemap {p}")
        for p in problems[:_ENTRY_ERRORS_LISTED]
    ]
    reasons = feed.rejected
    errors += [
        SourceError(
            source.name, source.url, SourceErrorKind.PARSE, "ParseError", f"entry left out: {r}"
        )
        for r in reasons[:_ENTRY_ERRORS_LISTED]
    ]
    if len(reasons) > _ENTRY_ERRORS_LISTED:
        more = len(reasons) - _ENTRY_ERRORS_LISTED
        errors.append(
            SourceError(
                source.name,
                source.url,
                SourceErrorKind.PARSE,
                "ParseError",
                f"{more} more entries left out for invalid links",
            )
        )
    return tuple(errors)


def recent_only(polls: Sequence[FeedPoll], rules: IndexRules) -> list[FeedPoll]:
    """``polls``, each plain sitemap without the URLs last modified before its source's last
    poll whose entries were all dealt with (less the margin; undated ones kept)."""
    out: list[FeedPoll] = []
    for poll in polls:
        feed = poll.feed
        cutoff = rules.cutoff(poll.source.read_at)
        if feed is None or feed.kind != "sitemap" or cutoff is None:
            out.append(poll)
            continue
        out.append(replace(poll, feed=replace(feed, entries=recent_entries(feed.entries, cutoff))))
    return out


def needs_discovery(poll: FeedPoll) -> bool:
    """Whether ``poll`` calls for its source's feed to be looked for again: its URL is a page,
    or its stored choice is gone (404, 410). Never for a section page read for its links
    (a source of kind ``page``)."""
    if poll.source.kind == "page":
        return False
    return poll.page or (poll.gone and poll.source.feed_url is not None)


def read_poll(
    source: SourceState, reading: Reading, discovery: Discovery | None = None
) -> FeedPoll:
    """The successful poll of ``source`` that read ``reading``."""
    return FeedPoll(
        source,
        feed=reading.feed,
        etag=reading.etag if reading.complete else None,
        last_modified=reading.last_modified if reading.complete else None,
        entry_errors=entry_errors(source, reading.feed, reading.problems),
        discovery=discovery,
        children=reading.children if reading.complete else (),
        complete=reading.complete,
    )


async def resolve_poll(
    reader: Reader, poll: FeedPoll, validators: ValidatorLookup | None = None
) -> FeedPoll:
    """``poll`` with its source's feed discovered, or its sitemap index read (see the module
    docstring)."""
    source = poll.source
    if needs_discovery(poll):
        # A page the poll fetched from the source's own URL is read as it came.
        page = poll.document if source.feed_url is None else None
        discovery = await reader.discover(source.url, page)
        choice = discovery.choice
        if choice is None or choice.reading is None:
            error = poll.error or SourceError(
                source.name, source.url, SourceErrorKind.PARSE, ParseError.__name__, ""
            )
            message = f"{error.message}; {discovery.reason}".lstrip("; ")
            return replace(
                poll, error=replace(error, message=message), discovery=discovery, document=None
            )
        logger.info(
            "source %s: polls %s, found on its page (%s)",
            source.name,
            redact_url(choice.url),
            discovery.reason,
        )
        return read_poll(replace(source, feed_url=choice.url), choice.reading, discovery)
    if poll.feed is not None and poll.feed.kind == "sitemapindex":
        reader.validators = validators
        reading = await reader.read_index(
            poll.feed, etag=poll.etag, last_modified=poll.last_modified, since=source.read_at
        )
        return read_poll(source, reading)
    return poll


async def resolve_polls(
    make_reader: Callable[[SourceState], Reader],
    polls: Sequence[FeedPoll],
    validators: ValidatorLookup | None = None,
) -> list[FeedPoll]:
    """:func:`resolve_poll` of every poll, concurrently, in order."""
    return list(
        await asyncio.gather(*(resolve_poll(make_reader(p.source), p, validators) for p in polls))
    )
