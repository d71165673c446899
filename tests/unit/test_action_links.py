"""Signed action links: a token verifies only unaltered, unexpired, with the secret it was signed
with and for its own action; each refusal says why."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from monitor.action_links import NOT_MY_TOPIC, NOT_NEW, link_maker, sign, verify
from monitor.errors import LinkError

SECRET = "correct horse battery staple"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=14)


def _reason(token: str, *, secret: str = SECRET, now: datetime = NOW, **kw: str) -> str:
    with pytest.raises(LinkError) as caught:
        verify(token, secret, now=now, **kw)
    return caught.value.reason


def test_a_fresh_token_verifies_to_its_claim() -> None:
    claim = verify(sign(SECRET, NOT_NEW, 42, EXPIRES), SECRET, now=NOW, action=NOT_NEW)
    assert (claim.action, claim.alert_id, claim.expires_at) == (NOT_NEW, 42, EXPIRES)
    assert "=" not in sign(SECRET, NOT_NEW, 42, EXPIRES)  # base64url without padding


def test_every_altered_byte_is_refused() -> None:
    token = sign(SECRET, NOT_MY_TOPIC, 7, EXPIRES)
    for i, char in enumerate(token):
        if char == ".":
            continue
        altered = token[:i] + ("A" if char != "A" else "B") + token[i + 1 :]
        # including the unused low bits of each part's last character: one spelling per token
        with pytest.raises(LinkError) as caught:
            verify(altered, SECRET, now=NOW)
        assert caught.value.reason in {"signature", "malformed"}, (i, altered)


def test_a_forged_claim_is_refused_as_a_bad_signature() -> None:
    payload, _, mac = sign(SECRET, NOT_NEW, 7, EXPIRES).partition(".")
    forged = base64.urlsafe_b64encode(b"v1|not-my-topic|7|9999999999").rstrip(b"=").decode()
    assert _reason(f"{forged}.{mac}") == "signature"
    other_mac = sign(SECRET, NOT_NEW, 8, EXPIRES).partition(".")[2]
    assert _reason(f"{payload}.{other_mac}") == "signature"


def test_expiry_follows_the_injected_clock() -> None:
    token = sign(SECRET, NOT_NEW, 3, EXPIRES)
    assert verify(token, SECRET, now=EXPIRES - timedelta(seconds=1)).alert_id == 3
    assert _reason(token, now=EXPIRES) == "expired"
    assert _reason(token, now=EXPIRES + timedelta(days=1)) == "expired"


def test_wrong_action_and_wrong_secret_are_refused() -> None:
    token = sign(SECRET, NOT_NEW, 3, EXPIRES)
    assert _reason(token, action=NOT_MY_TOPIC) == "wrong-action"
    assert _reason(token, secret=SECRET + "!") == "signature"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "é.é", "x" * 300, "!!!.???"])
def test_malformed_tokens_are_refused(token: str) -> None:
    assert _reason(token) in {"malformed", "signature"}
    if token.count(".") != 1:
        assert _reason(token) == "malformed"


def test_links_only_with_both_a_base_url_and_a_secret() -> None:
    assert link_maker(None, SECRET, 14) is None
    assert link_maker("https://m.example", None, 14) is None
    maker = link_maker("https://m.example/", SECRET, 14, lambda: NOW)
    assert maker is not None
    url = maker.url(NOT_NEW, 9)
    assert url.startswith("https://m.example/act/")
    claim = verify(url.removeprefix("https://m.example/act/"), SECRET, now=NOW)
    assert (claim.action, claim.alert_id, claim.expires_at) == (NOT_NEW, 9, EXPIRES)
