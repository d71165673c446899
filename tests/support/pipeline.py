"""The cycle's stages chained without Prefect (collect, extract in-process, detect, commit the
feeds' validators), for integration tests against a real HTTP server and real databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.extract_pool import Extractor
from monitor.pipeline.articles import build_articles, pages_to_extract
from monitor.pipeline.collect import (
    Collection,
    collect,
    commit_validators,
    fetch_policy,
    freshness_rules,
)
from monitor.pipeline.detect import DetectReport, IngestFn, detect
from monitor.stories.ingest import ingest


def run_cycle(
    sessions: sessionmaker[Session],
    settings: Settings,
    config: Any,
    *,
    ingest_fn: IngestFn = ingest,
) -> tuple[Collection, DetectReport]:
    now = datetime.now(UTC)
    policy = fetch_policy(settings)
    rules = freshness_rules(settings)
    collection = asyncio.run(collect(sessions, policy, config.sources, now=now, freshness=rules))
    with Extractor(0, min_text_chars=100) as extractor:
        extracted = extractor.extract_many(pages_to_extract(collection.pages))
    articles = build_articles(collection.pages, extracted, now)
    ids = {p.source.name: p.source.id for p in collection.polls}
    report = detect(
        sessions, articles, ids, config, settings.detection, now=now, ingest_fn=ingest_fn
    )
    commit_validators(sessions, collection.polls, collection.pages)
    return collection, report
