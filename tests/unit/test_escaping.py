"""Escaping for terminals and mail headers, and mention neutralising per chat service."""

from __future__ import annotations

import json

import pytest

from monitor.alerts.channels.chat import for_discord, for_slack, neutraliser
from monitor.escaping import header_text, json_text, terminal_text

# Every character a terminal may act on: C0, DEL, C1, bidi controls, line separators, BOM.
ACTIVE = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))] + [
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
    "\u2028",
    "\u2029",
    "\ufeff",
]


@pytest.mark.parametrize("char", ACTIVE, ids=lambda c: f"U+{ord(c):04X}")
def test_terminal_text_leaves_no_active_character(char: str) -> None:
    shown = terminal_text(f"a{char}b")
    assert char not in shown
    assert shown.startswith("a")
    assert shown.endswith("b")
    assert len(shown) > 2  # shown, not dropped


@pytest.mark.parametrize("char", ACTIVE, ids=lambda c: f"U+{ord(c):04X}")
def test_header_text_leaves_no_control_character(char: str) -> None:
    assert header_text(f"a{char}b") == "a b"


def test_terminal_text_shows_escapes_visibly_and_keeps_other_unicode() -> None:
    assert terminal_text("\x1b]0;x\x07 \x1b[2J \x9b1m") == "␛]0;x␇ ␛[2J \\x9b1m"
    assert terminal_text("Zürich — 東京 🚢") == "Zürich — 東京 🚢"
    assert terminal_text("one\ntwo") == "one␊two"
    assert terminal_text("one\ntwo\x1b", keep_newlines=True) == "one\ntwo␛"


def test_json_text_is_the_same_json_with_nothing_active() -> None:
    value = {"title": "a\x9b1m \u202eb\u2028c\x1b"}
    dumped = json_text(json.dumps(value, ensure_ascii=False))
    assert json.loads(dumped) == value
    assert not any(ch in dumped for ch in ACTIVE if ch != "\n")


def test_mentions_are_broken_but_read_the_same() -> None:
    assert for_discord("@everyone <@123> <@&9>") == "@\u200beveryone <@\u200b123> <@\u200b&9>"
    assert for_slack("<!channel> <@U1> a@ b!") == "<!\u200bchannel> <@\u200bU1> a@ b!"
    assert neutraliser({"json", "jsons"})("@everyone") == "@everyone"  # data, unchanged
    assert neutraliser({"ntfy", "ntfys"})("@all") == "@\u200ball"  # any other service
