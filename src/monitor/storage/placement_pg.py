"""A placed article's story writes on PostgreSQL in one statement.

:func:`monitor.storage.detection.write_placement` writes a placement as half a dozen statements
(the story row, its development or the report of the one it repeats, its remembered sentences,
the story's indexed terms), each a round trip to the server. On PostgreSQL they go as one
statement of data-modifying ``WITH`` queries, with the same end state, together with the
article's MinHash band keys (written before the placement's reads on SQLite; no read of a
placement looks at band keys, and the next article sees them either way):

* a new story is inserted with its final values (not inserted, then updated);
* sentences are appended from position ``keep_from`` on, and the story's older ones before
  ``keep_from`` deleted (the parts of one statement do not see each other's rows: a sentence
  inserted and forgotten at once is never inserted);
* the story's indexed terms are upserted and those no longer among them deleted (a delete of
  all of them and an insert of the same keys would collide within one statement);
* the development a report repeats is the one of the article it repeats most, else the story's
  latest, read by the statement itself (written by earlier statements, so visible), unless the
  caller knows it: the repeated article's placement may still be waiting to be written (see
  :class:`monitor.storage.detection.ArticlePlacements`).

The statement returns the story id, the development id (a development) and the repeated
development id (a report). Shapes (new story or not, development or report) are four texts,
each built once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import DateTime, Float, Integer, Table, TextClause, bindparam, text
from sqlalchemy.orm import Session

from monitor.storage.tables import DevelopmentRow, StoryRow

if TYPE_CHECKING:
    from monitor.storage.story_write import StoryWrite

STORIES = cast(Table, StoryRow.__table__)
DEVELOPMENTS = cast(Table, DevelopmentRow.__table__)


# Long by design: one SQL statement assembled from its parts, kept in one place to be read whole.
@lru_cache(maxsize=8)
def _statement(new_story: bool, development: bool) -> TextClause:
    """The write of one placement shape (see the module docstring)."""
    parts: list[str] = []
    if new_story:
        parts.append(
            "s AS (INSERT INTO stories (headline, first_seen_at, last_seen_at, article_count, "
            "outlets, state, memory) VALUES (:headline, :published_at, :last_seen_at, "
            ":article_count, :outlets, :state, :memory) RETURNING id)"
        )
    else:
        parts.append("s AS (SELECT CAST(:story_id AS integer) AS id)")
        parts.append(
            "u AS (UPDATE stories SET outlets = :outlets, article_count = :article_count, "
            "last_seen_at = :last_seen_at, state = :state, memory = :memory "
            "WHERE id = :story_id)"
        )
        parts.append(
            "f AS (DELETE FROM story_sentences WHERE story_id = :story_id "
            "AND position < :keep_from)"
        )
        parts.append(
            "o AS (DELETE FROM story_terms WHERE story_id = :story_id "
            "AND NOT (term = ANY(CAST(:terms AS varchar[]))))"
        )
    if development:
        parts.append(
            "d AS (INSERT INTO developments (story_id, article_id, facts, created_at) "
            "SELECT s.id, :article_id, CAST(:facts AS json), :published_at FROM s RETURNING id)"
        )
        repeats = "NULL"
        developed = "(SELECT id FROM d)"
    else:
        parts.append(
            "r AS (SELECT COALESCE(CAST(:repeats_development_id AS integer), "
            "(SELECT development_id FROM articles "
            "WHERE id = CAST(:repeats_article_id AS integer)), "
            "(SELECT developments.id FROM developments, s WHERE developments.story_id = s.id "
            "ORDER BY developments.id DESC LIMIT 1)) AS id)"
        )
        parts.append(
            "p AS (INSERT INTO development_reports (development_id, article_id, similarity) "
            "SELECT id, :article_id, :similarity FROM r WHERE id IS NOT NULL "
            "ON CONFLICT DO NOTHING)"
        )
        repeats = "(SELECT id FROM r)"
        developed = "NULL"
    parts.append(
        "n AS (INSERT INTO story_sentences (story_id, position, article_id, text, terms) "
        "SELECT s.id, x.position, :article_id, x.text, x.terms FROM s, "
        "unnest(CAST(:positions AS integer[]), CAST(:texts AS text[]), "
        "CAST(:sentence_terms AS text[])) AS x(position, text, terms))"
    )
    # The article's band keys (distinct, and the article is new: no conflict to probe for).
    parts.append(
        "b AS (INSERT INTO minhash_bands (band_key, article_id) "
        "SELECT x.band_key, :article_id FROM unnest(CAST(:bands AS bigint[])) AS x(band_key))"
    )
    parts.append(
        "t AS (INSERT INTO story_terms (term, story_id, weight) "
        "SELECT x.term, s.id, x.weight FROM s, "
        "unnest(CAST(:terms AS varchar[]), CAST(:weights AS double precision[])) "
        "AS x(term, weight) ON CONFLICT (story_id, term) DO UPDATE SET weight = excluded.weight)"
    )
    queries = ", ".join(parts)
    sql = f"WITH {queries} SELECT (SELECT id FROM s), {developed}, {repeats}"  # noqa: S608 - constants only
    json_type = STORIES.c.state.type
    binds = [
        bindparam("outlets", type_=json_type),
        bindparam("state", type_=json_type),
        bindparam("memory", type_=json_type),
        bindparam("published_at", type_=DateTime(timezone=True)),
        bindparam("last_seen_at", type_=DateTime(timezone=True)),
        bindparam("article_count", type_=Integer),
        bindparam("article_id", type_=Integer),
    ]
    if development:
        binds.append(bindparam("facts", type_=DEVELOPMENTS.c.facts.type))
    else:
        binds.append(bindparam("similarity", type_=Float))
    return text(sql).bindparams(*(b for b in binds if f":{b.key}" in sql))


def write_story(
    session: Session,
    article_id: int,
    write: StoryWrite,
    story_terms: list[tuple[str, float]],
    band_keys: list[int],
    repeated_development: int | None = None,
) -> tuple[int, int | None, int | None]:
    """Write the article's distinct ``band_keys`` and the story side of a placement (see the
    module docstring) in one statement; the story id, the new development's id and the repeated
    development's id (``repeated_development``: the development of the article a report
    repeats, when the caller knows it and that article's row does not say it yet)."""
    new_story = write.story_id is None
    development = write.facts is not None
    kept = [s for s in write.sentences if s.position >= write.keep_from]
    params: dict[str, Any] = {
        "article_id": article_id,
        "published_at": write.published_at,
        "last_seen_at": write.last_seen_at,
        "article_count": write.article_count,
        "outlets": write.outlets,
        "state": write.state,
        "memory": write.memory,
        "positions": [s.position for s in kept],
        "texts": [s.text for s in kept],
        "sentence_terms": [s.terms for s in kept],
        "terms": [t for t, _ in story_terms],
        "weights": [w for _, w in story_terms],
        "bands": band_keys,
    }
    if new_story:
        params["headline"] = write.headline
    else:
        params["story_id"] = write.story_id
        params["keep_from"] = write.keep_from
    if development:
        params["facts"] = list(write.facts or ())
    else:
        params["repeats_article_id"] = write.repeats_article_id
        params["repeats_development_id"] = repeated_development
        params["similarity"] = write.repeat_similarity
    row = session.execute(_statement(new_story, development), params).one()
    return int(row[0]), row[1], row[2]
