"""Production shape: a Prefect server (services on) on PostgreSQL, the monitor on its own
PostgreSQL, two process workers, and two deployments of ``deploy/prefect.yaml``'s cycle with
different topics and overlapping sources, fed by a local newsroom over several cycles, alerting
a webhook receiver and an SMTP sink.

Faults on the way: ``kill -9`` of the worker running a cycle (the crash-detection automation
of ``deploy/crashed-runs.yaml`` frees its slot), and a restart of the monitor's database in the
middle of a cycle (a private PostgreSQL instance started for this test). In the end every
(topic, development) alert has arrived exactly once on each channel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.deploy.conftest import (
    CYCLE,
    REPO,
    PrefectServer,
    Worker,
    descendants,
    monitor_env,
    postgres_databases,
    wait_for,
    workers,
)
from tests.support.smtp import RecordingHandler, free_port, start_smtp
from tests.support.webhook import WebhookReceiver

from monitor.demo.content import ARTICLES, DEMO_TOPIC, OUTLETS
from monitor.demo.newsroom import Newsroom
from monitor.demo.server import LocalServer, Route

pytestmark = [pytest.mark.deploy, pytest.mark.slow, pytest.mark.postgres]

PG_BIN = Path("/usr/lib/postgresql")
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# Two desks with overlapping sources (the Courier and the Ledger), a topic each, on the demo's
# story: each topic should alert once per development of the story.
TOPICS = {"desk-a": "Port talks (desk A)", "desk-b": "Port talks (desk B)"}
EXPECTED = len([a for a in ARTICLES if a.expect_alert])


def _pg_bin(tool: str) -> str:
    found = sorted(PG_BIN.glob(f"*/bin/{tool}"))
    if not found:
        reason = f"no PostgreSQL server binaries under {PG_BIN} for a private instance"
        if os.environ.get("MONITOR_REQUIRE_POSTGRES"):
            pytest.fail(reason + " (MONITOR_REQUIRE_POSTGRES is set)")
        pytest.skip(reason)
    return str(found[-1])


class PrivatePostgres:
    """A PostgreSQL instance of this test's own (initdb in a temp dir, run as the ``postgres``
    OS user, on a free port), so that it can be restarted without touching anyone else's."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        shutil.chown(self.dir, "postgres", "postgres")

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            capture_output=True,
            timeout=180,
        )

    def start(self) -> PrivatePostgres:
        self._as_postgres(
            _pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"
        )
        self.pg_ctl("start")
        return self

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
            "-o", options, action, *extra,
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """The Prefect server, its two deployments (``desk-a``, ``desk-b``) and the test's view of
    their runs, through Prefect's REST API."""

    def __init__(self, server: PrefectServer) -> None:
        self.server = server
        self.deployments: dict[str, str] = {}

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.server.api_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def trigger(self, desk: str) -> str:
        run = self.api("POST", f"/deployments/{self.deployments[desk]}/create_flow_run", {})
        return str(run["id"])

    def state(self, run_id: str) -> str:
        return str(self.api("GET", f"/flow_runs/{run_id}")["state_type"])

    def wait_final(self, run_id: str, timeout: float, info: Callable[[], str]) -> str:
        def final() -> str | None:
            state = self.state(run_id)
            return state if state in FINAL else None

        return str(wait_for(f"run {run_id} finished", final, timeout, every=1, info=info()))


@dataclass
class Outcome:
    alerts: list[tuple[str, str]]  # (alert idempotency key, topic) per alert the webhook got
    deliveries: list[str | None]  # the webhook's delivery idempotency keys
    mail_keys: list[str]  # the emails' delivery idempotency keys
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    """The whole scenario, run once for the checks below."""
    if os.geteuid() != 0:
        pytest.skip("starting a private PostgreSQL as the postgres user needs root")
    tmp_path = tmp_path_factory.mktemp("production")
    with ExitStack() as stack:
        local_server = LocalServer().start()
        stack.callback(local_server.stop)
        hook = WebhookReceiver().start()
        stack.callback(hook.stop)
        mail = RecordingHandler()
        smtp = start_smtp(mail)
        stack.callback(smtp.stop)
        pg = PrivatePostgres()
        stack.callback(pg.stop)
        pg.start()
        make_db = stack.enter_context(postgres_databases())
        server = PrefectServer(tmp_path / "prefect", database_url=make_db("asyncpg"))
        stack.callback(server.stop)
        server.start()
        start_worker = stack.enter_context(workers(tmp_path))
        result = Outcome([], [], [])
        _run(tmp_path, local_server, pg, start_worker, server, hook, mail, int(smtp.port),
             result)  # fmt: skip
        print("timings (s):", {k: round(v, 1) for k, v in result.timings.items()})
        yield result


def test_every_alert_arrives_exactly_once_per_channel(outcome: Outcome) -> None:
    assert outcome.alerts, "no alert arrived"
    assert len(outcome.deliveries) == len(set(outcome.deliveries)), "a webhook delivery twice"
    assert len(outcome.alerts) == len(set(outcome.alerts)), "an alert arrived twice"
    assert len(outcome.mail_keys) == len(set(outcome.mail_keys)), "an email arrived twice"
    # A delivery's key is its alert's key and the channel's name: the same alerts both ways.
    by_mail = sorted(k.rsplit(":", 1)[0] for k in outcome.mail_keys)
    assert by_mail == sorted(str(k).rsplit(":", 1)[0] for k in outcome.deliveries)
    topics = {topic for _, topic in outcome.alerts}
    assert topics <= set(TOPICS.values()), topics
    # Desk A polls every source of the story itself: all of its developments alert.
    assert _per_topic(outcome)[TOPICS["desk-a"]] == EXPECTED


def test_each_deployment_gets_every_alert_of_its_topics(outcome: Outcome) -> None:
    # Desk B polls only copies of what desk A stored first, in whatever order the two workers
    # ran them: its topic still gets every development, from the shared database.
    assert _per_topic(outcome) == dict.fromkeys(TOPICS.values(), EXPECTED)


def _per_topic(outcome: Outcome) -> dict[str, int]:
    return {topic: sum(1 for _, t in outcome.alerts if t == topic) for topic in TOPICS.values()}


def _run(
    tmp_path: Path,
    local_server: LocalServer,
    pg: PrivatePostgres,
    start_worker: Callable[..., Worker],
    server: PrefectServer,
    hook: WebhookReceiver,
    mail: RecordingHandler,
    smtp_port: int,
    result: Outcome,
) -> None:
    timings = result.timings
    cluster = Cluster(server)
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    channels = [
        {"type": "webhook", "name": "hook", "url": hook.url()},
        {"type": "email", "name": "desk-mail", "to": ["desk@example.org"]},
    ]
    sources = {s["name"]: s for s in newsroom.sources()}
    by_slug = {o.slug: o.name for o in OUTLETS}
    # Two desks: overlapping sources (the Courier and the Ledger), a topic each.
    desks = {
        "desk-a": ["cpa", "courier", "ledger"],
        "desk-b": ["courier", "ledger", "fenmoor-post"],
    }
    configs: dict[str, Path] = {}
    for desk, slugs in desks.items():
        topic = TOPICS[desk]
        configs[desk] = tmp_path / f"{desk}.yaml"
        config = {
            "sources": [sources[by_slug[s]] for s in slugs],
            "topics": [{"name": topic, "query": DEMO_TOPIC.query}],
            "channels": channels,
        }
        configs[desk].write_text(yaml.safe_dump(config), encoding="utf-8")

    # The file's cycle deployment, twice: each desk's config, no schedule (the test starts
    # each cycle; tests/deploy/test_scheduled_runs.py covers the scheduler).
    spec = yaml.safe_load((REPO / "deploy" / "prefect.yaml").read_text(encoding="utf-8"))
    (cycle,) = [d for d in spec["deployments"] if d["name"] == CYCLE]
    spec["deployments"] = []
    for desk, path in configs.items():
        spec["deployments"].append(
            {
                **cycle,
                "name": desk,
                "schedules": [],
                "parameters": {**cycle["parameters"], "config_path": str(path)},
            }
        )
    prefect_file = tmp_path / "deploy" / "prefect.yaml"
    prefect_file.parent.mkdir()
    prefect_file.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

    started = time.monotonic()
    server.cli("work-pool", "create", "monitor-process", "--type", "process")
    server.cli("deploy", "--prefect-file", str(prefect_file), "--all")
    # The shipped crash detection, as it is.
    server.cli("automation", "create", "--from-file", str(REPO / "deploy" / "crashed-runs.yaml"))
    for desk in desks:
        cluster.deployments[desk] = str(
            cluster.api("GET", f"/deployments/name/monitor-cycle/{desk}")["id"]
        )
    monitor_db = pg.url()
    env = monitor_env(
        tmp_path,
        monitor_db,
        MONITOR_SMTP__HOST="127.0.0.1",
        MONITOR_SMTP__PORT=str(smtp_port),
        MONITOR_SMTP__SECURITY="none",
        MONITOR_HTTP__TIMEOUT_S="120",
    )
    subprocess.run(
        [str(Path(sys.executable).with_name("monitor")), "db", "upgrade"],
        env={**server.env(), **env},
        check=True,
        capture_output=True,
        timeout=180,
    )
    workers = [start_worker(server, env), start_worker(server, env)]
    timings["setup"] = time.monotonic() - started

    def logs() -> str:
        return "\n".join(f"--- worker {i}:\n{w.tail(2000)}" for i, w in enumerate(workers))

    def cycle_both(note: str) -> None:
        t0 = time.monotonic()
        runs = {desk: cluster.trigger(desk) for desk in desks}
        for desk, run_id in runs.items():
            state = cluster.wait_final(run_id, 180, logs)
            assert state == "COMPLETED", f"{note}: {desk} ended {state}\n{logs()}"
        timings[note] = time.monotonic() - t0

    # A first cycle of each desk before the story breaks: a topic alerts on what is stored
    # from its first evaluation on, not on the archive before it.
    cycle_both("warm-up")
    # Step 0 and 1: both desks, side by side on the two workers.
    newsroom.publish(0)
    cycle_both("step 0")
    newsroom.publish(1)
    cycle_both("step 1")

    # Step 2, kill -9: desk A's cycle hangs on a page; the worker running it is killed.
    newsroom.publish(2)
    offer = newsroom.article("offer-raised")
    page = local_server.table.get(offer.path)
    assert page is not None
    local_server.table.set(offer.path, Route(body=page.body, delay_s=600))
    doomed_run = cluster.trigger("desk-a")
    wait_for(
        "desk A requested the hanging page",
        lambda: local_server.table.requests_for(offer.path),
        timeout=180,
        info=logs(),
    )
    (doomed,) = [w for w in workers if w.proc and descendants(w.proc.pid)]
    doomed.kill9()
    killed = time.monotonic()
    killed_at = datetime.now(UTC)
    local_server.table.set(offer.path, page)
    workers.append(start_worker(server, env))
    next_run = cluster.trigger("desk-a")
    assert cluster.wait_final(next_run, 240, logs) == "COMPLETED", logs()
    timings["kill -9 to next cycle completed"] = time.monotonic() - killed
    assert cluster.state(doomed_run) == "CRASHED"
    # What that time is made of, from the server's own timestamps.
    crashed_at = _when(cluster.api("GET", f"/flow_runs/{doomed_run}")["state"]["timestamp"])
    rescue = cluster.api("GET", f"/flow_runs/{next_run}")
    running_at, done_at = _when(rescue["start_time"]), _when(rescue["end_time"])
    timings["  kill -9 to run marked crashed"] = (crashed_at - killed_at).total_seconds()
    timings["  crashed to next cycle running"] = (running_at - crashed_at).total_seconds()
    timings["  next cycle running to completed"] = (done_at - running_at).total_seconds()
    cycle_both("step 2")

    # Step 3, database restart: desk B's cycle waits for a page while the monitor's
    # PostgreSQL restarts under it (immediate shutdown: connections dropped).
    newsroom.publish(3)
    reprint = newsroom.article("deal-accepted-reprint")
    page = local_server.table.get(reprint.path)
    assert page is not None
    local_server.table.set(reprint.path, Route(body=page.body, delay_s=15))
    interrupted = cluster.trigger("desk-b")
    wait_for(
        "desk B requested the slow page",
        lambda: local_server.table.requests_for(reprint.path),
        timeout=180,
        info=logs(),
    )
    flow_processes = [pid for w in workers if w.proc for pid in descendants(w.proc.pid)]
    assert flow_processes
    pg.pg_ctl("restart", "-m", "immediate")
    local_server.table.set(reprint.path, page)
    restarted = time.monotonic()
    state = cluster.wait_final(interrupted, 180, logs)
    wait_for(
        "the interrupted cycle's process exited",
        lambda: not [p for p in flow_processes if _alive(p)],
        timeout=60,
        info=logs(),
    )
    timings["db restart to process gone"] = time.monotonic() - restarted
    timings[f"interrupted cycle ended {state}"] = 0.0
    cycle_both("step 3")
    # One more cycle each: deliveries a failed cycle left pending go out now.
    cycle_both("final")

    result.deliveries = [r.key for r in hook.accepted]
    result.alerts = [
        (alert["idempotency_key"], alert["topic"])
        for r in hook.accepted
        for alert in json.loads(r.body)["alerts"]
    ]
    result.mail_keys = [str(m.message["X-Monitor-Idempotency-Key"]) for m in mail.received]
    timings["total"] = time.monotonic() - started


def _when(timestamp: str) -> datetime:
    """A time as Prefect's API writes it (ISO 8601, UTC)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
