"""Replay a labelled article stream through the real ingest code and score it.

Contract:

* :func:`bcubed` and :func:`adjusted_rand_index` are pure clustering metrics over two labelings of
  the same items (predicted story, gold event).
* :func:`replay` reads a JSONL stream (``id``, ``date_publish``, ``source_domain``, ``url``,
  ``title``, ``text``, optional ``description``, ``event``), sorts it by publication time and
  feeds it, one transaction per article, to :func:`monitor.stories.ingest.ingest` on a fresh
  database. An item whose text is shorter than ``min_text_chars`` is ingested the way the pipeline
  stores an unusable extraction: the feed's title and description, marked summary-only.
* :func:`evaluate` adds the scores: BCubed P/R/F1, ARI, duplicate decisions, the containment rule
  (every article whose ingested text has >= 80 % of its 5-grams in an earlier article's must be a
  duplicate and never a development), developments per event and runtime per article.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.dedup import exact_containment
from monitor.errors import ConfigError
from monitor.models import Article
from monitor.stories.ingest import IngestResult, ingest
from monitor.stories.settings import DetectionSettings
from monitor.text import clean_body, content_terms

MIN_TEXT_CHARS = 200


def bcubed(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> tuple[float, float, float]:
    """BCubed precision, recall and F1 (Amigó et al., 2009)."""
    if len(predicted) != len(gold):
        raise ValueError("labelings differ in length")
    n = len(predicted)
    if n == 0:
        return 1.0, 1.0, 1.0
    pair_counts = Counter(zip(predicted, gold, strict=True))
    pred_sizes = Counter(predicted)
    gold_sizes = Counter(gold)
    precision = recall = 0.0
    for (p, g), both in pair_counts.items():
        precision += both * both / pred_sizes[p]
        recall += both * both / gold_sizes[g]
    precision /= n
    recall /= n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def adjusted_rand_index(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """Hubert-Arabie adjusted Rand index; 1.0 for identical partitions."""
    if len(predicted) != len(gold):
        raise ValueError("labelings differ in length")

    def comb2(k: int) -> float:
        return k * (k - 1) / 2.0

    n = len(predicted)
    if n < 2:
        return 1.0
    index = sum(comb2(c) for c in Counter(zip(predicted, gold, strict=True)).values())
    sum_pred = sum(comb2(c) for c in Counter(predicted).values())
    sum_gold = sum(comb2(c) for c in Counter(gold).values())
    expected = sum_pred * sum_gold / comb2(n)
    maximum = (sum_pred + sum_gold) / 2.0
    if math.isclose(maximum, expected):
        return 1.0
    return (index - expected) / (maximum - expected)


@dataclass(frozen=True, slots=True)
class StreamItem:
    item_id: str
    event: str
    article: Article


@dataclass(frozen=True, slots=True)
class Replayed:
    item: StreamItem
    result: IngestResult
    seconds: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    articles: int
    precision: float
    recall: float
    f1: float
    ari: float
    stories: int
    events: int
    duplicates: list[dict[str, Any]]
    containment_violations: list[dict[str, Any]]
    developments_per_event: dict[str, dict[str, int]]
    development_share: float
    ms_per_article: float
    p95_ms: float
    # Where the partition errs: stories holding more than one event (precision lost) and events
    # spread over more than one story (recall lost), each with its article counts.
    mixed_stories: list[dict[str, Any]] = field(default_factory=list)
    split_events: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "bcubed": {"precision": self.precision, "recall": self.recall, "f1": self.f1},
            "ari": self.ari,
            "stories": self.stories,
            "events": self.events,
            "duplicates": self.duplicates,
            "containment_violations": self.containment_violations,
            "developments_per_event": self.developments_per_event,
            "development_share": self.development_share,
            "ms_per_article": self.ms_per_article,
            "p95_ms": self.p95_ms,
            "mixed_stories": self.mixed_stories,
            "split_events": self.split_events,
        }


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def load_stream(path: Path) -> list[StreamItem]:
    """Read a labelled JSONL stream, sorted by publication time (stable for ties)."""
    items: list[StreamItem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read stream: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            when = _parse_time(row.get("date_publish") or row["date"])
            text = row.get("text") or ""
            summary_only = len(clean_body(text)) < MIN_TEXT_CHARS
            if summary_only:
                text = "\n".join(p for p in (row.get("title"), row.get("description")) if p)
            source = row.get("source_domain") or row.get("source") or "unknown"
            url = row.get("url") or f"urn:item:{row['id']}"
            article = Article(
                source=source,
                url=url,
                # Items may share a URL in labelled sets; the id keeps canonical URLs distinct.
                canonical_url=f"{url}#item-{row['id']}",
                title=row.get("title") or "",
                text=text,
                fetched_at=when,
                published_at=when,
                authors=tuple(row.get("authors") or ()),
                summary_only=summary_only,
            )
            items.append(StreamItem(str(row["id"]), str(row.get("event", "")), article))
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not a stream item: {exc}") from exc
    items.sort(key=lambda it: it.article.published_at or it.article.fetched_at)
    return items


def replay(
    engine: Engine, items: Sequence[StreamItem], settings: DetectionSettings
) -> list[Replayed]:
    out: list[Replayed] = []
    for item in items:
        start = time.perf_counter()
        with Session(engine) as session, session.begin():
            result = ingest(session, item.article, source_id=None, settings=settings)
        out.append(Replayed(item, result, time.perf_counter() - start))
    return out


def evaluate(replayed: Sequence[Replayed], containment_threshold: float = 0.8) -> EvalReport:
    stored = [r for r in replayed if r.result.article_id is not None]
    predicted = [
        r.result.story_id if r.result.story_id is not None else -i for i, r in enumerate(stored)
    ]
    gold = [r.item.event for r in stored]
    p, r_, f1 = bcubed(predicted, gold)
    ari = adjusted_rand_index(predicted, gold)

    by_article = {r.result.article_id: r for r in stored}
    duplicates = [
        {
            "item": r.item.item_id,
            "kind": r.result.duplicate_kind,
            "of_item": by_article[r.result.duplicate_of].item.item_id
            if r.result.duplicate_of in by_article
            else None,
            "similarity": round(r.result.similarity or 0.0, 3),
            "same_event": r.result.duplicate_of in by_article
            and by_article[r.result.duplicate_of].item.event == r.item.event,
        }
        for r in stored
        if r.result.duplicate_of is not None
    ]

    violations: list[dict[str, Any]] = []
    bodies = [clean_body(r.item.article.text) or r.item.article.text for r in stored]
    for i, r in enumerate(stored):
        best = max(
            ((exact_containment(bodies[i], bodies[j]), j) for j in range(i)), default=(0.0, -1)
        )
        if best[0] >= containment_threshold and (
            r.result.duplicate_of is None or r.result.development_id is not None
        ):
            violations.append(
                {
                    "item": r.item.item_id,
                    "contained_in": stored[best[1]].item.item_id,
                    "containment": round(best[0], 3),
                    "decision": "development" if r.result.development_id else "not duplicate",
                }
            )

    per_event: dict[str, dict[str, int]] = defaultdict(lambda: {"articles": 0, "developments": 0})
    for r in stored:
        per_event[r.item.event]["articles"] += 1
        per_event[r.item.event]["developments"] += int(r.result.development_id is not None)
    devs = sum(v["developments"] for v in per_event.values())
    mixed, split = _partition_errors(predicted, gold)
    times = sorted(r.seconds * 1000 for r in replayed)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))] if times else 0.0
    return EvalReport(
        articles=len(stored),
        precision=p,
        recall=r_,
        f1=f1,
        ari=ari,
        stories=len(set(predicted)),
        events=len(set(gold)),
        duplicates=duplicates,
        containment_violations=violations,
        developments_per_event=dict(sorted(per_event.items())),
        development_share=devs / len(stored) if stored else 0.0,
        ms_per_article=sum(times) / len(times) if times else 0.0,
        p95_ms=p95,
        mixed_stories=mixed,
        split_events=split,
    )


def _partition_errors(
    predicted: Sequence[int], gold: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stories with articles of several events, and events with articles in several stories
    (as [story, articles] pairs, ``None`` for an article without a story); largest first."""
    events_of: dict[int, Counter[str]] = defaultdict(Counter)
    stories_of: dict[str, Counter[int]] = defaultdict(Counter)
    for story, event in zip(predicted, gold, strict=True):
        events_of[story][event] += 1
        stories_of[event][story] += 1
    mixed = [
        {"story": story, "events": dict(events.most_common())}
        for story, events in sorted(events_of.items())
        if len(events) > 1
    ]
    split = [
        {
            "event": event,
            "stories": [[story if story >= 0 else None, n] for story, n in stories.most_common()],
        }
        for event, stories in sorted(stories_of.items())
        if len(stories) > 1
    ]
    return mixed, split


def format_report(report: EvalReport) -> str:
    lines = [
        f"articles: {report.articles}  events: {report.events}  stories: {report.stories}",
        f"BCubed precision {report.precision:.4f}  recall {report.recall:.4f}  F1 {report.f1:.4f}",
        f"ARI {report.ari:.4f}",
        f"duplicates: {len(report.duplicates)}",
    ]
    for d in report.duplicates:
        lines.append(
            f"  {d['item'][:12]} {d['kind']} of {str(d['of_item'])[:12]} "
            f"similarity {d['similarity']:.3f} same event: {d['same_event']}"
        )
    lines.append(f">=80% containment rule: {len(report.containment_violations)} violation(s)")
    for v in report.containment_violations:
        lines.append(
            f"  {v['item'][:12]} {v['containment']:.2f} in {v['contained_in'][:12]}: "
            f"{v['decision']}"
        )
    lines.append(f"stories mixing events: {len(report.mixed_stories)}")
    for m in report.mixed_stories:
        parts = ", ".join(f"{event} ({n})" for event, n in m["events"].items())
        lines.append(f"  story #{m['story']}: {parts}")
    lines.append(f"events split over stories: {len(report.split_events)}")
    for e in report.split_events:
        counts = "+".join(str(n) for _, n in e["stories"])
        lines.append(f"  {e['event']}: {len(e['stories'])} stories ({counts} articles)")
    lines.append("developments per event (developments/articles):")
    for event, c in report.developments_per_event.items():
        lines.append(f"  {c['developments']:>3}/{c['articles']:<3} {event}")
    lines.append(f"share of articles that were developments: {report.development_share:.3f}")
    lines.append(
        f"runtime per article: mean {report.ms_per_article:.2f} ms, p95 {report.p95_ms:.2f} ms"
    )
    return "\n".join(lines)


def fact_quoted(fact: str, sentences: Sequence[str], share: float = 0.5) -> str | None:
    """The sentence holding at least ``share`` of ``fact``'s content terms, if any.

    Used to check that an alert quotes a fact a scenario lists, in other words than the list's.
    """
    wanted = set(content_terms(fact))
    for sentence in sentences:
        have = set(content_terms(sentence))
        if wanted and len(wanted & have) / len(wanted) >= share:
            return sentence
    return None
