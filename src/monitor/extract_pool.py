"""Extraction over many pages: a pool of worker processes running :func:`extract_page`.

Contract
--------
* :class:`Extractor` runs :func:`extract_page` over many pages, in-process (``workers=0``) or
  in a lazily started :class:`pebble.ProcessPool`. Pages travel to workers in chunks so the
  per-page cost is the extraction itself, not IPC.
* A page is bounded in size, time and memory: one larger than ``max_html_bytes`` is not
  extracted (:class:`~monitor.errors.PageTooLargeError`); one that uses more than
  ``page_timeout_s`` of CPU is stopped inside its worker, which carries on
  (:class:`~monitor.errors.ExtractionTimeoutError`); a chunk of pages still running after
  ``page_wall_timeout_s`` (a page that blocks, or loops where no signal reaches it) has its
  worker killed and replaced, and its pages are run again one by one, each with that limit,
  so that the one page that hangs or crashes its worker is told from its neighbours. Such a
  page gets ``None`` and its reason (:attr:`PendingPages.errors`). A worker's address space is
  capped at ``memory_limit_mb``: a page that needs more fails with ``MemoryError``, alone.
* The one error it raises is :class:`~monitor.errors.ExtractionError` when worker processes
  cannot be started at all (a broken environment, not a bad page).
* :meth:`Extractor.parse_feeds` parses fetched feeds in the same worker processes once they
  are up (here until then), one feed per task, with the same isolation: a feed that kills or
  hangs its worker gives a :class:`~monitor.errors.ParseError`.
* Workers are forked from a fork server that has imported and warmed up trafilatura once
  (:mod:`monitor.extract_warm`) where the platform has one, else spawned; never forked from the
  pipeline's own threaded process.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from pebble import ProcessPool

from monitor.errors import (
    ExtractionError,
    ExtractionTimeoutError,
    ExtractorClosedError,
    PageTooLargeError,
    ParseError,
)
from monitor.extract import extract_page, quiet_extraction_logs
from monitor.feeds import FeedsParser, parse_feeds
from monitor.models import ExtractedPage, FetchResult, ParsedFeed

__all__ = [
    "WARM_UP_PAGE",
    "WARM_UP_URL",
    "Extractor",
    "PageExtractor",
    "PendingPages",
    "start_early",
    "start_fork_server",
]

# Chunks are small enough that both workers stay busy to the end of a batch and large enough
# that a round trip (pickling a chunk of pages costs far less than extracting them) is noise.
_CHUNKS_PER_WORKER = 4
_MAX_CHUNK = 16
_START_TIMEOUT_S = 120.0
# How long close() waits for a stopped pool's processes and threads to end.
_STOP_TIMEOUT_S = 30.0
# Extraction runs ahead of the sequential detect stage that consumes its results; at a lower
# priority it takes the CPU that detection leaves idle instead of slowing the whole cycle down.
_WORKER_NICENESS = 5
# What a worker's address space may grow to by default: trafilatura with lxml and numpy
# loaded maps a few hundred MB before its first page.
DEFAULT_MEMORY_LIMIT_MB = 2048
DEFAULT_PAGE_TIMEOUT_S = 30.0  # CPU seconds
DEFAULT_PAGE_WALL_TIMEOUT_S = 120.0


class PageExtractor(Protocol):
    """The shape of :func:`extract_page`; an :class:`Extractor` can run any module-level
    function of this shape (it must be importable by name in the worker processes)."""

    def __call__(
        self, html: bytes | str, url: str, *, min_text_chars: int
    ) -> ExtractedPage | None: ...


class _CpuLimitReached(BaseException):
    """Raised in a worker by SIGPROF when a page has used its CPU time; a BaseException so
    that no ``except Exception`` in a parser swallows it."""


def _on_cpu_limit(signum: int, frame: object) -> None:
    raise _CpuLimitReached


def _extract_chunk(
    extract: PageExtractor,
    min_text_chars: int,
    pages: Sequence[tuple[str, bytes]],
    cpu_limit_s: float | None = None,
) -> list[ExtractedPage | ExtractionTimeoutError | None]:
    if cpu_limit_s is None or not hasattr(signal, "setitimer"):
        return [extract(html, url, min_text_chars=min_text_chars) for url, html in pages]
    out: list[ExtractedPage | ExtractionTimeoutError | None] = []
    for url, html in pages:
        # ITIMER_PROF counts this process's CPU time, user and system: a page is stopped for
        # what it costs, not for how busy the machine is.
        signal.setitimer(signal.ITIMER_PROF, cpu_limit_s)
        try:
            out.append(extract(html, url, min_text_chars=min_text_chars))
        except _CpuLimitReached:
            out.append(
                ExtractionTimeoutError(
                    f"extraction used over {cpu_limit_s:g}s of CPU: stopped", url=url
                )
            )
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    return out


# What a worker runs: a chunk of items in, one result per item out. Module-level functions (and
# partials of them) only: it travels to the worker by name.
_Work = Callable[[Sequence[Any]], list[Any]]


def _context() -> multiprocessing.context.BaseContext:
    """Processes are forked from a fork server that has imported and warmed up trafilatura once
    (:mod:`monitor.extract_warm`), where the platform has one; otherwise spawned. Never forked
    from the pipeline's own (threaded) process."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["monitor.extract_warm"])
        return ctx
    return multiprocessing.get_context("spawn")


def start_fork_server() -> None:
    """Start the fork server the workers are forked from now, without waiting for it.

    It lives as long as this process and serves every :class:`Extractor` in it; starting, it
    spends a noticeable amount of CPU importing and warming up trafilatura. A command with
    other start-up work ahead of its first cycle (``monitor run`` starts Prefect) calls this
    first, so that the import happens meanwhile instead of at the start of the cycle. Where the
    platform has no fork server (workers are spawned) it does nothing. Raises ``OSError`` when
    the process cannot be started; an :class:`Extractor` would then report the same failure
    as an :class:`~monitor.errors.ExtractionError`.
    """
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def start_early(workers: int) -> None:
    """:func:`start_fork_server` when there will be ``workers`` to fork; a server that cannot
    start is not reported here, but by the cycle's extraction (as an
    :class:`~monitor.errors.ExtractionError`)."""
    if workers > 0:
        with contextlib.suppress(OSError):
            start_fork_server()


# A page with almost no text: it takes trafilatura's fallbacks (justext and its stoplists for
# every language), most of what the first extraction in a process loads.
WARM_UP_PAGE = b"<html><body><article><p>warm up</p></article></body></html>"
WARM_UP_URL = "http://x.invalid/"


def _probe() -> bool:
    return True


def _init_worker(memory_limit_mb: int | None = None) -> None:
    if hasattr(signal, "SIGPROF"):
        signal.signal(signal.SIGPROF, _on_cpu_limit)
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted here: run at normal priority
            os.nice(_WORKER_NICENESS)
    if memory_limit_mb:
        _limit_memory(memory_limit_mb * 1024 * 1024)
    quiet_extraction_logs()
    # Pay for trafilatura's lazy imports and caches before the first real chunk arrives (next
    # to nothing in a worker forked from the warmed-up fork server; a spawned one pays here).
    extract_page(WARM_UP_PAGE, WARM_UP_URL)


def _limit_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the size cap still bounds a page
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _reason(exc: BaseException, timeout_s: float | None, url: str) -> ExtractionError:
    """The typed reason a page (or feed) got no result."""
    if isinstance(exc, TimeoutError):
        return ExtractionTimeoutError(
            f"extraction ran over {timeout_s:g}s (wall clock): stopped, its worker process "
            "replaced",
            url=url,
        )
    if isinstance(exc, MemoryError):
        return ExtractionError("extraction ran out of its worker's memory limit", url=url)
    # pebble's ProcessExpired: the worker died (a crash in a parser, a kill)
    if type(exc).__name__ == "ProcessExpired":
        return ExtractionError(f"extraction killed its worker process ({exc})", url=url)
    return ExtractionError(f"extraction failed: {type(exc).__name__}: {exc}", url=url)


# A submitted chunk: items[start:end] and the future of their results.
_Chunk = tuple[int, int, "Future[list[Any]]"]


class PendingPages:
    """Pages handed to an :class:`Extractor`; :meth:`results` waits for their extraction."""

    def __init__(
        self,
        extractor: Extractor,
        pages: Sequence[tuple[str, bytes]],
        futures: list[_Chunk],
        done: list[ExtractedPage | None] | None,
        errors: list[ExtractionError | None],
    ) -> None:
        self._extractor = extractor
        self._pages = pages
        self._futures = futures
        self._done = done
        self.errors = errors
        self._closings = extractor._closings

    def results(self) -> list[ExtractedPage | None]:
        """One result per page, in order; ``None`` where unusable (as ``extract_many``).

        Afterwards :attr:`errors` holds, per page, why it got ``None`` when that was a failure
        of the extraction (too large, too slow, a crashed worker), else ``None``.
        """
        if self._done is None:
            work = self._extractor._page_work()
            self._done = self._extractor._collect(
                work, self._pages, self._futures, self.errors, closings=self._closings
            )
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
        page_timeout_s: float | None = DEFAULT_PAGE_TIMEOUT_S,
        page_wall_timeout_s: float | None = DEFAULT_PAGE_WALL_TIMEOUT_S,
        max_html_bytes: int | None = None,
        memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
    ) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers = workers
        self.min_text_chars = min_text_chars
        self.page_timeout_s = page_timeout_s
        self.page_wall_timeout_s = page_wall_timeout_s
        self.max_html_bytes = max_html_bytes
        self.memory_limit_mb = memory_limit_mb
        self._extract = page_extractor
        self._pool: ProcessPool | None = None
        self._starting: tuple[ProcessPool, list[Future[bool]]] | None = None
        self._starter: threading.Thread | None = None
        self._lock = threading.Lock()
        # Set by close(): from then on nothing starts a pool or schedules work in one.
        self._closed = threading.Event()
        # Counts close() calls: pages submitted before a close are not run again after it.
        self._closings = 0
        # Futures handed out and not yet done: close() cancels them, so that nobody waits on a
        # task of a stopped pool (pebble leaves those unresolved).
        self._outstanding: weakref.WeakSet[Future[list[Any]]] = weakref.WeakSet()
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

        A worker's start (importing trafilatura, unless the fork server did) takes a while;
        started before the pages are fetched, that happens while the network is busy instead of
        before the first extraction. Raises :class:`ExtractorClosedError` after :meth:`close`.
        """
        with self._lock:
            self._check_open()
            if self.workers and self._pool is None and self._starter is None:
                # Starting the fork server blocks for as long as its imports take: not here.
                self._starter = threading.Thread(
                    target=self._start_pool, name="extractor-start", daemon=True
                )
                self._starter.start()

    def _start_pool(self) -> None:
        with self._lock:
            if self._pool is not None or self._starting is not None or self._closed.is_set():
                return
        # Scheduling starts the processes, which waits for the fork server's imports: outside
        # the lock, so that close() is not held up by it.
        pool = self._spawn()
        probes: list[Future[bool]] = []
        try:
            probes.extend(pool.schedule(_probe) for _ in range(self.workers))
        except Exception:  # noqa: BLE001 - the first extraction starts a pool and reports it
            _stop(pool)
            return
        with self._lock:
            keep = not self._closed.is_set() and self._starting is None and self._pool is None
            if keep:
                self._starting = (pool, probes)
        if not keep:  # closed meanwhile, or a caller started its own pool
            _stop(pool)

    def close(self) -> None:
        """Stop the worker processes for good; closing again does nothing.

        Pages waiting for a worker or being extracted are abandoned (their workers are
        stopped): their callers get :class:`ExtractorClosedError`, as does any later
        :meth:`start`, :meth:`submit_many`, :meth:`extract_many` or :meth:`parse_feeds` (a cycle
        that failed must not wait for, or start workers for, extractions nobody will use). A
        pool still starting is stopped too; the worker processes are joined before this
        returns, unless starting them is itself stuck (a fork server that never answers), which
        is waited for a bounded time only.
        """
        self._closed.set()
        with self._lock:
            starter, self._starter = self._starter, None
            self._closings += 1
            outstanding, self._outstanding = list(self._outstanding), weakref.WeakSet()
            pool, self._pool = self._pool, None
            starting, self._starting = self._starting, None
        # Callers waiting for a pool still starting wait on its probes: wake them too.
        probes: list[Future[Any]] = list(starting[1]) if starting else []
        for future in [*outstanding, *probes]:
            future.cancel()
        for each in (pool, starting[0] if starting else None):
            if each is not None:
                _stop(each)
        if starter is not None:
            # It stops the pool it is starting itself once it sees the extractor closed.
            starter.join(_START_TIMEOUT_S)

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise ExtractorClosedError("the extractor was closed")

    def worker_pids(self) -> set[int]:
        """The process ids of the running workers (empty before the pool starts)."""
        with self._lock:
            pool = self._pool
        if pool is None:
            return set()
        return {pid for pid in pool._pool_manager.worker_manager.workers if pid is not None}

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
        ready yet. With ``workers=0`` the pages are extracted here and now (without a timeout).
        A page over ``max_html_bytes`` is not extracted: it gets ``None`` and a
        :class:`~monitor.errors.PageTooLargeError`. Raises :class:`ExtractionError` only if the
        worker processes cannot be started.
        """
        self._check_open()
        errors: list[ExtractionError | None] = [self._refused(url, html) for url, html in pages]
        allowed = [
            page if error is None else (page[0], b"")
            for page, error in zip(pages, errors, strict=True)
        ]
        if self.workers == 0 or not pages:
            done = _unpack(self._page_work(in_worker=False)(allowed), errors)
            return PendingPages(self, allowed, [], done, errors)
        size = min(_MAX_CHUNK, math.ceil(len(pages) / (self.workers * _CHUNKS_PER_WORKER)))
        bounds = [(start, min(start + size, len(pages))) for start in range(0, len(pages), size)]
        with self._ready_changed:
            self._ready.append(priority)
        try:
            pool = self._get_pool()  # blocks while the pool starts: other callers line up
            with self._ready_changed:
                self._ready_changed.wait_for(lambda: min(self._ready) == priority)
                work = self._page_work()
                futures = [(a, b, self._submit(pool, work, allowed[a:b])) for a, b in bounds]
        finally:
            with self._ready_changed:
                self._ready.remove(priority)
                self._ready_changed.notify_all()
        return PendingPages(self, allowed, futures, None, errors)

    def _refused(self, url: str, html: bytes) -> PageTooLargeError | None:
        if self.max_html_bytes is None or len(html) <= self.max_html_bytes:
            return None
        return PageTooLargeError(
            f"page of {len(html)} bytes not extracted: over the {self.max_html_bytes}-byte cap",
            url=url,
        )

    def parse_feeds(
        self, results: Sequence[FetchResult], *, parse: FeedsParser = parse_feeds
    ) -> list[ParsedFeed | ParseError]:
        """:func:`monitor.feeds.parse_feeds` in the worker processes, one feed per task, so
        that feeds are parsed on every core; here when there are no workers, or when they have
        not answered yet.

        feedparser takes tens of milliseconds of CPU for a feed of a hundred entries; a cycle
        waits for every feed before it fetches any page. Workers still starting (a fork server
        that is importing what a deployment's flow run imports takes seconds) are not waited
        for: the feeds are parsed here meanwhile, and the pages fetched. A feed whose parsing
        kills its worker, runs past ``page_timeout_s``, or whose result cannot come back, gives
        a :class:`~monitor.errors.ParseError`.
        """
        self._check_open()
        pool = self._ready_pool() if self.workers and results else None
        if pool is None:
            return parse(results)
        futures = [
            (i, i + 1, self._submit(pool, parse, results[i : i + 1])) for i in range(len(results))
        ]
        errors: list[ExtractionError | None] = [None] * len(results)
        parsed: list[ParsedFeed | ParseError | None] = self._collect(
            parse, results, futures, errors
        )
        return [
            outcome
            if outcome is not None
            else ParseError(
                f"parsing this feed failed in its worker process: {errors[i] or 'no result'}",
                url=result.url,
            )
            for i, (outcome, result) in enumerate(zip(parsed, results, strict=True))
        ]

    def _ready_pool(self) -> ProcessPool | None:
        """The pool if its workers have answered, else ``None``; never waits, never starts it."""
        with self._lock:
            if self._pool is None and self._starting is not None:
                pool, probes = self._starting
                if not all(probe.done() for probe in probes):
                    return None
                if any(probe.exception() is not None for probe in probes):
                    return None  # the next _get_pool reports it
                self._pool, self._starting = pool, None
            return self._pool

    def _page_work(self, *, in_worker: bool = True) -> _Work:
        cpu = self.page_timeout_s if in_worker and self.workers else None
        return partial(_extract_chunk, self._extract, self.min_text_chars, cpu_limit_s=cpu)

    def _collect(
        self,
        work: _Work,
        items: Sequence[Any],
        futures: list[_Chunk],
        errors: list[ExtractionError | None],
        *,
        closings: int | None = None,
    ) -> list[Any]:
        """The results of ``work`` over ``items``, chunk by chunk as submitted in ``futures``.

        A chunk that failed (timed out, crashed its worker, or gave a result that could not be
        sent back) is run again item by item, so that one bad item is told from its
        neighbours: an item that fails alone gets ``None`` and its reason in ``errors``.
        """
        results: list[Any] = [None] * len(items)
        again: list[int] = []
        for start, end, future in futures:
            try:
                results[start:end] = future.result()
            except CancelledError:
                raise ExtractorClosedError("the extractor was closed") from None
            except Exception:  # noqa: BLE001 - see the docstring; retried item by item
                again.extend(range(start, end))
        if not again:
            return _unpack(results, errors)
        if closings is not None and closings != self._closings:
            # The pool they were given to was closed under them: nobody waits for them now.
            raise ExtractorClosedError("the extractor was closed")
        pool = self._get_pool()
        alone = [(i, self._submit(pool, work, items[i : i + 1])) for i in again]
        for index, future in alone:
            try:
                results[index] = future.result()[0]
            except CancelledError:
                raise ExtractorClosedError("the extractor was closed") from None
            except Exception as exc:  # noqa: BLE001 - the item's own failure, kept as its reason
                results[index] = None
                errors[index] = _reason(exc, self.page_wall_timeout_s, _url_of(items[index]))
        return _unpack(results, errors)

    def _submit(self, pool: ProcessPool, work: _Work, chunk: Sequence[Any]) -> Future[list[Any]]:
        # Scheduled and registered at once, under the lock: a close() in between would neither
        # cancel the future nor have pebble resolve it, and its caller would wait forever.
        with self._lock:
            self._check_open()
            try:
                # The timeout bounds a chunk as it bounds one page: a chunk slower than that is
                # split, and only the page that is slow alone is stopped for good.
                future: Future[list[Any]] = pool.schedule(
                    work, args=(chunk,), timeout=self.page_wall_timeout_s
                )
            except Exception as exc:  # noqa: BLE001 - a broken pool: the caller sees it per item
                failed: Future[list[Any]] = Future()
                failed.set_exception(exc)
            else:
                self._outstanding.add(future)
                return future
        self._replace_broken(pool)
        return failed

    def _spawn(self) -> ProcessPool:
        return ProcessPool(
            max_workers=self.workers,
            initializer=_init_worker,
            initargs=(self.memory_limit_mb,),
            context=_context(),
        )

    def _get_pool(self) -> ProcessPool:
        """The running pool, started here if need be; waits for its workers to answer."""
        with self._lock:
            self._check_open()
            if self._pool is not None and not self._pool.active:
                _stop(self._pool)  # broken inside (pebble says so): start a new one
                self._pool = None
            if self._pool is not None:
                return self._pool
            if self._starting is None:
                pool = self._spawn()
                self._starting = (pool, [pool.schedule(_probe, timeout=_START_TIMEOUT_S)])
            pool, probes = self._starting
        # Waited for outside the lock, so that close() can stop the pool meanwhile.
        failure = self._wait_for_probes(probes)
        with self._lock:
            self._check_open()
            if self._starting is not None and self._starting[0] is pool:  # still the one starting
                self._starting = None
                if failure is None:
                    self._pool = pool
            if failure is None and self._pool is not None:
                return self._pool
        _stop(pool)
        # A pool that breaks on a harmless probe cannot run any page: that is a broken
        # environment (cannot spawn, cannot import), not a hostile page, and retrying page by
        # page would only spawn processes forever.
        raise ExtractionError(f"extraction worker processes do not start: {failure!r}") from failure

    def _wait_for_probes(self, probes: list[Future[bool]]) -> Exception | None:
        """Why the pool's workers did not answer its probes, or ``None`` once they did.

        ``Future.result`` rather than ``concurrent.futures.wait``: pebble's ``cancel`` (close()
        cancels the probes) wakes the first and not the second.
        """
        deadline = time.monotonic() + _START_TIMEOUT_S
        try:
            for probe in probes:
                probe.result(timeout=max(0.0, deadline - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - a reason, reported by the caller
            return exc
        return None

    def _replace_broken(self, pool: ProcessPool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        _stop(pool)


def _stop(pool: ProcessPool) -> None:
    """Stop ``pool`` and its workers now: tasks still queued or running are abandoned.

    pebble's ``join`` ignores its timeout once the pool is stopped: it is run in a thread of its
    own, waited for a bounded time, so that a pool stuck inside (a worker that never started)
    cannot hold up its caller for good.
    """
    pool.stop()  # type: ignore[no-untyped-call]  # pebble leaves this one unannotated
    joiner = threading.Thread(target=_join_quietly, args=(pool,), name="pool-stop", daemon=True)
    joiner.start()
    joiner.join(_STOP_TIMEOUT_S)


def _join_quietly(pool: ProcessPool) -> None:
    with contextlib.suppress(Exception):
        pool.join()


def _unpack(results: list[Any], errors: list[ExtractionError | None]) -> list[Any]:
    """Results with the pages stopped in their worker (an error in place of a result) moved
    to ``errors``."""
    for index, result in enumerate(results):
        if isinstance(result, ExtractionError):
            results[index] = None
            errors[index] = result
    return results


def _url_of(item: Any) -> str:
    if isinstance(item, FetchResult):
        return item.url
    if isinstance(item, tuple) and item and isinstance(item[0], str):
        return item[0]
    return ""
