"""SQL of dedup, clustering and novelty: article keys, MinHash bands, stories, terms, developments.

Every lookup here goes through an index (primary keys of ``article_keys``, ``minhash_bands``,
``story_terms``, ``term_stats``; the partial unique index on ``articles.content_hash``), so its
cost depends on the size of the query, not on the size of the archive. Functions run inside the
caller's transaction and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.storage.tables import (
    ArticleKeyRow,
    ArticleRow,
    DevelopmentReportRow,
    DevelopmentRow,
    MinhashBandRow,
    StoryRow,
    StoryTermRow,
    TermStatRow,
)

DOC_COUNT_TERM = ""  # term_stats row holding the number of documents
MAX_TERM_LEN = 100
_CHUNK = 500  # bound the number of bind parameters per statement


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert(session: Session, table: Any) -> Any:
    """A dialect insert that supports ``on_conflict_do_*`` (SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def known_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are stored already (one indexed query per 500 keys)."""
    found: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(keys))):
        found.update(session.scalars(select(ArticleKeyRow.key).where(ArticleKeyRow.key.in_(chunk))))
    return found


def insert_article(session: Session, values: dict[str, Any]) -> int | None:
    """Insert an article row unless a unique index refuses it (canonical URL, original content
    hash); returns its id, or ``None`` on conflict. ``ON CONFLICT DO NOTHING`` lets the database
    decide without aborting the caller's transaction and without a SAVEPOINT."""
    stmt = (_insert(session, ArticleRow).values(**values).on_conflict_do_nothing()).returning(
        ArticleRow.id
    )
    new_id = session.execute(stmt).scalar()
    return int(new_id) if new_id is not None else None


def delete_article(session: Session, article_id: int) -> None:
    session.execute(delete(ArticleKeyRow).where(ArticleKeyRow.article_id == article_id))
    session.execute(delete(ArticleRow).where(ArticleRow.id == article_id))


def add_key_if_free(session: Session, article_id: int, key: str) -> bool:
    """Insert an alias key unless another article holds it; the database decides."""
    stmt = (
        _insert(session, ArticleKeyRow)
        .values(key=key, article_id=article_id)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


def original_by_hash(session: Session, content_hash: str) -> ArticleRow | None:
    return session.scalars(
        select(ArticleRow).where(
            ArticleRow.content_hash == content_hash, ArticleRow.duplicate_of_id.is_(None)
        )
    ).first()


def band_candidates(
    session: Session, band_keys: Sequence[int], limit: int
) -> list[tuple[int, bytes, int]]:
    """Articles sharing band keys: (id, signature bytes, shared bands), most shared first."""
    if not band_keys:
        return []
    shared = (
        select(MinhashBandRow.article_id, func.count().label("n"))
        .where(MinhashBandRow.band_key.in_(list(band_keys)))
        .group_by(MinhashBandRow.article_id)
        .order_by(func.count().desc(), MinhashBandRow.article_id)
        .limit(limit)
        .subquery()
    )
    rows = session.execute(
        select(ArticleRow.id, ArticleRow.minhash, shared.c.n)
        .join(shared, shared.c.article_id == ArticleRow.id)
        .order_by(shared.c.n.desc(), ArticleRow.id)
    )
    return [(int(i), bytes(m), int(n)) for i, m, n in rows if m is not None]


def add_bands(session: Session, article_id: int, band_keys: Sequence[int]) -> None:
    rows = [{"band_key": k, "article_id": article_id} for k in dict.fromkeys(band_keys)]
    if rows:
        stmt = _insert(session, MinhashBandRow).on_conflict_do_nothing()
        session.execute(stmt, rows)


def document_frequencies(session: Session, terms: Sequence[str]) -> tuple[dict[str, int], int]:
    """Document frequency of each term and the number of documents counted."""
    wanted = [t[:MAX_TERM_LEN] for t in dict.fromkeys(terms)]
    df: dict[str, int] = {}
    for chunk in _chunks([*wanted, DOC_COUNT_TERM]):
        for term, n in session.execute(
            select(TermStatRow.term, TermStatRow.df).where(TermStatRow.term.in_(chunk))
        ):
            df[term] = int(n)
    docs = df.pop(DOC_COUNT_TERM, 0)
    return df, docs


def count_document(session: Session, terms: Sequence[str]) -> None:
    """Add one document containing ``terms`` to the document frequencies (upsert)."""
    rows = [{"term": t[:MAX_TERM_LEN], "df": 1} for t in dict.fromkeys([*terms, DOC_COUNT_TERM])]
    for chunk in _chunks(rows):
        stmt = _insert(session, TermStatRow)
        stmt = stmt.on_conflict_do_update(index_elements=["term"], set_={"df": TermStatRow.df + 1})
        session.execute(stmt, list(chunk))


@lru_cache(maxsize=16)
def _postings_sql(terms: int) -> TextClause:
    # One statement per padded term count, so the driver and SQLAlchemy caches are reused.
    part = (
        "SELECT * FROM (SELECT story_id, weight FROM story_terms WHERE term = :t{i} "
        "ORDER BY weight DESC LIMIT :n) AS p{i}"
    )
    return text(" UNION ALL ".join(part.format(i=i) for i in range(terms)))


def story_candidates(
    session: Session, terms: Sequence[str], per_term: int, limit: int
) -> list[int]:
    """Stories holding the article's terms among their top terms, strongest overlap first.

    Each term reads at most ``per_term`` postings (highest weight first, from the
    ``(term, weight)`` index), so the cost is bounded by the query, not by how many stories exist.
    """
    wanted = [t[:MAX_TERM_LEN] for t in dict.fromkeys(terms) if t]
    if not wanted:
        return []
    scores: dict[int, float] = {}
    for chunk in _chunks(wanted, 64):
        padded = -(-len(chunk) // 8) * 8  # "" never occurs as a term
        params: dict[str, Any] = {
            f"t{i}": (chunk[i] if i < len(chunk) else "") for i in range(padded)
        }
        params["n"] = per_term
        for story_id, weight in session.execute(_postings_sql(padded), params):
            scores[int(story_id)] = scores.get(int(story_id), 0.0) + float(weight)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [sid for sid, _ in ranked[:limit]]


def prune_story_index(session: Session, cold_before: datetime) -> int:
    """Drop the indexed terms of stories not updated since ``cold_before``; returns rows deleted.

    Cold stories stop being candidates, which keeps ``story_terms`` the size of the active set.
    Run once per cycle, not per article.
    """
    cold = (
        select(StoryTermRow.story_id)
        .join(StoryRow, StoryRow.id == StoryTermRow.story_id)
        .where(StoryRow.last_seen_at < cold_before)
        .distinct()
    )
    ids = list(session.scalars(cold))
    deleted = 0
    for chunk in _chunks(ids):
        result = session.execute(delete(StoryTermRow).where(StoryTermRow.story_id.in_(chunk)))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


def load_stories(session: Session, ids: Sequence[int]) -> list[StoryRow]:
    if not ids:
        return []
    return list(session.scalars(select(StoryRow).where(StoryRow.id.in_(list(ids)))))


def replace_story_terms(
    session: Session, story_id: int, terms: Sequence[tuple[str, float]]
) -> None:
    session.execute(delete(StoryTermRow).where(StoryTermRow.story_id == story_id))
    rows = {t[:MAX_TERM_LEN]: w for t, w in terms if t}
    if rows:
        session.execute(
            insert(StoryTermRow),
            [{"term": t, "story_id": story_id, "weight": w} for t, w in rows.items()],
        )


def add_report(session: Session, development_id: int, article_id: int, similarity: float) -> None:
    stmt = (
        _insert(session, DevelopmentReportRow)
        .values(development_id=development_id, article_id=article_id, similarity=similarity)
        .on_conflict_do_nothing()
    )
    session.execute(stmt)


def latest_development(session: Session, story_id: int) -> int | None:
    return session.scalar(
        select(DevelopmentRow.id)
        .where(DevelopmentRow.story_id == story_id)
        .order_by(DevelopmentRow.id.desc())
        .limit(1)
    )


def set_story_state(session: Session, story_id: int, **values: Any) -> None:
    session.execute(update(StoryRow).where(StoryRow.id == story_id).values(**values))
