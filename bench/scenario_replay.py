"""Replay a scenario of page dumps through the whole monitor cycle and check its alerts.

A scenario directory holds ``scenario.json`` (topic, and articles with outlet, title, published
time, file, and ``new_facts`` or an ``expect`` saying "no alert") and the page dumps. Each dump is
served as an HTML page on a local newsroom (127.0.0.1), listed in its outlet's RSS feed at its
publication time; one real monitor cycle (the Prefect flow, SQLite, a local webhook receiver)
runs after each article is released, in the scenario's order. Checks: an alert for every article
that lists new facts, quoting at least one of them; no alert for the others, which must be filed
as another report of an earlier development.

    .venv/bin/python bench/scenario_replay.py         # ../shared/scenarios/istanbul-talks
    .venv/bin/python bench/scenario_replay.py --dir PATH --query 'istanbul AND talks'

The scenario texts are read at run time and never copied into the repository.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "scenarios" / "istanbul-talks"


def page_html(title: str, dump: str) -> bytes:
    paragraphs = "\n".join(
        f"<p>{html.escape(line.strip())}</p>" for line in dump.splitlines() if line.strip()
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><article>"
        f"<h1>{html.escape(title)}</h1>{paragraphs}</article></body></html>"
    ).encode()


def rss(outlet: str, items: list[dict[str, Any]], base: str) -> bytes:
    entries = "".join(
        f"<item><title>{html.escape(i['title'])}</title><link>{base}{i['path']}</link>"
        f"<guid>{base}{i['path']}</guid><pubDate>{format_datetime(i['when'])}</pubDate></item>"
        for i in reversed(items)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{html.escape(outlet)}</title><link>{base}/</link><description>-</description>"
        f"{entries}</channel></rss>"
    ).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--query", help="topic query (default: the scenario's example_query)")
    args = parser.parse_args()
    spec_path = args.dir / "scenario.json"
    if not spec_path.exists():
        print(f"no scenario at {spec_path}; nothing to replay")
        return 0
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    topic = spec["topic"]
    query = args.query or topic["example_query"]

    from monitor.demo.server import LocalServer, Route
    from monitor.evaluation import fact_quoted

    newsroom = LocalServer().start()
    hooks = LocalServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="monitor-scenario-"))
    outlets: dict[str, list[dict[str, Any]]] = {}
    slugs: dict[str, str] = {}
    for item in spec["articles"]:
        slugs.setdefault(item["outlet"], f"outlet{len(slugs)}")
    config = {
        "sources": [{"name": o, "url": newsroom.url(f"/{s}/rss.xml")} for o, s in slugs.items()],
        "topics": [{"name": topic["name"], "query": query}],
        "channels": [{"type": "webhook", "name": "hook", "url": hooks.url("/hook")}],
    }
    for slug in slugs.values():
        newsroom.table.set(
            f"/{slug}/rss.xml",
            Route(body=rss(slug, [], newsroom.base_url), content_type="application/rss+xml"),
        )
    config_path = tmp / "scenario.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    os.environ.update(
        {
            "MONITOR_DATA_DIR": str(tmp),
            "MONITOR_ALLOW_PRIVATE_NETWORK": "true",
            "MONITOR_EXTRACTION__WORKERS": "0",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    from monitor.cli import prefect_defaults

    prefect_defaults()  # as `monitor run` does: the first serverless start on a new machine is slow
    from flows.cycle import run_cycle

    failures: list[str] = []
    alerts_by_file: dict[str, list[dict[str, Any]]] = {}
    for n, item in enumerate(spec["articles"]):
        slug = slugs[item["outlet"]]
        path = f"/{slug}/{n:03d}.html"
        dump = (args.dir / item["file"]).read_text(encoding="utf-8")
        newsroom.table.set(path, Route(body=page_html(item["title"], dump)))
        when = datetime.fromisoformat(item["published"].replace("Z", "+00:00"))
        outlets.setdefault(slug, []).append({"title": item["title"], "path": path, "when": when})
        newsroom.table.set(
            f"/{slug}/rss.xml",
            Route(
                body=rss(item["outlet"], outlets[slug], newsroom.base_url),
                content_type="application/rss+xml",
            ),
        )
        before = len([r for r in hooks.table.requests if r.method == "POST"])
        report = run_cycle(config_path=str(config_path))
        posts = [r for r in hooks.table.requests if r.method == "POST"][before:]
        alerts = [a for p in posts for a in json.loads(p.body)["alerts"]]
        alerts_by_file[item["file"]] = alerts
        expects_alert = bool(item.get("new_facts"))
        line = (
            f"{item['file'][:3]} [{item['outlet'][:28]}] {len(alerts)} alert(s), "
            f"{report['developments']} development(s), {report['reports']} re-report(s)"
        )
        print(line)
        for alert in alerts:
            for fact in alert["facts"][:8]:
                print(f"      “{fact[:150]}”")
        if expects_alert:
            if len(alerts) != 1:
                failures.append(f"{item['file']}: expected 1 alert, got {len(alerts)}")
                continue
            quoted = alerts[0]["facts"]
            hits = [f for f in item["new_facts"] if fact_quoted(f, quoted)]
            print(f"    quotes {len(hits)}/{len(item['new_facts'])} listed new facts")
            if not hits:
                failures.append(f"{item['file']}: alert quotes none of the listed new facts")
        else:
            if alerts:
                failures.append(f"{item['file']}: expected no alert, got {len(alerts)}")
            if report["reports"] != 1:
                failures.append(f"{item['file']}: not filed as another report of a development")
    newsroom.stop()
    hooks.stop()
    total = sum(len(a) for a in alerts_by_file.values())
    expected = sum(bool(i.get("new_facts")) for i in spec["articles"])
    print(f"alerts: {total}, expected {expected}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    print("PASS" if not failures else "FAIL")
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
