"""Counting a page's failed cycles and parking it: the pure decision."""

from __future__ import annotations

from monitor.pipeline.failures import FailureCount, PageFailure, decide, url_key


def _failure(url: str, error_type: str = "TransientFetchError") -> PageFailure:
    return PageFailure(1, url, error_type, "HTTP 503")


def test_a_page_is_parked_at_its_last_attempt_and_counted_once_per_cycle() -> None:
    a, b = "https://x.example/a", "https://x.example/b"
    decided = decide([_failure(a), _failure(a), _failure(b)], {a: FailureCount(2, False)}, 3)
    assert decided == {a: FailureCount(3, parked=True), b: FailureCount(1, parked=False)}


def test_pages_held_back_by_a_budget_or_a_hosts_wait_are_not_attempts() -> None:
    url = "https://x.example/a"
    assert decide([_failure(url, "OverBudgetError"), _failure(url, "HeldBackError")], {}, 1) == {}


def test_the_key_of_a_very_long_url_fits_its_column() -> None:
    assert len(url_key("https://x.example/" + "a" * 10_000)) == 64
    assert url_key("https://x.example/\udc80") != url_key("https://x.example/")
