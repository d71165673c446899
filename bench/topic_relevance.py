"""How topic queries read a labelled stream at each relevance level: on-event and off-event matches.

Each query of a queries file (JSON: event label -> query, written as a user tracking that event
would write it) is matched against every article of a labelled stream (the JSONL that
``monitor eval stream`` reads) at the three relevance levels of :mod:`monitor.topics`.
A match on an article of the query's own event is *on-event*; a match on any other article is
*off-event* (the query caught a stray word). Prints the totals per level and the queries whose
counts differ between levels.

    .venv/bin/python bench/topic_relevance.py ../shared/eval-dev/news-cluster-dev.jsonl \\
        --queries bench/topic_queries_dev.json

The stream is read at run time and never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monitor.evaluation import load_stream
from monitor.topics import RELEVANCE, Document, parse_query


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stream", type=Path)
    parser.add_argument("--queries", type=Path, required=True)
    args = parser.parse_args()
    queries = {
        k: v for k, v in json.loads(args.queries.read_text()).items() if not k.startswith("_")
    }
    items = load_stream(args.stream)
    docs = [(it.event, Document(it.article.title, it.article.text)) for it in items]
    events = {event for event, _ in docs}
    unknown = sorted(set(queries) - events)
    if unknown:
        print(f"queries for events not in the stream: {', '.join(unknown)}", file=sys.stderr)
        return 2
    totals = {level: [0, 0] for level in RELEVANCE}
    rows = []
    for event, text in sorted(queries.items()):
        query = parse_query(text)
        counts = {}
        for level in RELEVANCE:
            on = off = 0
            for doc_event, doc in docs:
                if query.match_document(doc, relevance=level) is not None:
                    if doc_event == event:
                        on += 1
                    else:
                        off += 1
            counts[level] = (on, off)
            totals[level][0] += on
            totals[level][1] += off
        size = sum(1 for doc_event, _ in docs if doc_event == event)
        rows.append((event, size, counts))
    on_event = sum(size for _, size, _ in rows)
    print(
        f"{len(queries)} queries, {len(docs)} articles, {on_event} articles of the queries' events"
    )
    print(f"{'relevance':<10} {'on-event':>9} {'off-event':>10}")
    for level in RELEVANCE:
        on, off = totals[level]
        print(f"{level:<10} {on:>9} {off:>10}")
    print("queries whose matches differ by level (on/off-event per level):")
    for event, size, counts in rows:
        if len(set(counts.values())) > 1:
            cells = "  ".join(f"{lvl} {on}/{off}" for lvl, (on, off) in counts.items())
            print(f"  {event[:50]:<50} ({size} articles)  {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
