"""Chat and push services through apprise: Slack, Discord, Microsoft Teams, Telegram, ntfy and the
many others apprise knows (https://github.com/caronc/apprise/wiki). The only per-service code here
neutralises mentions.

The apprise URL carries the service's tokens, so it is a secret: the config names an entry of
``settings.secrets`` and the URL itself never appears in errors, logs or CLI output (only its
scheme does). The message goes out as markdown with the one-line subject as title.

For apprise's generic ``json://``, ``form://`` and ``xml://`` schemes (and their ``s`` variants)
the delivery's idempotency key is added as an ``X-Monitor-Idempotency-Key`` request header, so a
receiver can dedupe a message re-sent after a crash as it can with the native webhook.

Mentions are neutralised per service before apprise sees the message (:func:`neutralise`): a
title quoting ``@everyone`` or ``<!channel>`` must not page a whole team. apprise itself turns
``@name`` / ``<@id>`` in a Discord message into pings (and lists them in Discord's allowed
mentions), and turns ``<!channel>`` / ``<@U..>`` back into Slack mentions after escaping ``<``,
so escaping alone is not enough: a zero-width space (U+200B) after each mention sign makes the
text show the same and match no mention syntax. The generic ``json``/``form``/``xml`` schemes get
the text unchanged (receivers treat it as data, like the webhook's).

apprise reports only success or failure, not why; a failure is treated as transient and retried
with back-off until the delivery's attempts run out. A URL apprise does not understand is a
permanent error. apprise bounds each socket read, not the exchange, so a service answering a byte
at a time would hold the send for as long as it drips: the send runs in a thread of its own and
is given up after the delivery timeout (``MONITOR_DELIVERY__WEBHOOK_TIMEOUT_S``), a transient
failure; the abandoned thread is a daemon and ends with the connection or the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

import apprise
from pydantic import SecretStr

from monitor.alert_settings import AppriseChannel
from monitor.alerts.model import OutgoingMessage
from monitor.config import Settings
from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.targets import check_host, is_public_address

HEADER_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})

# Shown as nothing, and not part of any service's mention syntax.
ZERO_WIDTH_SPACE = "\u200b"
# A mention sign followed by something it could mention (not by a space or the end).
_AT = re.compile(r"@(?=\S)")
_AT_OR_BANG = re.compile(r"([@!])(?=\S)")


def _break(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(lambda m: m.group() + ZERO_WIDTH_SPACE, text)


def for_discord(text: str) -> str:
    """``@everyone``, ``@here``, ``<@123>`` (user) and ``<@&456>`` (role) made inert: apprise
    would otherwise ping every one of them it finds in the message."""
    return _break(_AT, text)


def for_slack(text: str) -> str:
    """``<!channel>``, ``<!here>``, ``<!everyone>``, ``<!subteam^ID>``, ``<@U123>`` and plain
    ``@channel`` made inert. apprise escapes ``&``, ``<`` and ``>`` itself and then restores
    anything shaped like ``!word>`` or ``@word>`` (with or without the ``<``) as a mention, so
    the signs themselves are broken; pre-escaping would show ``&amp;lt;`` literally."""
    return _break(_AT_OR_BANG, text)


def for_mattermost(text: str) -> str:
    """``@channel``, ``@all``, ``@here``, ``@user``, and the Slack forms (``<!channel>``...)
    Mattermost's incoming webhooks accept for compatibility, made inert."""
    return _break(_AT_OR_BANG, text)


def for_teams(text: str) -> str:
    """``@name`` made inert; ``<at>`` tags are already escaped as markdown (``\\<at\\>``)."""
    return _break(_AT, text)


def for_telegram(text: str) -> str:
    """``@username`` (which notifies that member of a group) made inert."""
    return _break(_AT, text)


def for_other_service(text: str) -> str:
    """Services without their own function: ``@name`` mentions (Rocket.Chat's ``@all``,
    Zulip's ``@**all**``, Google Chat's ``@all``...) made inert."""
    return _break(_AT, text)


def for_data(text: str) -> str:
    """The generic json/form/xml schemes: data for a receiver, sent unchanged."""
    return text


_NEUTRALISERS: dict[str, Callable[[str], str]] = {
    "discord": for_discord,
    "slack": for_slack,
    "mmost": for_mattermost,
    "mmosts": for_mattermost,
    "msteams": for_teams,
    "workflow": for_teams,  # Power Automate workflows posting to Teams
    "workflows": for_teams,
    "tgram": for_telegram,
    **dict.fromkeys(HEADER_SCHEMES, for_data),
}


def service_schemes(service: object) -> frozenset[str]:
    """Every scheme of an apprise service (a plugin instance): ``discord`` for a URL written
    ``https://discord.com/api/webhooks/...`` too."""
    names: set[str] = set()
    for attribute in ("protocol", "secure_protocol"):
        value = getattr(service, attribute, None)
        if isinstance(value, str):
            names.add(value.lower())
        elif isinstance(value, tuple | list):
            names.update(str(v).lower() for v in value)
    return frozenset(names)


def neutraliser(schemes: Iterable[str]) -> Callable[[str], str]:
    """The mention-neutralising function for a service known by its ``schemes``."""
    for scheme in sorted(schemes):
        if scheme in _NEUTRALISERS:
            return _NEUTRALISERS[scheme]
    return for_other_service


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else "?"


def with_idempotency_header(url: str, key: str) -> str:
    """``url`` plus the idempotency header, for the generic schemes that take custom headers."""
    if _scheme(url) not in HEADER_SCHEMES:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}+X-Monitor-Idempotency-Key={quote(key, safe='')}"


def _chosen_host(service: object) -> tuple[str, int | None] | None:
    """The host and port of a self-hosted service (json://, mmost://, ntfy://...): one with an
    insecure scheme as well as a secure one. Services at a fixed address (Discord, Slack,
    Telegram) have only a secure scheme, and their ``host`` attribute may hold a token."""
    if getattr(service, "protocol", None) is None:
        return None
    host = getattr(service, "host", None)
    port = getattr(service, "port", None)
    if not isinstance(host, str) or not host:
        return None
    return host, port if isinstance(port, int) else None


def apprise_url_problem(url: str) -> str | None:
    """Why apprise could not send to ``url``, or ``None``. Never quotes the URL (a secret)."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return f"apprise does not understand this {_scheme(url)}:// URL"
    chosen = _chosen_host(notifier[0])
    if chosen is not None:
        try:
            check_host(*chosen)
        except ValueError as exc:
            return f"{_scheme(url)}:// URL: {exc}"
    return None


def _settle(future: asyncio.Future[bool], result: bool, error: BaseException | None) -> None:
    if future.done():  # given up already
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def within(seconds: float, call: Callable[[], bool]) -> bool:
    """``call()`` in a daemon thread of its own, awaited for at most ``seconds``
    (:class:`TimeoutError` after that). Not the loop's default executor: a call that never
    returns would hold the process's exit there."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bool] = loop.create_future()

    def run() -> None:
        try:
            result, error = call(), None
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting task as it is
            result, error = False, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle, future, result, error)

    threading.Thread(target=run, name="apprise-send", daemon=True).start()
    return await asyncio.wait_for(future, seconds)


@dataclass(frozen=True, slots=True)
class AppriseSender:
    name: str
    url: SecretStr = field(repr=False)
    allow_private: bool = True
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, config: AppriseChannel, settings: Settings) -> AppriseSender:
        from monitor.alerts.channels import secret_named

        url = secret_named(settings, config.url_secret, channel=config.name)
        return cls(
            name=config.name,
            url=url,
            allow_private=settings.delivery.allow_private_destinations,
            timeout_s=settings.delivery.webhook_timeout_s,
        )

    def _check_destination(self, service: object) -> None:
        """Refuse a self-hosted service whose host resolves to a non-public address, unless
        private destinations are allowed (``MONITOR_DELIVERY__ALLOW_PRIVATE_DESTINATIONS``).
        apprise connects by itself after this, so a name that resolves differently a moment
        later is not caught here (the native webhook checks the address it connects to)."""
        chosen = _chosen_host(service)
        if chosen is None or self.allow_private:
            return
        host, port = chosen
        try:
            infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise TransientDeliveryError(
                f"{self._where}: cannot resolve the service's host ({type(exc).__name__})",
                channel=self.name,
            ) from exc
        for *_, sockaddr in infos:
            address = str(sockaddr[0])
            if not is_public_address(address):
                raise PermanentDeliveryError(
                    f"{self._where}: the service's host resolves to non-public address "
                    f"{address} (private destinations are not allowed: "
                    "MONITOR_DELIVERY__ALLOW_PRIVATE_DESTINATIONS)",
                    channel=self.name,
                )

    @property
    def _where(self) -> str:
        return f"apprise {self.name!r} ({_scheme(self.url.get_secret_value())}://…)"

    def _notify_sync(self, message: OutgoingMessage) -> bool:
        notifier = apprise.Apprise()
        url = with_idempotency_header(self.url.get_secret_value(), message.idempotency_key)
        if not notifier.add(url):
            raise PermanentDeliveryError(
                f"{self._where}: apprise does not understand this URL", channel=self.name
            )
        self._check_destination(notifier[0])
        safe = neutraliser(service_schemes(notifier[0]))
        result = notifier.notify(
            body=safe(message.message.markdown),
            title=safe(message.message.subject),
            body_format=apprise.NotifyFormat.MARKDOWN,
        )
        return bool(result)

    async def send(self, message: OutgoingMessage) -> str | None:
        try:
            accepted = await within(self.timeout_s, lambda: self._notify_sync(message))
        except TimeoutError:
            raise TransientDeliveryError(
                f"{self._where}: no answer within {self.timeout_s:g} s "
                "(MONITOR_DELIVERY__WEBHOOK_TIMEOUT_S)",
                channel=self.name,
            ) from None
        if not accepted:
            raise TransientDeliveryError(
                f"{self._where}: the service did not accept the notification", channel=self.name
            )
        return None
