"""Signed one-click action links for alerts: "not my topic" and "not new" from an email, without
a login.

A token names one action on one alert and when it expires::

    base64url(b"v1|<action>|<alert id>|<expiry, unix seconds>") "." base64url(HMAC-SHA256)

The MAC is HMAC-SHA256 keyed with the server's secret (``MONITOR_WEB__LINK_SECRET``) over a
domain label and the payload, so a token signed for something else with the same secret is not
a link. :func:`verify` checks the MAC in constant time before reading anything in the payload,
then the expiry against an injected clock, then (when asked) the action, and refuses with a
:class:`~monitor.errors.LinkError` whose ``reason`` is ``malformed``, ``signature``,
``expired`` or ``wrong-action``.

A link only leads to a confirmation page (``GET /act/<token>`` changes nothing, so mail
scanners that pre-fetch links apply nothing); the page's POST applies it, once
(:func:`monitor.pipeline.feedback.apply_link` records its use).

Pure: no I/O, no global clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.errors import LinkError

NOT_MY_TOPIC = "not-my-topic"
NOT_NEW = "not-new"
ACTIONS = (NOT_MY_TOPIC, NOT_NEW)
VERSION = "v1"
MAX_TOKEN_CHARS = 200
_DOMAIN = b"news-monitor action link\n"

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """What a valid token allows: ``action`` on alert ``alert_id`` until ``expires_at``."""

    action: str
    alert_id: int
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN + payload, hashlib.sha256).digest()


def sign(secret: str, action: str, alert_id: int, expires_at: datetime) -> str:
    """The token allowing ``action`` on ``alert_id`` until ``expires_at``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not secret:
        raise ValueError("no secret to sign with")
    expiry = int(expires_at.timestamp())
    payload = f"{VERSION}|{action}|{int(alert_id)}|{expiry}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(token: str, secret: str, *, now: datetime, action: str | None = None) -> LinkClaim:
    """The claim of a token signed with ``secret``, valid at ``now`` (and for ``action`` when
    given); else a :class:`LinkError`."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 1:
        raise LinkError("malformed", "this link is not a valid action link")
    encoded, _, given = token.partition(".")
    try:
        payload, mac = _unb64(encoded), _unb64(given)
    except (binascii.Error, ValueError) as exc:
        raise LinkError("malformed", "this link is not a valid action link") from exc
    if _b64(payload) != encoded or _b64(mac) != given:  # one spelling per token: no malleability
        raise LinkError("malformed", "this link is not a valid action link")
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise LinkError("signature", "this link's signature does not match: it was altered")
    try:
        version, claimed, alert, expiry = payload.decode("ascii").split("|")
        alert_id, expires = int(alert), int(expiry)
    except ValueError as exc:
        raise LinkError("malformed", "this link is not a valid action link") from exc
    if version != VERSION or claimed not in ACTIONS:
        raise LinkError("malformed", "this link is not a valid action link")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise LinkError(
            "expired", f"this link expired on {expires_at:%Y-%m-%d %H:%M} UTC; use the web view"
        )
    if action is not None and claimed != action:
        raise LinkError("wrong-action", f"this link is for {claimed!r}, not {action!r}")
    return LinkClaim(claimed, alert_id, expires_at)


@dataclass(frozen=True, slots=True)
class LinkMaker:
    """Makes the action links of alerts being rendered: ``{base_url}/act/<token>``, each valid
    ``days`` days from the clock's now."""

    base_url: str
    secret: str
    days: int
    clock: Clock

    def url(self, action: str, alert_id: int) -> str:
        expires = self.clock() + timedelta(days=self.days)
        return f"{self.base_url.rstrip('/')}/act/{sign(self.secret, action, alert_id, expires)}"


def link_maker(
    base_url: str | None, secret: str | None, days: int, clock: Clock | None = None
) -> LinkMaker | None:
    """A :class:`LinkMaker`, or None (no action links in alerts) unless both the web view's
    base URL and the link secret are set."""
    if not base_url or not secret:
        return None
    return LinkMaker(base_url, secret, days, clock or (lambda: datetime.now(UTC)))
