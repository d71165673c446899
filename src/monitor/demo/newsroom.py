"""The offline demo newsroom: outlets publishing articles, step by step, on a loopback server.

Contract:

* A :class:`Newsroom` serves its outlets on a running :class:`~monitor.demo.server.LocalServer`
  (the caller starts and stops the server). On construction every outlet gets a home page and an
  empty feed in its own format (RSS 2.0, Atom 1.0 or JSON Feed 1.1).
* :meth:`Newsroom.publish` releases one step: it adds the step's article pages to the server's
  route table and re-renders every outlet's feed (newest first, released articles only). A feed
  whose content did not change is byte-identical, so the server answers a conditional GET with
  304. A :class:`~monitor.demo.content.FeedOutage` active at that step replaces the outlet's feed
  with its error answer. Publishing a step twice releases nothing new.
* :meth:`Newsroom.sources` and :meth:`Newsroom.config` give the config-file entries for monitoring
  the newsroom (a mapping that :func:`monitor.config.parse_config` accepts).

Defaults are the Marrowick timeline of :mod:`monitor.demo.content`; benchmarks pass
synthetic articles and outlets from :mod:`monitor.demo.synthetic`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.utils import format_datetime
from html import escape
from typing import Any

from monitor.demo.content import (
    ARTICLES,
    DEMO_TOPICS,
    OUTAGES,
    OUTLETS,
    DemoArticle,
    DemoTopic,
    FeedOutage,
    Outlet,
)
from monitor.demo.pages import FEED_CONTENT_TYPES, render_article_page, render_feed
from monitor.demo.server import LocalServer, Route

_HTML = "text/html; charset=utf-8"


class Newsroom:
    """Fictional outlets on a loopback server, releasing their articles one step at a time."""

    def __init__(
        self,
        server: LocalServer,
        outlets: Sequence[Outlet] = OUTLETS,
        articles: Sequence[DemoArticle] = ARTICLES,
        *,
        topics: Sequence[DemoTopic] = DEMO_TOPICS,
        outages: Sequence[FeedOutage] = OUTAGES,
        page_bytes: int = 0,
        related_count: int = 4,
    ) -> None:
        self._server = server
        self._outlets = {o.slug: o for o in outlets}
        self._articles = sorted(articles, key=lambda a: (a.published, a.id))
        self._by_id = {a.id: a for a in self._articles}
        self.topics: tuple[DemoTopic, ...] = tuple(topics)
        self.outages: tuple[FeedOutage, ...] = tuple(outages)
        self._page_bytes = page_bytes
        self._related_count = related_count
        self._released: set[str] = set()
        self._step = -1
        self._validate(outlets)
        for outlet in self._outlets.values():
            self._set_feed(outlet)

    def _validate(self, outlets: Sequence[Outlet]) -> None:
        if len(self._outlets) != len(outlets):
            raise ValueError("outlet slugs must be unique")
        if len(self._by_id) != len(self._articles):
            raise ValueError("article ids must be unique")
        paths = [a.path for a in self._articles]
        paths += [o.feed_path for o in outlets] + [o.home_path for o in outlets]
        if len(set(paths)) != len(paths):
            raise ValueError("article, feed and home paths must be unique")
        for article in self._articles:
            if article.outlet not in self._outlets:
                raise ValueError(f"article {article.id!r}: unknown outlet {article.outlet!r}")
            if article.repeats is not None and article.repeats not in self._by_id:
                raise ValueError(f"article {article.id!r} repeats unknown {article.repeats!r}")
            if article.step < 0:
                raise ValueError(f"article {article.id!r}: negative step")
        for outage in self.outages:
            if outage.outlet not in self._outlets:
                raise ValueError(f"outage: unknown outlet {outage.outlet!r}")

    # --- what there is ------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """Number of steps: steps run from 0 to ``steps - 1``."""
        last = max((a.step for a in self._articles), default=0)
        last = max([last, *(o.step for o in self.outages)])
        return last + 1

    @property
    def step(self) -> int:
        """The highest step published so far (-1 before the first)."""
        return self._step

    @property
    def outlets(self) -> tuple[Outlet, ...]:
        return tuple(self._outlets.values())

    @property
    def articles(self) -> tuple[DemoArticle, ...]:
        """Every article of the timeline, in publication order."""
        return tuple(self._articles)

    @property
    def released(self) -> tuple[DemoArticle, ...]:
        """Articles published so far, in publication order."""
        return tuple(a for a in self._articles if a.id in self._released)

    def article(self, article_id: str) -> DemoArticle:
        return self._by_id[article_id]

    def outlet(self, slug: str) -> Outlet:
        return self._outlets[slug]

    def url(self, article: DemoArticle) -> str:
        """The article page's address (without the feed's tracking parameters)."""
        return self._server.url(article.path)

    def feed_url(self, outlet: Outlet) -> str:
        return self._server.url(outlet.feed_path)

    def outages_at(self, step: int) -> tuple[FeedOutage, ...]:
        return tuple(o for o in self.outages if o.active(step))

    # --- publishing ---------------------------------------------------------------------------

    def publish(self, step: int) -> list[DemoArticle]:
        """Release ``step``'s articles and refresh every feed; returns the newly released."""
        if not 0 <= step < self.steps:
            raise ValueError(f"step must be between 0 and {self.steps - 1}, got {step}")
        new = [a for a in self._articles if a.step == step and a.id not in self._released]
        base_url = self._server.base_url
        for article in new:
            outlet = self._outlets[article.outlet]
            body = render_article_page(
                outlet,
                article,
                related=self._related(article),
                pad_to_bytes=self._page_bytes,
                base_url=base_url,
            )
            self._server.table.set(article.path, Route(body=body, headers=_modified(article)))
            self._released.add(article.id)
        self._step = max(self._step, step)
        for outlet in self._outlets.values():
            self._set_feed(outlet)
        return new

    def _related(self, article: DemoArticle) -> list[DemoArticle]:
        earlier = [
            a
            for a in self._articles
            if a.outlet == article.outlet and a.published < article.published
        ]
        return earlier[::-1][: self._related_count]

    def _set_feed(self, outlet: Outlet) -> None:
        table = self._server.table
        outage = next((o for o in self.outages_at(self._step) if o.outlet == outlet.slug), None)
        if outage is not None:
            route = Route(body=outage.body, status=outage.status, content_type=outage.content_type)
            table.set(outlet.feed_path, route)
            return
        items = [a for a in self._articles if a.outlet == outlet.slug and a.id in self._released]
        items.reverse()  # newest first
        body = render_feed(outlet, items, self._server.base_url)
        headers = _modified(items[0]) if items else ()
        route = Route(body=body, content_type=FEED_CONTENT_TYPES[outlet.feed_kind], headers=headers)
        table.set(outlet.feed_path, route)
        table.set(outlet.home_path, Route(body=self._home_page(outlet, items)))

    def _home_page(self, outlet: Outlet, items: Sequence[DemoArticle]) -> bytes:
        links = "\n".join(
            f'<li><a href="{a.path}">{escape(a.title)}</a> <time>{a.published:%d %b %Y}</time></li>'
            for a in items
        )
        feed_type = FEED_CONTENT_TYPES[outlet.feed_kind].split(";")[0]
        return (
            f'<!DOCTYPE html><html lang="{outlet.language}"><head><meta charset="utf-8">'
            f"<title>{escape(outlet.name)}</title>"
            f'<link rel="alternate" type="{feed_type}" href="{outlet.feed_path}"></head>'
            f"<body><h1>{escape(outlet.name)}</h1><p>{escape(outlet.tagline)}</p>"
            f"<ul>{links}</ul></body></html>"
        ).encode()

    # --- configuration ------------------------------------------------------------------------

    def sources(self) -> list[dict[str, str]]:
        """Config-file source entries (name, feed URL), one per outlet."""
        return [{"name": o.name, "url": self.feed_url(o)} for o in self._outlets.values()]

    def config(self, *, channels: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """A complete config-file mapping: the outlets' feeds, the demo topics, ``channels``."""
        return {
            "sources": self.sources(),
            "topics": [{"name": t.name, "query": t.query} for t in self.topics],
            "channels": [dict(c) for c in channels],
        }


def _modified(article: DemoArticle) -> tuple[tuple[str, str], ...]:
    return (("Last-Modified", format_datetime(article.published, usegmt=True)),)
