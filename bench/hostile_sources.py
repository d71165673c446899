"""A real cycle with one healthy feed beside twelve hostile sources and a misbehaving channel.

The healthy feed (three articles about one harbour town) is served by the demo's local HTTP
server. Each hostile source has a loopback address of its own (127.0.0.20 and up, so that one
host's limits and Retry-After do not mix with another's), served by
``tests/support/hostile.HostileServer``: its feed drips a byte every 0.2 s, hangs, resets the
connection, promises 50 GB, answers a garbage status line, answers 429 with ``Retry-After:
3600``, redirects in a loop, sends headers that never end, answers 304 to a request without
validators, sends a gzip bomb (1 GiB of zeros in a megabyte), lists an entry dated year 1 with
a 400 KB title (its page titled the same), or sends XML that breaks off.

The alert channels: e-mail to a real SMTP server (aiosmtpd), a healthy webhook, and a webhook
that answers 200 and then streams an endless body.

The cycle is one ``monitor run --config X --json`` subprocess on a fresh SQLite data directory
(no Prefect server), with the default settings except loopback fetching allowed and the SMTP
server's address. Printed: the exit status, wall time, peak RSS (the largest process of the
run), articles stored, the sources that failed with their typed errors, the alerts, and the
deliveries per channel (rows by state, and what each receiver got). It exits 1 unless the
cycle completed, the healthy feed's articles were stored and alerted, and every channel got
every alert exactly once.

Usage: ``PYTHONPATH=src:. .venv/bin/python bench/hostile_sources.py``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.support

from tests.support.hostile import HostileServer, gzip_bomb
from tests.support.smtp import RecordingHandler, start_smtp
from tests.support.webhook import MisbehavingReceiver, WebhookReceiver

from monitor.demo.server import LocalServer, Route

HOSTILE = {
    "drip": "/drip/feed",
    "hang": "/hang/feed",
    "reset": "/reset/feed",
    "huge": "/huge/feed",
    "garbage-status": "/malformed/feed",
    "429-retry-after": "/retryafter/feed",
    "redirect-loop": "/loop/a",
    "endless-headers": "/headers/feed",
    "304-unasked": "/notmodified/feed",
    "gzip-bomb": "/bomb/feed",
    "year-1-huge-title": "/ancient/feed",
    "malformed-xml": "/badxml/feed",
}
ARTICLES = {
    "ferry": (
        "Tarrow to close its ferry terminal",
        "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by "
        "June, after engineers found corrosion in 14 of its 22 steel piles. Council leader "
        "Ines Varga said the ferry to Kell Island would move to the north quay.",
    ),
    "school": (
        "Kell Island school gets a science wing",
        "The Kell Island school board approved a new science wing on Monday, funded by a "
        "regional grant of 2.4 million. Head teacher Oskar Lind said building work starts in "
        "the spring and that classes move to the old library meanwhile.",
    ),
    "market": (
        "Tarrow fish market moves indoors",
        "Tarrow's Saturday fish market will move into the former rope works from March, the "
        "traders' association said on Wednesday. Forty stalls will fit in the hall, and the "
        "square it leaves becomes a car park for the summer season.",
    ),
}


def _healthy(server: LocalServer) -> None:
    base = server.base_url
    items = ""
    for i, (slug, (title, text)) in enumerate(ARTICLES.items()):
        page = (
            f"<html lang='en'><head><title>{title}</title></head><body><article>"
            f"<h1>{title}</h1><p>{text}</p><p>{text}</p></article></body></html>"
        )
        server.table.set(f"/{slug}.html", Route(body=page.encode()))
        items += (
            f"<item><title>{title}</title><link>{base}/{slug}.html</link><guid>{slug}</guid>"
            f"<pubDate>Sat, 05 Dec 2026 0{i}:00:00 GMT</pubDate></item>"
        )
    feed = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>"
        f"<link>{base}/</link><description>x</description>{items}</channel></rss>"
    )
    server.table.set("/rss.xml", Route(content_type="application/rss+xml", body=feed.encode()))


def _config(
    healthy: LocalServer, hostile: dict[str, HostileServer], hook: str, stream: str
) -> dict[str, Any]:
    sources = [{"name": "Gazette", "url": healthy.url("/rss.xml")}]
    sources += [{"name": n, "url": f"{s.base_url}{HOSTILE[n]}"} for n, s in hostile.items()]
    return {
        "sources": sources,
        "topics": [{"name": "Tarrow and Kell", "query": "tarrow OR kell"}],
        "channels": [
            {"type": "email", "name": "mail", "to": ["desk@news.example"]},
            {"type": "webhook", "name": "hook", "url": hook},
            {"type": "webhook", "name": "stream", "url": stream},
        ],
    }


def _run(argv: list[str], env: dict[str, str], limit_s: float) -> tuple[int, float, int, str, str]:
    """Exit status, wall seconds, peak RSS in KiB (the largest process), stdout, stderr. A run
    still going after ``limit_s`` is killed (its process group) and its status is -9."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - began > limit_s:
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.1)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out.seek(0)
        err.seek(0)
        peak = max(usage.ru_maxrss, children)
        return proc.returncode, wall, peak, out.read().decode(), err.read().decode()


def _database(path: Path) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        articles = db.execute("SELECT source_name, count(*) FROM articles GROUP BY 1").fetchall()
        titles = db.execute(
            "SELECT source_name, length(title), published_at FROM articles ORDER BY 1"
        ).fetchall()
        alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        rows = db.execute(
            "SELECT channel, state, attempts, count(*) FROM deliveries GROUP BY 1, 2, 3"
        ).fetchall()
    return {"articles": dict(articles), "titles": titles, "alerts": alerts, "deliveries": rows}


def _servers() -> tuple[dict[str, HostileServer], LocalServer]:
    hostile = {
        name: HostileServer([], address=f"127.0.0.{20 + i}").start()
        for i, name in enumerate(HOSTILE)
    }
    healthy = LocalServer().start()
    _healthy(healthy)
    return hostile, healthy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--limit-s", type=float, default=600, help="kill the run after this long (a hang)"
    )
    args = parser.parse_args()
    gzip_bomb()  # made before the clock starts
    hostile, healthy = _servers()
    smtp_handler = RecordingHandler()
    smtp = start_smtp(smtp_handler)
    hook = WebhookReceiver().start()
    stream = MisbehavingReceiver("endless_body").start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "monitor.yaml"
            config.write_text(yaml.safe_dump(_config(healthy, hostile, hook.url(), stream.url())))
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "PREFECT_"))
            }
            env.update(
                MONITOR_DATA_DIR=str(Path(tmp) / "data"),
                MONITOR_ALLOW_PRIVATE_NETWORK="true",
                MONITOR_SMTP__HOST="127.0.0.1",
                MONITOR_SMTP__PORT=str(smtp.port),
                MONITOR_SMTP__SECURITY="none",
                MONITOR_SMTP__SENDER="monitor@news.example",
            )
            argv = [sys.executable, "-m", "monitor", "run", "--config", str(config), "--json"]
            status, wall, peak, out, err = _run(argv, env, args.limit_s)
            stored = _database(Path(tmp) / "data" / "monitor.db")
            received = {
                "mail": len(smtp_handler.received),
                "hook": len(hook.unique_accepted()),
                "hook (requests)": len(hook.requests),
                "stream (requests)": len(stream.requests),
            }
    finally:
        smtp.stop()
        hook.stop()
        stream.stop()
        healthy.stop()
        for server in hostile.values():
            server.stop()
    return _report(status, wall, peak, out, err, stored, received)


def _report(
    status: int,
    wall: float,
    peak: int,
    out: str,
    err: str,
    stored: dict[str, Any],
    received: dict[str, int],
) -> int:
    print(f"exit status {status}, wall {wall:.1f} s, peak RSS {peak / 1024:.0f} MiB")
    if status != 0:
        print(err[-3000:])
        return 1
    report = json.loads(out)
    print(f"cycle {report['started_at']} .. {report['finished_at']}")
    print(f"articles stored: {report['articles_stored']}  by source: {stored['articles']}")
    for source, length, published in stored["titles"]:
        print(f"  {source:<20} title {length} characters, published_at {published}")
    failed: dict[str, Counter[str]] = {}
    said: dict[str, str] = {}
    for e in report["errors"]:
        failed.setdefault(e["source"], Counter())[f"{e['kind']}:{e['error']}"] += 1
        said.setdefault(e["source"], " ".join(e["message"].split())[:80])
    print(f"sources failed: {len(failed)} of {len(HOSTILE) + 1}")
    for source in sorted(failed):
        print(f"  {source:<18} {dict(failed[source])}  {said[source]}")
    print(f"alerts: {report['alerts_created']} (rows: {stored['alerts']})")
    print(f"deliveries sent {report['deliveries_sent']}, failed {report['deliveries_failed']}")
    for channel, state, attempts, count in stored["deliveries"]:
        print(f"  {channel:<8} {state:<8} attempts {attempts}: {count}")
    print(f"received: {received}")
    alerts = stored["alerts"]
    ok = (
        stored["articles"].get("Gazette") == len(ARTICLES)
        and "Gazette" not in failed
        and alerts >= 1
        and received["mail"] == received["hook"] == received["stream (requests)"] == alerts
        and received["hook (requests)"] == alerts
        and all(state == "sent" and n == 1 for _, state, n, _ in stored["deliveries"])
    )
    print("expectation met" if ok else "EXPECTATION NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
