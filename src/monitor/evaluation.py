"""Replay a labelled article stream through the real ingest code and score it.

Contract:

* :func:`bcubed` and :func:`adjusted_rand_index` are pure clustering metrics over two labelings of
  the same items (predicted story, gold event).
* :func:`load_stream` reads a JSONL stream (``id``, ``date_publish``, ``source_domain``, ``url``,
  ``title``, ``text``, optional ``description``, ``event``) sorted by publication time. An item
  whose text is shorter than ``MIN_TEXT_CHARS`` is ingested the way the pipeline stores an
  unusable extraction: the feed's title and description, marked summary-only.
* :func:`replay` feeds it to the detect stage a cycle pipeline runs,
  :func:`monitor.pipeline.detect.detect` (ingest, then alerts), ``cycle_size`` articles per call
  (one transaction each), on a fresh database. Its topic is :data:`EVERY_ARTICLE`, which matches
  every article: alerts then measure detection itself (one per new development, plus a story's
  first sight), not how well a query was written.
* :func:`load_developments` reads development labels: ``{"guidelines": ..., "events": {event:
  [{"id", "development": n, "kind": "new" | "same" | "analysis", "form"?}]}}``. ``new`` is the
  first report of development ``n`` of the event, ``same`` another report of it, ``analysis`` an
  explainer or opinion piece that adds no news (filed with the development it discusses). The
  optional ``form`` marks a ``"copy"`` (a verbatim or lightly edited reprint, which must be an
  exact or near duplicate) or a ``"rewrite"`` (the same facts in other words, which must not
  alert).
* :func:`evaluate` adds the scores: BCubed P/R/F1, ARI, duplicate decisions, the containment rule
  (every article whose ingested text has >= 80 % of its 5-grams in an earlier article's must be a
  duplicate and never a development), developments per event and runtime per article; with
  labels, per event and in total: development recall (groups with at least one alert), alerts per
  group, redundant alerts (on a group already alerted), alerts on analysis pieces, copies caught
  as duplicates and rewrites kept silent.
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

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.alert_settings import TopicDelivery, WebhookChannel
from monitor.config import MonitorConfig, TopicConfig
from monitor.detection_settings import DetectionSettings
from monitor.errors import ConfigError, StorageError
from monitor.models import Article
from monitor.pipeline.detect import CompiledTopic, detect
from monitor.storage.db import session_factory
from monitor.storage.detection import DocumentCounts
from monitor.storage.tables import AlertRow, DeliveryRow
from monitor.stories.ingest import Batch, IngestResult, ingest
from monitor.text import clean_body, content_terms, shingles, words
from monitor.topics import Document, TopicMatch, parse_query
from monitor.wording import counted

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
    alerts: int = 0  # alerts raised on this article, over every topic


class _EveryArticle(CompiledTopic):
    """A topic that matches every article: the evaluation's stand-in for a user's queries."""

    __slots__ = ()

    def match(self, doc: Document) -> TopicMatch | None:
        return TopicMatch(terms=("every article",))


# The query text is never matched (``match`` is overridden); it only has to be a valid query.
EVERY_ARTICLE: CompiledTopic = _EveryArticle(
    TopicConfig(name="every article", query="every article"), parse_query("every article")
)


# The replay's reader: alerts are queued for it as for any channel, and never sent.
READER = WebhookChannel(type="webhook", name="reader", url="https://reader.invalid/")


def replay(
    engine: Engine,
    items: Sequence[StreamItem],
    settings: DetectionSettings,
    *,
    topics: Sequence[CompiledTopic] = (EVERY_ARTICLE,),
    cycle_size: int = 1,
    settle_minutes: int = 0,
) -> list[Replayed]:
    """Run ``items`` through the detect stage, ``cycle_size`` articles per cycle, in order.

    Each cycle is one :func:`~monitor.pipeline.detect.detect` call (one transaction, cold-story
    pruning first, as a cycle does), with the clock at its last article's publication time. An
    article's ``seconds`` is its cycle's wall time shared among the cycle's articles. Alerts are
    queued for one channel that is never sent to, routed as the outbox routes them with the
    topics' ``settle_minutes`` (``settle_minutes`` sets it on the default topic), so
    :func:`reader_messages` can count what a reader would receive.
    """
    if cycle_size < 1:
        raise ValueError("cycle_size must be at least 1")
    if settle_minutes and topics == (EVERY_ARTICLE,):
        delivery = TopicDelivery(settle_minutes=settle_minutes)
        settled = EVERY_ARTICLE.config.model_copy(update={"delivery": delivery})
        topics = (_EveryArticle(settled, EVERY_ARTICLE.query),)
    results, seconds = _replay_cycles(engine, items, settings, topics, cycle_size)
    alerts = _alerts_per_article(engine)
    out: list[Replayed] = []
    for item in items:
        result = results[id(item.article)]
        raised = alerts.get(result.article_id, 0) if result.article_id is not None else 0
        out.append(Replayed(item, result, seconds[id(item.article)], raised))
    return out


def _replay_cycles(
    engine: Engine,
    items: Sequence[StreamItem],
    settings: DetectionSettings,
    topics: Sequence[CompiledTopic],
    cycle_size: int,
) -> tuple[dict[int, IngestResult], dict[int, float]]:
    """Detect ``items`` ``cycle_size`` at a time; each article's ingest result and its share of
    its cycle's wall time, by ``id()`` of the article object."""
    sessions = session_factory(engine)
    config = MonitorConfig(channels=[READER])  # queued, never delivered
    results: dict[int, IngestResult] = {}  # by id() of the article object
    seconds: dict[int, float] = {}

    def recording_ingest(
        session: Session,
        article: Article,
        *,
        source_id: int | None,
        settings: DetectionSettings,
        pending: DocumentCounts | None = None,
        batch: Batch | None = None,
    ) -> IngestResult:
        result = ingest(
            session, article, source_id=source_id, settings=settings, pending=pending, batch=batch
        )
        results[id(article)] = result
        return result

    for first in range(0, len(items), cycle_size):
        cycle = [it.article for it in items[first : first + cycle_size]]
        last = cycle[-1]
        start = time.perf_counter()
        report = detect(
            sessions,
            cycle,
            {},
            config,
            settings,
            now=last.published_at or last.fetched_at,
            batch_size=cycle_size,
            ingest_fn=recording_ingest,
            topics=topics,
        )
        share = (time.perf_counter() - start) / len(cycle)
        seconds.update((id(article), share) for article in cycle)
        if report.errors:
            error = report.errors[0]
            raise StorageError(f"{error.url}: detection failed: {error.kind} {error.message}")
    return results, seconds


def _alerts_per_article(engine: Engine) -> dict[int, int]:
    """Alerts raised on each article, over every topic, by article id."""
    with Session(engine) as session:
        counted = select(AlertRow.article_id, func.count()).group_by(AlertRow.article_id)
        return {int(article): int(n) for article, n in session.execute(counted)}


def reader_messages(engine: Engine) -> int:
    """Messages the replay's reader would get: each immediate alert, and one follow-up per
    settle window (its deliveries share the window's end as their due time)."""
    with Session(engine) as session:
        immediate = session.scalar(
            select(func.count()).select_from(DeliveryRow).where(DeliveryRow.mode == "immediate")
        )
        follow_ups = session.scalar(
            select(func.count(func.distinct(DeliveryRow.next_attempt_at))).where(
                DeliveryRow.route == "settle"
            )
        )
    return int(immediate or 0) + int(follow_ups or 0)


@dataclass(frozen=True, slots=True)
class DevelopmentLabel:
    """An article's place in its event's developments (see the module docstring)."""

    event: str
    development: int
    kind: str  # "new" | "same" | "analysis"
    form: str | None = None  # "copy" | "rewrite" | None

    @property
    def group(self) -> tuple[str, int]:
        return (self.event, self.development)


KINDS = frozenset({"new", "same", "analysis"})
FORMS = frozenset({"copy", "rewrite"})


def load_developments(path: Path) -> dict[str, DevelopmentLabel]:
    """Development labels by item id."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read development labels: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from exc
    try:
        pairs = [
            (str(member["id"]), _label(str(event), member))
            for event, members in data["events"].items()
            for member in members
        ]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{path}: not development labels: {exc}") from exc
    labels = dict(pairs)
    if len(labels) < len(pairs):
        twice = sorted(ident for ident, n in Counter(i for i, _ in pairs).items() if n > 1)
        raise ConfigError(f"{path}: labelled more than once: {', '.join(twice[:5])}")
    return labels


def _label(event: str, member: dict[str, Any]) -> DevelopmentLabel:
    label = DevelopmentLabel(event, int(member["development"]), member["kind"], member.get("form"))
    if label.kind not in KINDS:
        raise ValueError(f"{member['id']}: kind {label.kind!r} not in {sorted(KINDS)}")
    if label.form is not None and label.form not in FORMS:
        raise ValueError(f"{member['id']}: form {label.form!r} not in {sorted(FORMS)}")
    return label


@dataclass(frozen=True, slots=True)
class DevelopmentTally:
    """Alerts against the labelled developments of one event, or of all of them."""

    articles: int = 0
    groups: int = 0
    alerted_groups: int = 0
    alerts: int = 0
    redundant_alerts: int = 0  # alerts on a group that had already alerted
    analysis_articles: int = 0
    analysis_alerts: int = 0
    copies: int = 0
    copies_caught: int = 0  # copies stored as exact or near duplicates
    rewrites: int = 0
    rewrites_silent: int = 0  # rewrites that raised no alert

    @property
    def recall(self) -> float:
        return self.alerted_groups / self.groups if self.groups else 1.0

    @property
    def alerts_per_development(self) -> float:
        return self.alerts / self.groups if self.groups else 0.0

    @property
    def analysis_alert_share(self) -> float:
        return self.analysis_alerts / self.alerts if self.alerts else 0.0

    def __add__(self, other: DevelopmentTally) -> DevelopmentTally:
        return DevelopmentTally(
            *(
                getattr(self, name) + getattr(other, name)
                for name in DevelopmentTally.__dataclass_fields__
            )
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["recall"] = round(self.recall, 4)
        out["alerts_per_development"] = round(self.alerts_per_development, 4)
        out["analysis_alert_share"] = round(self.analysis_alert_share, 4)
        return out


@dataclass(frozen=True, slots=True)
class DevelopmentScores:
    per_event: dict[str, DevelopmentTally]
    total: DevelopmentTally
    unlabelled: list[str]  # replayed items the labels do not mention
    missing: list[str]  # labelled items not in the stream

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total.to_json(),
            "per_event": {event: t.to_json() for event, t in self.per_event.items()},
            "unlabelled": self.unlabelled,
            "missing": self.missing,
        }


def score_developments(
    replayed: Sequence[Replayed], labels: dict[str, DevelopmentLabel]
) -> DevelopmentScores:
    """Alerts per labelled development, in replay order (see :class:`DevelopmentTally`)."""
    seen = {r.item.item_id for r in replayed}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    groups: dict[str, set[int]] = defaultdict(set)
    alerted: dict[str, set[int]] = defaultdict(set)
    for r in replayed:
        label = labels.get(r.item.item_id)
        if label is None:
            continue
        c = counts[label.event]
        groups[label.event].add(label.development)
        c["articles"] += 1
        c["analysis_articles"] += label.kind == "analysis"
        c["alerts"] += r.alerts
        c["analysis_alerts"] += r.alerts if label.kind == "analysis" else 0
        if r.alerts:
            # Every alert after the group's first repeats news the reader already has.
            c["redundant_alerts"] += r.alerts - (label.development not in alerted[label.event])
            alerted[label.event].add(label.development)
        if label.form == "copy":
            c["copies"] += 1
            c["copies_caught"] += r.result.duplicate_of is not None
        elif label.form == "rewrite":
            c["rewrites"] += 1
            c["rewrites_silent"] += r.alerts == 0
    per_event = {
        event: DevelopmentTally(
            groups=len(groups[event]), alerted_groups=len(alerted[event]), **counts[event]
        )
        for event in sorted(counts)
    }
    return DevelopmentScores(
        per_event=per_event,
        total=sum(per_event.values(), DevelopmentTally()),
        unlabelled=sorted(seen - labels.keys()),
        missing=sorted(labels.keys() - seen),
    )


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
    developments: DevelopmentScores | None = None  # with development labels
    extra: dict[str, Any] = field(default_factory=dict)
    messages: int | None = None  # what the reader received (see reader_messages)
    settle_minutes: int = 0

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
            **({"developments": self.developments.to_json()} if self.developments else {}),
            **(
                {"messages": self.messages, "settle_minutes": self.settle_minutes}
                if self.messages is not None
                else {}
            ),
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


def evaluate(
    replayed: Sequence[Replayed],
    containment_threshold: float = 0.8,
    labels: dict[str, DevelopmentLabel] | None = None,
    *,
    messages: int | None = None,
    settle_minutes: int = 0,
) -> EvalReport:
    stored = [r for r in replayed if r.result.article_id is not None]
    predicted = [
        r.result.story_id if r.result.story_id is not None else -i for i, r in enumerate(stored)
    ]
    gold = [r.item.event for r in stored]
    p, r_, f1 = bcubed(predicted, gold)
    ari = adjusted_rand_index(predicted, gold)
    per_event = _developments_per_event(stored)
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
        duplicates=_duplicate_decisions(stored),
        containment_violations=_containment_violations(stored, containment_threshold),
        developments_per_event=per_event,
        development_share=devs / len(stored) if stored else 0.0,
        ms_per_article=sum(times) / len(times) if times else 0.0,
        p95_ms=p95,
        mixed_stories=mixed,
        split_events=split,
        developments=score_developments(replayed, labels) if labels is not None else None,
        messages=messages,
        settle_minutes=settle_minutes,
    )


def _duplicate_decisions(stored: Sequence[Replayed]) -> list[dict[str, Any]]:
    """Each stored article that ingest found a duplicate: its kind, the item it duplicates (``None``
    when that one is not in ``stored``), the similarity and whether both share an event."""
    by_article = {r.result.article_id: r for r in stored}
    return [
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


def _containment_violations(
    stored: Sequence[Replayed], containment_threshold: float
) -> list[dict[str, Any]]:
    """Articles with at least ``containment_threshold`` of their 5-grams in one earlier article's
    that were not kept as a duplicate, or were made a development."""
    violations: list[dict[str, Any]] = []
    bodies = [clean_body(r.item.article.text) or r.item.article.text for r in stored]
    for i, (containment, j) in enumerate(best_earlier_containment(bodies)):
        r = stored[i]
        if containment >= containment_threshold and (
            r.result.duplicate_of is None or r.result.development_id is not None
        ):
            violations.append(
                {
                    "item": r.item.item_id,
                    "contained_in": stored[j].item.item_id,
                    "containment": round(containment, 3),
                    "decision": "development" if r.result.development_id else "not duplicate",
                }
            )
    return violations


def _developments_per_event(stored: Sequence[Replayed]) -> dict[str, dict[str, int]]:
    """Articles and developments of each gold event, by event name."""
    per_event: dict[str, dict[str, int]] = defaultdict(lambda: {"articles": 0, "developments": 0})
    for r in stored:
        per_event[r.item.event]["articles"] += 1
        per_event[r.item.event]["developments"] += int(r.result.development_id is not None)
    return dict(sorted(per_event.items()))


def best_earlier_containment(
    texts: Sequence[str], shingle_size: int = 5
) -> list[tuple[float, int]]:
    """For each text, the largest share of its word 5-grams found in one earlier text, and that
    text's index (``(0.0, -1)`` when none shares any); ties go to the later text.

    Exact, like comparing every pair with :func:`monitor.dedup.exact_containment`, but through an
    inverted index of shingles: only earlier texts sharing a shingle are counted, so the cost
    follows the shingles texts share rather than the number of pairs.
    """
    postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
    out: list[tuple[float, int]] = []
    for i, text in enumerate(texts):
        own = shingles(words(text), shingle_size)
        shared: Counter[int] = Counter()
        for shingle in own:
            shared.update(postings.get(shingle, ()))
        best = max(((n, j) for j, n in shared.items()), default=(0, -1))
        out.append((best[0] / len(own) if own else 0.0, best[1]))
        for shingle in own:
            postings[shingle].append(i)
    return out


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
    lines.append(
        f">=80% containment rule: {counted(len(report.containment_violations), 'violation')}"
    )
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
        lines.append(
            f"  {e['event']}: {counted(len(e['stories']), 'story', 'stories')} ({counts} articles)"
        )
    lines.append("developments per event (developments/articles):")
    for event, c in report.developments_per_event.items():
        lines.append(f"  {c['developments']:>3}/{c['articles']:<3} {event}")
    lines.append(f"share of articles that were developments: {report.development_share:.3f}")
    lines.append(
        f"runtime per article: mean {report.ms_per_article:.2f} ms, p95 {report.p95_ms:.2f} ms"
    )
    if report.developments is not None:
        lines += format_developments(report.developments)
    if report.messages is not None:
        window = (
            f"settle window {report.settle_minutes} min"
            if report.settle_minutes
            else "no settle window"
        )
        groups = report.developments.total.groups if report.developments is not None else 0
        per = f", {report.messages / groups:.2f} per development" if groups else ""
        lines.append(f"messages to the reader ({window}): {report.messages}{per}")
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole}" if whole else "-"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def format_developments(scores: DevelopmentScores) -> list[str]:
    """The development table: per event, then the totals."""
    lines = [
        "developments (labelled groups; the replay's one topic matches every article):",
        "  groups alerted  alerts  per-dev  redundant  analysis-alerts  copies-dup  "
        "rewrites-silent  event",
    ]

    def row(t: DevelopmentTally, name: str) -> str:
        return (
            f"  {t.groups:>6} {t.alerted_groups:>7}  {t.alerts:>6}  "
            f"{t.alerts_per_development:>7.2f}  {t.redundant_alerts:>9}  {t.analysis_alerts:>15}  "
            f"{_share(t.copies_caught, t.copies):>10}  "
            f"{_share(t.rewrites_silent, t.rewrites):>15}  {name}"
        )

    lines += [row(t, event) for event, t in scores.per_event.items()]
    total = scores.total
    lines.append(row(total, "(all events)"))
    lines.append(
        f"development recall {total.alerted_groups}/{total.groups} = {total.recall:.3f}; "
        f"alerts per development {total.alerts_per_development:.2f}; "
        f"redundant alerts {total.redundant_alerts} of {total.alerts} "
        f"({_percent(total.redundant_alerts, total.alerts)}); "
        f"alerts on analysis pieces {total.analysis_alerts} "
        f"({_percent(total.analysis_alerts, total.alerts)} of alerts; "
        f"{total.analysis_articles} analysis pieces)"
    )
    if total.copies or total.rewrites:
        lines.append(
            f"copies stored as duplicates {total.copies_caught}/{total.copies}; "
            f"rewrites without an alert {total.rewrites_silent}/{total.rewrites}"
        )
    if scores.unlabelled:
        lines.append(f"articles without a development label: {len(scores.unlabelled)}")
    if scores.missing:
        lines.append(f"labelled articles not in the stream: {len(scores.missing)}")
    return lines


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
