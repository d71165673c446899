"""Closing a cycle's fetcher or extractor while work is under way (the cycle failed): every
caller still waiting is woken with a typed error, and no process or thread is left behind."""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import replace

import pytest

from monitor.demo.server import LocalServer, Route
from monitor.errors import ExtractorClosedError, FetcherClosedError
from monitor.extract_pool import Extractor
from monitor.fetch import FetchPolicy
from monitor.models import ExtractedPage, FeedEntry
from monitor.pipeline.collect import Fetcher, PageJob


def _slow_extract(html: bytes | str, url: str, *, min_text_chars: int) -> ExtractedPage | None:
    time.sleep(0.2)  # a page that takes a while: the rest of the batch waits for the worker
    return None


def test_closing_the_fetcher_cancels_requests_under_way(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    asked = threading.Event()

    def hang() -> Route:
        asked.set()
        return Route(body=b"<html>late</html>", delay_s=300.0)

    local_server.table.set("/hang.html", hang)
    fetcher = Fetcher(replace(policy, timeout_s=600.0, total_timeout_s=None))
    outcome: list[BaseException | object] = []

    def fetch() -> None:
        url = local_server.url("/hang.html")
        try:
            outcome.append(fetcher.fetch_pages([PageJob(1, "src", FeedEntry(url), url)]))
        except BaseException as exc:  # what the caller gets is the point
            outcome.append(exc)

    caller = threading.Thread(target=fetch, daemon=True)
    caller.start()
    assert asked.wait(30)
    fetcher.close()
    caller.join(60)
    assert not caller.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], FetcherClosedError)


def test_closing_the_extractor_cancels_pages_waiting_for_a_worker() -> None:
    extractor = Extractor(1, min_text_chars=10, page_extractor=_slow_extract)
    pages = [(f"https://gazette.test/{n}", b"<html><p>text</p></html>") for n in range(40)]
    pending = extractor.submit_many(pages)
    outcome: list[BaseException | object] = []

    def wait_for_results() -> None:
        try:
            outcome.append(pending.results())
        except BaseException as exc:  # what the caller gets is the point
            outcome.append(exc)

    caller = threading.Thread(target=wait_for_results, daemon=True)
    caller.start()
    time.sleep(0.5)  # the worker is on its first chunk
    extractor.close()
    caller.join(120)
    assert not caller.is_alive()
    assert len(outcome) == 1
    # Cancelled, not extracted page by page in a pool started again after close().
    assert isinstance(outcome[0], ExtractorClosedError)
    assert multiprocessing.active_children() == []


def _close_while_starting(delay_s: float) -> list[BaseException | object]:
    """Start an extractor, have a caller wait for its pool, close it after ``delay_s``; what
    the caller got (a result or an error), or nothing if it is still waiting."""
    extractor = Extractor(2, min_text_chars=10)
    outcome: list[BaseException | object] = []

    def use() -> None:
        try:
            outcome.append(extractor.extract_many([("https://a.test/", b"<html>x</html>")]))
        except BaseException as exc:  # what the caller gets is the point
            outcome.append(exc)

    extractor.start()
    caller = threading.Thread(target=use, daemon=True)
    caller.start()
    time.sleep(delay_s)
    closer = threading.Thread(target=extractor.close, daemon=True)
    closer.start()
    # Bounds that only a hang reaches: a close or a caller still waiting then has hung.
    closer.join(60)
    assert not closer.is_alive(), "close() hung while the pool was starting"
    caller.join(60)
    assert not caller.is_alive(), "a caller was left waiting on a closed extractor"
    return outcome


def test_closing_the_extractor_while_its_pool_starts_ends_and_wakes_every_caller() -> None:
    for attempt in range(24):
        outcome = _close_while_starting((0.0, 0.001, 0.01, 0.05)[attempt % 4])
        assert len(outcome) == 1
        assert isinstance(outcome[0], list | ExtractorClosedError), outcome
    assert multiprocessing.active_children() == []


def test_a_closed_extractor_refuses_later_work() -> None:
    extractor = Extractor(1, min_text_chars=10)
    extractor.start()
    extractor.close()
    page = [("https://a.test/", b"<html>x</html>")]
    with pytest.raises(ExtractorClosedError):
        extractor.extract_many(page)
    with pytest.raises(ExtractorClosedError):
        extractor.start()
    extractor.close()  # a second close does nothing
    assert multiprocessing.active_children() == []
