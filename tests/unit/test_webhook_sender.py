"""What a failed webhook POST records: the reason, never the tokens a webhook URL carries.

The HTTP client is injected with a transport that fails the way the network would; the real
receiver tests are in ``tests/integration/test_delivery_webhook.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from monitor.alerts.channels.webhook import WebhookSender
from monitor.alerts.model import OutgoingMessage, RenderedMessage
from monitor.errors import TransientDeliveryError

URL = "https://hooks.example.net/services/T0001/B0002/sekrit-token?key=also-secret"
MESSAGE = OutgoingMessage(
    channel="hook",
    idempotency_key="alert:topic:1:hook",
    message=RenderedMessage(
        kind="test", subject="s", text="t", html="<p>t</p>", markdown="t", data={"kind": "test"}
    ),
    attempted_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
)


async def failed_send(error: httpx.TransportError) -> str:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as http:
        sender = WebhookSender(name="hook", url=URL, secret=None, http=http)
        with pytest.raises(TransientDeliveryError) as info:
            await sender.send(MESSAGE)
    return str(info.value)


async def test_the_reason_of_a_failed_connection_is_recorded() -> None:
    reason = (
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "unable to get local issuer certificate (_ssl.c:1006)"
    )
    message = await failed_send(httpx.ConnectError(reason))
    assert "hooks.example.net" in message
    assert f"ConnectError: {reason}" in message


@pytest.mark.parametrize(
    "quoted",
    [URL, "/services/T0001/B0002/sekrit-token", "POST ?key=also-secret"],
    ids=["url", "path", "query"],
)
async def test_an_error_quoting_the_url_records_its_type_only(quoted: str) -> None:
    message = await failed_send(httpx.ConnectError(f"could not reach {quoted}"))
    assert "secret" not in message
    assert "sekrit" not in message
    assert message.endswith("connection failed (ConnectError)")
