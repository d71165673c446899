"""Alerts' signed one-click action links over HTTP (a real uvicorn on loopback), on SQLite and
PostgreSQL: a GET shows a confirmation and changes nothing (link scanners pre-fetch URLs); the
page's POST applies the action once, a second POST is a replay that changes nothing; expired,
tampered and forged links are refused and change nothing; the links need no access token; an
email delivered to a real SMTP server carries the two links only with a base URL and a link
secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from monitor.action_links import NOT_MY_TOPIC, NOT_NEW, sign, verify
from monitor.alerts.outbox import deliver_due, enqueue
from monitor.config import Settings, get_settings, parse_config
from monitor.storage.db import session_factory
from monitor.storage.tables import AlertRow, DeliveryRow, FeedbackRow, StoryRow, UsedLinkRow
from monitor.web import create_app
from tests.integration.test_delivery_email import mail_settings, smtp_server
from tests.integration.web_seed import T0, seed
from tests.support.smtp import RecordingHandler
from tests.support.web import serve

__all__ = ["smtp_server"]  # the fixture, shared with the email delivery tests

NOW = T0 + timedelta(days=3)
TOPIC = "Tarrow ferry"
SECRET = "a-long-enough-link-secret-0123456789"
ACCESS = "an-access-token-for-the-pages"
BASE = "https://monitor.example"
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')
ACT = re.compile(r"https://monitor\.example/act/([A-Za-z0-9_\-.]+)")


@dataclass(frozen=True)
class Site:
    base: str
    engine: Engine

    def session(self) -> Session:
        return session_factory(self.engine)()


def _web_settings(db_url: str, **web: object) -> Settings:
    return get_settings(_env_file=None, database_url=db_url, web={"user": "ana", **web})


@pytest.fixture
def site(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Site]:
    config, _path = seed(engine, tmp_path)
    settings = _web_settings(db_url, token=ACCESS, link_secret=SECRET, base_url=BASE)
    app = create_app(settings, config, clock=lambda: NOW)
    with serve(app) as base:
        yield Site(base, engine)


def _ferry_alert(engine: Engine) -> AlertRow:
    with session_factory(engine)() as s:
        alert = s.scalars(
            select(AlertRow)
            .where(
                AlertRow.topic == TOPIC,
                AlertRow.story_id.is_not(None),
                AlertRow.development_id.is_not(None),
            )
            .order_by(AlertRow.id)
            .limit(1)
        ).one()
        s.expunge(alert)
        return alert


def _state(site: Site) -> tuple[list[tuple[str, str | None, int, int | None]], int]:
    """The feedback rows and the number of used links."""
    with site.session() as s:
        rows = s.scalars(select(FeedbackRow).order_by(FeedbackRow.id)).all()
        used = s.scalar(select(func.count()).select_from(UsedLinkRow)) or 0
        return [(r.kind, r.topic, r.story_id, r.development_id) for r in rows], int(used)


def _confirm(client: httpx.Client, token: str) -> str:
    """The confirmation page's CSRF field (the client now holds the cookie)."""
    page = client.get(f"/act/{token}")
    assert page.status_code == 200, page.text
    [csrf] = CSRF_INPUT.findall(page.text)
    assert f'<input type="hidden" name="token" value="{token}">' in page.text
    return csrf


def test_get_confirms_and_post_applies_once(site: Site) -> None:
    alert = _ferry_alert(site.engine)
    with site.session() as s:
        story = s.get(StoryRow, alert.story_id)
        assert story is not None
        headline = story.headline
    token = sign(SECRET, NOT_MY_TOPIC, alert.id, NOW + timedelta(days=14))
    client = httpx.Client(base_url=site.base, timeout=10)  # no access token: the link suffices

    for _ in range(3):  # a link scanner fetching it, then the reader
        page = client.get(f"/act/{token}")
        assert page.status_code == 200
        assert "Not my topic?" in page.text
        assert f"<bdi>{TOPIC}</bdi>" in page.text
        assert f"<bdi>{headline}</bdi>" in page.text
        assert 'method="post"' in page.text
    assert httpx.head(f"{site.base}/act/{token}", timeout=10).status_code in {200, 405}
    assert _state(site) == ([], 0)

    csrf = _confirm(client, token)
    assert client.post(f"/act/{token}", data={"token": token}).status_code == 403  # no CSRF
    assert _state(site) == ([], 0)
    done = client.post(f"/act/{token}", data={"token": token, "csrf": csrf})
    assert done.status_code == 200
    assert "Done." in done.text
    expected = ([("not_my_topic", TOPIC, alert.story_id, None)], 1)
    assert _state(site) == expected

    again = client.post(f"/act/{token}", data={"token": token, "csrf": csrf})
    assert again.status_code == 200
    assert "Already done by ana at 2025-03-07 08:00 UTC" in again.text
    assert "nothing changed" in again.text
    assert _state(site) == expected
    # another link for the same action on the alert (e.g. from a re-sent message) is a replay too
    other = sign(SECRET, NOT_MY_TOPIC, alert.id, NOW + timedelta(days=13))
    assert "Already done" in client.post(f"/act/{other}", data={"token": other, "csrf": csrf}).text
    shown = client.get(f"/act/{token}").text
    assert "Already done" in shown
    assert 'method="post"' not in shown
    assert _state(site) == expected


def test_not_new_link_marks_the_development(site: Site) -> None:
    alert = _ferry_alert(site.engine)
    token = sign(SECRET, NOT_NEW, alert.id, NOW + timedelta(days=1))
    client = httpx.Client(base_url=site.base, timeout=10)
    csrf = _confirm(client, token)
    assert _state(site) == ([], 0)
    assert client.post(f"/act/{token}", data={"token": token, "csrf": csrf}).status_code == 200
    assert _state(site) == ([("not_new", None, alert.story_id, alert.development_id)], 1)
    with site.session() as s:
        story = s.get(StoryRow, alert.story_id)
        assert story is not None
        assert "known" in story.memory
    assert "Already done" in client.post(f"/act/{token}", data={"token": token, "csrf": csrf}).text
    assert _state(site)[1] == 1


def test_expired_tampered_and_forged_links_change_nothing(site: Site) -> None:
    alert = _ferry_alert(site.engine)
    client = httpx.Client(base_url=site.base, timeout=10)
    good = sign(SECRET, NOT_MY_TOPIC, alert.id, NOW + timedelta(days=1))
    csrf = _confirm(client, good)  # a valid CSRF pair, so only the token decides
    payload, _, mac = good.partition(".")
    cases = {
        sign(SECRET, NOT_MY_TOPIC, alert.id, NOW - timedelta(seconds=1)): (403, "expired"),
        f"{payload}.{mac[:5]}{'A' if mac[5] != 'A' else 'B'}{mac[6:]}": (403, "altered"),
        sign("another-secret-entirely-0123", NOT_MY_TOPIC, alert.id, NOW + timedelta(days=1)): (
            403,
            "altered",
        ),
        "not-a-token": (400, "not a valid action link"),
    }
    for token, (status, says) in cases.items():
        shown = client.get(f"/act/{token}")
        assert (shown.status_code, says in shown.text) == (status, True), token
        posted = client.post(f"/act/{token}", data={"token": token, "csrf": csrf})
        assert posted.status_code == status, token
    # a valid link's form posted to another link's address
    wrong = client.post(f"/act/{good}", data={"token": "x" + good, "csrf": csrf})
    assert wrong.status_code == 400
    assert _state(site) == ([], 0)


def test_links_are_off_without_a_secret(db_url: str, engine: Engine, tmp_path: Path) -> None:
    config, _path = seed(engine, tmp_path)
    alert = _ferry_alert(engine)
    app = create_app(_web_settings(db_url, base_url=BASE), config, clock=lambda: NOW)
    token = sign(SECRET, NOT_MY_TOPIC, alert.id, NOW + timedelta(days=1))
    with serve(app) as base:
        assert httpx.get(f"{base}/act/{token}", timeout=10).status_code == 404


async def test_email_carries_the_links_only_with_base_url_and_secret(
    db_url: str,
    engine: Engine,
    tmp_path: Path,
    smtp_server: tuple[RecordingHandler, Controller],
    settings: Settings,
) -> None:
    handler, controller = smtp_server
    seed(engine, tmp_path)
    alert = _ferry_alert(engine)
    config = parse_config(
        {
            "topics": [{"name": TOPIC, "query": "tarrow AND ferry"}],
            "channels": [{"type": "email", "name": "desk", "to": ["desk@example.org"]}],
        }
    )
    sessions = session_factory(engine)
    mail = mail_settings(settings, controller)
    bodies: list[str] = []
    for web in ({"base_url": BASE, "link_secret": SECRET}, {"base_url": BASE}, {}):
        with sessions.begin() as s:
            s.execute(delete(DeliveryRow))
            row = s.get(AlertRow, alert.id)
            assert row is not None
            enqueue(s, row, config.channels, config.topics[0].delivery, now=NOW)
        web_settings = mail.model_copy(update={"web": _web_settings(db_url, **web).web})
        assert (await deliver_due(sessions, config, web_settings, now=NOW)).sent == 1
        message = handler.received[-1].message
        text, html = message.get_body(("plain",)), message.get_body(("html",))
        assert text is not None
        assert html is not None
        bodies.append(text.get_content() + html.get_content())

    linked, story_only, plain = bodies
    claims = {verify(t, SECRET, now=NOW).action for t in ACT.findall(linked)}
    assert claims == {NOT_MY_TOPIC, NOT_NEW}
    assert {verify(t, SECRET, now=NOW).alert_id for t in ACT.findall(linked)} == {alert.id}
    expiry = {verify(t, SECRET, now=NOW).expires_at for t in ACT.findall(linked)}
    assert expiry == {NOW + timedelta(days=14)}
    assert "Not my topic" in linked
    assert "Not new" in linked
    for body in (story_only, plain):
        assert "/act/" not in body
        assert "Not my topic" not in body
    assert f"{BASE}/stories/{alert.story_id}" in story_only
