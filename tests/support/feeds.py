"""RSS feeds for the test newsrooms served by :class:`monitor.demo.server.LocalServer`."""

from __future__ import annotations

from collections.abc import Sequence

RSS = "application/rss+xml; charset=utf-8"


def gazette_rss(base: str, items: Sequence[tuple[str, str, str]]) -> bytes:
    """The Gazette's RSS feed listing ``items`` (path under ``base``, title, ``pubDate``), the
    path doubling as the GUID; titles are written as given (a test may put markup in them)."""
    entries = "".join(
        f"<item><title>{title}</title><link>{base}{path}</link><guid>{path}</guid>"
        f"<pubDate>{date}</pubDate></item>"
        for path, title, date in items
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>"
        f"<link>{base}/</link><description>x</description>{entries}</channel></rss>"
    ).encode()
