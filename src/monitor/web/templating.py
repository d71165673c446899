"""The web view's Jinja2 environment: autoescaped, every stored value shown inert.

Every ``{{ ... }}`` passes :func:`shown` before it is escaped (Jinja's ``finalize``): C0/C1
control characters and bidirectional embeddings, overrides and isolates (U+202A-U+202E,
U+2066-U+2069), which would reorder the text around a hostile title (``gnp.exe`` shown as
``exe.png``), are written visibly as ``\\u202e``; then HTML escaping turns ``<`` and ``"`` into
entities. Links pass the ``safe_url`` filter (http/https only, else no link).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import jinja2
from markupsafe import Markup

from monitor.alerts.render import safe_url
from monitor.wording import counted

_INERT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown(value: Any) -> Any:
    """Stored text with its control and bidi-override characters written visibly."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _INERT.sub(_visible, value)
    return value


def _dt(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def page_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=shown,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["dt"] = _dt
    env.filters["counted"] = counted  # {{ n | counted("alert") }}: "1 alert", "2 alerts"
    return env
