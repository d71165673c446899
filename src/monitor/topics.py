"""Topic queries: AND, OR, NOT, parentheses, "quoted phrases", case-insensitive words.

(placeholder; implemented in its own change)
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.errors import QueryError


@dataclass(frozen=True, slots=True)
class TopicMatch:
    terms: tuple[str, ...]

    def explain(self) -> str:
        return "matched " + ", ".join(repr(t) for t in self.terms)


@dataclass(frozen=True, slots=True)
class Query:
    text: str

    def match(self, title: str, text: str, *, title_only: bool = False) -> TopicMatch | None:
        haystack = title if title_only else f"{title}\n{text}"
        words = [w for w in self.text.split() if w not in {"AND", "OR", "NOT"}]
        low = haystack.lower()
        hits = tuple(w for w in words if w.lower().strip('"()') in low)
        return TopicMatch(hits) if hits else None


def parse_query(text: str) -> Query:
    if not text.strip():
        raise QueryError("empty query", query=text, position=0)
    return Query(text)
