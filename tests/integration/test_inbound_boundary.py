"""What comes from the network is normalised or refused item by item, never fatal to a cycle.

Each test serves hostile values from a real server on 127.0.0.1 (a raw socket where
http.server would not write them) beside a healthy source, runs real cycles, and checks that
the healthy source's articles are stored, the bad item is a typed error of its own, and
nothing is fetched again for ever.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.alert_settings import DeliverySettings
from monitor.alerts.outbox import deliver_due, enqueue
from monitor.check import check_sources
from monitor.cli import app
from monitor.config import Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.errors import ConfigError, PermanentFetchError, ResponseTooLargeError
from monitor.fetch import FetchPolicy, fetch, make_client
from monitor.pipeline.collect import fetch_policy
from monitor.pipeline.report import CycleReport, to_markdown
from monitor.storage.tables import ArticleRow, DeliveryRow, SourceRow
from tests.support.alerts import add_alert
from tests.support.pipeline import run_cycle
from tests.support.rawhttp import RawServer
from tests.support.webhook import Behaviour, WebhookReceiver

JSON_FEED = "application/feed+json"
RSS = "application/rss+xml"


def _page(title: str) -> bytes:
    body = (
        f"The harbour council of Tarrow met on Tuesday about {title.lower()}, after engineers "
        "found corrosion in 14 of the 22 steel piles of the old ferry terminal. Council leader "
        "Ines Varga said the ferry to Kell Island would move to the north quay in June."
    )
    return (
        f"<html lang='en'><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"<p>{body}</p><p>{body}</p></article></body></html>"
    ).encode()


def _json_feed(items: list[dict[str, Any]]) -> bytes:
    # ensure_ascii: a lone surrogate or a NUL travels as a \\u escape, as a server would send it
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "Gazette", "items": items},
        ensure_ascii=True,
    ).encode()


def _item(url: str, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": url,
        "url": url,
        "title": title,
        "summary": f"{title}: the council met.",
        "date_published": "2025-03-04T09:00:00Z",
        **extra,
    }


def _config(sources: dict[str, str]) -> Any:
    return parse_config(
        {
            "sources": [{"name": name, "url": url} for name, url in sources.items()],
            "topics": [{"name": "Tarrow", "query": "tarrow"}],
        }
    )


def _stored(sessions: sessionmaker[Session]) -> dict[str, ArticleRow]:
    with sessions() as s:
        return {r.url.rsplit("/", 1)[-1]: r for r in s.scalars(select(ArticleRow))}


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    server = RawServer().start()
    yield server
    server.stop()


# -- 1. Retry-After in another script's digits ---------------------------------------------------


def test_retry_after_in_other_digits_is_no_wait_and_not_fatal(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    base = local_server.base_url
    local_server.table.set("/limited/feed.json", Route(status=429, headers=(("Retry-After", "²"),)))
    local_server.table.set("/busy/feed.json", Route(status=503, headers=(("Retry-After", "٣٠"),)))
    local_server.table.set("/good/a.html", Route(body=_page("Ferry terminal closes")))
    local_server.table.set(
        "/good/b.html", Route(status=503, body=b"busy", headers=(("Retry-After", "¹²"),))
    )
    local_server.table.set(
        "/good/feed.json",
        Route(
            content_type=JSON_FEED,
            body=_json_feed(
                [_item(f"{base}/good/a.html", "Ferry"), _item(f"{base}/good/b.html", "Quay")]
            ),
        ),
    )
    config = _config(
        {
            "limited": local_server.url("/limited/feed.json"),
            "busy": local_server.url("/busy/feed.json"),
            "good": local_server.url("/good/feed.json"),
        }
    )
    collection, _ = run_cycle(sessions, settings, config)

    assert set(_stored(sessions)) == {"a.html"}  # b.html is left for the next cycle
    errors = {(e.source, e.url.rsplit("/", 1)[-1]): e for e in collection.errors}
    assert errors["limited", "feed.json"].error_type == "TransientFetchError"
    assert errors["busy", "feed.json"].error_type == "TransientFetchError"
    assert errors["good", "b.html"].error_type == "TransientFetchError"
    with sessions() as s:
        rows = {r.name: r for r in s.scalars(select(SourceRow))}
    # A bare 429 waits the default minute; an unreadable Retry-After on a 503 asks for nothing.
    assert rows["limited"].retry_at is not None
    assert rows["busy"].retry_at is None


async def test_webhook_receiver_retry_after_in_other_digits_is_a_transient_failure(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    receiver = WebhookReceiver(
        behaviour=Behaviour(fail_times=1, fail_status=429, retry_after="²")
    ).start()
    try:
        config = parse_config(
            {
                "topics": [{"name": "Tarrow", "query": "tarrow"}],
                "channels": [{"type": "webhook", "name": "hook", "url": receiver.url()}],
            }
        )
        now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
        with sessions.begin() as session:
            alert = add_alert(session, topic="Tarrow", title="Ferry", now=now)
            topic = config.topics[0]
            enqueue(session, alert, config.channels_for(topic), topic.delivery, now=now)
        quick = settings.model_copy(
            update={"delivery": DeliverySettings(max_attempts=3, webhook_timeout_s=10.0)}
        )
        report = await deliver_due(sessions, config, quick, now=now)
    finally:
        receiver.stop()
    assert report.failed == 1
    with sessions() as s:
        [row] = s.scalars(select(DeliveryRow))
    assert row.state == "failed"
    assert "HTTP 429" in (row.last_error or "")
    assert row.next_attempt_at is not None  # the ordinary back-off: "²" asked for no wait


# -- 2. Validators that are not visible ASCII --------------------------------------------------


def test_non_ascii_validators_are_neither_stored_nor_sent_again(
    sessions: sessionmaker[Session], settings: Settings, raw_server: RawServer
) -> None:
    rss = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>G</title>"
        f"<item><title>Ferry</title><link>{raw_server.url('/a.html')}</link>"
        "<pubDate>Tue, 04 Mar 2025 09:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()
    raw_server.set(
        "/feed.xml",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
        b'ETag: "caf\xc3\xa9"\r\nLast-Modified: Tue, 04 Mar 2025 10:00:00 GMT \xc2\xb2',
        rss,
    )
    raw_server.set("/a.html", b"HTTP/1.1 200 OK\r\nContent-Type: text/html", _page("Ferry"))
    config = _config({"raw": raw_server.url("/feed.xml")})

    first, _ = run_cycle(sessions, settings, config)
    assert not first.errors
    with sessions() as s:
        row = s.scalars(select(SourceRow)).one()
    assert (row.etag, row.last_modified) == (None, None)
    assert set(_stored(sessions)) == {"a.html"}

    # A validator stored before it was checked (an older version, a hand edit) is not sent.
    with sessions.begin() as s:
        s.execute(update(SourceRow).values(etag='"café"', last_modified="Tue² \u2028"))
    second, _ = run_cycle(sessions, settings, config)
    assert not second.errors
    asked = raw_server.asked("/feed.xml")
    assert len(asked) == 2
    assert not {"if-none-match", "if-modified-since"} & set(asked[1])


# -- 3. Invalid international host names -------------------------------------------------------


def test_invalid_idna_host_is_the_error_of_its_entry_redirect_or_source(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    base = local_server.base_url
    local_server.table.set("/a/ok.html", Route(body=_page("Ferry terminal closes")))
    local_server.table.set("/a/moved.html", Route(redirect_to="http://xn--zz--.example/moved"))
    local_server.table.set(
        "/a/feed.json",
        Route(
            content_type=JSON_FEED,
            body=_json_feed(
                [
                    _item(f"{base}/a/ok.html", "Ferry"),
                    _item("http://xn--zz--.example/story", "Bad host"),
                    _item("http://exa\u00admple.xn--p1ai\u0301-/x", "Bad Unicode host"),
                    _item(f"{base}/a/moved.html", "Moved"),
                ]
            ),
        ),
    )
    # A source URL with such a host is refused when the config is read, naming the field.
    with pytest.raises(ConfigError, match=r"sources\.1\.url[\s\S]*xn--zz--\.example"):
        _config(
            {"a": local_server.url("/a/feed.json"), "bad-host": "http://xn--zz--.example/feed.xml"}
        )
    config = _config({"a": local_server.url("/a/feed.json")})
    findings = asyncio.run(check_sources(config, fetch_policy(settings), now=datetime.now(UTC)))
    by_name = {f.name: f for f in findings}
    assert by_name["a"].status == "warning"
    assert "2 left out: invalid international host name" in by_name["a"].detail

    collection, _ = run_cycle(sessions, settings, config)

    stored = _stored(sessions)
    assert set(stored) == {"ok.html", "moved.html"}
    assert not stored["ok.html"].summary_only
    assert stored["moved.html"].summary_only  # its redirect failed permanently: feed summary
    messages = [(e.source, e.error_type, e.message) for e in collection.errors]
    left_out = [m for s, t, m in messages if s == "a" and m.startswith("entry left out")]
    assert len(left_out) == 2
    assert any("xn--zz--.example" in m for m in left_out)
    assert any(s == "a" and t == "PermanentFetchError" and "xn--zz--" in m for s, t, m in messages)
    with sessions() as s:
        rows = {r.name: r for r in s.scalars(select(SourceRow))}
    assert rows["a"].consecutive_failures == 0  # bad entries are not the feed's failure


# -- 4. Stacked content encodings --------------------------------------------------------------


def _zeros_gzip(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush()


def _encode(data: bytes, coding: str) -> bytes:
    return gzip.compress(data) if coding == "gzip" else zlib.compress(data)


@pytest.fixture(scope="module")
def inner_bomb() -> bytes:
    return _zeros_gzip(256 << 20)  # 256 MB of zeros in about 250 KB


@pytest.mark.parametrize(
    "outer", [("gzip",), ("gzip", "deflate"), ("deflate", "gzip", "gzip"), ("gzip",) * 6]
)
async def test_stacked_compression_is_capped_while_decoding(
    policy: FetchPolicy, local_server: LocalServer, inner_bomb: bytes, outer: tuple[str, ...]
) -> None:
    body = inner_bomb
    for coding in outer:
        body = _encode(body, coding)
    # Content codings are listed in the order they were applied.
    header = ", ".join(("gzip", *outer))
    local_server.table.set(
        "/bomb.xml", Route(body=body, content_type=RSS, headers=(("Content-Encoding", header),))
    )
    capped = replace(policy, max_bytes=2_000_000)
    tracemalloc.start()
    try:
        async with make_client(capped) as client:
            with pytest.raises(ResponseTooLargeError):
                await fetch(client, local_server.url("/bomb.xml"), capped)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(body) < 20_000
    # A loose bound: the cap plus decoding pieces, nowhere near the 256 MB the body unpacks to.
    assert peak < 24_000_000, f"peak {peak / 1e6:.0f} MB while decoding {len(body)} bytes"


async def test_stacked_compression_within_the_cap_decodes_and_unknown_codings_are_refused(
    policy: FetchPolicy, client: Any, local_server: LocalServer
) -> None:
    feed = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"
    local_server.table.set(
        "/two.xml",
        Route(
            body=gzip.compress(zlib.compress(feed)),
            content_type=RSS,
            headers=(("Content-Encoding", "deflate, gzip"),),
        ),
    )
    local_server.table.set(
        "/br.xml", Route(body=b"\x0b\x02\x80abc\x03", headers=(("Content-Encoding", "br"),))
    )
    local_server.table.set(
        "/many.xml", Route(body=feed, headers=(("Content-Encoding", ", ".join(["gzip"] * 9)),))
    )
    result = await fetch(client, local_server.url("/two.xml"), policy)
    assert result.content == feed
    with pytest.raises(PermanentFetchError, match="9 stacked content encodings"):
        await fetch(client, local_server.url("/many.xml"), policy)
    with pytest.raises(PermanentFetchError, match="unsupported Content-Encoding 'br'"):
        await fetch(client, local_server.url("/br.xml"), policy)


# -- 6. Deep JSON and dates out of range ------------------------------------------------------


def test_deep_json_and_dates_out_of_range_do_not_escape_the_parsers(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    base = local_server.base_url
    deep = (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": ['
        + b"[" * 100_000
        + b"]" * 100_000
        + b"]}"
    )
    local_server.table.set("/deep/feed.json", Route(content_type=JSON_FEED, body=deep))
    local_server.table.set("/dates/a.html", Route(body=_page("Ferry terminal closes")))
    local_server.table.set(
        "/dates/feed.json",
        Route(
            content_type=JSON_FEED,
            body=_json_feed(
                [
                    _item(
                        f"{base}/dates/a.html",
                        "Ferry",
                        date_published="9999-12-31T23:59:59-23:59",
                        date_modified="0001-01-01T00:00:00+23:59",
                    )
                ]
            ),
        ),
    )
    atom = (
        "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>A</title>"
        f"<entry><title>Quay</title><link href='{base}/atom/b.html'/><id>b</id>"
        "<updated>9999-12-31T23:59:59-23:59</updated>"
        "<published>0000-01-01T00:00:00+23:59</published></entry></feed>"
    ).encode()
    local_server.table.set("/atom/feed.xml", Route(content_type="application/atom+xml", body=atom))
    local_server.table.set("/atom/b.html", Route(body=_page("Quay works begin")))
    sources = {
        "deep": local_server.url("/deep/feed.json"),
        "dates": local_server.url("/dates/feed.json"),
        "atom": local_server.url("/atom/feed.xml"),
    }
    config = _config(sources)

    findings = asyncio.run(check_sources(config, fetch_policy(settings), now=datetime.now(UTC)))
    by_name = {f.name: f for f in findings}
    assert by_name["deep"].status == "failed"
    assert "nested deeper than" in by_name["deep"].detail
    assert by_name["dates"].status != "failed"
    assert by_name["atom"].status != "failed"

    collection, _ = run_cycle(sessions, settings, config)
    stored = _stored(sessions)
    assert set(stored) == {"a.html", "b.html"}
    assert [e.source for e in collection.errors] == ["deep"]
    assert collection.errors[0].error_type == "ParseError"


# -- 10. Text and keys storage refuses ---------------------------------------------------------


def test_nul_surrogates_and_overlong_keys_store_once_or_are_recorded(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    base = local_server.base_url
    long_url = f"{base}/t/long.html?q=" + "x" * 2100
    items = [
        _item(f"{base}/t/nul.html", "Harbour\u0000 closes", id="guid-\u0000-1"),
        _item(f"{base}/t/sur.html", "Lone \ud800 surrogate \udfff"),
        _item(long_url, "Too long a link"),
        _item(f"{base}/t/longguid.html", "Long GUID", id="g" * 2300),
        _item(f"{base}/t/control.html", "Bell\u0007 and \u009b[2J escape"),
        _item(f"{base}/t/nulpage.html", "Page with NUL"),
    ]
    # etag=False: every cycle reads the whole feed again, as it would after any change.
    local_server.table.set(
        "/t/feed.json", Route(content_type=JSON_FEED, body=_json_feed(items), etag=False)
    )
    for path in ("/t/nul.html", "/t/sur.html", "/t/longguid.html", "/t/control.html"):
        local_server.table.set(path, Route(status=404, body=b"gone"))  # stored from the feed
    page = _page("Ferry terminal closes").replace(b"<p>", b"<p>Tarrow\x00 ", 1)
    local_server.table.set("/t/nulpage.html", Route(body=page))
    local_server.table.set("/ok/a.html", Route(body=_page("Quay works begin")))
    local_server.table.set(
        "/ok/feed.json",
        Route(content_type=JSON_FEED, body=_json_feed([_item(f"{base}/ok/a.html", "Quay")])),
    )
    config = _config(
        {"t": local_server.url("/t/feed.json"), "ok": local_server.url("/ok/feed.json")}
    )

    first, report = run_cycle(sessions, settings, config)
    assert not report.errors, report.errors  # every article built could be stored
    stored = _stored(sessions)
    assert set(stored) == {
        "nul.html",
        "sur.html",
        "longguid.html",
        "control.html",
        "nulpage.html",
        "a.html",
    }
    assert stored["nul.html"].title == "Harbour closes"
    assert stored["nul.html"].guid == "guid--1"
    assert stored["sur.html"].title == "Lone \ufffd surrogate \ufffd"
    assert stored["control.html"].title == "Bell and [2J escape"
    assert stored["longguid.html"].guid == "g" * 2300
    assert "\x00" not in stored["nulpage.html"].text
    [long_error] = [e for e in first.errors if "longer than" in e.message]
    assert long_error.source == "t"
    assert long_error.message.startswith("entry left out")

    _second, report = run_cycle(sessions, settings, config)
    assert not report.errors
    assert len(_stored(sessions)) == 6
    for path in ("/t/nul.html", "/t/sur.html", "/t/longguid.html", "/t/nulpage.html"):
        assert len(local_server.table.requests_for(path)) == 1, path  # not fetched again
    assert not local_server.table.requests_for("/t/long.html")  # never fetched
    assert len(local_server.table.requests_for("/t/feed.json")) == 2


# -- 11. Credentials in URLs ------------------------------------------------------------------

SECRETS = ("hunter2", "TOPSECRET", "ALSOSECRET", "PAGESECRET")


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} in {text!r}"


def test_credentials_in_urls_are_used_but_never_shown(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    port = local_server.port
    private = f"http://reader:hunter2@127.0.0.1:{port}/private/feed.xml?apikey=TOPSECRET&x=1"
    local_server.table.set("/private/feed.xml", Route(status=404, body=b"no"))
    local_server.table.set("/p/a.html", Route(status=503, body=b"busy"))
    local_server.table.set(
        "/p/feed.json",
        Route(
            content_type=JSON_FEED,
            body=_json_feed(
                [_item(local_server.url("/p/a.html?access_token=PAGESECRET"), "Ferry")]
            ),
        ),
    )
    config = _config(
        {
            "private": private,
            "tokened": local_server.url("/p/feed.json?token=ALSOSECRET"),
        }
    )
    now = datetime.now(UTC)
    failing_at_once = settings.model_copy(update={"source_failing_after": 1})
    collection, _ = run_cycle(sessions, failing_at_once, config)

    # The real URL was fetched: the credentials reached the server.
    [asked] = local_server.table.requests_for("/private/feed.xml")
    assert asked.headers["authorization"].startswith("Basic ")
    assert len(local_server.table.requests_for("/p/a.html")) == 1

    assert {e.source for e in collection.errors} == {"private", "tokened"}
    for error in collection.errors:
        _no_secret(error.url + error.message)
    report = CycleReport(now, now, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, collection.errors)
    _no_secret(to_markdown(report))
    _no_secret(json.dumps(report.as_dict()))
    [change] = collection.health
    _no_secret(change.describe())
    from flows.events import event_of

    _no_secret(json.dumps(event_of(change)))
    assert event_of(change)["resource"]["monitor.source.url"].startswith("http://***@127.0.0.1")

    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    listing = CliRunner().invoke(app, ["sources", "--json"])
    assert listing.exit_code == 0, listing.output
    _no_secret(listing.output)
    assert "apikey=***" in listing.output
