"""Stored text from hostile feeds, shown where it goes: the real command line (terminal escapes
shown, not acted on), a real SMTP sink (no control character in the Subject), and chat services
(mentions neutralised) reached through a local endpoint posing as each service."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.alert_settings import DeliverySettings
from monitor.alerts.outbox import deliver_due, enqueue
from monitor.cli import app
from monitor.config import MonitorConfig, Settings, SmtpSettings, parse_config
from monitor.detection_settings import DetectionSettings
from monitor.inbound import clean_text
from monitor.models import SourceError, SourceErrorKind
from monitor.pipeline.detect import detect
from monitor.pipeline.report import CycleReport, save_report, to_text
from monitor.storage.db import session_factory
from monitor.storage.tables import SourceRow
from tests.support.alerts import add_alert
from tests.support.articles import article
from tests.support.chat_proxy import ChatServiceProxy
from tests.support.smtp import RecordingHandler, start_smtp
from tests.support.webhook import WebhookReceiver

T0 = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
# A window title, a clipboard write (OSC 52), clear screen, an 8-bit CSI, a right-to-left
# override and a BEL, and mentions for every chat service. (A NUL is added where the database
# can store one: PostgreSQL text cannot hold it.)
HOSTILE = (
    "Port strike ends\x1b]0;owned\x07 \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m"
    "\u202edetacilpmoc @everyone @here <!channel> <!here> <@U024BE7LH> <@&4242>"
)
# What a terminal would act on.
ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TEXT = (
    "Dockworkers in Marrowick voted on Friday to end the 12-day strike, the union said. "
    "Work resumes at 6 a.m. on Monday 17 March under a deal raising pay by 7 per cent."
)


def _with_nul(text: str, db_url: str) -> str:
    return text + "\x00" if db_url.startswith("sqlite") else text


@pytest.fixture
def seeded(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add(
            SourceRow(
                name="ledger\x1b]0;src\x07",
                url="https://ledger.example/rss",
                consecutive_failures=2,
                articles_seen=0,
                last_error="bad feed \x1b]52;c;ZXZpbA==\x07\x1b[2J",
                last_error_type="ParseError",
            )
        )
    config = parse_config({"topics": [{"name": "strike", "query": "strike"}]})
    detect(
        sessions,
        [article("ledger", "https://ledger.example/1", _with_nul(HOSTILE, db_url), TEXT, T0)],
        {},
        config,
        DetectionSettings(),
        now=T0,
    )
    with sessions.begin() as s:
        report = CycleReport(
            T0, T0 + timedelta(seconds=3), 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0
        )
        save_report(s, report)
    return 1


@pytest.mark.parametrize(
    "args",
    [
        ["articles"],
        ["articles", "--json"],
        ["stories"],
        ["stories", "--json"],
        ["alerts"],
        ["alerts", "--json"],
        ["sources"],
        ["sources", "--json"],
        ["explain", "1"],
    ],
)
def test_cli_shows_control_characters_instead_of_printing_them(
    seeded: int, args: list[str]
) -> None:
    # color=True: output as on a terminal (click strips nothing).
    result = CliRunner().invoke(app, args, color=True)

    assert result.exit_code == 0, result.output
    assert not ACTIVE.findall(result.output), ACTIVE.findall(result.output)
    if "--json" in args:
        json.loads(result.output)  # still valid JSON, the same strings
        if args[0] != "sources":
            assert "owned\\u0007" in result.output
    elif args[0] == "sources":
        assert "ledger\u241b]0;src\u2407" in result.output
        assert "\u241b]52;c;ZXZpbA==\u2407\u241b[2J" in result.output
    else:
        assert "Port strike ends\u241b]0;owned\u2407" in result.output  # visible, inert


def test_run_output_shows_control_characters_instead_of_printing_them() -> None:
    """``monitor run`` prints :func:`to_text` of the cycle's report (and logs it)."""
    report = CycleReport(
        T0, T0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        errors=(
            SourceError(
                "ledger\x1b]0;x\x07", "https://ledger.example/", SourceErrorKind.FETCH,
                "ParseError", "not a feed: \x1b[2J\x9b1m",
            ),
        ),
        lines=(f"[ledger] {HOSTILE}: new story #1",),
        source_health=("ledger\x1b]52;c;eA==\x07 is failing",),
    )  # fmt: skip
    text = to_text(report.as_dict())
    assert not ACTIVE.findall(text)
    assert "\u241b]0;owned\u2407" in text
    # The name comes from the config and is shown visibly; the message came from the network
    # and SourceError already dropped its control characters.
    assert "ledger\u241b]0;x\u2407: fetch ParseError: not a feed: [2J1m" in text


# ------------------------------------------------------------------------------ e-mail subject


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, Controller]]:
    handler = RecordingHandler()
    controller = start_smtp(handler)
    yield handler, controller
    controller.stop()


def _deliver_settings(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(
        update={"delivery": DeliverySettings(max_attempts=2, backoff_base_s=60), **update}
    )


def _enqueue(sessions: sessionmaker[Session], config: MonitorConfig, title: str) -> None:
    topic = config.topics[0]
    with sessions.begin() as session:
        alert = add_alert(session, topic=topic.name, title=title, now=T0, facts=(TEXT,))
        enqueue(session, alert, config.channels_for(topic), topic.delivery, now=T0)


@pytest.mark.parametrize(
    "title",
    [
        HOSTILE,
        "Strike ends\r\nBcc: everyone@example.org",
        "Strike ends\x00\x00 with a NUL",
        "Strike\u2028ends\u2029here\x85and\x0bthere",
    ],
)
async def test_email_subject_has_no_control_characters(
    title: str,
    db_url: str,
    sessions: sessionmaker[Session],
    smtp: tuple[RecordingHandler, Controller],
    settings: Settings,
) -> None:
    if not db_url.startswith("sqlite"):
        # PostgreSQL text cannot hold a NUL: titles reach it as the inbound boundary stores them.
        title = clean_text(title)
    handler, controller = smtp
    config = parse_config(
        {
            "topics": [{"name": "strike", "query": "strike"}],
            "channels": [{"type": "email", "name": "desk", "to": ["desk@example.org"]}],
        }
    )
    _enqueue(sessions, config, title)
    smtp_settings = SmtpSettings(
        host="127.0.0.1", port=controller.port, security="none", sender="m@news.example"
    )
    report = await deliver_due(
        sessions, config, _deliver_settings(settings, smtp=smtp_settings), now=T0
    )

    assert report.sent == 1, report.errors
    [mail] = handler.received
    head = mail.content.split(b"\r\n\r\n", 1)[0]
    assert b"\x00" not in head
    assert b"\x1b" not in head
    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)
    subject = str(mail.message["Subject"])
    assert not ACTIVE.findall(subject)
    assert "\n" not in subject
    assert "\u2028" not in subject
    assert subject.startswith("[strike] ")
    assert "trike ends" in subject  # the title, its control characters made spaces
    assert mail.rcpt_tos == ["desk@example.org"]


# ------------------------------------------------------------------------------------- chat


SERVICES = ("discord.com", "hooks.slack.com")
DISCORD_MENTION = re.compile(r"@(?:everyone|here)\b|<@[!&]?\d+>")
MENTION = re.compile(r"<[!@]&?(?:channel|here|everyone|U024BE7LH|4242)>|@(?:everyone|here)\b")


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ChatServiceProxy]:
    ca_file = tmp_path / "ca.pem"
    proxy = ChatServiceProxy(SERVICES).start(ca_file)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("https_proxy", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    yield proxy
    proxy.stop()


async def _send_apprise(
    sessions: sessionmaker[Session], settings: Settings, url: str
) -> tuple[int, object]:
    config = parse_config(
        {
            "topics": [{"name": "strike", "query": "strike"}],
            "channels": [{"type": "apprise", "name": "chat", "url_secret": "chat"}],
        }
    )
    _enqueue(sessions, config, HOSTILE)
    s = _deliver_settings(settings, secrets={"chat": SecretStr(url)})
    report = await deliver_due(sessions, config, s, now=T0)
    return report.sent, report.errors


async def test_discord_gets_no_mention_apprise_would_ping(
    sessions: sessionmaker[Session], settings: Settings, chat: ChatServiceProxy
) -> None:
    sent, errors = await _send_apprise(
        sessions, settings, "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"
    )

    assert sent == 1, errors
    [request] = chat.requests
    assert request.host == "discord.com"
    payload = json.loads(request.body)
    # apprise turns every @name it finds into a ping listed in allow_mentions, with a
    # "👉 @everyone" content line: none of that may come from an article.
    assert "allow_mentions" not in payload
    assert "allowed_mentions" not in payload
    texts = [payload.get("content", "")]
    for embed in payload.get("embeds", []):
        texts += [embed.get("title", ""), embed.get("description", "")]
    blob = "\n".join(texts)
    assert "Port strike ends" in blob
    assert not DISCORD_MENTION.search(blob), blob
    assert "@\u200beveryone" in blob  # still reads the same


async def test_slack_gets_no_channel_or_user_mention(
    sessions: sessionmaker[Session], settings: Settings, chat: ChatServiceProxy
) -> None:
    sent, errors = await _send_apprise(
        sessions, settings, "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#news"
    )

    assert sent == 1, errors
    [request] = chat.requests
    assert request.host == "hooks.slack.com"
    payload = json.loads(request.body)
    texts = [payload.get("text", "")]
    texts += [a.get("title", "") for a in payload.get("attachments", [])]
    texts += [a.get("text", "") for a in payload.get("attachments", [])]
    blob = "\n".join(texts)
    assert "strike" in blob.lower()
    assert not MENTION.search(blob), blob
    assert not re.search(r"<[!@][A-Za-z0-9]", blob), blob  # nothing Slack reads as a mention


async def test_mattermost_gets_no_channel_mention(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    receiver = WebhookReceiver().start()
    try:
        sent, errors = await _send_apprise(
            sessions, settings, f"mmost://127.0.0.1:{receiver.port}/m7yqcbkz3fbdtxfwzqxfzbtzah"
        )
    finally:
        receiver.stop()

    assert sent == 1, errors
    [request] = receiver.requests
    assert request.path.endswith("/hooks/m7yqcbkz3fbdtxfwzqxfzbtzah")
    payload = json.loads(request.body)
    assert "strike" in payload["text"].lower()
    assert not MENTION.search(payload["text"]), payload["text"]
    assert not re.search(r"@(?:channel|all|here)\b", payload["text"])


async def test_the_generic_json_scheme_gets_the_text_unchanged(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """json:// is data for a receiver, like the native webhook: nothing is altered."""
    receiver = WebhookReceiver().start()
    try:
        sent, errors = await _send_apprise(
            sessions, settings, f"json://127.0.0.1:{receiver.port}/hook"
        )
    finally:
        receiver.stop()

    assert sent == 1, errors
    payload = json.loads(receiver.requests[0].body)
    assert "@everyone" in payload["message"]
