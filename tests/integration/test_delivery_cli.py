"""``monitor alerts`` commands against a real SQLite database and the loopback receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from monitor.alerts.outbox import deliver_due, enqueue
from monitor.cli.alerts import register
from monitor.config import get_settings, parse_config
from monitor.storage.db import make_engine, session_factory, upgrade
from tests.support.alerts import add_alert
from tests.support.cli import stage_app
from tests.support.webhook import Behaviour, WebhookReceiver

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SIGNING_KEY = "whsec-cli-test-secret-value"
SMTP_PASSWORD = "smtp-cli-password-value"


@pytest.fixture
def app() -> typer.Typer:
    return stage_app(register)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: WebhookReceiver) -> Path:
    """Environment for the CLI: a SQLite file, secrets, and a config with two webhooks."""
    db = tmp_path / "cli.db"
    config = {
        "topics": [{"name": "Istanbul talks", "query": "istanbul"}],
        "channels": [
            {"type": "webhook", "name": "good", "url": receiver.url("/good")},
            {"type": "webhook", "name": "broken", "url": receiver.url("/broken")},
        ],
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("MONITOR_WEBHOOK_SECRET", SIGNING_KEY)
    monkeypatch.setenv("MONITOR_SMTP__PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("MONITOR_DELIVERY__MAX_ATTEMPTS", "1")
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return path


async def seed(config_path: Path, receiver: WebhookReceiver) -> int:
    """One alert: sent on "good", dead on "broken" (the receiver refuses /broken)."""
    settings = get_settings()
    config = parse_config(yaml.safe_load(config_path.read_text()))  # noqa: ASYNC240 - tiny file
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    sessions = session_factory(engine)
    topic = config.topics[0]
    with sessions.begin() as session:
        alert = add_alert(session, topic=topic.name, title="Ceasefire agreed", now=NOW)
        enqueue(session, alert, config.channels_for(topic), topic.delivery, now=NOW)
        alert_id = alert.id
    receiver.behaviour = Behaviour(fail_paths=frozenset({"/broken"}), fail_status=500)
    report = await deliver_due(sessions, config, settings, now=NOW)
    engine.dispose()
    assert report.sent + report.dead == 2
    return alert_id


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


async def test_list_json_failed_and_retry(
    app: typer.Typer, env: Path, receiver: WebhookReceiver
) -> None:
    alert_id = await seed(env, receiver)

    code, out = run(app, "alerts", "--json")
    assert code == 0, out
    [alert] = json.loads(out)
    assert alert["id"] == alert_id
    assert alert["title"] == "Ceasefire agreed"
    states = sorted(d["state"] for d in alert["deliveries"])
    assert states == ["dead", "sent"]
    dead = next(d for d in alert["deliveries"] if d["state"] == "dead")
    assert "HTTP 500" in dead["last_error"]

    code, out = run(app, "alerts", "--failed")
    assert code == 0, out
    assert f"#{alert_id}" in out
    assert "dead" in out

    code, out = run(app, "alerts", "retry", "--all-dead")
    assert code == 0, out
    assert "re-queued 1 delivery" in out
    code, out = run(app, "alerts", "--failed", "--json")
    assert json.loads(out) == []

    for cmd in (("alerts",), ("alerts", "--json"), ("alerts", "--failed", "--json")):
        _, out = run(app, *cmd)
        assert SIGNING_KEY not in out
        assert SMTP_PASSWORD not in out


def test_retry_needs_ids_or_all_dead(app: typer.Typer, env: Path) -> None:
    code, out = run(app, "alerts", "retry")
    assert code != 0
    assert "--all-dead" in out


def test_test_command_sends_marked_message(
    app: typer.Typer, env: Path, receiver: WebhookReceiver
) -> None:
    code, out = run(app, "alerts", "test", "good", "--config", str(env))
    assert code == 0, out
    assert "test message sent on 'good'" in out
    [req] = receiver.requests
    doc = json.loads(req.body)
    assert doc["kind"] == "test"
    assert doc["subject"].startswith("[TEST] ")
    assert "x-monitor-signature" in req.headers


def test_test_command_reports_failure_without_secrets(
    app: typer.Typer, env: Path, receiver: WebhookReceiver
) -> None:
    receiver.behaviour = Behaviour(always_status=401)
    code, out = run(app, "alerts", "test", "good", "--config", str(env))
    assert code == 1
    assert "PermanentDeliveryError" in out
    assert "HTTP 401" in out
    assert SIGNING_KEY not in out


def test_test_command_unknown_channel(app: typer.Typer, env: Path) -> None:
    code, out = run(app, "alerts", "test", "nope", "--config", str(env))
    assert code == 2
    assert "unknown channel 'nope' (known: broken, good)" in out
