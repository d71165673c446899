"""Alert channels (config file) and delivery settings (``MONITOR_DELIVERY__*``).

Routing lives in the config file: each topic names its channels (default: all) and a
:class:`TopicDelivery` saying whether alerts go out immediately or in a digest, how many immediate
alerts per hour a topic may send (the rest roll into the next digest) and which quiet hours defer
alerts to the next digest. Nothing is ever dropped by a cap or quiet hours.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.targets import check_http_url

# RFC 5322 addr-spec, dot-atom local part (quoted local parts are not accepted: no mail system
# a desk uses needs them) and a domain of dot-separated labels or an address literal.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR_SPEC = re.compile(
    rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$"
)


def check_address(value: str) -> str:
    """``value`` if it is a bare e-mail address (``name@example.org``) that can go into an SMTP
    ``RCPT TO`` and a ``To`` header as it is; else ``ValueError``. Non-ASCII domains must be
    written in their IDNA (``xn--``) form."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"e-mail address {value!r} contains a control character (CR, LF...)")
    if len(value) > 254 or not _ADDR_SPEC.match(value):
        raise ValueError(f"{value!r} is not an e-mail address (expected name@example.org)")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r} (expected an IANA name such as Europe/Berlin)"
        ) from exc
    return value


class DeliverySettings(BaseModel):
    max_attempts: int = Field(8, ge=1, description="after this many failures a delivery is dead")
    backoff_base_s: float = Field(60.0, gt=0, description="delay after the first failure")
    backoff_max_s: float = Field(6 * 3600.0, gt=0, description="longest delay between attempts")
    webhook_timeout_s: float = Field(10.0, gt=0, description="webhook and apprise request timeout")
    templates_dir: Path | None = Field(
        None, description="directory whose *.j2 files override the packaged alert templates"
    )
    max_digest_items: int = Field(200, ge=1, description="alerts per digest message; rest go next")
    allow_private_destinations: bool = Field(
        True,
        description="webhook and apprise destinations may resolve to loopback/private "
        "addresses (an internal receiver); false refuses them at send time",
    )
    claim_s: float = Field(
        600.0,
        gt=0,
        description="how long a run holds the deliveries it is sending; after a crash they are "
        "sent again once this has passed (keep it well above the send timeouts)",
    )


class DigestSchedule(BaseModel):
    """When digests go out: every hour on the hour, or daily at ``at`` in ``timezone``."""

    model_config = ConfigDict(extra="forbid")

    every: Literal["hourly", "daily"] = "daily"
    at: time = Field(default=time(8, 0), description="daily send time (HH:MM) in the time zone")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)


class QuietHours(BaseModel):
    """A daily window (may cross midnight) in which immediate alerts wait for the next digest."""

    model_config = ConfigDict(extra="forbid")

    start: time
    end: time
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)


class TopicDelivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["immediate", "digest"] = "immediate"
    digest: DigestSchedule = Field(default_factory=lambda: DigestSchedule())
    max_per_hour: int | None = Field(
        None, ge=0, description="immediate alerts per hour and channel; the rest join the digest"
    )
    quiet_hours: QuietHours | None = None
    settle_minutes: int = Field(
        0,
        ge=0,
        le=1440,
        description="after an immediate alert on a story, its further developments within this "
        "many minutes wait and go out together as one follow-up when the window ends (0: off)",
    )


class _Channel(BaseModel):
    """Fields every channel has. ``mode``/``digest`` override the topic's for this channel
    (e.g. chat immediately, e-mail as a daily digest); cap and quiet hours stay per topic.
    ``notices``: the channel also gets the sources' health notices (:mod:`monitor.alerts.notices`),
    whatever topics it serves."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    mode: Literal["immediate", "digest"] | None = None
    digest: DigestSchedule | None = None
    notices: bool = Field(
        True,
        description="source health notices (a source started failing, recovered, went quiet, "
        "is active again) go to this channel too, at once; false: alerts only",
    )

    def effective_delivery(self, topic: TopicDelivery) -> TopicDelivery:
        """The topic's delivery rules with this channel's overrides applied."""
        update: dict[str, object] = {}
        if self.mode is not None:
            update["mode"] = self.mode
        if self.digest is not None:
            update["digest"] = self.digest
        return topic.model_copy(update=update) if update else topic


class EmailChannel(_Channel):
    type: Literal["email"]
    to: list[str] = Field(min_length=1)

    @field_validator("to")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return [check_address(value) for value in values]


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str = Field(description="http(s) URL, checked as the sender will use it")
    secret: str | None = Field(None, description="name in settings.secrets; default webhook_secret")

    @field_validator("url")
    @classmethod
    def _sendable(cls, value: str) -> str:
        return check_http_url(value)


class AppriseChannel(_Channel):
    type: Literal["apprise"]
    url_secret: str = Field(description="name in settings.secrets holding the apprise URL")


ChannelConfig = EmailChannel | WebhookChannel | AppriseChannel
