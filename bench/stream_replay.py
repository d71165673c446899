"""Replay a labelled news stream as live newsrooms and count what the reader receives.

``monitor eval stream`` runs a stream's texts through the detect stage. This script runs them
through the product instead: each outlet (``source_domain``) becomes a newsroom on 127.0.0.1
with an RSS feed, each article an HTML page with the furniture real pages carry (navigation, a
cookie notice, "most read" headlines of other articles, a newsletter box, a footer), and real
monitor cycles (the Prefect flow, fetching, extraction, detection, delivery to a local webhook
receiver) run as the articles are released in publication order, ``--per-cycle`` at a time.
The reader's figures come from the webhook deliveries: with ``--developments``, development
recall, alerts per development, alerts repeating a development already received, and alerts on
analysis pieces, as ``monitor eval stream`` prints them for the detect stage alone.

    .venv/bin/python bench/stream_replay.py STREAM.jsonl --developments LABELS.json
    .venv/bin/python bench/stream_replay.py STREAM.jsonl --per-cycle 1 --query 'title:bitcoin'

The default topic matches every English article (its query is common function words, relevance
``anywhere``), as ``monitor eval stream`` does. SQLite under a temporary data directory, or
``MONITOR_DATABASE_URL`` if set (an empty database: the replay's articles must be new to it).
The stream is read at run time and never copied into the repository.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

EVERY_ARTICLE = 'the OR a OR of OR "and" OR to OR in'
NAV = ("Home", "World", "Politics", "Business", "Technology", "Science", "Sport", "Opinion")


def page_html(
    title: str, text: str, authors: list[str], when: str, others: list[str], canonical: str
) -> bytes:
    """An article page with a site's usual furniture around the article; its ``rel=canonical``
    is the article's original address, as the outlet's own page declares it."""
    esc = html.escape
    nav = "".join(f"<li><a href='/{n.lower()}/'>{n}</a></li>" for n in NAV)
    most_read = "".join(
        f"<li><a href='/story/{i}.html'>{esc(t)}</a></li>" for i, t in enumerate(others)
    )
    paragraphs = "".join(
        f"<p>{esc(line.strip())}</p>" for line in text.splitlines() if line.strip()
    )
    byline = f"<p class='byline'>By {esc(', '.join(authors))}</p>" if authors else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)} | The Daily Example</title>"
        f"<link rel='canonical' href='{esc(canonical)}'></head><body>"
        "<div class='cookie-banner'>We use cookies to improve your experience on our site. "
        "By continuing you agree to our cookie policy. <button>Accept</button></div>"
        f"<header><a href='/'>The Daily Example</a><nav><ul>{nav}</ul></nav></header>"
        f"<main><article><h1>{esc(title)}</h1>{byline}<time datetime='{when}'>{when}</time>"
        f"{paragraphs}</article>"
        "<aside class='newsletter'><h3>Sign up to our morning briefing</h3><p>The news you need "
        "to start your day, in your inbox every weekday.</p><form><input name='email'>"
        "<button>Subscribe</button></form></aside>"
        f"<aside class='most-read'><h3>Most read</h3><ol>{most_read}</ol></aside></main>"
        "<footer><p>Copyright The Daily Example. All rights reserved.</p><ul><li><a "
        "href='/terms'>Terms</a></li><li><a href='/privacy'>Privacy</a></li></ul></footer>"
        "</body></html>"
    ).encode()


def rss(outlet: str, items: list[dict[str, Any]], base: str) -> bytes:
    esc = html.escape
    entries = "".join(
        f"<item><title>{esc(i['title'])}</title><link>{base}{i['path']}</link>"
        f"<guid>{base}{i['path']}</guid><pubDate>{format_datetime(i['when'])}</pubDate>"
        f"<description>{esc(i['description'])}</description></item>"
        for i in reversed(items)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{esc(outlet)}</title><link>{base}/</link><description>-</description>"
        f"{entries}</channel></rss>"
    ).encode()


def _slug(domain: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in domain.lower()).strip("-") or "outlet"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stream", type=Path, help="labelled JSONL stream")
    parser.add_argument("--developments", type=Path, help="development labels (JSON)")
    parser.add_argument("--per-cycle", type=int, default=4, help="articles released per cycle")
    parser.add_argument("--query", default=EVERY_ARTICLE, help="the topic's query")
    parser.add_argument("--relevance", default="anywhere", help="the topic's relevance rule")
    parser.add_argument("--list", action="store_true", help="print every alerted article")
    args = parser.parse_args()

    from monitor.demo.server import LocalServer, Route
    from monitor.evaluation import load_developments, load_stream

    items = load_stream(args.stream)
    raw = {}
    for line in args.stream.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            raw[str(row["id"])] = row
    labels = load_developments(args.developments) if args.developments else {}

    newsroom = LocalServer().start()
    hooks = LocalServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="monitor-stream-"))
    slugs: dict[str, str] = {}
    for it in items:
        slugs.setdefault(it.article.source, _slug(it.article.source))
    config = {
        "sources": [{"name": d, "url": newsroom.url(f"/{s}/rss.xml")} for d, s in slugs.items()],
        "topics": [{"name": "replay", "query": args.query, "relevance": args.relevance}],
        "channels": [{"type": "webhook", "name": "reader", "url": hooks.url("/hook")}],
    }
    for domain, slug in slugs.items():
        newsroom.table.set(
            f"/{slug}/rss.xml",
            Route(body=rss(domain, [], newsroom.base_url), content_type="application/rss+xml"),
        )
    config_path = tmp / "replay.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    os.environ.update(
        {
            "MONITOR_DATA_DIR": str(tmp),
            "MONITOR_ALLOW_PRIVATE_NETWORK": "true",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    from monitor.cli import prefect_defaults

    prefect_defaults()
    from flows.cycle import run_cycle

    released: dict[str, list[dict[str, Any]]] = defaultdict(list)
    item_of_path: dict[str, str] = {}
    headlines: list[str] = []
    cycles = 0
    started = time.perf_counter()
    for first in range(0, len(items), args.per_cycle):
        for n, it in enumerate(items[first : first + args.per_cycle], first):
            row = raw[it.item_id]
            slug = slugs[it.article.source]
            path = f"/{slug}/{n:05d}.html"
            item_of_path[path] = it.item_id
            when = it.article.published_at or it.article.fetched_at
            page = page_html(
                it.article.title,
                row.get("text") or row.get("description") or "",
                list(row.get("authors") or ()),
                when.isoformat(),
                headlines[-5:],
                it.article.url,
            )
            newsroom.table.set(path, Route(body=page))
            headlines.append(it.article.title)
            released[slug].append(
                {
                    "title": it.article.title,
                    "path": path,
                    "when": when,
                    "description": row.get("description") or "",
                }
            )
            newsroom.table.set(
                f"/{slug}/rss.xml",
                Route(
                    body=rss(it.article.source, released[slug], newsroom.base_url),
                    content_type="application/rss+xml",
                ),
            )
        run_cycle(config_path=str(config_path))
        cycles += 1
    seconds = time.perf_counter() - started
    posts = [r for r in hooks.table.requests if r.method == "POST"]
    alerts = [a for p in posts for a in json.loads(p.body)["alerts"]]
    keys = Counter(json.loads(p.body)["idempotency_key"] for p in posts)
    newsroom.stop()
    hooks.stop()

    alerts_of: Counter[str] = Counter()
    for alert in alerts:
        item = item_of_path.get(urlsplit(alert["article"]["url"]).path)
        if item is not None:
            alerts_of[item] += 1
    print(
        f"{len(items)} articles from {len(slugs)} outlets in {cycles} cycles of "
        f"{args.per_cycle}, {seconds:.0f} s; {len(alerts)} alerts in {len(posts)} deliveries "
        f"({sum(n - 1 for n in keys.values())} delivered twice)"
    )
    if not labels:
        return 0
    groups: set[tuple[str, int]] = set()
    alerted: set[tuple[str, int]] = set()
    redundant = analysis = 0
    for it in items:
        label = labels.get(it.item_id)
        if label is None:
            continue
        groups.add(label.group)
        n = alerts_of[it.item_id]
        analysis += n if label.kind == "analysis" else 0
        if n:
            repeat = n - (label.group not in alerted)
            redundant += repeat
            alerted.add(label.group)
            if args.list:
                mark = "repeat " if repeat else ""
                mark += "analysis" if label.kind == "analysis" else ""
                title = it.article.title[:80]
                print(f"  {label.event[:24]:24} #{label.development} {mark:16} {title}")
    total = sum(alerts_of.values())
    print(
        f"development recall {len(alerted)}/{len(groups)} = {len(alerted) / len(groups):.3f}; "
        f"alerts per development {total / len(groups):.2f}; redundant alerts {redundant} of "
        f"{total} ({100 * redundant / max(total, 1):.0f} %); alerts on analysis pieces "
        f"{analysis} ({100 * analysis / max(total, 1):.0f} % of alerts)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
