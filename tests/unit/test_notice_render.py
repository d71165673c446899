"""Source health notices rendered: subjects per kind, untrusted error text kept as data."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.alerts.model import SourceNotice, notice_from_payload, notice_payload
from monitor.alerts.render import render_notice, template_environment

NOW = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> @everyone **x**\r\nBcc: a@b.example"


def _notice(kind: str, **fields: object) -> SourceNotice:
    base: dict[str, object] = {
        "source": "Harbour Post",
        "url": "https://harbour.example/rss",
        "kind": kind,
        "summary": f"source Harbour Post {kind}",
        "episode": 3,
        "created_at": NOW,
    }
    return SourceNotice(**{**base, **fields})  # type: ignore[arg-type]


def test_subjects_say_the_source_and_what_changed() -> None:
    env = template_environment()
    cases = {
        "failing": _notice(
            "failing", failures=4, failure_class="hard", error_type="PermanentFetchError"
        ),
        "recovered": _notice("recovered", failures=7),
        "quiet": _notice("quiet", last_new_entry_at=datetime(2031, 5, 1, 9, 0, tzinfo=UTC)),
        "active": _notice("active"),
    }
    subjects = {kind: render_notice(n, env).subject for kind, n in cases.items()}
    assert subjects == {
        "failing": "[Source] Harbour Post failing: hard (PermanentFetchError)",
        "recovered": "[Source] Harbour Post recovered after 7 failed polls",
        "quiet": "[Source] Harbour Post went quiet: nothing new since 2031-05-01",
        "active": "[Source] Harbour Post active again",
    }
    document = render_notice(cases["quiet"], env).data
    assert (document["type"], document["source"]["episode"]) == ("source.quiet", 3)
    assert document["source"]["last_new_entry_at"] == "2031-05-01T09:00:00+00:00"


def test_error_text_from_a_server_is_escaped_and_one_line() -> None:
    notice = _notice("failing", failure_class="soft", error_type="ParseError", error=HOSTILE)
    message = render_notice(notice, template_environment())
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "\n" not in message.subject
    assert "\r" not in message.subject
    assert "Bcc: a@b.example" not in message.text.splitlines()  # never a line of its own
    assert "\\*\\*x\\*\\*" in message.markdown
    assert message.data["source"]["error"] == HOSTILE  # data, for the receiver to escape


def test_the_stored_payload_gives_the_notice_back() -> None:
    notice = _notice(
        "failing",
        failures=4,
        failure_class="temporary",
        error_type="TransientFetchError",
        error="HTTP 503",
        last_success_at=datetime(2031, 5, 6, 7, 0, tzinfo=UTC),
        new_per_day=2.5,
    )
    back = notice_from_payload(
        notice_payload(notice), source="Harbour Post", kind="failing", episode=3, created_at=NOW
    )
    assert back == notice


def test_a_source_back_after_one_failed_poll_is_counted_in_the_singular() -> None:
    # MONITOR_SOURCE_FAILING_AFTER=1 reports the first failure, and its recovery after one.
    rendered = render_notice(_notice("recovered", failures=1), template_environment(None))
    assert rendered.subject == "[Source] Harbour Post recovered after 1 failed poll"
    assert "It answered again after 1 failed poll." in rendered.text
