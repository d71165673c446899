"""A source that keeps failing reaches its owner once, through Prefect: the cycle emits
``monitor.source.failing`` / ``monitor.source.recovered`` events, and the automations in
``deploy/automations.yaml``, created with the Prefect CLI as the file says, send them through a
notification block to a real webhook receiver on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from monitor.demo.server import LocalServer, Route
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[2]
AUTOMATIONS = REPO / "deploy" / "automations.yaml"


def _create_automations(block_id: str, tmp_path: Path) -> list[str]:
    """``prefect automation create --from-file`` on the file with the block id filled in."""
    from prefect.settings import PREFECT_API_URL

    filled = tmp_path / "automations.yaml"
    filled.write_text(
        AUTOMATIONS.read_text(encoding="utf-8").replace("BLOCK_ID", block_id), encoding="utf-8"
    )
    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()), COLUMNS="200")
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    prefect = Path(sys.executable).with_name("prefect")
    result = subprocess.run(
        [str(prefect), "--no-prompt", "automation", "create", "--from-file", str(filled)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return re.findall(r"with id ([0-9a-f-]{36})", result.stdout)


def test_a_failing_source_is_notified_once_and_its_recovery_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    from flows.cycle import monitor_cycle
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client

    from monitor.demo.content import ARTICLES, OUTLETS
    from monitor.demo.newsroom import Newsroom

    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORK", "true")
    monkeypatch.setenv("MONITOR_EXTRACTION__WORKERS", "0")
    monkeypatch.setenv("MONITOR_SOURCE_FAILING_AFTER", "2")
    # Polled every cycle, failing or not: these cycles run seconds apart, not a back-off apart.
    monkeypatch.setenv("MONITOR_POLLING__BACKOFF_MAX_S", "0.001")
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    newsroom.publish(0)
    config = newsroom.config(channels=[])
    config_path = tmp_path / "monitor.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    outlet = OUTLETS[0]
    working = local_server.table.get(outlet.feed_path)
    assert working is not None

    receiver = WebhookReceiver().start()
    block = CustomWebhookNotificationBlock(
        name="monitor-test",  # what the receiver's logs would call the sender
        url=receiver.url("/notify"),
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    )
    block_id = block.save(f"monitor-test-{uuid.uuid4().hex[:8]}")
    ids = _create_automations(str(block_id), tmp_path)
    assert len(ids) == 4  # failing, recovered, quiet, active
    try:
        local_server.table.set(outlet.feed_path, Route(body=b"down for maintenance", status=503))
        # Failing from the second failed poll on; told once. Then recovered, then nothing new.
        reports = [monitor_cycle(config_path=str(config_path)) for _ in range(3)]
        local_server.table.set(outlet.feed_path, working)
        reports += [monitor_cycle(config_path=str(config_path)) for _ in range(2)]

        deadline = time.monotonic() + 60
        while len(receiver.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # a duplicate would have arrived by now
    finally:
        with get_client(sync_client=True) as client:
            for automation_id in ids:
                client.delete_automation(uuid.UUID(automation_id))
        receiver.stop()

    # The cycles' own summaries say the same, once each.
    health = [r["source_health"] for r in reports]
    assert [len(h) for h in health] == [0, 1, 0, 1, 0]
    assert health[1][0].startswith(
        f"source {outlet.name} is failing: 2 polls in a row (never worked); "
    )
    assert health[3] == [f"source {outlet.name} works again after 3 failed polls"]

    notices = [yaml.safe_load(r.body) for r in receiver.requests]
    assert sorted(n["subject"] for n in notices) == [
        f"News monitor: source {outlet.name} is failing",
        f"News monitor: source {outlet.name} works again",
    ]
    (failing,) = [n for n in notices if n["subject"].endswith("is failing")]
    body = " ".join(failing["body"].split())
    assert f"({local_server.url(outlet.feed_path)})" in body
    assert "has failed 2 polls in a row" in body
    assert "503" in body
    (recovered,) = [n for n in notices if n["subject"].endswith("works again")]
    assert "after 3 failed polls" in " ".join(recovered["body"].split())
