"""A TCP server on a loopback address for servers that misbehave on raw sockets.

Subclasses write :meth:`LoopbackServer._serve` for one accepted connection; each connection is
served in a daemon thread of its own, so a connection left dripping or hanging never holds the
others or the test's exit. :meth:`LoopbackServer.stop` sets ``_stop`` (for ``_serve`` loops to
watch) and closes the listener.
"""

from __future__ import annotations

import socket
import threading
from typing import Self


class LoopbackServer:
    def __init__(self, address: str = "127.0.0.1") -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server((address, 0))
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, name=type(self).__name__, daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError
