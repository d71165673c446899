"""Articles as the detect stage receives them, for tests that store and place them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.models import Article


def article(source: str, url: str, title: str, text: str, when: datetime, **extra: Any) -> Article:
    """An extracted article at ``url`` (also its canonical URL), fetched when published."""
    return Article(
        source=source,
        url=url,
        canonical_url=url,
        title=title,
        text=text,
        fetched_at=when,
        published_at=when,
        **extra,
    )
