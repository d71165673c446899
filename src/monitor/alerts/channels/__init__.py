"""Delivery channels: the only code in the alerts package that talks to the outside.

A channel takes an :class:`~monitor.alerts.model.OutgoingMessage` (already rendered) and sends it,
raising :class:`~monitor.errors.TransientDeliveryError` (retry later) or
:class:`~monitor.errors.PermanentDeliveryError` (retrying as-is will not help). Library errors are
translated at this boundary; error messages never contain secrets (passwords, signing keys, apprise
URLs — :func:`redact` is applied on top as a second line of defence).

Channels are built by :func:`build_channel` from the config entry and settings; the HTTP client is
injected so tests and the flow control its lifetime.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import httpx
from pydantic import SecretStr

from monitor.alert_settings import AppriseChannel, ChannelConfig, EmailChannel, WebhookChannel
from monitor.alerts.model import OutgoingMessage
from monitor.config import Settings
from monitor.errors import ConfigError

REDACTED = "[redacted]"


class Channel(Protocol):
    """Something that can send one message. ``name`` is the config entry's name."""

    @property
    def name(self) -> str: ...

    async def send(self, message: OutgoingMessage) -> str | None:
        """Send ``message``; return a warning worth recording (e.g. some recipients refused),
        or ``None``. Raise a :class:`~monitor.errors.DeliveryError` on failure."""
        ...


def known_secrets(settings: Settings) -> list[str]:
    """Every secret value the settings hold, for :func:`redact`."""
    values: list[SecretStr | None] = [
        settings.smtp.password,
        settings.webhook_secret,
        settings.database_url,
        *settings.secrets.values(),
    ]
    return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (longest first) replaced by ``[redacted]``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 4:  # a 1-3 character "secret" would redact ordinary words
            text = text.replace(secret, REDACTED)
    return text


def secret_named(settings: Settings, name: str, *, channel: str) -> SecretStr:
    try:
        return settings.secrets[name]
    except KeyError:
        raise ConfigError(
            f"channel {channel!r}: secret {name!r} is not set "
            f"(set MONITOR_SECRETS__{name.upper()} in the environment or .env)"
        ) from None


# A secret held in a Prefect Secret block; resolved by the flow, so not checked here.
_BLOCK_PREFIX = "prefect-secret:"


def channel_problems(channels: Iterable[ChannelConfig], settings: Settings) -> list[str]:
    """What would stop a channel from sending, found without sending: a secret the config
    names that is not set, an apprise URL apprise does not understand or whose host no request
    can go to. Messages name the channel and the setting, never a secret's value."""
    problems: list[str] = []
    for config in channels:
        names = []
        if isinstance(config, AppriseChannel):
            names.append(config.url_secret)
        if isinstance(config, WebhookChannel) and config.secret is not None:
            names.append(config.secret)
        for name in names:
            try:
                secret_named(settings, name, channel=config.name)
            except ConfigError as exc:
                problems.append(str(exc))
        if isinstance(config, AppriseChannel) and config.url_secret in settings.secrets:
            value = settings.secrets[config.url_secret].get_secret_value()
            if not value.startswith(_BLOCK_PREFIX):
                from monitor.alerts.channels.chat import apprise_url_problem

                problem = apprise_url_problem(value)
                if problem is not None:
                    problems.append(
                        f"channel {config.name!r}: MONITOR_SECRETS__{config.url_secret.upper()}"
                        f": {problem}"
                    )
    return problems


def build_channel(config: ChannelConfig, settings: Settings, *, http: httpx.AsyncClient) -> Channel:
    """The channel object for one config entry."""
    if isinstance(config, EmailChannel):
        from monitor.alerts.channels.email import EmailSender

        return EmailSender.from_settings(config, settings)
    if isinstance(config, WebhookChannel):
        from monitor.alerts.channels.webhook import WebhookSender

        return WebhookSender.from_settings(config, settings, http=http)
    if isinstance(config, AppriseChannel):
        from monitor.alerts.channels.chat import AppriseSender

        return AppriseSender.from_settings(config, settings)
    raise ConfigError(f"unknown channel type {type(config).__name__}")  # pragma: no cover
