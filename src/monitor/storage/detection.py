"""SQL of dedup, clustering and novelty: article keys, MinHash bands, stories, terms, developments.

Every lookup here goes through an index (primary keys of ``article_keys``, ``minhash_bands``,
``story_terms``, ``term_stats``; the partial unique index on ``articles.content_hash``), so its
cost depends on the size of the query, not on the size of the archive. Functions run inside the
caller's transaction and never commit.

Statements are SQLAlchemy Core on the mapped tables: ingest runs a dozen of them per article,
and the ORM's unit of work and identity map cost more than the queries themselves. Rows changed
here are expired from the caller's session (:func:`_forget`), so ORM reads after ingest in the
same session see the new values. The detect path's hand-built statements (multi-row inserts,
IN lists padded to a few lengths so their text is cached) and its per-dialect branches are here
and in :mod:`~monitor.storage.placement_pg`, nowhere else.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Select,
    Table,
    Text,
    TextClause,
    any_,
    bindparam,
    delete,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from monitor.decision import Decision
from monitor.storage import placement_pg
from monitor.storage.db import dialect_insert, take_write_lock
from monitor.storage.story_write import StoryWrite
from monitor.storage.tables import (
    ArticleKeyRow,
    ArticleRow,
    DevelopmentReportRow,
    DevelopmentRow,
    MinhashBandRow,
    StoryRow,
    StorySentenceRow,
    StoryTermRow,
    TermStatRow,
)

ARTICLES = cast(Table, ArticleRow.__table__)
ARTICLE_KEYS = cast(Table, ArticleKeyRow.__table__)
BANDS = cast(Table, MinhashBandRow.__table__)
STORIES = cast(Table, StoryRow.__table__)
STORY_TERMS = cast(Table, StoryTermRow.__table__)
STORY_SENTENCES = cast(Table, StorySentenceRow.__table__)
TERM_STATS = cast(Table, TermStatRow.__table__)
DEVELOPMENTS = cast(Table, DevelopmentRow.__table__)
REPORTS = cast(Table, DevelopmentReportRow.__table__)

DOC_COUNT_TERM = ""  # term_stats row holding the number of documents
MAX_TERM_LEN = 100
_CHUNK = 500  # bound the number of bind parameters per statement


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``: bounded bind parameters, or short transactions."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# Statements on the per-article path are built once, with bind parameters, and reused: building
# one costs more than running it (argument coercion, cache key), and a reused statement object
# carries its cache key already.


def _by_id(column: Any) -> Any:
    return column == bindparam("row_id")


@lru_cache(maxsize=16)
def _insert_rows_sql(dialect: Dialect, table: Table, columns: tuple[str, ...], tail: str) -> str:
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[c].name) for c in columns)  # KeyError on a foreign name
    # Names and types come from the table's metadata and values are bound: no user input here.
    if dialect.name == "postgresql":
        # Each column travels as one array: the rows cost one statement, not one each.
        arrays = ", ".join(f"%s::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
        rows = f"SELECT * FROM unnest({arrays})"  # noqa: S608 - metadata, not input
    else:
        rows = "VALUES (" + ", ".join("?" * len(columns)) + ")"
    return f"INSERT INTO {quote(table.name)} ({names}) {rows} {tail}"


def _insert_rows(
    session: Session,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    on_conflict: str = "",
) -> None:
    """Insert many rows in one plain statement, past SQLAlchemy's per-row parameter handling.

    For the wide, simple writes of ingest (terms, postings, band keys, sentences) that handling
    costs more than the database; these rows hold only strings and numbers, which both drivers
    bind natively. SQLite takes them through ``executemany``; PostgreSQL as one array per
    column, unnested (about 330 rows an article, each a separate execution otherwise).
    Rows must not repeat a key that ``on_conflict`` updates.
    """
    if not rows:
        return
    connection = session.connection()
    sql = _insert_rows_sql(connection.dialect, table, columns, on_conflict)
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(sql, tuple(list(column) for column in zip(*rows, strict=True)))
    else:
        connection.exec_driver_sql(sql, list(rows))


def _padded(values: Sequence[Any], step: int) -> list[Any]:
    """``values`` padded to a multiple of ``step`` by repeating the first one.

    ``IN`` lists of a fixed length compile once and are reused from SQLAlchemy's statement
    cache; an expanding ``IN`` is re-rendered on every execution. Repeats do not change an
    ``IN`` predicate's result.
    """
    return [*values, *[values[0]] * (-len(values) % step)]


def _binds(values: Sequence[Any]) -> dict[str, Any]:
    return {f"v{i}": v for i, v in enumerate(values)}


def _in_list(n: int) -> list[Any]:
    return [bindparam(f"v{i}") for i in range(n)]


# On PostgreSQL a list of values travels as one array parameter (``= ANY(:values)``): the
# statement's text is then the same whatever the list's length, so psycopg converts it once and
# the server prepares and plans it once, where a long IN list or UNION was parsed, converted and
# planned again on every execution (psycopg caches no statement with more than 50 parameters).
_TEXTS = ARRAY(Text)
_BIGINTS = ARRAY(BigInteger)


def _forget(session: Session, cls: type[Any], row_id: int) -> None:
    """Expire the session's copy of a row that a Core statement has just changed."""
    obj = session.identity_map.get(session.identity_key(cls, row_id))
    if obj is not None:
        session.expire(obj)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a stored article sits: its id, story and development."""

    id: int
    story_id: int | None
    development_id: int | None


@dataclass(frozen=True, slots=True)
class StoredStory:
    """What clustering and novelty read of a story row."""

    id: int
    last_seen_at: datetime
    article_count: int
    outlets: list[Any]
    state: Mapping[str, Any]  # shared between loads of the same state: read, never modify


DETECTION_LOCK = 0x6D6F6E69746F72  # PostgreSQL advisory lock key of the detect stage


def lock_detection(session: Session) -> None:
    """Begin a detect transaction holding the detection lock; other writers wait for it.

    Detection is sequential by nature (each article is placed against the stories, terms and
    counts the previous ones left), and two writers at once also lock the same rows in
    different orders: every batch upserts the document count and its terms. Two deployments
    on one PostgreSQL database deadlocked within seconds; with an advisory lock held until the
    transaction ends, their transactions take turns. On SQLite the transaction takes the
    database's write lock up front (:func:`monitor.storage.db.take_write_lock`).
    Call it first in the transaction.
    """
    take_write_lock(session)
    if _dialect(session) == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DETECTION_LOCK})


def known_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are stored already (one indexed query per 500 keys)."""
    found: set[str] = set()
    for chunk in chunks(list(dict.fromkeys(keys))):
        padded = _padded(chunk, 4)
        found.update(session.scalars(_known_keys_sql(len(padded)), _binds(padded)))
    return found


@lru_cache(maxsize=64)
def _known_keys_sql(n: int) -> Select[tuple[str]]:
    return select(ARTICLE_KEYS.c.key).where(ARTICLE_KEYS.c.key.in_(_in_list(n)))


_URL_STORED = select(ARTICLES.c.id).where(ARTICLES.c.canonical_url == bindparam("url"))


def canonical_url_stored(session: Session, canonical_url: str) -> bool:
    return session.scalar(_URL_STORED, {"url": canonical_url}) is not None


@lru_cache(maxsize=4)
def _insert_article_sql(dialect: str) -> Any:
    return dialect_insert(dialect, ARTICLES).on_conflict_do_nothing().returning(ARTICLES.c.id)


def insert_article(session: Session, values: dict[str, Any]) -> int | None:
    """Insert an article row unless a unique index refuses it (canonical URL, original content
    hash); returns its id, or ``None`` on conflict. ``ON CONFLICT DO NOTHING`` lets the database
    decide without aborting the caller's transaction and without a SAVEPOINT."""
    new_id = session.execute(_insert_article_sql(_dialect(session)), values).scalar()
    return int(new_id) if new_id is not None else None


def insert_article_with_keys(
    session: Session, values: dict[str, Any], keys: Sequence[str]
) -> tuple[int | None, bool]:
    """Insert an article row and its keys (:func:`insert_article`, then
    :func:`add_keys_if_free`): its id (``None`` when a unique index refused the row) and
    whether every key was free. The caller rolls back, or deletes the row, when one was not.

    On PostgreSQL both are one statement: the keys' insert reads the id the article's insert
    returns, so no key is written when the row was refused.
    """
    if _dialect(session) != "postgresql":
        article_id = insert_article(session, values)
        if article_id is None:
            return None, False
        return article_id, add_keys_if_free(session, article_id, keys)
    wanted = list(dict.fromkeys(keys))
    stmt = _pg_insert_article_with_keys(tuple(values))
    row = session.execute(stmt, {**values, "article_keys": wanted}).one()
    if row[0] is None:
        return None, False
    return int(row[0]), int(row[1]) == len(wanted)


# A text, compiled once per set of columns: the dialect's INSERT ... ON CONFLICT has no cache
# key, and was compiled again for every article.
@lru_cache(maxsize=4)
def _pg_insert_article_with_keys(names: tuple[str, ...]) -> TextClause:
    """The article's row (``names``: its columns, a KeyError on a foreign one) and its keys."""
    columns = [ARTICLES.c[name] for name in names]
    values = ", ".join(f":{c.key}" for c in columns)
    # Column names from the table's metadata, values bound: no input in the text.
    sql = (
        f"WITH a AS (INSERT INTO articles ({', '.join(c.name for c in columns)}) "  # noqa: S608
        f"VALUES ({values}) ON CONFLICT DO NOTHING RETURNING id), "
        "k AS (INSERT INTO article_keys (key, article_id) "
        "SELECT x.key, a.id FROM a, unnest(CAST(:article_keys AS varchar[])) AS x(key) "
        "ON CONFLICT (key) DO NOTHING RETURNING key) "
        "SELECT (SELECT id FROM a), (SELECT count(*) FROM k)"
    )
    return text(sql).bindparams(*(bindparam(c.key, type_=c.type) for c in columns))


def add_key_if_free(session: Session, article_id: int, key: str) -> bool:
    """Insert a key unless another article holds it; the database decides."""
    return add_keys_if_free(session, article_id, [key])


def add_keys_if_free(session: Session, article_id: int, keys: Sequence[str]) -> bool:
    """Insert every key another article does not hold, in one statement; ``True`` when all
    of them were free (the caller rolls back otherwise).

    The answer is the returned rows, not the row count: SQLAlchemy promises a row count for
    UPDATE and DELETE only, and for this INSERT on psycopg it is -1, conflict or not.
    """
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return True
    params: dict[str, Any] = _binds(wanted)
    params["article_id"] = article_id
    stmt = _add_keys_sql(session.get_bind().dialect, len(wanted))
    return len(session.execute(stmt, params).all()) == len(wanted)


@lru_cache(maxsize=16)
def _add_keys_sql(dialect: Dialect, n: int) -> TextClause:
    # Text, not insert().values([...]): SQLAlchemy compiles a multi-row VALUES on every
    # execution, which cost more than the round trip it saves.
    quote = dialect.identifier_preparer.quote
    key = quote("key")
    rows = ", ".join(f"(:v{i}, :article_id)" for i in range(n))
    return text(
        f"INSERT INTO {quote(ARTICLE_KEYS.name)} ({key}, article_id) VALUES {rows} "  # noqa: S608 - metadata and placeholders only
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
    )


_PLACEMENT = select(ARTICLES.c.id, ARTICLES.c.story_id, ARTICLES.c.development_id)
_ORIGINAL_BY_HASH = _PLACEMENT.where(
    ARTICLES.c.content_hash == bindparam("hash"), ARTICLES.c.duplicate_of_id.is_(None)
).limit(1)
_PLACEMENT_BY_ID = _PLACEMENT.where(_by_id(ARTICLES.c.id))


def _placement(session: Session, stmt: Any, params: dict[str, Any]) -> Placement | None:
    row = session.execute(stmt, params).first()
    return Placement(int(row[0]), row[1], row[2]) if row is not None else None


def original_by_hash(session: Session, content_hash: str) -> Placement | None:
    return _placement(session, _ORIGINAL_BY_HASH, {"hash": content_hash})


def originals_by_hash(session: Session, hashes: Sequence[str]) -> dict[str, Placement]:
    """The stored originals holding any of ``hashes`` (one indexed query per 500 hashes)."""
    found: dict[str, Placement] = {}
    for chunk in chunks(list(dict.fromkeys(hashes))):
        if _dialect(session) == "postgresql":
            stmt, params = _originals_sql(None), {"hashes": list(chunk)}
        else:
            padded = _padded(chunk, 8)
            stmt, params = _originals_sql(len(padded)), _binds(padded)
        for content_hash, article_id, story_id, development_id in session.execute(stmt, params):
            found[content_hash] = Placement(int(article_id), story_id, development_id)
    return found


@lru_cache(maxsize=64)
def _originals_sql(n: int | None) -> Select[Any]:
    """For ``n`` hashes bound as v0..vn-1, or (``None``) an array of hashes bound as ``hashes``."""
    hashes = (
        ARTICLES.c.content_hash == any_(bindparam("hashes", type_=_TEXTS))
        if n is None
        else ARTICLES.c.content_hash.in_(_in_list(n))
    )
    return select(
        ARTICLES.c.content_hash, ARTICLES.c.id, ARTICLES.c.story_id, ARTICLES.c.development_id
    ).where(hashes, ARTICLES.c.duplicate_of_id.is_(None))


_DELETE_ARTICLE = delete(ARTICLES).where(_by_id(ARTICLES.c.id))


def delete_article(session: Session, article_id: int) -> None:
    """Delete an article row inserted in this transaction (its keys go with it)."""
    session.execute(_DELETE_ARTICLE, {"row_id": article_id})
    _forget(session, ArticleRow, article_id)


def placement(session: Session, article_id: int) -> Placement | None:
    return _placement(session, _PLACEMENT_BY_ID, {"row_id": article_id})


_UPDATE_ARTICLE = update(ARTICLES).where(_by_id(ARTICLES.c.id))


def place_article(
    session: Session,
    article_id: int,
    *,
    story_id: int | None,
    development_id: int | None,
    is_development: bool,
    decision: dict[str, Any],
    deferred: ArticlePlacements | None = None,
) -> None:
    """Record an article's story, development and decision: now, or in ``deferred``, which
    the caller writes before its transaction commits."""
    values = {
        "story_id": story_id,
        "development_id": development_id,
        "is_development": is_development,
        "decision": decision,
    }
    if deferred is not None:
        deferred.add(article_id, values)
        return
    session.execute(_UPDATE_ARTICLE, {"row_id": article_id, **values})
    _forget(session, ArticleRow, article_id)


class ArticlePlacements:
    """The placements (story, development, decision) of a transaction's new articles, written
    in one statement at its end instead of one update per article.

    An article's row is inserted before it is placed (its id is what its story's rows and band
    keys refer to), and its placement is read back only by a later article that copies or
    repeats it: :meth:`placement` answers those from here. Nothing else reads a row's placement
    before the transaction's alerting, which runs after :meth:`write`.

    An article's placement is tentative until :meth:`keep`; :meth:`drop` forgets it, for an
    article whose savepoint was rolled back (as :class:`DocumentCounts` does).
    """

    def __init__(self) -> None:
        self._rows: dict[int, dict[str, Any]] = {}
        self._tentative: list[int] = []

    def add(self, article_id: int, values: dict[str, Any]) -> None:
        self._rows[article_id] = values
        self._tentative.append(article_id)

    def keep(self) -> None:
        self._tentative.clear()

    def drop(self) -> None:
        for article_id in self._tentative:
            self._rows.pop(article_id, None)
        self._tentative.clear()

    def placement(self, article_id: int) -> Placement | None:
        """The placement of ``article_id`` if it is one of these, not yet written."""
        values = self._rows.get(article_id)
        if values is None:
            return None
        return Placement(article_id, values["story_id"], values["development_id"])

    def write(self, session: Session) -> None:
        """Update the rows (in the caller's transaction, in the order of their ids: one lock
        order for every writer) and start again from nothing."""
        self.keep()
        if self._rows:
            # One execution with many parameter sets: psycopg sends them in one pipeline.
            rows = [{"row_id": i, **values} for i, values in sorted(self._rows.items())]
            session.execute(_UPDATE_ARTICLE, rows)
            for article_id in self._rows:
                _forget(session, ArticleRow, article_id)
        self._rows.clear()


def band_candidates(
    session: Session, band_keys: Sequence[int], limit: int
) -> list[tuple[int, bytes, int]]:
    """Articles sharing band keys: (id, signature bytes, shared bands), most shared first."""
    if not band_keys:
        return []
    # Distinct keys: a key repeated in the IN list would not count twice anyway.
    distinct = list(dict.fromkeys(band_keys))
    params: dict[str, Any]
    if _dialect(session) == "postgresql":
        stmt, params = _band_candidates_sql(None), {"keys": distinct}
    else:
        padded = _padded(distinct, 8)
        stmt, params = _band_candidates_sql(len(padded)), _binds(padded)
    params["limit"] = limit
    rows = session.execute(stmt, params)
    return [(int(i), bytes(m), int(n)) for i, m, n in rows if m is not None]


@lru_cache(maxsize=64)
def _band_candidates_sql(n: int | None) -> Select[Any]:
    """For ``n`` keys bound as v0..vn-1, or (``None``) for an array of keys bound as ``keys``."""
    keys = (
        BANDS.c.band_key == any_(bindparam("keys", type_=_BIGINTS))
        if n is None
        else BANDS.c.band_key.in_(_in_list(n))
    )
    shared = (
        select(BANDS.c.article_id, func.count().label("n"))
        .where(keys)
        .group_by(BANDS.c.article_id)
        .order_by(func.count().desc(), BANDS.c.article_id)
        .limit(bindparam("limit"))
        .subquery()
    )
    return (
        select(ARTICLES.c.id, ARTICLES.c.minhash, shared.c.n)
        .join(shared, shared.c.article_id == ARTICLES.c.id)
        .order_by(shared.c.n.desc(), ARTICLES.c.id)
    )


def add_bands(session: Session, article_id: int, band_keys: Sequence[int]) -> None:
    """Index a new article's distinct band keys.

    A plain insert: the article's row is new, so none of its (key, article) rows can exist, and
    ``ON CONFLICT`` would only make PostgreSQL probe the primary key once more per row.
    """
    rows = [(k, article_id) for k in dict.fromkeys(band_keys)]
    _insert_rows(session, BANDS, ("band_key", "article_id"), rows)


def document_frequencies(
    session: Session, terms: Sequence[str], pending: DocumentCounts | None = None
) -> tuple[dict[str, int], int]:
    """Document frequency of each term and the number of documents counted (stored, plus what
    ``pending`` holds of this transaction's articles).

    With ``pending``, stored counts read once in the transaction are not read again: nothing
    writes them before :meth:`DocumentCounts.write`, and the articles of a batch share most
    of their common words.
    """
    wanted = [DOC_COUNT_TERM, *dict.fromkeys(t[:MAX_TERM_LEN] for t in terms)]
    stored = pending.stored if pending is not None else {}
    unread = [term for term in wanted if term not in stored]
    if unread:
        read = _stored_frequencies(session, unread)
        stored.update(dict.fromkeys(unread, 0))
        stored.update(read)
    df: dict[str, int] = {}
    extra: Counter[str] = pending.df if pending is not None else Counter()
    for term in wanted:
        n = stored[term] + extra[term]
        if n:
            df[term] = n
    docs = df.pop(DOC_COUNT_TERM, 0)
    return df, docs


def _stored_frequencies(session: Session, terms: Sequence[str]) -> dict[str, int]:
    if _dialect(session) == "postgresql":
        return {term: int(n) for term, n in session.execute(_PG_FREQUENCIES, {"terms": terms})}
    found: dict[str, int] = {}
    for chunk in chunks(terms):
        padded = _padded(chunk, 50)
        for term, n in session.execute(_frequencies_sql(len(padded)), _binds(padded)):
            found[term] = int(n)
    return found


@lru_cache(maxsize=64)
def _frequencies_sql(n: int) -> Select[Any]:
    return select(TERM_STATS.c.term, TERM_STATS.c.df).where(TERM_STATS.c.term.in_(_in_list(n)))


# One primary-key lookup per term, whatever the planner's statistics say. As ``term = ANY(:terms)``
# the planner chose between those lookups and a scan of the whole table by its estimate of the
# table's size, which lags behind a cycle that grows the vocabulary from nothing; a LATERAL
# subquery with a LIMIT can only run as a lookup per term.
_PG_FREQUENCIES = text(
    "SELECT t.term, s.df FROM unnest(CAST(:terms AS text[])) AS t(term) "
    "CROSS JOIN LATERAL (SELECT df FROM term_stats WHERE term_stats.term = t.term LIMIT 1) AS s"
)


def _document_terms(terms: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(t[:MAX_TERM_LEN] for t in [*terms, DOC_COUNT_TERM]))


def count_document(
    session: Session, terms: Sequence[str], pending: DocumentCounts | None = None
) -> None:
    """Add one document containing ``terms`` to the document frequencies: now (an upsert), or
    to ``pending``, which the caller writes before its transaction commits."""
    if pending is not None:
        pending.add(terms)
        return
    _insert_rows(
        session,
        TERM_STATS,
        ("term", "df"),
        [(t, 1) for t in _document_terms(terms)],
        "ON CONFLICT (term) DO UPDATE SET df = term_stats.df + 1",
    )


class DocumentCounts:
    """Document frequencies counted by a transaction's articles and written once, at its end.

    Every placed article counts its ~300 distinct terms; written one article at a time, that
    was the most expensive statement of the detect stage on PostgreSQL (an upsert of each
    term's row, each leaving a dead row version behind). Here the articles of a batch add up
    in memory and :meth:`write` upserts each term once with the batch's count, while
    :func:`document_frequencies` reads stored counts plus these, so every article sees exactly
    the frequencies it would have seen had each been written at once.

    An article's counts are tentative until :meth:`keep`; :meth:`drop` forgets them, for an
    article whose savepoint was rolled back.
    """

    def __init__(self) -> None:
        self.df: Counter[str] = Counter()
        # Stored counts read in this transaction (0 for a term with no row), kept until write().
        self.stored: dict[str, int] = {}
        self._tentative: list[list[str]] = []

    def read(self, session: Session, terms: Sequence[str]) -> None:
        """Read the stored counts of ``terms`` now, in one statement, for the batch's articles
        to find in :attr:`stored` (what :func:`document_frequencies` would read one by one)."""
        wanted = [DOC_COUNT_TERM, *dict.fromkeys(t[:MAX_TERM_LEN] for t in terms)]
        unread = [term for term in wanted if term not in self.stored]
        if unread:
            read = _stored_frequencies(session, unread)
            self.stored.update(dict.fromkeys(unread, 0))
            self.stored.update(read)

    def add(self, terms: Sequence[str]) -> None:
        self._tentative.append(_document_terms(terms))

    def keep(self) -> None:
        for terms in self._tentative:
            self.df.update(terms)
        self._tentative.clear()

    def drop(self) -> None:
        self._tentative.clear()

    def write(self, session: Session) -> None:
        """Upsert the kept counts (in the caller's transaction) and start again from zero."""
        self.keep()
        _insert_rows(
            session,
            TERM_STATS,
            ("term", "df"),
            sorted(self.df.items()),  # one order for every writer: no lock-order deadlock
            "ON CONFLICT (term) DO UPDATE SET df = term_stats.df + excluded.df",
        )
        self.df.clear()
        self.stored.clear()


@lru_cache(maxsize=16)
def _postings_sql(terms: int) -> TextClause:
    # One statement per padded term count, so the driver and SQLAlchemy caches are reused.
    part = (
        "SELECT * FROM (SELECT story_id, weight FROM story_terms WHERE term = :t{i} "
        "ORDER BY weight DESC LIMIT :n) AS p{i}"
    )
    return text(" UNION ALL ".join(part.format(i=i) for i in range(terms)))


# The same on PostgreSQL for any number of terms: each term's strongest postings, from the
# (term, weight) index, for every element of one array parameter.
# Each term's strongest postings in the order of the (term, weight) index, reading at most
# ``n`` of them. The limit is a subquery: with a number there, the planner weighs reading
# ``n`` postings in index order against gathering all of the term's postings by bitmap and
# sorting them, at the average number of postings per term (the term itself is not known when
# the lateral subquery is planned), and where that average is below ``n`` it gathered common
# terms' thousands of postings. A limit it cannot read is planned as a small fraction of the
# rows, which only the ordered index scan serves.
_PG_POSTINGS = text(
    "SELECT p.story_id, p.weight FROM unnest(CAST(:terms AS text[])) AS t(term) "
    "CROSS JOIN LATERAL (SELECT story_id, weight FROM story_terms "
    "WHERE story_terms.term = t.term ORDER BY weight DESC LIMIT (SELECT CAST(:n AS integer))) "
    "AS p"
)


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
    if _dialect(session) == "postgresql":
        postings = [session.execute(_PG_POSTINGS, {"terms": wanted, "n": per_term}).all()]
    else:
        postings = []
        for chunk in chunks(wanted, 64):
            padded = -(-len(chunk) // 8) * 8  # "" never occurs as a term
            params: dict[str, Any] = {
                f"t{i}": (chunk[i] if i < len(chunk) else "") for i in range(padded)
            }
            params["n"] = per_term
            postings.append(session.execute(_postings_sql(padded), params).all())
    for rows in postings:
        for story_id, weight in rows:
            scores[int(story_id)] = scores.get(int(story_id), 0.0) + float(weight)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [sid for sid, _ in ranked[:limit]]


def prune_story_index(session: Session, cold_before: datetime) -> int:
    """Drop the indexed terms of stories not updated since ``cold_before``; returns rows deleted.

    Cold stories stop being candidates, which keeps ``story_terms`` the size of the active set.
    Run once per cycle, not per article.
    """
    cold = (
        select(STORY_TERMS.c.story_id)
        .join(STORIES, STORIES.c.id == STORY_TERMS.c.story_id)
        .where(STORIES.c.last_seen_at < cold_before)
        .distinct()
    )
    ids = list(session.scalars(cold))
    deleted = 0
    for chunk in chunks(ids):
        result = session.execute(delete(STORY_TERMS).where(STORY_TERMS.c.story_id.in_(chunk)))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


_STORY_COLUMNS = (
    STORIES.c.id,
    STORIES.c.last_seen_at,
    STORIES.c.article_count,
    STORIES.c.outlets,
    # As text: every article reads a dozen candidate stories' centroids, most of them unchanged
    # since the previous article, and decoding them again cost more than the query.
    sql_cast(STORIES.c.state, Text),
)


@lru_cache(maxsize=256)
def _decoded_state(raw: str) -> Mapping[str, Any]:
    decoded = json.loads(raw)
    return decoded if isinstance(decoded, dict) else {}


def _stored_story(row: Any) -> StoredStory:
    state = _decoded_state(row[4]) if row[4] else {}
    return StoredStory(int(row[0]), row[1], int(row[2] or 0), list(row[3] or []), state)


def load_stories(session: Session, ids: Sequence[int]) -> list[StoredStory]:
    if not ids:
        return []
    padded = _padded(list(ids), 4)
    rows = session.execute(_stories_sql(len(padded)), _binds(padded))
    return [_stored_story(row) for row in rows]


@lru_cache(maxsize=64)
def _stories_sql(n: int) -> Select[Any]:
    return select(*_STORY_COLUMNS).where(STORIES.c.id.in_(_in_list(n)))


_LOAD_STORY = select(*_STORY_COLUMNS).where(_by_id(STORIES.c.id))
_INSERT_STORY = STORIES.insert().returning(STORIES.c.id)
_UPDATE_STORY = update(STORIES).where(_by_id(STORIES.c.id))


def load_story(session: Session, story_id: int) -> StoredStory | None:
    row = session.execute(_LOAD_STORY, {"row_id": story_id}).first()
    return _stored_story(row) if row is not None else None


def insert_story(session: Session, **values: Any) -> int:
    return int(session.execute(_INSERT_STORY, values).scalar_one())


def update_story(session: Session, story_id: int, **values: Any) -> None:
    session.execute(_UPDATE_STORY, {"row_id": story_id, **values})
    _forget(session, StoryRow, story_id)


@dataclass(frozen=True, slots=True)
class StoredSentence:
    """One remembered story sentence (``terms`` as stored: space-separated)."""

    position: int
    article_id: int
    text: str
    terms: str


# One statement: the story's names and numbers as a first row (position -1, before every
# sentence), then its sentences.
_STORY_MEMORY = (
    select(
        literal(-1).label("position"),
        literal(0).label("article_id"),
        sql_cast(STORIES.c.memory, Text).label("text"),
        literal("").label("terms"),
    )
    .where(_by_id(STORIES.c.id))
    .union_all(
        select(
            STORY_SENTENCES.c.position,
            STORY_SENTENCES.c.article_id,
            STORY_SENTENCES.c.text,
            STORY_SENTENCES.c.terms,
        ).where(_by_id(STORY_SENTENCES.c.story_id))
    )
    .order_by("position")
)


def load_memory(session: Session, story_id: int) -> tuple[dict[str, Any], list[StoredSentence]]:
    """A story's novelty memory: its names and numbers, and its sentences oldest first."""
    names: dict[str, Any] = {}
    sentences: list[StoredSentence] = []
    for p, a, t, terms in session.execute(_STORY_MEMORY, {"row_id": story_id}):
        if p < 0:
            names = json.loads(t) if t else {}
        else:
            sentences.append(StoredSentence(int(p), int(a), t, terms))
    return names or {}, sentences


_FORGET_SENTENCES = delete(STORY_SENTENCES).where(
    _by_id(STORY_SENTENCES.c.story_id), STORY_SENTENCES.c.position < bindparam("keep_from")
)


def remember_sentences(
    session: Session, story_id: int, sentences: Sequence[StoredSentence], keep_from: int
) -> None:
    """Append sentences to a story's memory and forget those before position ``keep_from``."""
    _insert_rows(
        session,
        STORY_SENTENCES,
        ("story_id", "position", "article_id", "text", "terms"),
        [(story_id, s.position, s.article_id, s.text, s.terms) for s in sentences],
    )
    if keep_from > 0:
        session.execute(_FORGET_SENTENCES, {"row_id": story_id, "keep_from": keep_from})


_INSERT_DEVELOPMENT = DEVELOPMENTS.insert().returning(DEVELOPMENTS.c.id)


def insert_development(session: Session, **values: Any) -> int:
    return int(session.execute(_INSERT_DEVELOPMENT, values).scalar_one())


_DELETE_STORY_TERMS = delete(STORY_TERMS).where(_by_id(STORY_TERMS.c.story_id))


def replace_story_terms(
    session: Session, story_id: int, terms: Sequence[tuple[str, float]]
) -> None:
    session.execute(_DELETE_STORY_TERMS, {"row_id": story_id})
    rows = {t[:MAX_TERM_LEN]: w for t, w in terms if t}
    _insert_rows(
        session,
        STORY_TERMS,
        ("term", "story_id", "weight"),
        [(t, story_id, float(w)) for t, w in rows.items()],
    )


@lru_cache(maxsize=4)
def _add_report_sql(dialect: str) -> Any:
    return dialect_insert(dialect, REPORTS).on_conflict_do_nothing()


def add_report(session: Session, development_id: int, article_id: int, similarity: float) -> None:
    session.execute(
        _add_report_sql(_dialect(session)),
        {"development_id": development_id, "article_id": article_id, "similarity": similarity},
    )


_LATEST_DEVELOPMENT = (
    select(DEVELOPMENTS.c.id)
    .where(_by_id(DEVELOPMENTS.c.story_id))
    .order_by(DEVELOPMENTS.c.id.desc())
    .limit(1)
)


def latest_development(session: Session, story_id: int) -> int | None:
    return session.scalar(_LATEST_DEVELOPMENT, {"row_id": story_id})


def write_placement(
    session: Session,
    article_id: int,
    write: StoryWrite,
    decision: Decision,
    pending: DocumentCounts | None,
    band_keys: Sequence[int] = (),
    deferred: ArticlePlacements | None = None,
) -> Decision:
    """Write a placed article's band keys, story, development or report, memory, index and
    decision (the article row's placement to ``deferred``, when given).

    Returns the decision with the story and development ids it was given. On PostgreSQL the
    band keys and the story's writes are one statement (:mod:`monitor.storage.placement_pg`).
    """
    repeated = (
        deferred.placement(write.repeats_article_id)
        if deferred is not None and write.repeats_article_id is not None
        else None
    )
    if _dialect(session) == "postgresql":
        terms = list({t[:MAX_TERM_LEN]: float(w) for t, w in write.story_terms if t}.items())
        bands = list(dict.fromkeys(band_keys))
        known = repeated.development_id if repeated is not None else None
        ids = placement_pg.write_story(session, article_id, write, terms, bands, known)
        _forget(session, StoryRow, ids[0])
        count_document(session, write.document_terms, pending)
        return _place(session, article_id, write, decision, *ids, deferred=deferred)
    add_bands(session, article_id, band_keys)
    story_id = write.story_id
    if story_id is None:
        story_id = insert_story(
            session,
            headline=write.headline,
            first_seen_at=write.published_at,
            last_seen_at=write.published_at,
            article_count=0,
            outlets=[],
            state={},
        )
    development_id: int | None = None
    repeats: int | None = None
    if write.facts is not None:
        development_id = insert_development(
            session,
            story_id=story_id,
            article_id=article_id,
            facts=list(write.facts),
            created_at=write.published_at,
        )
    else:
        repeats = _repeated_development(session, story_id, write.repeats_article_id, repeated)
        if repeats is not None:
            add_report(session, repeats, article_id, write.repeat_similarity)
    _write_story(session, story_id, article_id, write, pending)
    return _place(
        session, article_id, write, decision, story_id, development_id, repeats, deferred=deferred
    )


def _place(
    session: Session,
    article_id: int,
    write: StoryWrite,
    decision: Decision,
    story_id: int,
    development_id: int | None,
    repeats: int | None,
    *,
    deferred: ArticlePlacements | None,
) -> Decision:
    """Record the article's story, development and decision; the decision with its ids."""
    placed = decision.placed(story_id, development_id, repeats)
    place_article(
        session,
        article_id,
        story_id=story_id,
        development_id=development_id if write.facts is not None else repeats,
        is_development=write.facts is not None,
        decision=placed.to_json(),
        deferred=deferred,
    )
    return placed


def _write_story(
    session: Session,
    story_id: int,
    article_id: int,
    write: StoryWrite,
    pending: DocumentCounts | None,
) -> None:
    remember_sentences(
        session,
        story_id,
        [StoredSentence(s.position, article_id, s.text, s.terms) for s in write.sentences],
        keep_from=write.keep_from,
    )
    update_story(
        session,
        story_id,
        outlets=write.outlets,
        article_count=write.article_count,
        last_seen_at=write.last_seen_at,
        state=write.state,
        memory=write.memory,
    )
    replace_story_terms(session, story_id, write.story_terms)
    count_document(session, write.document_terms, pending)


def _repeated_development(
    session: Session, story_id: int, repeats_article_id: int | None, known: Placement | None
) -> int | None:
    """The development whose article this one repeats most; else the story's latest.

    An article that is a development records its own development id, so the article row
    answers for developments and for the reports that repeat them alike (``known``: that
    article's placement, not yet written).
    """
    if repeats_article_id is not None:
        owner = known if known is not None else placement(session, repeats_article_id)
        if owner is not None and owner.development_id is not None:
            return owner.development_id
    return latest_development(session, story_id)
