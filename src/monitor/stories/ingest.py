"""Store one article and place it: duplicate, story member, development or repeat report.

Contract of :func:`ingest` (called once per new article, in publication order, inside the
caller's transaction; it flushes but never commits):

1. **Already stored** when its canonical URL or feed GUID key exists (a unique-key hit, also when
   another writer wins the race): nothing is written, ``article_id`` is ``None``.
2. **Exact duplicate** when an original with the same content hash exists (the partial unique
   index decides: rows are inserted with ``ON CONFLICT DO NOTHING``, so a lost race costs no
   aborted transaction and is retried as a duplicate).
3. **Near duplicate** when a stored original sharing LSH band keys contains at least
   ``near_duplicate_threshold`` of its 5-grams. Duplicates point at their original, take its
   story and are filed as another report of its development; they never change the story's
   centroid, memory or terms and are never developments.
4. Otherwise the article **joins the best active story** (decayed TF-IDF cosine at or above
   ``story_threshold``, candidates from the ``story_terms`` index) or **opens a new story**.
5. **Novelty**: the first article of a story is its first development; a later one is a development
   when it has novel informative sentences (:mod:`monitor.stories.novelty`), else it is filed as a
   report of the development it repeats most.

The detect stage ingests a batch of articles in one transaction and reads what their lookups
need once for the batch (:class:`Batch`): each article is decided exactly as when ingested alone.

The typed :class:`monitor.decision.Decision` (stored in ``articles.decision``) records
scores, thresholds and matched sentences for ``monitor explain``; placement of an original is
load, decide (pure), write: see :mod:`monitor.stories.placement`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitor.decision import Decision, NearCandidate
from monitor.dedup import (
    Fingerprint,
    band_keys,
    estimate_containment,
    signature_from_bytes,
)
from monitor.detection_settings import DetectionSettings
from monitor.errors import StorageError
from monitor.models import Article
from monitor.storage import detection as repo
from monitor.storage.detection import ArticlePlacements, DocumentCounts, Placement, StoredStory
from monitor.stories.placement import decide, document_terms, load_context
from monitor.stories.reading import Reading, reading_for
from monitor.timeutil import as_utc

known_keys = repo.known_keys


def prune_story_index(session: Session, now: datetime, settings: DetectionSettings) -> int:
    """Forget the candidate terms of stories cold for ``story_active_days`` (once per cycle)."""
    return repo.prune_story_index(session, now - timedelta(days=settings.story_active_days))


@dataclass(frozen=True, slots=True)
class IngestResult:
    article_id: int | None
    already_stored: bool
    duplicate_of: int | None
    duplicate_kind: str | None  # "exact" | "near" | None
    similarity: float | None
    story_id: int | None
    new_story: bool
    development_id: int | None
    repeats_development_id: int | None
    novel_sentences: tuple[str, ...]

    @classmethod
    def stored(cls) -> IngestResult:
        return cls(None, True, None, None, None, None, False, None, None, ())


# The article_keys column's width; a longer GUID key is stored by the GUID's SHA-256.
MAX_KEY_CHARS = 2100


def url_key(url: str) -> str:
    """The ``article_keys`` key of a canonical (or ``rel=canonical``) URL."""
    return f"url:{url}"


def keys_of(source: str, canonical_url: str, guid: str | None) -> list[str]:
    """The ``article_keys`` of an entry or article: its canonical URL and, when it has one,
    its feed's GUID (a GUID too long for the key column is keyed by its hash)."""
    keys = [url_key(canonical_url)]
    if guid:
        key = f"guid:{source}:{guid}"
        if len(key) > MAX_KEY_CHARS:
            digest = hashlib.sha256(guid.encode("utf-8", "surrogatepass")).hexdigest()
            key = f"guid:{source}:sha256:{digest}"
        keys.append(key)
    return keys


def article_keys(article: Article) -> list[str]:
    return keys_of(article.source, article.canonical_url, article.guid)


class Batch:
    """What ingest looks up for a batch of articles, read in one statement per kind of lookup.

    Built by :meth:`prepare` inside the batch's transaction, which must hold the
    detection lock (:func:`monitor.storage.detection.lock_detection`): every writer of
    articles holds it, so what is stored changes during the batch only by the batch's own
    articles, which :meth:`stored` records. Per article, ingest then reads from here, in
    memory, exactly what its own queries would have returned at that point: whether a key is
    stored, the original holding a content hash, and (in ``pending``) the stored document
    frequencies; the readings are computed once. A key or hash not prefetched is looked up in
    the database as without a batch.

    The batch's articles' placements (story, development, decision) wait in
    :attr:`placements` and are written by :meth:`write` at the batch's end, in one statement;
    until then :meth:`placement` answers for them.

    What an article records is tentative until :meth:`keep`; :meth:`drop` forgets it, for an
    article whose savepoint was rolled back (as :class:`DocumentCounts` does).
    """

    def __init__(self) -> None:
        self._readings: dict[int, Reading] = {}  # by id() of the batch's article objects
        self._keys_read: set[str] = set()
        self._keys: set[str] = set()  # stored, of those read or added
        self._hashes_read: set[str] = set()
        self._originals: dict[str, Placement] = {}
        self._tentative: list[tuple[Sequence[str], str | None, Placement | None]] = []
        self.placements = ArticlePlacements()

    @classmethod
    def prepare(
        cls,
        session: Session,
        articles: Sequence[Article],
        settings: DetectionSettings,
        pending: DocumentCounts | None,
    ) -> Batch:
        """Read what ingesting ``articles`` in order looks up, one statement per kind of lookup
        (with ``pending``, the stored document frequencies of every article's terms)."""
        batch = cls()
        keys = list(dict.fromkeys(k for a in articles for k in article_keys(a)))
        batch._keys = repo.known_keys(session, keys)
        batch._keys_read = set(keys)
        readings = [reading_for(a, settings) for a in articles]
        batch._readings = {id(a): r for a, r in zip(articles, readings, strict=True)}
        hashes = list(dict.fromkeys(r.fingerprint.content_hash for r in readings))
        batch._originals = repo.originals_by_hash(session, hashes)
        batch._hashes_read = set(hashes)
        if pending is not None:
            pending.read(session, [t for r in readings for t in document_terms(r, settings)])
        return batch

    def reading(self, article: Article, settings: DetectionSettings) -> Reading:
        read = self._readings.get(id(article))
        return read if read is not None else reading_for(article, settings)

    def known(self, session: Session, keys: Sequence[str]) -> bool:
        """Whether any of ``keys`` is stored."""
        if any(k in self._keys for k in keys):
            return True
        return any(k not in self._keys_read for k in keys) and bool(repo.known_keys(session, keys))

    def original(self, session: Session, content_hash: str) -> Placement | None:
        """The stored original with ``content_hash``, if any."""
        if content_hash in self._hashes_read:
            return self._originals.get(content_hash)
        return repo.original_by_hash(session, content_hash)

    def placement(self, session: Session, article_id: int) -> Placement | None:
        """Where the stored article ``article_id`` was placed."""
        placed = self.placements.placement(article_id)
        return placed if placed is not None else repo.placement(session, article_id)

    def stored(
        self, keys: Sequence[str], content_hash: str | None, placed: Placement | None
    ) -> None:
        """An article of the batch was stored under ``keys``; with ``content_hash``, as the
        original of that hash, placed at ``placed``."""
        self._tentative.append((keys, content_hash, placed))

    def keep(self) -> None:
        for keys, content_hash, placed in self._tentative:
            self._keys.update(keys)
            if content_hash is not None and placed is not None:
                self._originals[content_hash] = placed
        self._tentative.clear()
        self.placements.keep()

    def drop(self) -> None:
        self._tentative.clear()
        self.placements.drop()

    def write(self, session: Session) -> None:
        """Write the kept articles' placements (before the batch's alerting reads them)."""
        self.placements.write(session)


def _is_stored(session: Session, article: Article, keys: Sequence[str]) -> bool:
    if repo.known_keys(session, keys):
        return True
    return repo.canonical_url_stored(session, article.canonical_url)


def _try_insert(
    session: Session,
    article: Article,
    fp: Fingerprint,
    source_id: int | None,
    keys: Sequence[str],
    duplicate_of: int | None,
    similarity: float | None,
    *,
    savepoint: bool,
) -> int | None:
    """Insert the article and its keys; its id, or ``None`` when a unique index refused either.

    Without ``savepoint`` (a caller holding the detection lock, whose key check saw every
    writer's keys) a refused key is not expected; the article's row is then deleted again.
    """
    values: dict[str, Any] = {
        "source_id": source_id,
        "source_name": article.source,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "guid": article.guid,
        "title": article.title,
        "text": article.text,
        "summary_only": article.summary_only,
        "authors": list(article.authors),
        "published_at": article.published_at,
        "fetched_at": article.fetched_at,
        "language": article.language,
        "site_name": article.site_name,
        "content_hash": fp.content_hash,
        "minhash": fp.to_bytes(),
        "duplicate_of_id": duplicate_of,
        "duplicate_similarity": similarity,
        "is_development": False,
        "decision": {},
        "revision_of_id": article.revision_of,
        "alert_hold": article.alert_hold,
        "feed_date": article.feed_date,
    }
    if not savepoint:
        article_id, keys_free = repo.insert_article_with_keys(session, values, keys)
        if article_id is None or keys_free:
            return article_id
        repo.delete_article(session, article_id)
        return None
    nested = session.begin_nested()
    article_id, keys_free = repo.insert_article_with_keys(session, values, keys)
    if article_id is not None and keys_free:
        nested.commit()
        return article_id
    # Another writer holds this URL or GUID: it stored the article first. Rolling back leaves
    # no row to delete, so no foreign-key cascade has to look through the archive's bands,
    # keys and reports for children of a row that never had any.
    nested.rollback()
    return None


def near_duplicate(
    fp: Fingerprint,
    candidates: Iterable[tuple[int, bytes, int]],
    settings: DetectionSettings,
) -> tuple[NearCandidate, tuple[NearCandidate, ...]] | None:
    """The stored original ``fp`` is a near copy of (pure), and every candidate checked.

    ``candidates`` are (article id, stored MinHash, shared bands) rows sharing LSH bands.
    """
    checked: list[NearCandidate] = []
    best: NearCandidate | None = None
    for article_id, blob, shared in candidates:
        sig, count = signature_from_bytes(blob)
        containment = estimate_containment(fp.signature, fp.shingle_count, sig, count)
        checked.append(NearCandidate(article_id, shared, containment))
        if containment >= settings.near_duplicate_threshold and (
            best is None or containment > best.containment
        ):
            best = checked[-1]
    if best is None:
        return None
    return best, tuple(checked)


def _touched(story: StoredStory, article: Article, when: datetime) -> dict[str, Any]:
    """The story row's new outlets, article count and last update after ``article`` joins."""
    outlets = list(story.outlets)
    if article.source not in outlets:
        outlets.append(article.source)
    return {
        "outlets": outlets,
        "article_count": story.article_count + 1,
        "last_seen_at": max(as_utc(story.last_seen_at), when),
    }


def ingest(
    session: Session,
    article: Article,
    *,
    source_id: int | None,
    settings: DetectionSettings,
    pending: DocumentCounts | None = None,
    batch: Batch | None = None,
) -> IngestResult:
    """Store ``article`` and decide what it is (see the module docstring).

    With ``pending``, the article's document frequencies go there instead of to the database
    (see :class:`monitor.storage.detection.DocumentCounts`); the caller writes them. With
    ``batch`` (:meth:`Batch.prepare` of the article's batch, under the detection lock), the
    lookups come from there and the article is recorded in it; the caller keeps or drops it.
    """
    when = as_utc(article.published_at or article.fetched_at)
    keys = article_keys(article)
    # Core statements below do not autoflush: write the caller's pending changes first.
    session.flush()
    # Keys are the cheap pre-check; a canonical URL stored without keys is caught by the insert.
    if batch.known(session, keys) if batch is not None else repo.known_keys(session, keys):
        return IngestResult.stored()

    read = batch.reading(article, settings) if batch is not None else reading_for(article, settings)
    fp = read.fingerprint
    bands = band_keys(fp.signature, settings.lsh_bands)
    decision = Decision(
        content_hash=fp.content_hash, shingles=fp.shingle_count, revision_of=article.revision_of
    )

    copy, near = _find_original(session, article, fp, bands, settings, batch)
    if near is not None:
        decision = replace(decision, near_candidates=near)
    inserted = _insert(session, article, fp, source_id, keys, copy, savepoint=batch is None)
    if inserted is None:
        return IngestResult.stored()
    article_id, copy = inserted

    added = _with_alias(session, article, article_id, keys)

    if copy is not None:
        deferred = batch.placements if batch is not None else None
        result = _file_duplicate(session, article_id, copy, decision, article, deferred)
        if batch is not None:
            batch.stored(added, None, None)
        return result

    result = _place_original(
        session, article_id, article, read, when, settings, decision, pending, bands, batch
    )
    if batch is not None:
        _record_original(batch, added, fp.content_hash, article_id, result)
    return result


def _with_alias(
    session: Session, article: Article, article_id: int, keys: Sequence[str]
) -> list[str]:
    """The keys stored for the new article: ``keys``, plus its rel=canonical alias when that
    differs from the canonical URL and no other article holds it yet."""
    added = list(keys)
    if article.rel_canonical and article.rel_canonical != article.canonical_url:
        alias = url_key(article.rel_canonical)
        if repo.add_key_if_free(session, article_id, alias):
            added.append(alias)
    return added


def _record_original(
    batch: Batch, added: Sequence[str], content_hash: str, article_id: int, result: IngestResult
) -> None:
    """Record a placed original in ``batch``, so later articles of the batch see it."""
    # The article row's development: its own, or the one it repeats.
    development = (
        result.development_id
        if result.development_id is not None
        else result.repeats_development_id
    )
    batch.stored(added, content_hash, Placement(article_id, result.story_id, development))


@dataclass(frozen=True, slots=True)
class _Copy:
    """The stored original an article copies, how (``"exact"``, ``"near"``) and how closely."""

    original: Placement
    kind: str
    similarity: float


def _find_original(
    session: Session,
    article: Article,
    fp: Fingerprint,
    bands: Sequence[int],
    settings: DetectionSettings,
    batch: Batch | None,
) -> tuple[_Copy | None, tuple[NearCandidate, ...] | None]:
    """The original ``article`` duplicates, if any, and the near candidates checked."""
    if batch is not None:
        original = batch.original(session, fp.content_hash)
    else:
        original = repo.original_by_hash(session, fp.content_hash)
    if original is not None:
        return _Copy(original, "exact", 1.0), None
    # An updated version mostly contains the version read before: near-duplicate detection
    # would file every update as a copy. Novelty against the story decides instead.
    if article.revision_of is not None:
        return None, None
    near = near_duplicate(
        fp, repo.band_candidates(session, bands, settings.near_duplicate_candidates), settings
    )
    if near is None:
        return None, None
    if batch is not None:
        original = batch.placement(session, near[0].article_id)
    else:
        original = repo.placement(session, near[0].article_id)
    if original is None:
        return None, near[1]
    return _Copy(original, "near", near[0].containment), near[1]


def _insert(
    session: Session,
    article: Article,
    fp: Fingerprint,
    source_id: int | None,
    keys: Sequence[str],
    copy: _Copy | None,
    *,
    savepoint: bool,
) -> tuple[int, _Copy | None] | None:
    """Insert the article: its id and what it copies, or ``None`` when it is already stored."""
    article_id = _try_insert(
        session,
        article,
        fp,
        source_id,
        keys,
        copy.original.id if copy else None,
        copy.similarity if copy else None,
        savepoint=savepoint,
    )
    if article_id is not None:
        return article_id, copy
    if _is_stored(session, article, keys):
        return None
    # Another writer stored the same content first: the unique index says we are a copy.
    original = repo.original_by_hash(session, fp.content_hash)
    if original is None:
        raise StorageError(f"article {article.canonical_url} refused by the database")
    copy = _Copy(original, "exact", 1.0)
    article_id = _try_insert(
        session, article, fp, source_id, keys, original.id, 1.0, savepoint=savepoint
    )
    if article_id is not None:
        return article_id, copy
    if _is_stored(session, article, keys):
        return None
    raise StorageError(f"article {article.canonical_url} refused by the database")


def _place_original(
    session: Session,
    article_id: int,
    article: Article,
    read: Reading,
    when: datetime,
    settings: DetectionSettings,
    decision: Decision,
    pending: DocumentCounts | None,
    bands: Sequence[int],
    batch: Batch | None,
) -> IngestResult:
    """Load the story context, decide (pure), then write the decision (and the article's band
    keys) in one repository call (the article row's placement to ``batch``, when given)."""
    context = load_context(session, article, read, when, settings, pending)
    plan = decide(article, read, context, when, settings, decision)
    deferred = batch.placements if batch is not None else None
    placed = repo.write_placement(
        session, article_id, plan.write, plan.decision, pending, bands, deferred
    )
    return IngestResult(
        article_id=article_id,
        already_stored=False,
        duplicate_of=None,
        duplicate_kind=None,
        similarity=None,
        story_id=placed.story_id,
        new_story=plan.new_story,
        development_id=placed.development_id,
        repeats_development_id=placed.repeats_development_id,
        novel_sentences=plan.novel_sentences,
    )


def _file_duplicate(
    session: Session,
    article_id: int,
    copy: _Copy,
    decision: Decision,
    article: Article,
    deferred: ArticlePlacements | None,
) -> IngestResult:
    original, kind, similarity = copy.original, copy.kind, copy.similarity
    if original.development_id is not None:
        repo.add_report(session, original.development_id, article_id, similarity)
    if original.story_id is not None:
        story = repo.load_story(session, original.story_id)
        if story is not None:
            when = as_utc(article.published_at or article.fetched_at)
            repo.update_story(session, story.id, **_touched(story, article, when))
    decision = replace(
        decision,
        outcome=f"{kind} duplicate",
        duplicate_of=original.id,
        similarity=round(similarity, 4),
        story_id=original.story_id,
        development_id=original.development_id,
    )
    repo.place_article(
        session,
        article_id,
        story_id=original.story_id,
        development_id=original.development_id,
        is_development=False,
        decision=decision.to_json(),
        deferred=deferred,
    )
    return IngestResult(
        article_id=article_id,
        already_stored=False,
        duplicate_of=original.id,
        duplicate_kind=kind,
        similarity=similarity,
        story_id=original.story_id,
        new_story=False,
        development_id=None,
        repeats_development_id=original.development_id,
        novel_sentences=(),
    )
