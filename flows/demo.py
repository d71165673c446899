"""The offline demo: a fictional newsroom on 127.0.0.1, monitored cycle by cycle.

Starts the demo newsroom's web server, a local SMTP server and a webhook receiver, writes a
config file pointing at them, then for each step of the newsroom's timeline releases that
step's articles and runs one real monitor cycle (the Prefect flow, on a SQLite file, with Prefect
running without a server). Prints what each cycle stored and alerted on, and what arrived by
mail and webhook.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.server import LocalServer
from monitor.pipeline.report import to_text
from monitor.wording import counted

Echo = Callable[[str], None]


@dataclass
class Mailbox:
    """What the demo's SMTP server received."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[int]:
    from aiosmtpd.controller import Controller

    # aiosmtpd checks readiness by connecting to its port, so it needs a concrete one.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    cycles: list[dict[str, Any]]
    emails: list[str]
    webhooks: list[dict[str, Any]]
    expected_alerts: list[str]


def look_around(data_dir: Path) -> list[str]:
    """The demo's last lines: commands to read its database, one per line, each runnable as
    printed (``a | b`` would be a shell pipe, not three commands)."""
    env = f"MONITOR_DATA_DIR={data_dir}"
    return [
        "look around (article IDs are in `monitor articles`):",
        *(
            f"  {env} .venv/bin/monitor {command}"
            for command in ("stories", "alerts", "articles", "explain ID")
        ),
    ]


# Long by design: the demo's narration, in the order the user reads it on the terminal.
def run_demo(data_dir: Path, echo: Echo = print, *, steps: int | None = None) -> DemoOutcome:
    """Run the demo end to end; ``data_dir`` is wiped of a previous demo database first."""
    from monitor.demo.content import ARTICLES, OUTLETS
    from monitor.demo.newsroom import Newsroom

    data_dir.mkdir(parents=True, exist_ok=True)
    for leftover in data_dir.glob("monitor.db*"):
        leftover.unlink()
    mailbox = Mailbox()
    newsroom_server = LocalServer().start()
    hooks = LocalServer().start()
    try:
        with smtp_server(mailbox) as smtp_port:
            newsroom = Newsroom(newsroom_server, OUTLETS, ARTICLES)
            config = newsroom.config(
                channels=[
                    {"type": "email", "name": "desk-email", "to": ["desk@example.org"]},
                    {"type": "webhook", "name": "ops-webhook", "url": hooks.url("/hooks/news")},
                ]
            )
            config_path = data_dir / "demo.yaml"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            _demo_environment(data_dir, smtp_port)
            echo(
                f"demo newsroom on {newsroom_server.base_url}, SMTP on 127.0.0.1:{smtp_port}, "
                f"webhook receiver on {hooks.url('/hooks/news')}"
            )
            echo(f"config: {config_path}   database: {data_dir / 'monitor.db'}")
            from flows.cycle import run_cycle

            cycles: list[dict[str, Any]] = []
            expected: list[str] = []
            total = newsroom.steps if steps is None else min(steps, newsroom.steps)
            for step in range(total):
                released = newsroom.publish(step)
                echo("")
                echo(
                    f"=== step {step + 1}/{total}: the newsroom publishes "
                    f"{counted(len(released), 'article')}"
                )
                for art in released:
                    verdict = "should alert" if art.expect_alert else "should stay silent"
                    echo(f"  + [{art.outlet}] {art.title}  ({art.kind}; {verdict})")
                    if art.expect_alert:
                        expected.append(art.title)
                report = run_cycle(config_path=str(config_path))
                cycles.append(report)
                echo(to_text(report, indent="  "))
            emails = [str(m["Subject"]) for m in mailbox.messages]
            sample = _plain_text(mailbox.messages[-1]) if mailbox.messages else ""
            webhooks = [json.loads(r.body) for r in hooks.table.requests if r.method == "POST"]
    finally:
        newsroom_server.stop()
        hooks.stop()
    echo("")
    echo(
        f"=== delivered: {counted(len(emails), 'email')}, {counted(len(webhooks), 'webhook call')}"
    )
    for subject in emails:
        echo(f"  mail: {subject}")
    if sample:
        echo("")
        echo("=== the last alert, as the desk's mailbox received it (plain-text part):")
        echo("\n".join(f"  | {line}" for line in sample.strip().splitlines()))
        echo("")
    echo(
        f"expected alerts: {len(expected)}; alerts raised: "
        f"{sum(c['alerts_created'] for c in cycles)}"
    )
    for line in look_around(data_dir):
        echo(line)
    return DemoOutcome(cycles, emails, webhooks, expected)


def _plain_text(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def _demo_environment(data_dir: Path, smtp_port: int) -> None:
    """The flow reads its settings from the environment, as a deployed worker would."""
    os.environ.update(
        {
            "MONITOR_DATA_DIR": str(data_dir.resolve()),
            "MONITOR_ALLOW_PRIVATE_NETWORK": "true",  # the newsroom lives on 127.0.0.1
            "MONITOR_SMTP__HOST": "127.0.0.1",
            "MONITOR_SMTP__PORT": str(smtp_port),
            "MONITOR_SMTP__SECURITY": "none",
            "MONITOR_SMTP__SENDER": "news-monitor@demo.invalid",
            "MONITOR_WEBHOOK_SECRET": "demo-webhook-secret",
        }
    )
    os.environ.pop("MONITOR_DATABASE_URL", None)
