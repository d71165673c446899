"""Alert rendering: pure values in, text out."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest

from monitor.action_links import NOT_MY_TOPIC, NOT_NEW, link_maker, verify
from monitor.alerts.channels import redact
from monitor.alerts.channels.webhook import sign, verify_signature
from monitor.alerts.digest import assemble
from monitor.alerts.outbox import backoff_delay, jitter
from monitor.alerts.render import (
    content_from_payload,
    escape_markdown,
    payload_from_content,
    render_alert,
    render_digest,
    render_test,
    safe_url,
    template_environment,
)
from monitor.models import AlertContent

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

HOSTILE_TITLE = '<script>alert("t")</script> Talks [win](javascript:alert(1)) **bold**\n# H1'
HOSTILE_FACT = '<img src=x onerror="alert(1)"> delegates "agreed" & left'


def make_alert(**overrides: object) -> AlertContent:
    base = AlertContent(
        alert_id=12,
        idempotency_key="alert:istanbul:34",
        topic="Istanbul talks",
        story_id=5,
        story_headline="Peace talks in Istanbul",
        article_id=34,
        title="Ceasefire agreed in Istanbul",
        url="https://planet.example/ceasefire",
        source="Daily Planet",
        facts=("Both sides agreed to a 30-day ceasefire.", "Prisoner swaps begin Monday."),
        reason='matched "istanbul" AND talks in title and text',
        first_reported_at=NOW,
        published_at=NOW,
        outlets=("Daily Planet", "Evening Gazette", "Morning Post"),
        created_at=NOW,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    return template_environment()


def test_payload_round_trip() -> None:
    alert = make_alert(published_at=None)
    payload = payload_from_content(alert)
    assert json.loads(json.dumps(payload)) == payload  # JSON-safe
    assert payload["v"] == 1
    assert content_from_payload(payload) == alert
    assert content_from_payload(payload, alert_id=99).alert_id == 99


def test_subject_names_topic_and_development_on_one_line(env: jinja2.Environment) -> None:
    msg = render_alert(make_alert(title="Talks resume\r\nBcc: victim@example.org"), env)
    assert msg.subject == "[Istanbul talks] Talks resume Bcc: victim@example.org"
    assert "\n" not in msg.subject
    assert "\r" not in msg.subject


def test_long_subject_is_cut(env: jinja2.Environment) -> None:
    msg = render_alert(make_alert(title="word " * 100), env)
    assert len(msg.subject) == 200
    assert msg.subject.endswith("…")


def test_text_body_quotes_facts_names_sources_links_and_reason(env: jinja2.Environment) -> None:
    text = render_alert(make_alert(), env).text
    assert "  > Both sides agreed to a 30-day ceasefire." in text
    assert "  > Prisoner swaps begin Monday." in text
    assert "Reported by Daily Planet at 2026-11-23 09:30 UTC." in text
    assert "Also carried by: Evening Gazette, Morning Post." in text
    assert "Read it: https://planet.example/ceasefire" in text
    assert 'Why you got this: matched "istanbul" AND talks in title and text' in text
    assert "Story: Peace talks in Istanbul" in text


def test_follow_up_is_dated_by_its_own_report_not_by_the_story(env: jinja2.Environment) -> None:
    # A development reported three days after its story began: the reader is told when this
    # news was reported, and since when the story has been followed (not one date for both).
    story_began = NOW - timedelta(days=3)
    msg = render_alert(make_alert(first_reported_at=story_began), env)
    assert "Reported by Daily Planet at 2026-11-23 09:30 UTC." in msg.text
    assert (
        "Story followed since 2026-11-20 09:30 UTC; other outlets on it: "
        "Evening Gazette, Morning Post." in msg.text
    )
    assert "2026-11-20" not in msg.text.split("Story followed since")[0]
    assert "Reported by <strong>Daily Planet</strong> at 2026-11-23 09:30 UTC." in msg.html
    assert "Story followed since 2026-11-20 09:30 UTC" in msg.html
    assert "at 2026\\-11\\-23 09:30 UTC; story followed since 2026\\-11\\-20" in msg.markdown


def test_alert_without_publication_time_is_dated_by_its_creation(env: jinja2.Environment) -> None:
    msg = render_alert(
        make_alert(published_at=None, first_reported_at=NOW - timedelta(hours=5)), env
    )
    assert "Reported by Daily Planet at 2026-11-23 09:30 UTC." in msg.text
    assert "Story followed since 2026-11-23 04:30 UTC" in msg.text


def test_html_escapes_hostile_title_and_quote(env: jinja2.Environment) -> None:
    msg = render_alert(
        make_alert(title=HOSTILE_TITLE, facts=(HOSTILE_FACT,), url="javascript:alert(1)"), env
    )
    html = msg.html
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in html
    assert (
        "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; delegates &#34;agreed&#34; &amp; left" in html
    )
    assert "javascript:" not in html.replace("[win](javascript:alert(1))", "")
    assert 'href="javascript' not in html
    assert "Read the article" not in html  # no safe link, no button


def test_markdown_escapes_hostile_title_and_quote(env: jinja2.Environment) -> None:
    md = render_alert(make_alert(title=HOSTILE_TITLE, facts=(HOSTILE_FACT,)), env).markdown
    assert "<script>" not in md
    assert "[win](javascript" not in md
    assert r"\[win\]\(javascript:alert\(1\)\)" in md
    assert r"\*\*bold\*\*" in md
    assert "\n# H1" not in md  # a newline in the title cannot start a heading
    assert r"> \<img src=x onerror=" in md
    assert "[Read the article](https://planet.example/ceasefire)" in md


def test_markdown_link_target_cannot_break_out(env: jinja2.Environment) -> None:
    md = render_alert(
        make_alert(url="https://x.example/a) [evil](https://evil.example"), env
    ).markdown
    assert "(https://x.example/a%29%20%5Bevil%5D%28https://evil.example)" in md


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/x?y=1", "https://a.example/x?y=1"),
        ("HTTP://a.example", "HTTP://a.example"),
        ("javascript:alert(1)", ""),
        ("data:text/html,hi", ""),
        ("//a.example/x", ""),
        ("/relative", ""),
    ],
)
def test_safe_url(url: str, expected: str) -> None:
    assert safe_url(url) == expected


def test_escape_markdown() -> None:
    assert escape_markdown("a_b *c*\n> d") == r"a\_b \*c\* \> d"


def test_webhook_document_schema(env: jinja2.Environment) -> None:
    doc = render_alert(make_alert(), env).data
    assert set(doc) == {"schema", "version", "kind", "subject", "text", "generated_at", "alerts"}
    assert doc["version"] == 1
    [a] = doc["alerts"]
    assert a["story"] == {"id": 5, "headline": "Peace talks in Istanbul"}
    assert a["article"]["url"] == "https://planet.example/ceasefire"
    assert a["facts"] == list(make_alert().facts)
    assert a["created_at"] == "2026-11-23T09:30:00+00:00"


def test_test_message_is_marked(env: jinja2.Environment) -> None:
    msg = render_test("desk", env, now=NOW)
    assert msg.kind == "test"
    assert msg.subject.startswith("[TEST] ")
    assert "TEST MESSAGE" in msg.text
    assert "TEST MESSAGE" in msg.html
    assert "TEST MESSAGE" in msg.markdown
    assert msg.data["kind"] == "test"


def test_digest_rendering(env: jinja2.Environment) -> None:
    alerts = [
        make_alert(alert_id=1, title="Talks open"),
        make_alert(
            alert_id=2, topic="Energy", story_id=9, story_headline="Gas prices", title="Gas up"
        ),
        make_alert(alert_id=3, title="<b>Talks stall</b>"),
    ]
    msg = render_digest(assemble(alerts, now=NOW), env)
    assert msg.subject == "[Digest] 3 new developments: Energy, Istanbul talks"
    assert msg.text.index("== Energy (1) ==") < msg.text.index("== Istanbul talks (2) ==")
    assert "&lt;b&gt;Talks stall&lt;/b&gt;" in msg.html
    assert "<b>Talks stall" not in msg.html
    assert r"\<b\>Talks stall\</b\>" in msg.markdown
    assert [a["alert_id"] for a in msg.data["alerts"]] == [2, 1, 3]


def test_story_link_only_with_a_web_base_url(env: jinja2.Environment) -> None:
    linked = template_environment(web_base_url="https://monitor.example/")
    msg = render_alert(make_alert(), linked)
    page = "https://monitor.example/stories/5"
    assert f"Story timeline: {page}" in msg.text
    assert f'href="{page}"' in msg.html
    assert f"[Story timeline]({page})" in msg.markdown
    assert msg.data["alerts"][0]["story"] == {
        "id": 5,
        "headline": "Peace talks in Istanbul",
        "url": page,
    }
    digest = render_digest(assemble([make_alert()], now=NOW), linked)
    assert f"Timeline: {page}" in digest.text
    assert f'href="{page}"' in digest.html
    assert digest.data["alerts"][0]["story"]["url"] == page
    plain = render_alert(make_alert(), env)
    assert "/stories/" not in plain.text + plain.html + plain.markdown
    assert "url" not in plain.data["alerts"][0]["story"]
    storyless = render_alert(make_alert(story_id=None), linked)
    assert "/stories/" not in storyless.text + storyless.html


def test_action_links_only_with_a_base_url_and_a_link_secret(env: jinja2.Environment) -> None:
    secret = "a link secret of some length"
    maker = link_maker("https://monitor.example", secret, 14, lambda: NOW)
    linked = template_environment(web_base_url="https://monitor.example", links=maker)
    msg = render_alert(make_alert(), linked)
    found = {}
    for body in (msg.text, msg.html, msg.markdown):
        tokens = re.findall(r"https://monitor\.example/act/([A-Za-z0-9_\-.]+)", body)
        claims = {verify(t, secret, now=NOW).action: t for t in tokens}
        assert set(claims) == {NOT_MY_TOPIC, NOT_NEW}, body
        found.update(claims)
    assert {verify(t, secret, now=NOW).alert_id for t in found.values()} == {12}
    assert "Not my topic" in msg.text
    assert "Not new" in msg.html
    for without in (
        env,
        template_environment(web_base_url="https://monitor.example"),
        template_environment(links=None),
    ):
        plain = render_alert(make_alert(), without)
        assert "/act/" not in plain.text + plain.html + plain.markdown
        assert "Not my topic" not in plain.text + plain.html + plain.markdown
    digest = render_digest(assemble([make_alert(), make_alert(alert_id=13)], now=NOW), linked)
    for body in (digest.text, digest.html):
        tokens = re.findall(r"https://monitor\.example/act/([A-Za-z0-9_\-.]+)", body)
        claims = {
            (verify(t, secret, now=NOW).action, verify(t, secret, now=NOW).alert_id) for t in tokens
        }
        assert claims == {(a, i) for a in (NOT_MY_TOPIC, NOT_NEW) for i in (12, 13)}, body
    plain_digest = render_digest(assemble([make_alert()], now=NOW), env)
    assert "/act/" not in plain_digest.text + plain_digest.html
    test_message = render_test("mail", linked, now=NOW)  # not a stored alert
    assert "/act/" not in test_message.text + test_message.html


def test_templates_dir_overrides_one_file(tmp_path: Path) -> None:
    (tmp_path / "alert.subject.j2").write_text("ALERT {{ alert.topic | upper }}: {{ alert.title }}")
    env = template_environment(tmp_path)
    msg = render_alert(make_alert(), env)
    assert msg.subject == "ALERT ISTANBUL TALKS: Ceasefire agreed in Istanbul"
    assert "Reported by Daily Planet" in msg.text  # the packaged body is still used
    assert render_test("desk", env, now=NOW).subject.startswith("[TEST] ALERT")


def test_override_keeps_html_autoescape(tmp_path: Path) -> None:
    (tmp_path / "alert.html.j2").write_text("<p>{{ alert.title }}</p>")
    msg = render_alert(make_alert(title="<i>x</i>"), template_environment(tmp_path))
    assert msg.html == "<p>&lt;i&gt;x&lt;/i&gt;</p>"


def test_signature_covers_timestamp_and_body() -> None:
    body = b'{"a":1}'
    sig = sign("k3y", 1_700_000_000, body)
    now = datetime.fromtimestamp(1_700_000_100, tz=UTC)
    assert verify_signature("k3y", body=body, timestamp="1700000000", signature=sig, now=now)
    assert not verify_signature(
        "k3y", body=b'{"a":2}', timestamp="1700000000", signature=sig, now=now
    )
    assert not verify_signature("k3y", body=body, timestamp="1700000001", signature=sig, now=now)
    assert not verify_signature("other", body=body, timestamp="1700000000", signature=sig, now=now)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    delays = [
        backoff_delay(n, base_s=60, max_s=600, factor=1.0).total_seconds()
        for n in (1, 2, 3, 4, 5, 6)
    ]
    assert delays == [60, 120, 240, 480, 600, 600]
    factors = {jitter(d, a) for d in range(20) for a in range(1, 4)}
    assert all(0.5 <= f < 1.0 for f in factors)
    assert len(factors) > 50  # spread, not a constant
    assert jitter(7, 2) == jitter(7, 2)


def test_redact_replaces_secrets() -> None:
    assert redact("login failed for pw=hunter22 at host", ["hunter22"]) == (
        "login failed for pw=[redacted] at host"
    )
    assert redact("abc", ["ab"]) == "abc"  # too short to redact safely
