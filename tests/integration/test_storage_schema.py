"""The migrated schema enforces uniqueness in the database itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.db import current_revision, head_revisions, is_at_head, upgrade
from monitor.storage.tables import ArticleRow, Base


def _article(url: str, content_hash: str, **kw: object) -> ArticleRow:
    return ArticleRow(
        source_name="s",
        url=url,
        canonical_url=url,
        content_hash=content_hash,
        fetched_at=datetime.now(UTC),
        **kw,
    )


def test_upgrade_head_creates_every_table_and_is_idempotent(engine: Engine) -> None:
    upgrade(engine)  # second run is a no-op
    assert current_revision(engine) is not None
    present = set(inspect(engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= present


def test_heads_read_from_the_files_are_alembics(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from monitor.storage.db import _alembic_config

    assert head_revisions() == frozenset(
        ScriptDirectory.from_config(_alembic_config(engine)).get_heads()
    )
    assert is_at_head(engine)
    assert {current_revision(engine)} == head_revisions()


def test_a_database_behind_head_is_migrated_and_a_current_one_is_left_alone(
    engine: Engine,
) -> None:
    import subprocess
    import sys

    from alembic import command

    from monitor.storage.db import _alembic_config

    command.downgrade(_alembic_config(engine), "base")
    assert not is_at_head(engine)
    upgrade(engine)
    assert is_at_head(engine)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())

    # A fresh process, as a cycle is: at head, one query recognises it and nothing else runs;
    # an explicit revision always goes through Alembic's migration context.
    url = engine.url.render_as_string(hide_password=False)
    script = (
        "import json, sys\n"
        "from sqlalchemy import Engine, event\n"
        "from monitor.storage.db import make_engine, upgrade\n"
        "sent = []\n"
        "event.listen(Engine, 'before_cursor_execute', lambda *a: sent.append(a[2]))\n"
        f"upgrade(make_engine({url!r}), *sys.argv[1:])\n"
        "print(json.dumps(sent))\n"
    )
    (head,) = head_revisions()
    for args in ([], [head]):
        done = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        sent = [q for q in json.loads(done.stdout) if q != "BEGIN"]  # SQLite's, see db.py
        if args:
            assert len(sent) > 1, sent
        else:
            assert sent == ["SELECT version_num FROM alembic_version"]


def test_a_database_without_a_version_table_is_not_at_head(tmp_path: Path) -> None:
    from monitor.storage.db import make_engine

    fresh = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert not is_at_head(fresh)
    fresh.dispose()


def test_canonical_url_is_unique(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        s.add(_article("https://a.example/1", "h1"))
    with pytest.raises(IntegrityError), sessions.begin() as s:
        s.add(_article("https://a.example/1", "h2"))


def test_content_hash_unique_among_originals_only(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        original = _article("https://a.example/1", "same")
        s.add(original)
    with sessions.begin() as s:  # a duplicate may share the hash
        s.add(_article("https://b.example/1", "same", duplicate_of_id=original.id))
    with pytest.raises(IntegrityError), sessions.begin() as s:  # a second original may not
        s.add(_article("https://c.example/1", "same"))


def test_migrations_match_the_models(engine: Engine) -> None:
    """`upgrade head` builds exactly the schema the models describe (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    from alembic import command

    from monitor.storage.db import _alembic_config

    command.downgrade(_alembic_config(engine), "base")
    assert not {t.name for t in Base.metadata.sorted_tables} & set(
        inspect(engine).get_table_names()
    )
    upgrade(engine)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())


def test_the_story_index_keeps_its_rows_when_rekeyed_by_story(engine: Engine) -> None:
    """Revision 0002 re-keys ``story_terms`` (story first) on a database already in use."""
    from alembic import command
    from sqlalchemy import text

    from monitor.storage.db import _alembic_config

    command.downgrade(_alembic_config(engine), "0001")
    assert inspect(engine).get_pk_constraint("story_terms")["constrained_columns"] == [
        "term",
        "story_id",
    ]
    when = datetime(2031, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO stories (id, headline, first_seen_at, last_seen_at, article_count, "
                "outlets, state, memory) VALUES (7, 'h', :t, :t, 1, '[]', '{}', '{}')"
            ),
            {"t": when},
        )
        conn.execute(
            text(
                "INSERT INTO story_terms (term, story_id, weight) "
                "VALUES ('harbour', 7, 0.5), ('talks', 7, 0.25)"
            )
        )
    upgrade(engine)
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("story_terms")["constrained_columns"] == [
        "story_id",
        "term",
    ]
    assert "ix_alerts_topic_story_id" in {i["name"] for i in inspector.get_indexes("alerts")}
    assert "ix_deliveries_channel_created_at" in {
        i["name"] for i in inspector.get_indexes("deliveries")
    }
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT story_id, term, weight FROM story_terms ORDER BY term"))
        assert rows.all() == [(7, "harbour", 0.5), (7, "talks", 0.25)]


def test_postgres_compresses_detection_values_with_lz4(postgres_engine: Engine) -> None:
    """Revision 0018: the story state and memory, and the article text and decision, rewritten
    or written at every stored article, are compressed with LZ4 where the server has it, and
    downgrading undoes it."""
    from alembic import command
    from sqlalchemy import text

    from monitor.storage.db import _alembic_config

    engine = postgres_engine
    compression = text(
        "SELECT attrelid::regclass::text || '.' || attname, attcompression FROM pg_attribute "
        "WHERE (attrelid, attname) IN (('stories'::regclass, 'state'), "
        "('stories'::regclass, 'memory'), ('articles'::regclass, 'text'), "
        "('articles'::regclass, 'decision'))"
    )
    with engine.connect() as conn:
        lz4 = conn.scalar(
            text(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression'"
            )
        )
        columns = dict(conn.execute(compression).all())
    assert len(columns) == 4
    assert set(columns.values()) == ({"l"} if lz4 else {""})
    command.downgrade(_alembic_config(engine), "0017")
    with engine.connect() as conn:
        assert set(dict(conn.execute(compression).all()).values()) <= {"p", ""}
    upgrade(engine)
