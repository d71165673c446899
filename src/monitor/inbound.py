"""The inbound boundary: values that come from the network, made safe or refused.

Everything a source sends is untrusted: a header, a link, a date, a title or a JSON document
may be anything a hostile or broken server can produce. Each kind of value has one place that
turns it into a typed value, or into ``None`` / a typed error
(:class:`~monitor.errors.ParseError`, :class:`~monitor.errors.FetchError`) that is that item's
failure alone; no other stage reads the raw value.

=================  =========================================  ===================================
kind of value      where                                      bad input becomes
=================  =========================================  ===================================
text (titles,      :func:`clean_text`, :func:`clean_line`     NUL, other control characters and
summaries, GUIDs,  here; feeds and articles pass through      lone surrogates removed (PostgreSQL
authors, body)     them before anything is stored             and UTF-8 refuse them)
titles             :func:`clean_title` here (feeds, pages,    cut to :data:`MAX_TITLE_CHARS`
                   articles)
summaries          :func:`clean_summary` here (feed and JSON  cut to :data:`MAX_SUMMARY_CHARS`
                   Feed entries; sitemaps carry none)
validators we      :func:`validator` here, applied to what    ``None``: the header is not stored
send back (ETag,   a server sends *and* to what is read from  and not sent (the next poll is an
Last-Modified)     storage before it is sent again            unconditional GET)
numbers in         :func:`header_int` here                    ``None``: ASCII digits only
headers
Retry-After        :func:`monitor.timeutil.retry_after_seconds`  ``None``; huge waits are capped
dates              :func:`monitor.timeutil.parse_iso`,        ``None``: a publisher's date is a
                   :func:`monitor.timeutil.from_timestamp`    hint, never an error
JSON documents     :func:`load_json` here                     ``ParseError`` past
                                                              :data:`MAX_JSON_DEPTH` levels
URLs and hosts     :mod:`monitor.urls` (``canonicalize``,     ``ParseError`` for that entry,
                   ``host_of``; ``redact_url`` for showing)   redirect or source only
content encodings  :mod:`monitor.fetch` (decoded layer by     ``ResponseTooLargeError`` as soon
                   layer, bounded while decoding)             as the decoded size passes the cap
=================  =========================================  ===================================
"""

from __future__ import annotations

import json
import re
from typing import Any

from monitor.errors import ParseError

# Nesting deeper than this is not a feed: JSON Feed needs four levels (feed, items, item,
# authors/attachments). The bound is far below the interpreter's recursion limit.
MAX_JSON_DEPTH = 64

# C0 controls except tab, line feed and carriage return; DEL; C1 controls. PostgreSQL refuses
# NUL in text, terminals act on the others, and none of them is part of a headline or an id.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A surrogate code point on its own (JSON "\ud800" decodes to one): not encodable as UTF-8.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
# An HTTP header value we echo back: visible ASCII and spaces, nothing else.
_HEADER_SAFE = re.compile(r"[\x20-\x7e]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
# JSON strings (with their escapes), removed before brackets are counted.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# The longest title kept. A headline is a line: a hostile feed's 400 KB title would otherwise
# be stored, indexed, read for novelty and sent whole in every alert about its story.
MAX_TITLE_CHARS = 1000
# The longest entry summary kept. A summary is what an article is stored with when its page
# cannot be extracted, so a feed that carries whole articles keeps a long read whole (a long
# news article is some 30,000 characters); a hostile feed's multi-megabyte "summary" is cut
# where it enters instead of being carried, whole, to every later stage.
MAX_SUMMARY_CHARS = 50_000


def clean_text(value: str) -> str:
    """``value`` without NUL, control characters (tab and line breaks are kept) and lone
    surrogates (each becomes U+FFFD, so a reader sees where something was)."""
    if _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    return _CONTROL.sub("", value)


def clean_line(value: str) -> str:
    """:func:`clean_text` on one line: every run of whitespace one space, none at either end."""
    return _WHITESPACE.sub(" ", clean_text(value)).strip()


def shortened(line: str, max_chars: int) -> str:
    """``line`` if it has at most ``max_chars`` characters, else cut to fit: at a space when one
    is near the end, and marked by an ellipsis."""
    if len(line) <= max_chars:
        return line
    cut = line[: max_chars - 1]
    space = cut.rfind(" ", max(0, max_chars - 100))
    return (cut[:space] if space > 0 else cut).rstrip() + "\u2026"


def clean_title(value: str) -> str:
    """:func:`clean_line`, cut to at most :data:`MAX_TITLE_CHARS` characters (:func:`shortened`)."""
    return shortened(clean_line(value), MAX_TITLE_CHARS)


def clean_summary(value: str) -> str:
    """:func:`clean_line`, cut to at most :data:`MAX_SUMMARY_CHARS` characters
    (:func:`shortened`)."""
    return shortened(clean_line(value), MAX_SUMMARY_CHARS)


def validator(value: str | None, *, max_chars: int) -> str | None:
    """An ``ETag`` or ``Last-Modified`` value safe to store and to send back in
    ``If-None-Match`` / ``If-Modified-Since``: visible ASCII (and spaces), at most ``max_chars``
    characters; ``None`` for anything else, which makes the next request unconditional."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > max_chars or not _HEADER_SAFE.fullmatch(value):
        return None
    return value


def header_int(value: str | None) -> int | None:
    """A non-negative integer header (``Content-Length``): ASCII digits only, else ``None``.

    ``str.isdigit`` accepts superscripts and other scripts' digits that ``int`` refuses; a
    number too long to convert is refused too."""
    if value is None:
        return None
    value = value.strip()
    if not _ASCII_DIGITS.fullmatch(value) or len(value) > 30:
        return None
    return int(value)


def load_json(data: bytes, *, max_depth: int = MAX_JSON_DEPTH, url: str | None = None) -> Any:
    """Decode a JSON document (UTF-8, a byte order mark tolerated) with nesting bounded by
    ``max_depth``; anything else is a :class:`~monitor.errors.ParseError`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid JSON: not UTF-8: {exc}", url=url) from exc
    depth = json_depth(text, stop_above=max_depth)
    if depth > max_depth:
        raise ParseError(f"invalid JSON: nested deeper than {max_depth} levels", url=url)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"invalid JSON: {exc}", url=url) from exc


def json_depth(text: str, *, stop_above: int | None = None) -> int:
    """How deeply arrays and objects nest in ``text`` (brackets inside strings do not count);
    the scan stops as soon as the depth passes ``stop_above``."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest
