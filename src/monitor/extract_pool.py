"""Extraction over many pages: a pool of worker processes running :func:`extract_page`.

Contract
--------
* :class:`Extractor` runs :func:`extract_page` over many pages, in-process (``workers=0``) or
  in a lazily started pool of worker processes. Pages travel to workers in chunks so the
  per-page cost is the extraction itself, not IPC. A page that kills its worker process gives
  ``None``; the pool is rebuilt and the other pages of the batch still get their results. The
  one error it raises is :class:`~monitor.errors.ExtractionError` when worker processes cannot
  be started at all (a broken environment, not a bad page).
* :meth:`Extractor.parse_feeds` parses fetched feeds in the same worker processes once they
  are up (here until then), one feed per task, with the same isolation: a feed that kills its
  worker gives a :class:`~monitor.errors.ParseError`.
* Workers are forked from a fork server that has imported and warmed up trafilatura once
  (:mod:`monitor.extract_warm`) where the platform has one, else spawned; never forked from the
  pipeline's own threaded process.
"""

from __future__ import annotations

import ast
import contextlib
import math
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from functools import cache, partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from monitor.errors import ExtractionError, ExtractorClosedError, ParseError
from monitor.extract import extract_page, quiet_extraction_logs
from monitor.feeds import FeedsParser, parse_feeds
from monitor.models import ExtractedPage, FetchResult, ParsedFeed

__all__ = [
    "WARM_UP_PAGE",
    "WARM_UP_URL",
    "Extractor",
    "PageExtractor",
    "PendingPages",
    "main_imports",
    "start_early",
    "start_fork_server",
]

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
    extract: PageExtractor, min_text_chars: int, pages: Sequence[tuple[str, bytes]]
) -> list[ExtractedPage | None]:
    return [extract(html, url, min_text_chars=min_text_chars) for url, html in pages]


# What a worker runs: a chunk of items in, one result per item out. Module-level functions (and
# partials of them) only: it travels to the worker by name.
_Work = Callable[[Sequence[Any]], list[Any]]


def _context() -> multiprocessing.context.BaseContext:
    """Processes are forked from a fork server that has imported and warmed up trafilatura once
    (:mod:`monitor.extract_warm`), where the platform has one; otherwise spawned. Never forked
    from the pipeline's own (threaded) process."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(_preload()))
        return ctx
    return multiprocessing.get_context("spawn")


@cache
def _preload() -> tuple[str, ...]:
    # Once per process: the main module does not change, and every pool asks for a context.
    return ("monitor.extract_warm", *main_imports())


def main_imports() -> list[str]:
    """The modules a worker process imports when it runs this process's main module again.

    A process started by multiprocessing (forked from the fork server too) first runs its
    parent's main module once more, so that functions defined there can be unpickled: a worker
    of ``python -m prefect.engine`` (how Prefect runs a deployment's or ``flow.serve``'s flow
    run) imports all of Prefect, seconds of CPU; one of the ``monitor`` command imports the CLI
    and its dependencies, a quarter of that; each worker, each cycle, before its first page.
    The fork server imports them once instead, and the workers forked from it find them
    loaded. These are the module run with ``-m``, or what a main script's top-level import
    statements name (those this process has loaded). Nothing for an interactive session,
    ``-c``, or a package's ``__main__``, which are not run again. (A module that started
    threads on import would now do so in the fork server, and forking a threaded process is
    unsafe; Prefect's and the CLI's modules start none.)
    """
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if isinstance(spec_name, str):
        return [] if spec_name.rpartition(".")[2] == "__main__" else [spec_name]
    path = getattr(main, "__file__", None)
    if not isinstance(path, str):
        return []
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in _top_level(tree.body):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return sorted({name for name in names if name in sys.modules})


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements a module may run on import, into ``try`` and ``if`` blocks; not the
    body of the ``if __name__ == "__main__"`` guard, which a worker does not run."""
    for node in body:
        yield node
        if isinstance(node, ast.Try):
            yield from _top_level([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                yield from _top_level(handler.body)
        elif isinstance(node, ast.If):
            if not _is_main_guard(node.test):
                yield from _top_level(node.body)
            yield from _top_level(node.orelse)


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def start_fork_server() -> None:
    """Start the fork server the workers are forked from now, without waiting for it.

    It lives as long as this process and serves every :class:`Extractor` in it; starting, it
    spends about half a second of CPU importing and warming up trafilatura. A command with
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


def _init_worker() -> None:
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted here: run at normal priority
            os.nice(_WORKER_NICENESS)
    quiet_extraction_logs()
    # Pay for trafilatura's lazy imports and caches before the first real chunk arrives (next
    # to nothing in a worker forked from the warmed-up fork server; a spawned one pays here).
    extract_page(WARM_UP_PAGE, WARM_UP_URL)


# A submitted chunk: items[start:end] and the future of their results.
_Chunk = tuple[int, int, "Future[list[Any]]"]


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
            work = self._extractor._page_work()
            self._done = self._extractor._collect(work, self._pages, self._pool, self._futures)
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
        """Stop the worker processes. A later :meth:`extract_many` starts a new pool.

        Pages still waiting for a worker are cancelled: their callers get
        :class:`ExtractorClosedError` (a cycle that failed must not wait for, or start workers
        for, extractions nobody will use); pages being extracted finish first, and the worker
        processes are joined before this returns.
        """
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
            done = self._page_work()(pages)
            return PendingPages(self, pages, None, [], done)
        size = min(_MAX_CHUNK, math.ceil(len(pages) / (self.workers * _CHUNKS_PER_WORKER)))
        bounds = [(start, min(start + size, len(pages))) for start in range(0, len(pages), size)]
        with self._ready_changed:
            self._ready.append(priority)
        try:
            pool = self._get_pool()  # blocks while the pool starts: other callers line up
            with self._ready_changed:
                self._ready_changed.wait_for(lambda: min(self._ready) == priority)
                work = self._page_work()
                futures = [(a, b, self._submit(pool, work, pages[a:b])) for a, b in bounds]
        finally:
            with self._ready_changed:
                self._ready.remove(priority)
                self._ready_changed.notify_all()
        return PendingPages(self, pages, pool, futures, None)

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
        kills its worker, or whose result cannot come back, gives a
        :class:`~monitor.errors.ParseError`, and the pool is rebuilt as for a page.
        """
        pool = self._ready_pool() if self.workers and results else None
        if pool is None:
            return parse(results)
        futures = [
            (i, i + 1, self._submit(pool, parse, results[i : i + 1])) for i in range(len(results))
        ]
        parsed: list[ParsedFeed | ParseError | None] = self._collect(parse, results, pool, futures)
        return [
            outcome
            if outcome is not None
            else ParseError(
                "parsing this feed killed its worker process, or gave a result that could not "
                "be sent back",
                url=result.url,
            )
            for outcome, result in zip(parsed, results, strict=True)
        ]

    def _ready_pool(self) -> ProcessPoolExecutor | None:
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

    def _page_work(self) -> _Work:
        return partial(_extract_chunk, self._extract, self.min_text_chars)

    def _collect(
        self,
        work: _Work,
        items: Sequence[Any],
        pool: ProcessPoolExecutor,
        futures: list[_Chunk],
    ) -> list[Any]:
        """The results of ``work`` over ``items``, chunk by chunk as submitted in ``futures``;
        ``None`` for an item whose chunk, and then the item alone, failed."""
        results: list[Any] = [None] * len(items)
        unfinished = self._run_chunks(pool, futures, results)
        if unfinished:
            self._run_isolated(work, items, unfinished, results)
        return results

    def _run_chunks(
        self,
        pool: ProcessPoolExecutor,
        futures: list[_Chunk],
        results: list[Any],
    ) -> list[int]:
        unfinished: list[int] = []
        broken = False
        for start, end, future in futures:
            try:
                results[start:end] = future.result()
            except CancelledError:
                raise ExtractorClosedError("the extractor was closed") from None
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
        work: _Work,
        items: Sequence[Any],
        indices: list[int],
        results: list[Any],
    ) -> None:
        # Round one keeps every worker busy with single pages; when the pool breaks, only the
        # pages in flight at that moment are suspects. Round two runs each suspect alone, so a
        # broken pool there convicts exactly one page.
        queue = deque(indices)
        suspects: list[int] = []
        while queue:
            pool = self._get_pool()
            in_flight: dict[Future[list[Any]], int] = {}
            broken = False
            while (queue or in_flight) and not broken:
                while queue and len(in_flight) < self.workers:
                    index = queue.popleft()
                    in_flight[self._submit(pool, work, items[index : index + 1])] = index
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    index = in_flight.pop(future)
                    try:
                        results[index] = future.result()[0]
                    except CancelledError:
                        raise ExtractorClosedError("the extractor was closed") from None
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
                results[index] = self._submit(pool, work, items[index : index + 1]).result()[0]
            except CancelledError:
                raise ExtractorClosedError("the extractor was closed") from None
            except BrokenProcessPool:
                results[index] = None
                self._replace_broken(pool)
            except Exception:  # noqa: BLE001 - same as above: the page is unusable
                results[index] = None

    def _submit(
        self, pool: ProcessPoolExecutor, work: _Work, chunk: Sequence[Any]
    ) -> Future[list[Any]]:
        try:
            return pool.submit(work, chunk)
        # OSError: submitting may start a replacement process, and that can fail too.
        except (BrokenProcessPool, OSError) as exc:
            # Uniform handling: the caller sees the breakage when it asks for the result.
            broken = BrokenProcessPool(f"cannot submit to the pool: {exc!r}")
            broken.__cause__ = exc
            failed: Future[list[Any]] = Future()
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
