"""Escaping stored text for where it is shown: terminals and e-mail headers.

Titles, facts, source names and error messages come from the network and may carry control
characters. Printed raw, ``ESC ] 0 ;`` retitles the terminal window, ``ESC ] 52 ;`` writes the
user's clipboard and ``ESC [ 2 J`` clears the screen; in a mail header, CR/LF would start a new
header and a NUL is forbidden outright (RFC 5322). One function per destination:

* :func:`terminal_text`: every control character is shown visibly and inert: C0 controls as
  their Unicode "control picture" (``ESC`` → ``␛``, NUL → ``␀``, LF → ``␊``), DEL as ``␡``, and
  C1 controls, bidirectional overrides/isolates and line/paragraph separators (which terminals
  may act on and no picture exists for) as ``\\x9b`` / ``\\u202e``. Other Unicode is kept.
  ``keep_newlines`` keeps ``\\n`` for text this program composed of several lines.
* :func:`json_text`: JSON output as produced by ``json.dumps(ensure_ascii=False)``, with the
  characters :func:`terminal_text` escapes and JSON leaves raw written as ``\\uXXXX`` escapes: the
  same JSON value, safe on a terminal.
* :func:`header_text`: one line for a mail header: control characters, line breaks and
  separators become spaces, runs of whitespace one space; folding is left to the e-mail
  package's policy.
"""

from __future__ import annotations

import re

# U+0000-U+001F: C0; U+007F: DEL; U+0080-U+009F: C1 (U+009B is CSI in 8-bit terminals);
# U+061C, U+200E/U+200F, U+202A-U+202E, U+2066-U+2069: bidirectional marks, embeddings,
# overrides and isolates (they reorder what follows on the line); U+2028/U+2029: line and
# paragraph separators; U+FEFF: byte order mark / zero-width no-break space.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]"
)
_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]"
)
# What json.dumps(ensure_ascii=False) leaves unescaped but a terminal may act on.
_JSON_UNSAFE = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]"
)
_HEADER_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]"
)
_SPACES = re.compile(r"\s+")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the control picture: ␀ ... ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def terminal_text(value: object, *, keep_newlines: bool = False) -> str:
    """``value`` as text a terminal shows without acting on any of it."""
    text = value if isinstance(value, str) else str(value)
    pattern = _UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE
    return pattern.sub(_visible, text)


def json_text(dumped: str) -> str:
    """JSON text (from ``json.dumps``) with terminal-active characters as ``\\uXXXX`` escapes.

    Every such character can only occur inside a JSON string there (JSON's own syntax is ASCII
    and printable), where ``\\uXXXX`` denotes the same character.
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def header_text(value: object) -> str:
    """``value`` as the unfolded text of one mail header: no control characters, one line."""
    text = value if isinstance(value, str) else str(value)
    return _SPACES.sub(" ", _HEADER_UNSAFE.sub(" ", text)).strip()
