"""Content codings undone from a response's raw bytes, bounded while decoding.

:class:`BodyDecoder` takes the codings a ``Content-Encoding`` header lists (in the order they
were applied) and turns raw chunks into decoded pieces of at most :data:`PIECE` bytes, layer
by layer, so the caller can count the decoded size as it grows and stop at its cap: a body of
a few kilobytes that inflates to gigabytes through stacked layers (``gzip, gzip``) is never in
memory. No layer may produce more than the cap in total either, which bounds the work a layer
of empty blocks could cause. ``gzip`` (``x-gzip``) and ``deflate`` (zlib-wrapped, or raw as
some servers send it) are decoded, up to :data:`MAX_CONTENT_ENCODINGS` stacked; anything else
is a :class:`~monitor.errors.PermanentFetchError` (it was not asked for: the client sends
:data:`ACCEPT_ENCODING`). Broken data raises ``zlib.error``, which the caller translates.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

from monitor.errors import PermanentFetchError, ResponseTooLargeError

_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})
MAX_CONTENT_ENCODINGS = 8
ACCEPT_ENCODING = "gzip, deflate"
# The most one decoding step may produce at once.
PIECE = 65_536


class _Inflater:
    """One gzip or deflate layer, decoding at most :data:`PIECE` bytes per step."""

    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False
        self.produced = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._inflate.eof:
            try:
                out = self._inflate.decompress(data, PIECE)
            except zlib.error:
                if self._gzip or self._started:
                    raise
                # "deflate" is zlib-wrapped by the standard, raw in many servers' hands.
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                continue
            self._started = True
            tail = self._inflate.unconsumed_tail
            if not out and len(tail) == len(data):
                return  # no progress possible with this input
            self.produced += len(out)
            if out:
                yield out
            data = tail


class BodyDecoder:
    """The body's content codings undone in reverse order of application, as a pipeline of
    bounded steps; no layer may produce more than the cap in total either (a layer of empty
    blocks would otherwise burn CPU for ever)."""

    def __init__(self, codings: Sequence[str], url: str) -> None:
        names = [c.strip().lower() for c in codings if c.strip().lower() not in ("", "identity")]
        unknown = [c for c in names if c not in _CODINGS]
        if unknown:
            raise PermanentFetchError(
                f"unsupported Content-Encoding {unknown[0][:40]!r} (asked for {ACCEPT_ENCODING})",
                url=url,
            )
        if len(names) > MAX_CONTENT_ENCODINGS:
            raise PermanentFetchError(
                f"{len(names)} stacked content encodings (at most {MAX_CONTENT_ENCODINGS})",
                url=url,
            )
        self._layers = [_Inflater(c) for c in reversed(names)]
        self._url = url

    def decode(self, raw: bytes, max_bytes: int) -> Iterator[bytes]:
        yield from self._through(raw, 0, max_bytes)

    def _through(self, data: bytes, depth: int, max_bytes: int) -> Iterator[bytes]:
        if depth == len(self._layers):
            if data:
                yield data
            return
        layer = self._layers[depth]
        for piece in layer.feed(data):
            if layer.produced > max_bytes:
                raise ResponseTooLargeError(
                    f"body exceeds the {max_bytes}-byte cap (stopped reading at "
                    f"{layer.produced} bytes decoded from content encoding {depth + 1})",
                    url=self._url,
                )
            yield from self._through(piece, depth + 1, max_bytes)
