"""Rendered pages kept while the database has not changed.

The topic timelines, story pages and Atom feeds are read far more often than the database
changes (one cycle every few minutes). :class:`PageCache` keeps a rendered page with the
database's *change mark* read **before** the page's rows were read, and serves it again while the
mark is unchanged: the same mark means no transaction has committed since, so the same rows.

* SQLite: ``PRAGMA data_version`` on a connection of the cache's own that never writes; it moves
  whenever any other connection commits, in this process (the feedback forms) or another (the
  cycles, the command line).
* PostgreSQL: ``pg_current_snapshot()``; two equal snapshots see the same committed
  transactions. It moves with any write anywhere on the server, so on a server shared with busy
  databases (a Prefect server's, say) most pages are simply rendered afresh.
* Anything else (an in-memory SQLite database included): no mark, nothing kept.

A page whose content depends on the time (a mute that ends) is kept until then, never longer.
What belongs to one visitor (the CSRF token in the forms) is never kept: pages are rendered with
:attr:`PageCache.csrf_marker` in its place, and :meth:`PageCache.personal` fills in the
visitor's own.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from markupsafe import escape
from sqlalchemy import Engine

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_SIZE = 128


@dataclass(frozen=True, slots=True)
class _Kept:
    mark: str
    value: Any
    until: datetime | None


@dataclass(frozen=True, slots=True)
class Served(Generic[T]):
    """A page's value, and whether it came from the cache."""

    value: T
    hit: bool


class PageCache:
    """Up to ``size`` rendered pages over ``engine``'s database, most recently used kept."""

    def __init__(self, engine: Engine, *, size: int = DEFAULT_SIZE) -> None:
        self._engine = engine
        self._size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, _Kept] = OrderedDict()
        self._watcher: Any = None
        self.csrf_marker = "csrf-" + secrets.token_hex(16)
        database = engine.url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        self._kind = engine.dialect.name
        if self._kind == "sqlite" and in_memory:
            self._kind = "none"

    def mark(self) -> str | None:
        """The database's change mark now, or None (nothing is kept then)."""
        try:
            if self._kind == "sqlite":
                return self._sqlite_mark()
            if self._kind == "postgresql":
                with self._engine.connect() as conn:
                    return str(conn.exec_driver_sql("SELECT pg_current_snapshot()").scalar())
        except Exception:  # the page is then read afresh, and says why if the database is down
            log.debug("no change mark", exc_info=True)
            self._drop_watcher()
        return None

    def _sqlite_mark(self) -> str:
        with self._lock:
            if self._watcher is None:
                # checked out for good: data_version only compares within one connection
                self._watcher = self._engine.raw_connection()
            cursor = self._watcher.cursor()
            try:
                cursor.execute("PRAGMA data_version")
                return str(cursor.fetchone()[0])
            finally:
                cursor.close()

    def _drop_watcher(self) -> None:
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            try:
                watcher.invalidate()
            except Exception:  # already gone with its database
                log.debug("closing the change watcher", exc_info=True)

    def serve(
        self,
        key: Hashable,
        now: datetime,
        build: Callable[[], tuple[T, datetime | None]],
    ) -> Served[T]:
        """The page kept under ``key`` if the database has not changed since it was built and
        its time has not passed, else ``build()``'s (value, kept-until), kept for next time
        unless the value is None (no such page)."""
        mark = self.mark()
        if mark is not None:
            with self._lock:
                kept = self._kept.get(key)
                if (
                    kept is not None
                    and kept.mark == mark
                    and (kept.until is None or now < kept.until)
                ):
                    self._kept.move_to_end(key)
                    return Served(kept.value, hit=True)
        value, until = build()
        if mark is not None and value is not None:  # a missing page is not worth a place
            with self._lock:
                self._kept[key] = _Kept(mark, value, until)
                self._kept.move_to_end(key)
                while len(self._kept) > self._size:
                    self._kept.popitem(last=False)
        return Served(value, hit=False)

    def personal(self, body: str, csrf: str) -> str:
        """``body`` with the visitor's CSRF token where the marker stands."""
        return body.replace(self.csrf_marker, str(escape(csrf)))

    def close(self) -> None:
        self._drop_watcher()
        with self._lock:
            self._kept.clear()


__all__ = ["PageCache", "Served"]
