"""What placing an article writes to its story.

The detection repository (:mod:`monitor.storage.detection`) and its PostgreSQL statement
(:mod:`monitor.storage.placement_pg`) both read these values; they live in a module of their
own so that neither of the two imports the other for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NewSentence:
    """A sentence the placed article adds to its story's memory."""

    position: int
    text: str
    terms: str


@dataclass(frozen=True, slots=True)
class StoryWrite:
    """What placing an original article writes (see
    :func:`monitor.storage.detection.write_placement`)."""

    story_id: int | None  # None: open a new story headed ``headline``
    published_at: datetime  # the article's time: a new story's first, a development's time
    outlets: list[Any]
    article_count: int
    last_seen_at: datetime
    state: Mapping[str, Any]
    memory: Mapping[str, Any]
    sentences: tuple[NewSentence, ...]
    keep_from: int  # forget the story's sentences before this position
    story_terms: tuple[tuple[str, float], ...]
    document_terms: tuple[str, ...]
    headline: str | None = None
    facts: tuple[str, ...] | None = None  # a development's facts; None: a report
    repeats_article_id: int | None = None  # a report: the article it repeats most
    repeat_similarity: float = 0.0
