"""Articles placed one transaction each, as separate cycles would, and their stored decisions."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from monitor.decision import Decision
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.storage.tables import ArticleRow
from monitor.stories.ingest import IngestResult, ingest


def place_each(
    sessions: sessionmaker[Session], articles: Iterable[Article], settings: DetectionSettings
) -> list[IngestResult]:
    """Each article ingested in a transaction of its own, in order."""
    results = []
    for item in articles:
        with sessions() as session, session.begin():
            results.append(ingest(session, item, source_id=None, settings=settings))
    return results


def stored_decision(sessions: sessionmaker[Session], result: IngestResult) -> Decision:
    """The decision record stored with the article ``result`` placed."""
    with sessions() as session:
        row = session.get(ArticleRow, result.article_id)
        assert row is not None
        return Decision.from_json(row.decision)
