"""Extraction: golden pages with expected values, a text-quality gate, hostile input, the pool."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.errors import ExtractionTimeoutError, NotAFeedError, PageTooLargeError, ParseError
from monitor.extract import extract_page
from monitor.extract_pool import Extractor
from monitor.feeds import parse_feed, parse_feeds
from monitor.models import ExtractedPage, FetchResult, ParsedFeed
from tests.unit.test_feeds import result as feed

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"
EXPECTED: dict[str, dict[str, Any]] = json.loads((PAGES / "expected.json").read_text("utf-8"))
BASELINE: dict[str, Any] = json.loads((PAGES / "baseline.json").read_text("utf-8"))
NAMES = sorted(EXPECTED)


def load(name: str) -> tuple[str, bytes]:
    return EXPECTED[name]["url"], (PAGES / f"{name}.html").read_bytes()


def extracted(name: str) -> ExtractedPage:
    url, html = load(name)
    page = extract_page(html, url)
    assert page is not None, f"{name}: nothing extracted"
    return page


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def token_f1(got: str, want: str) -> float:
    got_counts, want_counts = Counter(tokens(got)), Counter(tokens(want))
    overlap = sum((got_counts & want_counts).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(got_counts.values())
    recall = overlap / sum(want_counts.values())
    return 2 * precision * recall / (precision + recall)


# -- golden pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_golden_metadata(name: str) -> None:
    want = EXPECTED[name]
    page = extracted(name)
    assert page.title == want["title"]
    assert page.authors == tuple(want["authors"])
    assert page.published == datetime.fromisoformat(want["published"])
    assert page.published is not None
    assert page.published.tzinfo is UTC
    assert page.language == want["language"]
    assert page.site_name == want["site_name"]
    assert page.canonical_url == want["canonical_url"]


@pytest.mark.parametrize("name", NAMES)
def test_golden_text_keeps_article_and_drops_chrome(name: str) -> None:
    want = EXPECTED[name]
    text = extracted(name).text
    for sentence in want["must_contain"]:
        assert sentence in text, f"{name}: article sentence missing: {sentence!r}"
    for sentence in want["must_not_contain"]:
        assert sentence not in text, f"{name}: boilerplate leaked: {sentence!r}"


@pytest.mark.parametrize("name", NAMES)
def test_quality_gate_token_f1_per_page(name: str) -> None:
    want = (PAGES / f"{name}.expected.txt").read_text("utf-8")
    score = token_f1(extracted(name).text, want)
    floor = BASELINE["f1_floor"][name]
    assert score >= floor, f"{name}: token F1 {score:.3f} fell below the baseline {floor}"


def test_quality_gate_mean_token_f1() -> None:
    scores = [
        token_f1(extracted(name).text, (PAGES / f"{name}.expected.txt").read_text("utf-8"))
        for name in NAMES
    ]
    mean = sum(scores) / len(scores)
    assert mean >= BASELINE["mean_f1_floor"], f"mean token F1 {mean:.3f}"


def test_token_f1_can_fail() -> None:
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("cookie banner text", "the cat sat") == 0.0
    assert 0.0 < token_f1("the cat sat on a mat", "the cat sat") < 1.0


# -- contract details ---------------------------------------------------------------------------


def test_str_input_gives_the_same_result_as_bytes() -> None:
    url, html = load("rheintaler_de")
    assert extract_page(html.decode("utf-8"), url) == extract_page(html, url)


def test_declared_charset_is_honoured() -> None:
    html = load("ege_kiyi_tr")[1]
    with pytest.raises(UnicodeDecodeError):  # the fixture really is windows-1254 bytes
        html.decode("utf-8")
    page = extracted("ege_kiyi_tr")
    assert "Öztürkmen" in page.text
    assert page.site_name == "Ege Kıyı Haber"


def test_text_shorter_than_minimum_gives_none() -> None:
    url, html = load("harbour_gazette_en")
    length = len(extracted("harbour_gazette_en").text)
    assert extract_page(html, url, min_text_chars=length) is not None
    assert extract_page(html, url, min_text_chars=length + 1) is None


# The body after the lead sits in a container trafilatura's own extractor discards by its class;
# readability, which only the fallback comparison consults, keeps it.
_LEAD = (
    "The harbour council voted on Tuesday to approve the new ferry timetable after a debate "
    "that lasted most of the afternoon session. Councillor Mara Velden said the change would "
    "add two morning crossings from the first of June, and one more on Saturdays."
)
_REST = (
    "Operators warned that fuel costs had risen by 14 per cent since the last review.",
    "The timetable will be reviewed again in the autumn, the transport office said.",
    "Passengers from the islands have asked for an earlier boat for years, said Ida Brenner.",
    "The first new crossing will leave Skellhaven at 05:40 and reach Norrvik at 06:25.",
)
TEASER_PAGE = f"""<html lang="en"><head><title>Ferry timetable approved</title></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Ferry timetable approved</h1><p>{_LEAD}</p>
<div class="article-teaser">{"".join(f"<p>{p}</p>" for p in _REST)}</div></article>
<footer><p>Skellhaven Courier. All rights reserved.</p></footer></body></html>"""
TEASER_URL = "https://courier.example/news/ferry-timetable"


def test_fast_extraction_is_kept_when_usable_and_the_fallbacks_consulted_otherwise() -> None:
    fast = extract_page(TEASER_PAGE, TEASER_URL)
    compared = extract_page(TEASER_PAGE, TEASER_URL, fallbacks="always")
    assert fast is not None
    assert compared is not None
    # Fast mode: the lead only. The fallback comparison finds the rest of the body.
    assert "Velden" in fast.text
    assert "Norrvik" not in fast.text
    assert "Velden" in compared.text
    assert "Norrvik" in compared.text
    # Too short for this caller in fast mode: extracted again with the fallbacks, not dropped.
    rescued = extract_page(TEASER_PAGE, TEASER_URL, min_text_chars=len(fast.text) + 1)
    assert rescued == compared
    assert extract_page(TEASER_PAGE, TEASER_URL, min_text_chars=len(compared.text) + 1) is None


def test_a_page_whose_fast_pass_was_slow_is_not_extracted_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = extract_page(TEASER_PAGE, TEASER_URL)
    assert fast is not None
    too_short = len(fast.text) + 1
    assert extract_page(TEASER_PAGE, TEASER_URL, min_text_chars=too_short) is not None
    # Every fast pass now counts as slow (a hostile page's would take seconds).
    monkeypatch.setattr("monitor.extract._SECOND_PASS_MAX_CPU_S", 0.0)
    assert extract_page(TEASER_PAGE, TEASER_URL, min_text_chars=too_short) is None


def test_golden_pages_extract_the_same_with_or_without_the_fallbacks() -> None:
    for name in NAMES:
        url, html = load(name)
        assert extract_page(html, url) == extract_page(html, url, fallbacks="always"), name


def test_relative_canonical_is_resolved_against_the_page_url() -> None:
    url = "https://mirror.example/feeds/item?id=7"
    page = extract_page(load("courrier_collines_fr")[1], url)
    assert page is not None
    assert page.canonical_url == "https://mirror.example/region/vignerons-report-restrictions-eau"


def test_og_url_is_the_canonical_when_no_link_rel() -> None:
    page = extracted("rheintaler_de")
    assert page.canonical_url is not None
    assert page.canonical_url.endswith("/autofreie-altstadt-100.html")


def test_declared_timestamp_loses_to_htmldate_when_days_disagree() -> None:
    url, html = load("harbour_gazette_en")
    # The URL, the JSON-LD and the visible date all say 14 March; a stray meta tag must not win.
    tampered = html.replace(
        b'"article:published_time" content="2024-03-14T09:30:00+01:00"',
        b'"article:published_time" content="2019-01-01T09:30:00+01:00"',
    )
    assert tampered != html
    page = extract_page(tampered, url)
    assert page is not None
    assert page.published is not None
    assert page.published.date().isoformat() == "2024-03-14"


def _article(head: str = "") -> bytes:
    paragraphs = "".join(
        f"<p>On day {day} the committee met again and heard evidence from {day * 3} residents "
        f"about the closure of the river crossing.</p>"
        for day in range(1, 9)
    )
    return (
        f"<html{head}><head><title>Committee hears residents</title></head><body>"
        f"<article><h1>Committee hears residents</h1>{paragraphs}</article></body></html>"
    ).encode()


@pytest.mark.parametrize(
    ("head", "language"),
    [
        (' lang="pt-BR"', "pt"),
        (' xml:lang="nl"', "nl"),
        (' lang="not a language"', None),
        ("", None),
    ],
)
def test_language_from_html_lang(head: str, language: str | None) -> None:
    page = extract_page(_article(head), "https://example.org/a")
    assert page is not None
    assert page.language == language


def _marked(head: str = "", body: str = "") -> bytes:
    page = _article().decode()
    page = page.replace("</head>", f"{head}</head>").replace("</body>", f"{body}</body>")
    return page.encode()


def test_json_ld_types_and_section_are_read_from_anywhere_in_the_page() -> None:
    ld = (
        '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": ['
        '{"@type": "WebPage"}, {"@type": ["OpinionNewsArticle", "NewsArticle"], '
        '"articleSection": ["Opinion", "Columnists"]}, {"@type": "WebPage"}]}</script>'
    )
    page = extract_page(_marked(body=ld), "https://example.org/a")
    assert page is not None
    assert page.page_types == ("WebPage", "OpinionNewsArticle", "NewsArticle")
    assert page.section == "Opinion"


def test_the_declared_article_section_wins_over_json_ld() -> None:
    head = '<meta property="article:section" content="Comment is free">'
    ld = '<script type="application/ld+json">{"articleSection": "World"}</script>'
    page = extract_page(_marked(head=head, body=ld), "https://example.org/a")
    assert page is not None
    assert page.section == "Comment is free"
    plain = extract_page(_article(), "https://example.org/a")
    assert plain is not None
    assert (plain.page_types, plain.section) == ((), None)


def test_a_declared_section_is_short_and_printable_or_none() -> None:
    for content in ("x" * 81, "Opinion\u202e"):
        head = f'<meta property="article:section" content="{content}">'
        page = extract_page(_marked(head=head), "https://example.org/a")
        assert page is not None
        assert page.section is None, content


def test_page_types_are_bounded_and_printable() -> None:
    many = "".join(f'{{"@type": "Type{i}"}},' for i in range(40))
    odd = '{"@type": "' + "x" * 200 + '"}, {"@type": "Bad\u0007Type"}, {"@type": "Bad\nLine"}'
    page = extract_page(_marked(body=f"<script>[{odd}, {many}]</script>"), "https://e.org/a")
    assert page is not None
    assert page.page_types == tuple(f"Type{i}" for i in range(12))


# -- hostile input ------------------------------------------------------------------------------

HOSTILE: dict[str, bytes | str] = {
    "empty bytes": b"",
    "empty str": "",
    "whitespace": b" \n\t " * 100,
    "nul bytes": b"\x00" * 10_000,
    "random binary": bytes((i * 7919 + 13) % 256 for i in range(50_000)),
    "png header": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\xff" * 4000,
    "gzip body": b"\x1f\x8b\x08\x00" + bytes(range(256)) * 40,
    "deep nesting": b"<html><body>" + b"<div>" * 200_000 + b"x" + b"</div>" * 200_000,
    "unclosed tags": b"<html><body>" + b"<p><b><i>" * 50_000,
    "only angle brackets": b"<" * 100_000,
    "huge attribute": b'<html><head><meta name="x" content="' + b"a" * 1_000_000 + b'">',
    "utf-16 without bom": "<html><body><p>hello there</p></body></html>".encode("utf-16-le"),
    "feed instead of page": b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    + b"<item><title>a</title><link>https://x.example/a</link></item>" * 200
    + b"</channel></rss>",
    "script only": b"<html><head><script>" + b"var a = 1;" * 10_000 + b"</script></head></html>",
    "html without text": b"<html><head><title>Nothing</title></head><body><nav><a href='/'>Home</a>"
    b"</nav></body></html>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_gives_none_without_raising(name: str) -> None:
    assert extract_page(HOSTILE[name], "https://hostile.example/page") is None


def test_invalid_utf8_bytes_do_not_raise() -> None:
    # Nothing can tell mojibake from text in an unknown script: this only must not raise.
    garbage = (
        b'<html><head><meta charset="utf-8"></head><body><p>'
        + b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc" * 500
        + b"</p></body></html>"
    )
    page = extract_page(garbage, "https://hostile.example/page")
    assert page is None or page.text.strip()


def test_a_few_invalid_bytes_do_not_lose_the_article() -> None:
    url, html = load("harbour_gazette_en")
    damaged = html.replace(b"ending months of complaints", b"ending months \xff\xfe of complaints")
    assert damaged != html
    page = extract_page(damaged, url)
    assert page is not None
    assert "the last return sailing from Kestrel Main" in page.text


def test_too_many_tags_is_refused_quickly() -> None:
    url, html = load("harbour_gazette_en")
    padded = html.replace(b"</body>", b"<span></span>" * 31_000 + b"</body>")
    assert extract_page(padded, url) is None
    assert extract_page(html, url) is not None


# -- many pages, in-process and in worker processes ----------------------------------------------


def _batch() -> list[tuple[str, bytes]]:
    golden = [load(name) for name in NAMES]
    hostile = [
        ("https://hostile.example/" + name.replace(" ", "-"), value)
        for name, value in sorted(HOSTILE.items())
        # the slow ones are covered one by one above
        if isinstance(value, bytes) and len(value) < 100_000
    ]
    mixed = golden + hostile[:4] + golden[::-1] + hostile[4:] + golden
    return mixed * 2


def crash_on_marker(html: bytes | str, url: str, *, min_text_chars: int) -> ExtractedPage | None:
    """Like extract_page, but kills its process on a marker page, as a crashing parser would."""
    if url.endswith("/crash"):
        os._exit(70)
    return extract_page(html, url, min_text_chars=min_text_chars)


def test_in_process_keeps_order_and_length() -> None:
    batch = _batch()
    results = Extractor(0).extract_many(batch)
    assert len(results) == len(batch)
    for (url, html), result in zip(batch, results, strict=True):
        assert result == extract_page(html, url)


def test_extractor_rejects_negative_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        Extractor(-1)


@pytest.mark.slow
def test_worker_pool_gives_the_same_results_in_order() -> None:
    batch = _batch()
    expected = Extractor(0).extract_many(batch)
    assert None in expected
    assert sum(r is not None for r in expected) >= 3 * len(NAMES) * 2
    with Extractor(2) as extractor:
        assert extractor.extract_many(batch) == expected
        assert extractor.extract_many(batch[:3]) == expected[:3]
        assert extractor.extract_many([]) == []


def record_order(html: bytes | str, url: str, *, min_text_chars: int) -> ExtractedPage | None:
    """Like extract_page, but first appends the page's URL to the file its ``log`` query names
    (the order in which the worker processes took the pages)."""
    log = parse_qs(urlsplit(url).query).get("log")
    if log:
        with Path(log[0]).open("a", encoding="utf-8") as f:
            f.write(url.split("?", 1)[0] + "\n")
    return extract_page(html, url, min_text_chars=min_text_chars)


def _logged(prefix: str, log: Path, pages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(f"https://{prefix}.example/{i}?log={log}", html) for i, (_, html) in enumerate(pages)]


def _taken(log: Path) -> list[str]:
    return [urlsplit(line).hostname or "" for line in log.read_text("utf-8").splitlines()]


@pytest.mark.slow
def test_pages_submitted_first_are_extracted_first_and_results_wait_for_the_caller(
    tmp_path: Path,
) -> None:
    log = tmp_path / "order.log"
    pages = _logged("first", log, _batch()[:12])
    more = _logged("second", log, _batch()[:2])
    expected = [extract_page(html, url) for url, html in pages]
    with Extractor(1, page_extractor=record_order) as extractor:
        first = extractor.submit_many(pages)
        second = extractor.submit_many(more)
        assert second.results() == [extract_page(html, url) for url, html in more]
        assert first.results() == expected
        assert first.results() is first.results()  # collected once
    # One worker, first come, first served: every page of the first call before the second's.
    assert _taken(log) == ["first.example"] * 12 + ["second.example"] * 2
    assert Extractor(0).submit_many(pages[:2]).results() == expected[:2]


@pytest.mark.slow
def test_callers_ready_together_queue_by_priority_and_none_waits_for_a_caller_not_ready(
    tmp_path: Path,
) -> None:
    import threading
    import time

    log = tmp_path / "order.log"
    page = _batch()[:1]
    with Extractor(1, page_extractor=record_order) as extractor:
        results: dict[int, list[ExtractedPage | None]] = {}

        def caller(priority: int) -> None:
            pending = extractor.submit_many(_logged(f"p{priority}", log, page), priority=priority)
            results[priority] = pending.results()

        # The pool's start is held (its lock taken) so that callers 3, 1 and 2 are ready
        # together, as batches are while the worker processes start.
        with extractor._lock:
            threads = [threading.Thread(target=caller, args=(p,)) for p in (3, 1, 2)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 10
            while len(extractor._ready) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        for thread in threads:
            thread.join(timeout=60)
        assert _taken(log) == ["p1.example", "p2.example", "p3.example"]
        # Nobody else is ready: priority 5 goes straight on, it never waits for lower ones.
        later = extractor.submit_many(_logged("p5", log, page), priority=5).results()
    assert _taken(log)[-1] == "p5.example"
    texts = {r[0].text if r[0] else None for r in (later, results[1], results[2], results[3])}
    assert len(texts) == 1
    assert None not in texts


@pytest.mark.slow
def test_a_page_that_kills_its_worker_gives_none_and_the_pool_recovers() -> None:
    good = [load(name) for name in NAMES]
    expected = Extractor(0).extract_many(good)
    crash = ("https://hostile.example/crash", b"<html></html>")
    batch = [*good, crash, *good, crash, *good]
    with Extractor(2, page_extractor=crash_on_marker) as extractor:
        results = extractor.extract_many(batch)
        assert results == [*expected, None, *expected, None, *expected]
        # the rebuilt pool serves the next batch as if nothing happened
        assert extractor.extract_many(good) == expected


def hang_on_marker(html: bytes | str, url: str, *, min_text_chars: int) -> ExtractedPage | None:
    """Like extract_page, but never returns on a marker page (as a parser in an endless loop
    would), after writing its process id to the file its ``pid`` query names."""
    if "/hang" in url:
        pid_file = parse_qs(urlsplit(url).query)["pid"][0]
        Path(pid_file).write_text(str(os.getpid()), encoding="utf-8")
        while True:
            time.sleep(3600)
    return extract_page(html, url, min_text_chars=min_text_chars)


def spin_on_marker(html: bytes | str, url: str, *, min_text_chars: int) -> ExtractedPage | None:
    """Like extract_page, but loops for ever on a marker page, using CPU, in pure Python (a
    parser that went into an endless loop)."""
    if url.endswith("/spin"):
        n = 0
        while True:
            n += 1
    return ExtractedPage(text=f"extracted in {os.getpid()}", title=url)


@pytest.mark.slow
def test_a_page_that_uses_up_its_cpu_time_is_stopped_and_its_worker_carries_on() -> None:
    pages = [
        ("https://a.example/1", b""),
        ("https://a.example/spin", b""),
        ("https://a.example/2", b""),
    ]
    with Extractor(1, page_extractor=spin_on_marker, page_timeout_s=1.0) as extractor:
        pending = extractor.submit_many(pages)
        first, stopped, last = pending.results()
        assert stopped is None
        reason = pending.errors[1]
        assert isinstance(reason, ExtractionTimeoutError)
        assert "used over 1s of CPU" in str(reason)
        assert pending.errors[0] is pending.errors[2] is None
        # the same worker process extracted the pages before and after: it was not replaced
        assert first is not None
        assert last is not None
        assert first.text == last.text
        assert {int(first.text.rsplit(" ", 1)[1])} == extractor.worker_pids()


def greedy_on_marker(html: bytes | str, url: str, *, min_text_chars: int) -> ExtractedPage | None:
    """Like extract_page, but asks for 3 GB of memory on a marker page."""
    if url.endswith("/greedy"):
        blob = bytearray(3 * 1024**3)
        return ExtractedPage(text=str(len(blob)))
    return extract_page(html, url, min_text_chars=min_text_chars)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie not reaped yet has stopped running too
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.mark.slow
def test_a_page_that_hangs_its_worker_is_stopped_and_the_worker_replaced(tmp_path: Path) -> None:
    good = [load(name) for name in NAMES]
    expected = Extractor(0).extract_many(good)
    pid_file = tmp_path / "hung.pid"
    hang = (f"https://hostile.example/hang?pid={pid_file}", b"<html></html>")
    with Extractor(2, page_extractor=hang_on_marker, page_wall_timeout_s=2.0) as extractor:
        pending = extractor.submit_many([*good, hang, *good])
        assert pending.results() == [*expected, None, *expected]
        reason = pending.errors[len(good)]
        assert isinstance(reason, ExtractionTimeoutError)
        assert "ran over 2s (wall clock)" in str(reason)
        assert reason.url == hang[0]
        assert [e for i, e in enumerate(pending.errors) if i != len(good)] == [None] * len(good) * 2
        hung = int(pid_file.read_text(encoding="utf-8"))
        # the hung worker is gone, a new one took its place, and later pages extract
        assert not _alive(hung)
        assert extractor.extract_many(good) == expected
        workers = extractor.worker_pids()
        assert len(workers) == 2
        assert hung not in workers


def test_a_page_over_the_size_cap_is_not_extracted() -> None:
    page = load(NAMES[0])
    cap = len(page[1]) - 1
    pending = Extractor(0, max_html_bytes=cap).submit_many([page])
    assert pending.results() == [None]
    assert isinstance(pending.errors[0], PageTooLargeError)
    assert f"over the {cap}-byte cap" in str(pending.errors[0])
    assert Extractor(0, max_html_bytes=len(page[1])).extract_many([page])[0] is not None


@pytest.mark.slow
def test_a_page_that_needs_more_memory_than_the_limit_fails_alone() -> None:
    good = [load(name) for name in NAMES[:2]]
    expected = Extractor(0).extract_many(good)
    greedy = ("https://hostile.example/greedy", b"<html></html>")
    with Extractor(1, page_extractor=greedy_on_marker, memory_limit_mb=1024) as extractor:
        pending = extractor.submit_many([*good, greedy, *good])
        assert pending.results() == [*expected, None, *expected]
        assert "memory" in str(pending.errors[2])


@pytest.mark.slow
def test_workers_that_cannot_start_raise_extraction_error_instead_of_respawning() -> None:
    # A main module read from stdin cannot be re-imported by spawned workers, so every worker
    # dies at start-up: a broken environment, which must surface as one typed error.
    script = (
        "from monitor.errors import ExtractionError\n"
        "from monitor.extract_pool import Extractor\n"
        "try:\n"
        "    Extractor(2).extract_many([('https://x.example/a', b'<html></html>')])\n"
        "except ExtractionError as exc:\n"
        "    print('ExtractionError:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-"], input=script, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ExtractionError: extraction worker processes do not start" in done.stdout


def test_the_fork_servers_warm_up_loads_the_fallbacks_quietly() -> None:
    # What the fork server imports before forking workers: it must load what a first short
    # page would (justext's stoplists), say nothing on stderr, and never fail the import.
    script = (
        "import trafilatura.external as external\n"
        "assert external.JT_STOPLIST is None\n"
        "import monitor.extract_warm\n"
        "print(len(external.JT_STOPLIST))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 1000
    assert done.stderr == ""


def test_a_pool_started_early_extracts_and_one_never_used_closes_cleanly() -> None:
    page = (
        b"<html><head><title>Early start</title></head><body><article><p>"
        + b"The workers were started before the pages arrived, as the flow does. " * 5
        + b"</p></article></body></html>"
    )
    with Extractor(1, min_text_chars=50) as extractor:
        extractor.start()
        extractor.start()  # idempotent
        (result,) = extractor.extract_many([("https://early.test/a", page)])
    assert result is not None
    assert result.title == "Early start"
    before = set(multiprocessing.active_children())
    unused = Extractor(1)
    unused.start()
    unused.close()  # waits for the start, then stops processes that never got a page
    assert not set(multiprocessing.active_children()) - before


def report_parent(html: bytes | str, url: str, *, min_text_chars: int) -> ExtractedPage | None:
    """A page extractor that says which process forked the worker running it."""
    return ExtractedPage(text=f"forked by {os.getppid()}", title=url)


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(),
    reason="this platform has no fork server: workers are spawned",
)
def test_the_fork_server_started_ahead_is_the_one_the_workers_come_from() -> None:
    # `monitor run` starts it before Prefect so that its import of trafilatura overlaps
    # Prefect's start: the cycle's pool must then fork its workers from that server, already
    # warm, not start another one. In a new process, where no fork server runs yet.
    script = (
        "from multiprocessing import forkserver\n"
        "from monitor.extract_pool import Extractor, start_fork_server\n"
        "from tests.unit.test_extract import report_parent\n"
        "assert forkserver._forkserver._forkserver_pid is None\n"
        "start_fork_server()\n"
        "server = forkserver._forkserver._forkserver_pid\n"
        "start_fork_server()\n"
        "assert forkserver._forkserver._forkserver_pid == server\n"
        "with Extractor(1, page_extractor=report_parent) as extractor:\n"
        "    (result,) = extractor.extract_many([('https://ahead.test/a', b'<html></html>')])\n"
        "print(server, result.text)\n"
    )
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=root
    )
    assert done.returncode == 0, done.stderr[-2000:]
    server, text = done.stdout.strip().split(" ", 1)
    assert text == f"forked by {server}"


# -- feeds parsed in the worker processes ---------------------------------------------------------


def _feeds() -> list[FetchResult]:
    return [
        feed("rss2.xml", content_type="application/rss+xml", url="https://feeds.example/rss"),
        feed("invalid.xml", url="https://feeds.example/invalid"),
        feed("atom.xml", content_type="application/atom+xml", url="https://feeds.example/atom"),
        feed("error-page.html", content_type="text/html", url="https://feeds.example/page"),
        feed("feed.json", content_type="application/feed+json", url="https://feeds.example/json"),
    ]


def crash_on_feed_marker(results: Sequence[FetchResult]) -> list[ParsedFeed | ParseError]:
    """Like parse_feeds, but kills its process on a marker feed, as a crashing parser would."""
    if any(r.url.endswith("/crash") for r in results):
        os._exit(70)
    return parse_feeds(results)


def pid_parser(results: Sequence[FetchResult]) -> list[ParsedFeed | ParseError]:
    """A feed parser that says which process ran it."""
    return [ParseError(str(os.getpid()), url=r.url) for r in results]


def _up(extractor: Extractor) -> Extractor:
    """``extractor`` once its workers have answered (they have extracted a page)."""
    extractor.extract_many([("https://up.example/", b"<html></html>")])
    return extractor


def test_feeds_are_parsed_in_the_workers_once_they_are_up_and_here_until_then() -> None:
    feeds = _feeds()[:2]
    before = set(multiprocessing.active_children())
    waiting = Extractor(1)
    # never started: nothing is started or waited for, the feeds are parsed here
    assert [str(p) for p in waiting.parse_feeds(feeds, parse=pid_parser)] == [str(os.getpid())] * 2
    assert not set(multiprocessing.active_children()) - before
    with Extractor(2) as extractor:
        ran_in = {str(p) for p in _up(extractor).parse_feeds(feeds, parse=pid_parser)}
        workers = {str(pid) for pid in extractor.worker_pids()}
    assert ran_in
    assert ran_in <= workers
    assert Extractor(0).parse_feeds(feeds, parse=pid_parser)[0].url == feeds[0].url


def test_feeds_parsed_in_the_workers_match_parsing_in_process() -> None:
    feeds = _feeds()
    expected = parse_feeds(feeds)
    assert [type(e) for e in expected] == [
        ParsedFeed,
        ParseError,
        ParsedFeed,
        NotAFeedError,  # an HTML page
        ParsedFeed,
    ]
    with Extractor(2) as extractor:
        parsed = _up(extractor).parse_feeds(feeds)
    assert [p for p in parsed if isinstance(p, ParsedFeed)] == [
        e for e in expected if isinstance(e, ParsedFeed)
    ]
    errors = [(type(p), str(p), p.url) for p in parsed if isinstance(p, ParseError)]
    assert errors == [(type(e), str(e), e.url) for e in expected if isinstance(e, ParseError)]
    assert Extractor(0).parse_feeds(feeds)[0] == expected[0]
    assert Extractor(2).parse_feeds([]) == []


@pytest.mark.slow
def test_a_feed_that_kills_its_worker_is_a_parse_error_and_the_others_still_parse() -> None:
    good = feed("rss2.xml", content_type="application/rss+xml")
    crash = FetchResult("https://feeds.example/crash", "https://feeds.example/crash", 200, b"<")
    with Extractor(2) as extractor:
        parsed = _up(extractor).parse_feeds([good, crash, good], parse=crash_on_feed_marker)
        error = parsed[1]
        assert isinstance(error, ParseError)
        assert error.url == crash.url
        assert "killed its worker process" in str(error)
        assert parsed[0] == parsed[2] == parse_feed(good)
        # a rebuilt pool parses feeds as before, in a worker
        (again,) = _up(extractor).parse_feeds([good], parse=pid_parser)
        assert str(again) != str(os.getpid())
        assert _up(extractor).parse_feeds([good]) == [parse_feed(good)]
