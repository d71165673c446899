"""Replay the shared "Istanbul talks" scenario through the real ingest code and check it.

Reads ``../shared/scenarios/istanbul-talks`` (relative to the repository) when present. Each page
dump goes through the normal text pipeline (no scenario-specific cleaning), in the order and at
the times of ``scenario.json``, on a fresh SQLite database. Checks: every article that expects an
alert is a development quoting at least one listed new fact (fuzzy: most of a fact's content
words appear in one novel sentence); the rewrite is not a development and is filed as a report of
the development it rewrites.

    .venv/bin/python bench/scenario_istanbul.py [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from monitor.detection_settings import DetectionSettings
from monitor.evaluation import fact_quoted
from monitor.models import Article
from monitor.storage.db import make_engine, upgrade
from monitor.storage.tables import ArticleRow, DevelopmentReportRow
from monitor.stories.ingest import IngestResult, ingest

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "scenarios" / "istanbul-talks"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--verbose", action="store_true", help="print every sentence verdict")
    args = parser.parse_args()
    scenario_path = args.dir / "scenario.json"
    if not scenario_path.exists():
        print(f"scenario not found at {scenario_path}; nothing to do")
        return 0
    scenario = json.loads(scenario_path.read_text(encoding="utf-8"))
    settings = DetectionSettings()
    failures: list[str] = []
    results: dict[str, IngestResult] = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/scenario.db")
        upgrade(engine)
        for i, item in enumerate(scenario["articles"]):
            when = datetime.fromisoformat(item["published"].replace("Z", "+00:00"))
            text = (args.dir / item["file"]).read_text(encoding="utf-8")
            url = item.get("url") or f"https://scenario.invalid/{i}/{item['file']}"
            article = Article(
                source=item["outlet"],
                url=url,
                canonical_url=url,
                title=item["title"],
                text=text,
                fetched_at=when,
                published_at=when,
            )
            with Session(engine) as session, session.begin():
                result = ingest(session, article, source_id=None, settings=settings)
                row = session.get(ArticleRow, result.article_id) if args.verbose else None
                for v in row.decision.get("novelty", {}).get("sentences", []) if row else []:
                    print(f"    novel={v['novel']} sim={v['similarity']} {v['text'][:90]}")
            results[item["file"]] = result
            expects_alert = item["expect"].startswith("alert")
            is_dev = result.development_id is not None
            print(
                f"{item['file'][:3]} story={result.story_id} new_story={result.new_story} "
                f"development={result.development_id} repeats={result.repeats_development_id} "
                f"duplicate={result.duplicate_kind} novel={len(result.novel_sentences)}"
            )
            if expects_alert != is_dev:
                failures.append(f"{item['file']}: expected alert={expects_alert}, got {is_dev}")
            if expects_alert and is_dev:
                quoted = [
                    (fact, s)
                    for fact in item.get("new_facts", [])
                    if (s := fact_quoted(fact, result.novel_sentences))
                ]
                for fact, sentence in quoted:
                    print(f"    fact: {fact}\n      <- {sentence[:140]}")
                if not quoted:
                    failures.append(f"{item['file']}: no listed new fact among the novel sentences")
        rewrite = results.get("002_734cb12d2467eac5.txt")
        original = results.get("000_0c223b1d6fca9554.txt")
        if rewrite and original and original.development_id is not None:
            with Session(engine) as session:
                report = session.get(
                    DevelopmentReportRow, (original.development_id, rewrite.article_id)
                )
            if report is None:
                failures.append("002 is not filed as a report of 000's development")
            else:
                print(f"002 filed as report of development {original.development_id}")
        engine.dispose()
    alerts = sum(1 for r in results.values() if r.development_id is not None)
    print(f"developments (alerts): {alerts}, expected 4")
    for failure in failures:
        print("FAIL", failure)
    print("PASS" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
