"""Property-based fuzzing of the inbound boundary's parsers: typed value or typed error, never
anything else.

Every function that reads a value from the network is given arbitrary and adversarial input
(other scripts' digits, offsets past the end of time, invalid IDNA, lone surrogates, NUL,
nesting thousands deep, random bytes in several encodings) and must return a value that the
next stage can use (a header httpx/h11 will send, a URL httpx will request, text UTF-8 and
PostgreSQL accept, an aware UTC datetime) or raise the documented typed error. Bounded by the
"ci" Hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from time import struct_time
from typing import Any

import h11
import httpx
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.feeds import parse_feed, parse_feeds
from monitor.inbound import (
    MAX_JSON_DEPTH,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    clean_line,
    clean_summary,
    clean_text,
    clean_title,
    header_int,
    json_depth,
    load_json,
    validator,
)
from monitor.models import FeedEntry, FetchResult, ParsedFeed
from monitor.redact import redact_text, redact_url
from monitor.timeutil import MAX_RETRY_AFTER_S, from_timestamp, parse_iso, retry_after_seconds
from monitor.urls import MAX_URL_CHARS, canonicalize, host_of

# -- strategies -----------------------------------------------------------------------------

# Characters hostile input is made of, weighted in beside arbitrary text.
_NASTY = "\x00\x07\x1b\x7f\x85\x9b\xa0\xad\u2028\u202e\ufeff\ufffd²³¹٣۴߀१\U0001f600\ud800\udfff"
nasty_text = st.text(alphabet=st.sampled_from(_NASTY) | st.characters(), max_size=40)
any_text = st.one_of(st.text(max_size=60), nasty_text)

digits = st.one_of(
    st.integers(min_value=0, max_value=10**30).map(str),
    st.text(alphabet="0123456789²³¹٣۴߀१ -+.eE", min_size=1, max_size=40),
)
offsets = st.tuples(st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99))


@st.composite
def iso_dates(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from([0, 1, 2, 1969, 1970, 2025, 2038, 9998, 9999, 10000]))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 25)),
        draw(st.integers(0, 61)),
        draw(st.integers(0, 61)),
    )
    sign, oh, om = draw(offsets)
    zone = draw(st.sampled_from(["", "Z", f"{sign}{oh:02d}:{om:02d}", f"{sign}{oh:02d}{om:02d}"]))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{zone}"


@st.composite
def http_dates(draw: st.DrawFn) -> str:
    day = draw(st.sampled_from(["Mon", "Fri", "Xyz", ""]))
    year = draw(st.sampled_from([0, 1, 70, 1900, 2025, 9999, 10000, 99999]))
    sign, oh, om = draw(offsets)
    zone = draw(st.sampled_from(["GMT", "UTC", "-0000", f"{sign}{oh:02d}{om:02d}", "ZZZ"]))
    return f"{day}, {draw(st.integers(0, 40)):02d} Dec {year} 23:59:59 {zone}"


_LABELS = st.one_of(
    st.sampled_from(["example", "xn--zz--", "xn--", "xn--p1ai", "xn--bcher-kva", "a" * 64, ""]),
    st.text(min_size=1, max_size=12),
    st.from_regex(r"xn--[a-z0-9-]{0,10}", fullmatch=True),
)
_HOSTS = st.one_of(
    st.lists(_LABELS, min_size=1, max_size=4).map(".".join),
    st.sampled_from(
        ["[::1]", "[fe80::1%25eth0]", "[::1", "[zz::1]", "1.2.3.4", "999.1.1.1", "1.2.3", "[]"]
    ),
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "ftp", "javascript", ""]))
    user = draw(st.sampled_from(["", "user@", "user:pass@", ":@", "a@b@"]))
    port = draw(
        st.one_of(st.just(""), st.integers(-5, 100_000).map(lambda p: f":{p}"), st.just(":x"))
    )
    path = draw(st.one_of(st.text(max_size=30), st.just("/" + "p" * 2000)))
    query = draw(st.one_of(st.just(""), any_text.map(lambda q: "?" + q)))
    return f"{scheme}://{user}{draw(_HOSTS)}{port}/{path}{query}"


def _dated(value: str) -> str:
    return value


def _utf8_clean(value: str) -> bool:
    value.encode("utf-8")  # raises on a lone surrogate
    return "\x00" not in value and not re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", value)


# -- headers and numbers --------------------------------------------------------------------


@given(st.one_of(digits, http_dates(), any_text))
@example("²")
@example("9" * 5000)
@example("Fri, 31 Dec 9999 23:59:59 -2359")
def test_retry_after_is_a_bounded_wait_or_none(value: str) -> None:
    wait = retry_after_seconds(value, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert wait is None or (math.isfinite(wait) and 0 <= wait <= MAX_RETRY_AFTER_S)


@given(st.one_of(any_text, st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=600)))
@example('"café"')
@example('W/"abc"\r\nX-Injected: 1')
def test_a_validator_is_dropped_or_sendable(value: str) -> None:
    safe = validator(value, max_chars=500)
    if safe is None:
        return
    assert len(safe) <= 500
    # What is kept is what h11 will put on the wire, and httpx will build a request with.
    h11.Request(method="GET", target="/", headers=[("Host", "x"), ("If-None-Match", safe)])
    httpx.Request("GET", "http://x/", headers={"If-Modified-Since": safe})


@given(st.one_of(digits, any_text))
def test_header_int_reads_ascii_digits_only(value: str) -> None:
    number = header_int(value)
    assert number is None or (
        (number >= 0 and str(number) == value.strip().lstrip("0")) or number == 0
    )


# -- dates ----------------------------------------------------------------------------------


@given(st.one_of(iso_dates(), any_text))
@example("9999-12-31T23:59:59-23:59")
@example("0001-01-01T00:00:00+23:59")
def test_an_iso_date_is_aware_and_convertible_or_none(value: str) -> None:
    parsed = parse_iso(value)
    if parsed is not None:
        assert parsed.tzinfo is not None
        assert parsed.astimezone(UTC).tzinfo is not None


@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.tuples(*[st.integers(-(10**6), 10**6)] * 6).map(lambda t: struct_time((*t, 0, 0, 0))),
        st.none(),
        any_text,
    )
)
def test_a_timestamp_is_aware_utc_or_none(value: Any) -> None:
    when = from_timestamp(value)
    assert when is None or when.tzinfo is UTC


# -- URLs -----------------------------------------------------------------------------------


@given(st.one_of(urls(), any_text), st.one_of(st.none(), urls()))
@example("http://xn--zz--.example/", None)
@example("http://exa\u00admple.xn--p1ai\u0301-/x", None)
@example("/story", "http://xn--zz--.example/feed")
def test_a_canonical_url_is_requestable_or_a_parse_error(url: str, base: str | None) -> None:
    try:
        canonical = canonicalize(url, base=base)
    except ParseError:
        return
    assert len(canonical) <= MAX_URL_CHARS
    assert host_of(canonical)
    # httpx must build the request and be able to name its host: what raised mid-cycle before.
    request = httpx.Request("GET", canonical)
    assert request.url.host


@given(st.one_of(urls(), any_text))
def test_host_of_names_a_host_or_raises_parse_error(url: str) -> None:
    try:
        host = host_of(url)
    except ParseError:
        return
    assert host
    # The host as the client will see it, once the whitespace feeds wrap links in is dropped
    # (what canonicalize does; fetch refuses a raw URL httpx cannot take as a FetchError).
    assert httpx.URL("".join(url.split())).host is not None


secret = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=10, max_size=20).map(
    lambda s: "Zq" + s
)
secret_names = st.sampled_from(
    ["apikey", "api_key", "API-KEY", "token", "access_token", "password", "sig", "client_secret"]
)


@given(secret, secret, secret_names, st.sampled_from(["", "/feed", "/a?b=1"]), any_text)
def test_redaction_removes_every_credential(
    password: str, value: str, name: str, path: str, noise: str
) -> None:
    joiner = "&" if "?" in path else "?"
    url = f"https://reader:{password}@news.example{path}{joiner}{name}={value}#top"
    shown = redact_url(url)
    assert password not in shown
    assert value not in shown
    message = f"HTTP 404 from {url}: {noise}"
    assert password not in redact_text(message)
    assert value not in redact_text(message)


@given(any_text)
def test_redaction_is_total(text: str) -> None:
    assert isinstance(redact_url(text), str)
    assert isinstance(redact_text(text), str)


# -- text -----------------------------------------------------------------------------------


@given(any_text)
@example("Lone \ud800 surrogate")
def test_clean_text_is_storable_and_stable(value: str) -> None:
    cleaned = clean_text(value)
    assert _utf8_clean(cleaned)
    assert clean_text(cleaned) == cleaned
    line = clean_line(value)
    assert _utf8_clean(line)
    assert "\n" not in line
    assert line == line.strip()


@pytest.mark.parametrize(
    ("clean", "cap"), [(clean_title, MAX_TITLE_CHARS), (clean_summary, MAX_SUMMARY_CHARS)]
)
@given(st.text(alphabet=" ab\x00\n", max_size=3000))
@example("word " * 1_000_000)
@example("x" * 60_000)
def test_titles_and_summaries_are_one_line_of_at_most_their_cap(
    clean: Callable[[str], str], cap: int, value: str
) -> None:
    cut = clean(value)
    assert len(cut) <= cap
    assert "\n" not in cut
    line = clean_line(value)
    if len(line) <= cap:
        assert cut == line
    else:
        assert cut.endswith("\u2026")
        assert line.startswith(cut[:-1])


# -- JSON -----------------------------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
)
json_values: st.SearchStrategy[Any] = st.deferred(
    lambda: (
        json_scalars
        | st.lists(json_values, max_size=4)
        | st.dictionaries(st.text(max_size=5), json_values, max_size=4)
    )
)


@given(json_values)
def test_json_within_the_depth_bound_loads_as_json_does(value: Any) -> None:
    data = json.dumps(value).encode()
    assume(json_depth(data.decode()) <= MAX_JSON_DEPTH)
    assert load_json(data) == json.loads(data)


@given(st.integers(0, 50_000), st.sampled_from(["[", '{"a":', '["\\"[', '[{"k":']), any_text)
@example(100_000, "[", "")
def test_deep_or_broken_json_is_a_parse_error(depth: int, opener: str, tail: str) -> None:
    data = (opener * depth + tail).encode("utf-8", "surrogatepass")
    try:
        load_json(data)
    except ParseError:
        return


# -- feed documents -------------------------------------------------------------------------


def _check_feed(feed: ParsedFeed) -> None:
    for entry in feed.entries:
        _check_entry(entry)
    assert _utf8_clean(feed.title)


def _check_entry(entry: FeedEntry) -> None:
    host_of(entry.url)  # every entry kept can be requested
    for text in (entry.title, entry.summary, entry.guid or "", *entry.authors):
        assert _utf8_clean(text)
    for when in (entry.published, entry.updated):
        assert when is None or when.astimezone(UTC).tzinfo is not None


def _parse(body: bytes, content_type: str = "") -> None:
    result = FetchResult(
        url="http://feeds.example/feed",
        final_url="http://feeds.example/feed",
        status=200,
        content=body,
        headers={"content-type": content_type},
    )
    try:
        feed = parse_feed(result)
    except ParseError:
        return
    _check_feed(feed)
    # The batch entry point never raises for one document.
    [outcome] = parse_feeds([result])
    assert isinstance(outcome, ParsedFeed | ParseError)


json_ids = st.one_of(any_text, st.integers(), st.none(), st.booleans(), st.floats(), json_values)


@st.composite
def json_feeds(draw: st.DrawFn) -> bytes:
    items = draw(
        st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": json_ids,
                    "url": st.one_of(urls(), any_text, json_values),
                    "title": st.one_of(any_text, json_values),
                    "summary": any_text,
                    "content_html": any_text.map(lambda t: f"<p>{t}</p>"),
                    "date_published": st.one_of(iso_dates(), any_text, json_values),
                    "date_modified": st.one_of(iso_dates(), any_text),
                    "authors": st.lists(st.fixed_dictionaries({"name": any_text}), max_size=3)
                    | json_values,
                },
            ),
            max_size=5,
        )
    )
    version = draw(st.sampled_from(["https://jsonfeed.org/version/1.1", "1", None]))
    document: Any = {"version": version, "title": draw(any_text), "items": items}
    if draw(st.booleans()):
        document = draw(json_values) if draw(st.booleans()) else document
    # ensure_ascii: lone surrogates and NUL travel as \\u escapes, as a server may send them
    return json.dumps(document, ensure_ascii=True).encode()


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def xml_feeds(draw: st.DrawFn) -> bytes:
    def field() -> str:
        raw = draw(st.one_of(any_text, urls(), iso_dates(), http_dates()))
        return _xml_text(raw) if draw(st.booleans()) else raw

    entries = "".join(
        f"<item><title>{field()}</title><link>{field()}</link><guid>{field()}</guid>"
        f"<pubDate>{field()}</pubDate><description>{field()}</description>"
        f"<author>{field()}</author></item>"
        if kind == "rss"
        else f"<entry><title>{field()}</title><link href='{_xml_text(draw(urls()))}'/>"
        f"<id>{field()}</id><updated>{field()}</updated><published>{field()}</published></entry>"
        for kind in draw(st.lists(st.sampled_from(["rss", "atom"]), max_size=4))
    )
    if draw(st.booleans()):
        doc = f"<rss version='2.0'><channel><title>{field()}</title>{entries}</channel></rss>"
    else:
        doc = f"<feed xmlns='http://www.w3.org/2005/Atom'><title>{field()}</title>{entries}</feed>"
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252", "shift_jis"]))
    declared = draw(st.sampled_from([encoding, "utf-8", "iso-8859-1", "bogus"]))
    body = f"<?xml version='1.0' encoding='{declared}'?>{doc}".encode(encoding, "replace")
    return body if not draw(st.booleans()) else gzip.compress(body)


@given(json_feeds())
def test_a_json_feed_is_a_clean_parsed_feed_or_a_parse_error(body: bytes) -> None:
    _parse(body, "application/feed+json")


@given(xml_feeds())
def test_an_xml_feed_is_a_clean_parsed_feed_or_a_parse_error(body: bytes) -> None:
    _parse(body, "application/rss+xml")


@given(st.binary(max_size=400), st.sampled_from(["", "application/json", "text/xml"]))
@example(b"\x1f\x8b" + b"\x00" * 20, "")
@example(b'{"version":"https://jsonfeed.org/version/1","items":' + b"[" * 5000, "")
def test_arbitrary_bytes_are_a_feed_or_a_parse_error(body: bytes, content_type: str) -> None:
    _parse(body, content_type)
