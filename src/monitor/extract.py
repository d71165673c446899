"""Extraction stage: article HTML in, :class:`~monitor.models.ExtractedPage` (or ``None``) out.

Contract
--------
* :func:`extract_page` is pure and total: any input (empty, binary, deeply nested, mis-declared
  charset) gives either an :class:`ExtractedPage` with at least ``min_text_chars`` characters of
  main text, or ``None``. ``None`` means "nothing usable": the caller keeps the feed's
  title/summary and marks the article summary-only. It never raises.
* Main text comes from trafilatura (boilerplate such as navigation, footers, related links, cookie
  banners and reader comments left out); so do title, authors and site name. The published time
  is a timezone-aware UTC datetime: the page's declared publication timestamp
  (``article:published_time``, JSON-LD ``datePublished``) when htmldate agrees on the day,
  otherwise htmldate's date (midnight UTC when only a day is known). Language is the primary
  subtag of ``<html lang>``, ``Content-Language`` or ``og:locale``: no language model is loaded.
  ``canonical_url`` is ``rel=canonical`` (else ``og:url``) resolved against the page URL, or
  ``None`` when the page declares neither.
* :class:`Extractor` runs :func:`extract_page` over many pages, in-process (``workers=0``) or
  in a lazily started pool of worker processes. Pages travel to workers in chunks so the
  per-page cost is the extraction itself, not IPC. A page that kills its worker process gives
  ``None``; the pool is rebuilt and the other pages of the batch still get their results. The
  one error it raises is :class:`~monitor.errors.ExtractionError` when worker processes cannot
  be started at all (a broken environment, not a bad page).
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import re
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from trafilatura import bare_extraction

from monitor.errors import ExtractionError
from monitor.markup import tag_attributes
from monitor.models import ExtractedPage
from monitor.timeutil import parse_iso

__all__ = ["Extractor", "PageExtractor", "PendingPages", "extract_page"]

# htmldate's own default format drops the time of day; asking for it keeps the timestamp when
# the page has one. max_date is left to htmldate, which defaults it to "now".
_DATE_PARAMS: dict[str, Any] = {
    "original_date": True,
    "extensive_search": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}

# trafilatura recognises English comment containers ("comment", "discussion"); news sites in
# other languages name theirs differently and the readers' words would otherwise end up in the
# article text.
_COMMENT_WORDS = ("kommentar", "commentaire", "comentario", "reaction", "yorum", "leserbrief")
_PRUNE_XPATH = "//*[{}]".format(
    " or ".join(f"contains(@id, '{word}') or contains(@class, '{word}')" for word in _COMMENT_WORDS)
)
# The pruning query visits every element (about a fifth of the extraction time); a page whose
# raw bytes never contain one of the words has nothing it could remove.
_COMMENT_BYTES = re.compile("|".join(_COMMENT_WORDS).encode())

# Metadata trafilatura does not return (language, the declared canonical URL, the full publication
# timestamp) is read from the start of the raw document with regular expressions: a second HTML
# parse would cost about as much as the extraction itself.
_HEAD_SCAN_BYTES = 65_536
_HEAD_END = re.compile(rb"</head\s*>|<body[\s>]", re.IGNORECASE)
_TAG = re.compile(rb"<(html|meta|link)\b([^>]{0,4000})>", re.IGNORECASE)
_LD_PUBLISHED = re.compile(rb'"datePublished"\s*:\s*"([^"]{8,40})"')
_LANG = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
_PUBLISHED_KEYS = frozenset({"article:published_time", "datepublished", "og:published_time"})
_MAX_TAGS = 60_000


@dataclass(frozen=True, slots=True)
class _HeadFacts:
    language: str | None = None
    canonical: str | None = None
    og_url: str | None = None
    published: str | None = None


def extract_page(html: bytes | str, url: str, *, min_text_chars: int = 200) -> ExtractedPage | None:
    """Extract the article of one page; ``None`` when nothing usable is found. Never raises."""
    try:
        return _extract(html, url, min_text_chars)
    # The contract is "never raises": lxml, htmldate and trafilatura raise a wide and
    # undocumented range of errors (and RecursionError on pathological nesting) on hostile
    # input, and for the pipeline every one of them means the same thing: use the feed summary.
    except Exception:  # noqa: BLE001
        return None


def _extract(html: bytes | str, url: str, min_text_chars: int) -> ExtractedPage | None:
    if not html:
        return None
    # Extraction cost grows with the element count (about 80 µs per element over all of
    # trafilatura's passes); a page of unclosed tags can otherwise hold a worker for many
    # seconds. Real article pages, live blogs included, stay far below this.
    tag_count = html.count(b"<") if isinstance(html, bytes) else html.count("<")
    if tag_count > _MAX_TAGS:
        return None
    raw = html if isinstance(html, bytes) else html.encode("utf-8", "replace")
    document = bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        date_extraction_params=_DATE_PARAMS,
        prune_xpath=_PRUNE_XPATH if _COMMENT_BYTES.search(raw) else None,
    )
    if document is None or isinstance(document, dict):
        return None
    text = (document.text or "").strip()
    if not text or len(text) < min_text_chars:
        return None
    head = _scan_head(html)
    return ExtractedPage(
        text=text,
        title=(document.title or "").strip(),
        authors=_split_authors(document.author),
        published=_published(head.published, document.date),
        language=head.language,
        site_name=(document.sitename or "").strip() or None,
        canonical_url=_absolute(head.canonical, url) or _absolute(head.og_url, url),
    )


def _scan_head(html: bytes | str) -> _HeadFacts:
    raw = html[:_HEAD_SCAN_BYTES]
    head = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    end = _HEAD_END.search(head)
    if end is not None:
        head = head[: end.start()]
    html_lang = content_language = og_locale = canonical = og_url = published = None
    for tag in _TAG.finditer(head):
        name = tag.group(1).lower()
        attrs = tag_attributes(tag.group(2))
        if name == b"html":
            html_lang = html_lang or attrs.get(b"lang") or attrs.get(b"xml:lang")
        elif name == b"link":
            if b"canonical" in attrs.get(b"rel", b"").lower().split():
                canonical = canonical or attrs.get(b"href")
        else:
            key = (
                attrs.get(b"property") or attrs.get(b"name") or attrs.get(b"itemprop") or b""
            ).lower()
            content = attrs.get(b"content")
            if attrs.get(b"http-equiv", b"").lower() == b"content-language":
                content_language = content_language or content
            elif key == b"og:locale":
                og_locale = og_locale or content
            elif key == b"og:url":
                og_url = og_url or content
            elif key.decode("ascii", "replace") in _PUBLISHED_KEYS:
                published = published or content
    if published is None:
        ld = _LD_PUBLISHED.search(head)
        published = ld.group(1) if ld else None
    return _HeadFacts(
        language=_language(html_lang) or _language(content_language) or _language(og_locale),
        canonical=_text(canonical),
        og_url=_text(og_url),
        published=_text(published),
    )


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    return value.decode("utf-8", "replace").strip() or None


def _language(value: bytes | None) -> str | None:
    text = _text(value)
    if text is None:
        return None
    # Content-Language may list several; the first is the document's main language.
    match = _LANG.fullmatch(text.split(",")[0].strip())
    return match.group(1).lower() if match else None


def _absolute(candidate: str | None, base: str) -> str | None:
    if not candidate:
        return None
    resolved = urljoin(base, candidate)
    parts = urlsplit(resolved)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return resolved


def _split_authors(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    # trafilatura joins several authors with "; "
    names = (name.strip() for name in value.split(";"))
    return tuple(dict.fromkeys(name for name in names if name))


def _published(declared: str | None, found: str | None) -> datetime | None:
    """Prefer the page's declared timestamp (it has the time of day) when htmldate, which also
    weighs the URL and visible dates, agrees on the day; htmldate otherwise."""
    estimate = parse_iso(found)
    exact = parse_iso(declared)
    if exact is not None and (estimate is None or exact.date() == estimate.date()):
        return exact.astimezone(UTC)
    return estimate.astimezone(UTC) if estimate is not None else None


# -- many pages ------------------------------------------------------------------------------

# Chunks are small enough that both workers stay busy to the end of a batch and large enough
# that a round trip (pickling 16 pages of ~50 KB is well under a millisecond) is noise.
_CHUNKS_PER_WORKER = 4
_MAX_CHUNK = 16
_START_TIMEOUT_S = 120.0
# Extraction runs ahead of the sequential detect stage that consumes its results; at a lower
# priority it takes the CPU that detection leaves idle instead of slowing the whole cycle down.
_WORKER_NICENESS = 5


class PageExtractor(Protocol):
    """The shape of :func:`extract_page`; an :class:`Extractor` can run any module-level
    function of this shape (it must be importable by name in the worker processes)."""

    def __call__(
        self, html: bytes | str, url: str, *, min_text_chars: int
    ) -> ExtractedPage | None: ...


def _extract_chunk(
    extract: PageExtractor, pages: Sequence[tuple[str, bytes]], min_text_chars: int
) -> list[ExtractedPage | None]:
    return [extract(html, url, min_text_chars=min_text_chars) for url, html in pages]


def _context() -> multiprocessing.context.BaseContext:
    """Processes are forked from a fork server that has imported and warmed up trafilatura once
    (:mod:`monitor.extract_warm`), where the platform has one; otherwise spawned. Never forked
    from the pipeline's own (threaded) process."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["monitor.extract_warm"])
        return ctx
    return multiprocessing.get_context("spawn")


# A page with almost no text: it takes trafilatura's fallbacks (justext and its stoplists for
# every language), most of what the first extraction in a process loads.
WARM_UP_PAGE = b"<html><body><article><p>warm up</p></article></body></html>"
WARM_UP_URL = "http://x.invalid/"


def _probe() -> bool:
    return True


def quiet_extraction_logs() -> None:
    """Silence the extraction libraries' loggers in this process.

    An extraction process's stderr is nobody's log: a page trafilatura discards is reported as
    ``None`` already.
    """
    for name in ("trafilatura", "htmldate", "courlan", "justext"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _init_worker() -> None:
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted here: run at normal priority
            os.nice(_WORKER_NICENESS)
    quiet_extraction_logs()
    # Pay for trafilatura's lazy imports and caches before the first real chunk arrives (next
    # to nothing in a worker forked from the warmed-up fork server; a spawned one pays here).
    extract_page(WARM_UP_PAGE, WARM_UP_URL)


# A submitted chunk: pages[start:end] and the future of their results.
_Chunk = tuple[int, int, "Future[list[ExtractedPage | None]]"]


class PendingPages:
    """Pages handed to an :class:`Extractor`; :meth:`results` waits for their extraction."""

    def __init__(
        self,
        extractor: Extractor,
        pages: Sequence[tuple[str, bytes]],
        pool: ProcessPoolExecutor | None,
        futures: list[_Chunk],
        done: list[ExtractedPage | None] | None,
    ) -> None:
        self._extractor = extractor
        self._pages = pages
        self._pool = pool
        self._futures = futures
        self._done = done

    def results(self) -> list[ExtractedPage | None]:
        """One result per page, in order; ``None`` where unusable (as ``extract_many``)."""
        if self._done is None:
            assert self._pool is not None
            self._done = self._extractor._collect(self._pages, self._pool, self._futures)
        return self._done


class Extractor:
    """Extract many pages, in-process (``workers=0``) or in a pool of ``workers`` processes.

    The pool is started on first use and lives until :meth:`close` (or the end of a ``with``
    block), or early with :meth:`start`. Workers are forked from a fork server that imported
    trafilatura once (or spawned where there is none), never forked from this process: the
    pipeline runs threads, and forking a threaded process can deadlock the child.
    """

    def __init__(
        self,
        workers: int,
        *,
        min_text_chars: int = 200,
        page_extractor: PageExtractor = extract_page,
    ) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers = workers
        self.min_text_chars = min_text_chars
        self._extract = page_extractor
        self._pool: ProcessPoolExecutor | None = None
        self._starting: tuple[ProcessPoolExecutor, list[Future[bool]]] | None = None
        self._starter: threading.Thread | None = None
        self._lock = threading.Lock()
        # Priorities of the submit_many calls under way: among callers ready at the same time,
        # the lowest goes first (see submit_many).
        self._ready: list[int] = []
        self._ready_changed = threading.Condition()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the worker processes now, without waiting for them.

        A worker spends about a second importing trafilatura; started before the pages are
        fetched, that happens while the network is busy instead of before the first extraction.
        """
        with self._lock:
            if self.workers and self._pool is None and self._starter is None:
                # Starting the fork server blocks for as long as its imports take: not here.
                self._starter = threading.Thread(
                    target=self._start_pool, name="extractor-start", daemon=True
                )
                self._starter.start()

    def _start_pool(self) -> None:
        with self._lock:
            if self._pool is not None or self._starting is not None:
                return
            pool = self._spawn()
            try:
                # One probe per worker: processes are started as work arrives.
                self._starting = (pool, [pool.submit(_probe) for _ in range(self.workers)])
            except Exception:  # noqa: BLE001 - the first extraction starts a pool and reports it
                pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker processes. A later :meth:`extract_many` starts a new pool."""
        starter, self._starter = self._starter, None
        if starter is not None:
            starter.join()
        with self._lock:
            pool, self._pool = self._pool, None
            starting, self._starting = self._starting, None
        for each in (pool, starting[0] if starting else None):
            if each is not None:
                each.shutdown(wait=True, cancel_futures=True)

    def extract_many(self, pages: Sequence[tuple[str, bytes]]) -> list[ExtractedPage | None]:
        """Extract ``(url, html)`` pairs; results in the same order, ``None`` where unusable.

        Raises :class:`ExtractionError` only if the worker processes cannot be started.
        """
        return self.submit_many(pages).results()

    def submit_many(self, pages: Sequence[tuple[str, bytes]], *, priority: int = 0) -> PendingPages:
        """Queue ``(url, html)`` pairs for extraction and return without waiting for them.

        The pool works first come, first served: pages queued earlier are extracted earlier.
        Callers queueing at the same moment (typically several batches waiting for the pool to
        start) go in ``priority`` order, lowest first; a caller never waits for one that is not
        ready yet. With ``workers=0`` the pages are extracted here and now. Raises
        :class:`ExtractionError` only if the worker processes cannot be started.
        """
        if self.workers == 0 or not pages:
            done = _extract_chunk(self._extract, pages, self.min_text_chars)
            return PendingPages(self, pages, None, [], done)
        size = min(_MAX_CHUNK, math.ceil(len(pages) / (self.workers * _CHUNKS_PER_WORKER)))
        bounds = [(start, min(start + size, len(pages))) for start in range(0, len(pages), size)]
        with self._ready_changed:
            self._ready.append(priority)
        try:
            pool = self._get_pool()  # blocks while the pool starts: other callers line up
            with self._ready_changed:
                self._ready_changed.wait_for(lambda: min(self._ready) == priority)
                futures = [(a, b, self._submit(pool, pages[a:b])) for a, b in bounds]
        finally:
            with self._ready_changed:
                self._ready.remove(priority)
                self._ready_changed.notify_all()
        return PendingPages(self, pages, pool, futures, None)

    def _collect(
        self,
        pages: Sequence[tuple[str, bytes]],
        pool: ProcessPoolExecutor,
        futures: list[_Chunk],
    ) -> list[ExtractedPage | None]:
        results: list[ExtractedPage | None] = [None] * len(pages)
        unfinished = self._run_chunks(pool, futures, results)
        if unfinished:
            self._run_isolated(pages, unfinished, results)
        return results

    def _run_chunks(
        self,
        pool: ProcessPoolExecutor,
        futures: list[_Chunk],
        results: list[ExtractedPage | None],
    ) -> list[int]:
        unfinished: list[int] = []
        broken = False
        for start, end, future in futures:
            try:
                results[start:end] = future.result()
            except BrokenProcessPool:
                broken = True
                unfinished.extend(range(start, end))
            # A result that cannot be sent back: its chunk is retried page by page, like the
            # chunks lost to a dead worker, so the one bad page is told from its neighbours.
            except Exception:  # noqa: BLE001
                unfinished.extend(range(start, end))
        if broken:
            self._replace_broken(pool)
        return unfinished

    def _run_isolated(
        self,
        pages: Sequence[tuple[str, bytes]],
        indices: list[int],
        results: list[ExtractedPage | None],
    ) -> None:
        # Round one keeps every worker busy with single pages; when the pool breaks, only the
        # pages in flight at that moment are suspects. Round two runs each suspect alone, so a
        # broken pool there convicts exactly one page.
        queue = deque(indices)
        suspects: list[int] = []
        while queue:
            pool = self._get_pool()
            in_flight: dict[Future[list[ExtractedPage | None]], int] = {}
            broken = False
            while (queue or in_flight) and not broken:
                while queue and len(in_flight) < self.workers:
                    index = queue.popleft()
                    in_flight[self._submit(pool, pages[index : index + 1])] = index
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    index = in_flight.pop(future)
                    try:
                        results[index] = future.result()[0]
                    except BrokenProcessPool:
                        broken = True
                        suspects.append(index)
                    except Exception:  # noqa: BLE001 - a page whose result cannot come back
                        results[index] = None
            if broken:
                suspects.extend(in_flight.values())
                self._replace_broken(pool)
        for index in suspects:
            pool = self._get_pool()
            try:
                results[index] = self._submit(pool, pages[index : index + 1]).result()[0]
            except BrokenProcessPool:
                results[index] = None
                self._replace_broken(pool)
            except Exception:  # noqa: BLE001 - same as above: the page is unusable
                results[index] = None

    def _submit(
        self, pool: ProcessPoolExecutor, chunk: Sequence[tuple[str, bytes]]
    ) -> Future[list[ExtractedPage | None]]:
        try:
            return pool.submit(_extract_chunk, self._extract, chunk, self.min_text_chars)
        # OSError: submitting may start a replacement process, and that can fail too.
        except (BrokenProcessPool, OSError) as exc:
            # Uniform handling: the caller sees the breakage when it asks for the result.
            broken = BrokenProcessPool(f"cannot submit to the pool: {exc!r}")
            broken.__cause__ = exc
            failed: Future[list[ExtractedPage | None]] = Future()
            failed.set_exception(broken)
            return failed

    def _spawn(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_context(),
            initializer=_init_worker,
        )

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                if self._starting is not None:
                    pool, probes = self._starting
                    self._starting = None
                else:
                    pool = self._spawn()
                    probes = [pool.submit(_probe)]
                # A pool that breaks on a harmless probe cannot run any page: that is a broken
                # environment (cannot spawn, cannot import), not a hostile page, and retrying
                # page by page would only spawn processes forever.
                try:
                    for probe in probes:
                        probe.result(timeout=_START_TIMEOUT_S)
                except Exception as exc:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise ExtractionError(
                        f"extraction worker processes do not start: {exc!r}"
                    ) from exc
                self._pool = pool
            return self._pool

    def _replace_broken(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            # Another thread may already have replaced it.
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)
