from __future__ import annotations

import pytest

from monitor.errors import ParseError
from monitor.urls import canonicalize, host_of


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://news.example/a?utm_source=rss&utm_medium=feed&utm_campaign=x&id=7",
            "https://news.example/a?id=7",
        ),
        ("https://news.example/a?fbclid=IwAR0abc", "https://news.example/a"),
        ("https://news.example/a?gclid=1&dclid=2&msclkid=3&yclid=4", "https://news.example/a"),
        ("https://news.example/a?mc_cid=1&mc_eid=2&igshid=3&_ga=4", "https://news.example/a"),
        ("https://news.example/a?ref_src=twsrc%5Etfw&p=2", "https://news.example/a?p=2"),
        ("https://news.example/a?_hsenc=x&_hsmi=y&page=3", "https://news.example/a?page=3"),
    ],
)
def test_tracking_parameters_are_removed(raw: str, expected: str) -> None:
    assert canonicalize(raw) == expected


def test_remaining_query_parameters_get_a_stable_order() -> None:
    assert (
        canonicalize("https://news.example/s?b=2&a=1&c=3") == "https://news.example/s?a=1&b=2&c=3"
    )
    assert canonicalize("https://news.example/s?c=3&a=1&b=2") == canonicalize(
        "https://news.example/s?a=1&b=2&c=3"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "https://news.example/story#comments",
        "https://news.example/story#!/section",
        "https://news.example/story#utm_source=x",
    ],
)
def test_fragments_are_removed(raw: str) -> None:
    assert canonicalize(raw) == "https://news.example/story"


def test_scheme_and_host_are_lower_cased_but_path_is_not() -> None:
    assert canonicalize("HTTPS://News.EXAMPLE/World/Story") == "https://news.example/World/Story"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://news.example:80/x", "http://news.example/x"),
        ("https://news.example:443/x", "https://news.example/x"),
        ("https://news.example:80/x", "https://news.example:80/x"),
        ("http://news.example:8080/x", "http://news.example:8080/x"),
    ],
)
def test_only_the_default_port_of_the_scheme_is_dropped(raw: str, expected: str) -> None:
    assert canonicalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "base", "expected"),
    [
        ("/2025/story", "https://news.example/feeds/rss.xml", "https://news.example/2025/story"),
        ("story", "https://news.example/feeds/rss.xml", "https://news.example/feeds/story"),
        ("../story", "https://news.example/feeds/rss.xml", "https://news.example/story"),
        ("//cdn.example/x", "https://news.example/feed", "https://cdn.example/x"),
        ("https://other.example/x", "https://news.example/feed", "https://other.example/x"),
    ],
)
def test_relative_urls_are_resolved_against_the_base(raw: str, base: str, expected: str) -> None:
    assert canonicalize(raw, base) == expected


def test_spelling_variants_of_one_article_converge() -> None:
    variants = [
        "https://news.example/world/summit",
        "HTTPS://NEWS.example:443/world/summit#top",
        "https://news.example/world/./summit?utm_source=twitter",
        "  https://news.example//world/summit?fbclid=xyz\n",
    ]
    assert {canonicalize(v) for v in variants} == {"https://news.example/world/summit"}


def test_empty_path_becomes_slash() -> None:
    assert canonicalize("https://news.example") == "https://news.example/"
    assert canonicalize("https://news.example?utm_source=x") == "https://news.example/"


def test_canonical_form_is_a_fixed_point() -> None:
    once = canonicalize("HTTP://News.example:80/a//b/../c?z=1&utm_term=q&a=%C3%BC#x")
    assert canonicalize(once) == once


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "mailto:desk@news.example",
        "javascript:void(0)",
        "ftp://news.example/f",
        "http://",
    ],
)
def test_non_http_or_hostless_urls_raise_parse_error(raw: str) -> None:
    with pytest.raises(ParseError):
        canonicalize(raw)


def test_bad_port_raises_parse_error_not_value_error() -> None:
    with pytest.raises(ParseError) as info:
        canonicalize("http://news.example:99999/x")
    assert info.value.url == "http://news.example:99999/x"


def test_relative_url_without_base_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        canonicalize("/2025/story")


def test_host_of_is_lower_case_without_port_or_user_info() -> None:
    assert host_of("https://Reader@News.Example:8443/x") == "news.example"
    assert host_of("http://127.0.0.1:8000/feed") == "127.0.0.1"


def test_host_of_rejects_non_http_urls() -> None:
    with pytest.raises(ParseError):
        host_of("file:///etc/hosts")
