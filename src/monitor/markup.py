"""Reading attributes out of raw HTML tags without parsing the document.

Used where a whole HTML parse would cost more than the answer is worth: the few ``<meta>`` and
``<link>`` tags of a page's head (extraction's language and canonical URL, the feeds a web page
advertises). Names are lower-cased; values are the raw bytes between the quotes, entities not
decoded. Pure.
"""

from __future__ import annotations

import re

__all__ = ["tag_attributes"]

_ATTR = re.compile(rb"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def tag_attributes(inside: bytes) -> dict[bytes, bytes]:
    """Attributes of one tag, given what lies between its name and ``>``."""
    return {
        m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"")
        for m in _ATTR.finditer(inside)
    }
