"""Alert rendering: values in, subject/text/HTML/markdown/JSON out. No I/O besides template files.

Templates are Jinja2 files packaged in ``monitor/alerts/templates``; a file of the same name in
``DeliverySettings.templates_dir`` overrides the packaged one (see the templates' README there).
Each message is rendered from five templates, ``{kind}.subject.j2``, ``{kind}.txt.j2``,
``{kind}.html.j2`` and ``{kind}.md.j2`` for ``kind`` in ``alert``/``digest``/``notice`` (a source
health notice, :func:`render_notice`), plus the webhook JSON built in code
(:func:`monitor.alerts.channels.webhook.build_document`, ``build_notice_document``).

Everything in an alert comes from pages we do not control, so:

* HTML templates are autoescaped, and link targets pass :func:`safe_url` (http/https only);
* markdown output escapes markdown and HTML syntax in article text (:func:`escape_markdown`), and
  puts each value on one line so a hostile title cannot start a heading, list or link;
* the subject is one line without control characters (CR/LF, NUL, ESC... become spaces:
  no header injection, :func:`monitor.escaping.header_text`) and at most 200 characters.

With the web view's base URL and link secret set (:func:`monitor.action_links.link_maker`),
alert templates also call ``action_url(alert, "not-my-topic")`` and ``action_url(alert,
"not-new")``: signed one-click links to a confirmation page (``""`` otherwise, and for a test
message, whose alert is not stored).

A test message (``monitor alerts test``) renders a sample alert with ``test=True``; its subject is
prefixed ``[TEST]`` in code so an override cannot drop the marking.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2

from monitor.action_links import LinkMaker
from monitor.alerts.digest import Digest
from monitor.alerts.model import (
    MessageKind,
    RenderedMessage,
    SourceNotice,
    content_from_payload,
    payload_from_content,
)
from monitor.escaping import header_text
from monitor.models import AlertContent
from monitor.wording import counted

__all__ = [
    "RenderedMessage",
    "action_link",
    "content_from_payload",
    "escape_markdown",
    "one_line",
    "payload_from_content",
    "render_alert",
    "render_digest",
    "render_notice",
    "render_test",
    "safe_url",
    "story_link",
    "template_environment",
]

PRODUCT = "news-monitor"
SUBJECT_MAX = 200
TEST_PREFIX = "[TEST] "

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&])")
_WS = re.compile(r"\s+")


def one_line(value: object) -> str:
    """Collapse every run of whitespace (newlines included) to one space."""
    return _WS.sub(" ", str(value)).strip()


def escape_markdown(value: object) -> str:
    """Backslash-escape markdown and inline-HTML syntax; the result is one line."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(value))


def safe_url(value: object) -> str:
    """``value`` if it is an absolute http(s) URL, else ``""`` (no ``javascript:`` links)."""
    url = str(value).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return ""
    return url


def markdown_url(value: object) -> str:
    """A safe URL usable inside ``[text](url)``: parentheses, spaces and brackets encoded."""
    return quote(safe_url(value), safe=":/?#@!$&'*+,;=%~-._")


def _format_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime(fmt)


def story_link(base_url: str | None, story_id: int | None) -> str:
    """The web view's page of the story (``{base_url}/stories/{id}``), or ``""`` without a base
    URL (``MONITOR_WEB__BASE_URL``) or a story."""
    if not base_url or story_id is None:
        return ""
    return f"{base_url.rstrip('/')}/stories/{int(story_id)}"


def action_link(links: LinkMaker | None, alert: AlertContent, action: str) -> str:
    """The signed link doing ``action`` on the stored ``alert``, or ``""`` without ``links``
    (no base URL or no link secret) or for an alert that is not stored (a test message)."""
    if links is None or alert.alert_id <= 0:
        return ""
    if alert.story_id is None:
        return ""
    return links.url(action, alert.alert_id)


def template_environment(
    templates_dir: Path | None = None,
    *,
    web_base_url: str | None = None,
    links: LinkMaker | None = None,
) -> jinja2.Environment:
    """The Jinja2 environment: ``templates_dir`` first (user overrides), then packaged files.

    Templates call ``story_url(alert.story_id)``: the story's page in the web view when
    ``web_base_url`` is set, else ``""``; and ``action_url(alert, action)``: the alert's signed
    action link when ``links`` is given, else ``""``.
    """
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.PackageLoader("monitor.alerts", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = escape_markdown
    env.filters["oneline"] = one_line
    env.filters["safe_url"] = safe_url
    env.filters["md_url"] = markdown_url
    env.filters["dt"] = _format_dt
    env.filters["counted"] = counted  # {{ n | counted("failed poll") }}: "1 failed poll"
    env.globals["story_url"] = functools.partial(story_link, web_base_url)
    env.globals["action_url"] = functools.partial(action_link, links)
    return env


def _story_url(env: jinja2.Environment) -> Callable[[int | None], str]:
    link = env.globals.get("story_url")
    return link if callable(link) else functools.partial(story_link, None)


def _subject(raw: str, *, test: bool) -> str:
    # No control character (CR/LF, NUL, ESC...) survives into a subject: it becomes a mail
    # header, a chat title and a line in terminals.
    subject = header_text(raw)
    if test and not subject.startswith(TEST_PREFIX.strip()):
        subject = TEST_PREFIX + subject
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1].rstrip() + "…"
    return subject


def _render(
    env: jinja2.Environment, kind: str, context: dict[str, Any], *, test: bool
) -> tuple[str, str, str, str]:
    subject = _subject(env.get_template(f"{kind}.subject.j2").render(context), test=test)
    context = {**context, "subject": subject}
    text = env.get_template(f"{kind}.txt.j2").render(context)
    html = env.get_template(f"{kind}.html.j2").render(context)
    markdown = env.get_template(f"{kind}.md.j2").render(context)
    return subject, text, html, markdown


def _alert_context(alert: AlertContent) -> dict[str, Any]:
    """The alert and what its templates say of its source: who reported this development and
    when (the article's publication, else the alert's creation), and, when the story began
    earlier, since when the story has been followed and which other outlets carry it."""
    others = tuple(o for o in alert.outlets if o and o != alert.source)
    reported_at = alert.published_at or alert.created_at
    story_since = alert.first_reported_at if alert.story_id is not None else None
    if story_since is not None and story_since >= reported_at:
        story_since = None  # this article is the story's first report
    return {
        "alert": alert,
        "reported_at": reported_at,
        "story_since": story_since,
        "other_outlets": others,
        "product": PRODUCT,
    }


def render_alert(
    alert: AlertContent, env: jinja2.Environment, *, test: bool = False
) -> RenderedMessage:
    """One immediate alert."""
    from monitor.alerts.channels.webhook import build_document

    kind: MessageKind = "test" if test else "alert"
    context = {**_alert_context(alert), "test": test}
    subject, text, html, markdown = _render(env, "alert", context, test=test)
    data = build_document(
        kind,
        subject=subject,
        text=text,
        alerts=(alert,),
        at=alert.created_at,
        story_url=_story_url(env),
    )
    return RenderedMessage(kind, subject, text, html, markdown, data)


def render_digest(digest: Digest, env: jinja2.Environment) -> RenderedMessage:
    """A digest of several alerts, grouped by topic and story."""
    from monitor.alerts.channels.webhook import build_document

    context = {"digest": digest, "product": PRODUCT, "test": False}
    subject, text, html, markdown = _render(env, "digest", context, test=False)
    data = build_document(
        "digest",
        subject=subject,
        text=text,
        alerts=digest.alerts,
        at=digest.generated_at,
        story_url=_story_url(env),
    )
    return RenderedMessage("digest", subject, text, html, markdown, data)


def render_notice(notice: SourceNotice, env: jinja2.Environment) -> RenderedMessage:
    """A source health notice: ``[Source] <name> failing: <class> (<error>)``, ``... recovered
    after <n> failed polls``, ``... went quiet: nothing new since <date>``, ``... active
    again``."""
    from monitor.alerts.channels.webhook import build_notice_document

    context = {"notice": notice, "product": PRODUCT, "test": False}
    subject, text, html, markdown = _render(env, "notice", context, test=False)
    data = build_notice_document(notice, subject=subject, text=text)
    return RenderedMessage("source", subject, text, html, markdown, data)


def sample_alert(*, channel: str, now: datetime) -> AlertContent:
    """The made-up alert a test message shows."""
    return AlertContent(
        alert_id=0,
        idempotency_key=f"test:{channel}:{now.isoformat()}",
        topic="Test topic",
        story_id=None,
        story_headline="Test message from news-monitor",
        article_id=0,
        title=f"Test message for channel {channel}: delivery works",
        url="https://example.org/news-monitor-test",
        source="news-monitor",
        facts=("This is a test message. If you can read it, the channel is configured correctly.",),
        reason="sent by `monitor alerts test` to check the channel",
        first_reported_at=now,
        published_at=now,
        outlets=("news-monitor",),
        created_at=now,
    )


def render_test(channel: str, env: jinja2.Environment, *, now: datetime) -> RenderedMessage:
    """A clearly marked test message for ``channel``."""
    return render_alert(sample_alert(channel=channel, now=now), env, test=True)
