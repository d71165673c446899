"""The Prefect events of source health changes (flows/events.py): one name per status, and a
payload the automations in deploy/automations.yaml can use."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml
from flows.events import event_of

from monitor.pipeline.sources import SourceHealthChange

AUTOMATIONS = Path(__file__).resolve().parents[2] / "deploy" / "automations.yaml"

T0 = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)


def _change(status: str, **extra: object) -> SourceHealthChange:
    fields: dict[str, object] = {
        "source": "desk",
        "url": "https://user:secret@desk.test/rss",
        "status": status,
        "failures": 0,
        "error_type": None,
        "error": None,
        "last_success_at": T0,
    }
    return SourceHealthChange(**(fields | extra))  # type: ignore[arg-type]


def test_a_quiet_source_is_an_event_with_its_last_entry_and_rhythm() -> None:
    event = event_of(_change("quiet", last_new_entry_at=T0, new_per_day=4.0))
    assert event["event"] == "monitor.source.quiet"
    assert event["resource"]["prefect.resource.id"] == "monitor.source.desk"
    assert "secret" not in event["resource"]["monitor.source.url"]
    assert event["payload"]["last_new_entry_at"] == "2031-05-06T08:00:00+00:00"
    assert event["payload"]["new_per_day"] == 4.0
    assert event_of(_change("active"))["event"] == "monitor.source.active"


def test_a_failing_event_says_the_class_of_its_failure() -> None:
    event = event_of(
        _change("failing", failures=4, error_type="PermanentFetchError", failure_class="hard")
    )
    assert event["event"] == "monitor.source.failing"
    assert event["payload"]["failure_class"] == "hard"


def test_every_health_event_has_an_automation() -> None:
    automations = yaml.safe_load(AUTOMATIONS.read_text(encoding="utf-8"))["automations"]
    expected = {e for a in automations for e in a["trigger"]["expect"]}
    assert expected == {
        "monitor.source.failing",
        "monitor.source.recovered",
        "monitor.source.quiet",
        "monitor.source.active",
    }
