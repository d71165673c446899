"""A corpus of feeds and sitemaps with the quirks real outlets serve, each beside the parse
result expected of it (``<name>.expected.json``): missing and unparseable dates, relative and
protocol-relative links, ``xml:base``, duplicate GUIDs and links, CDATA and entities, namespaced
elements (Dublin Core, content:encoded, media), a byte order mark, a declared charset that the
bytes contradict, an HTML page served as XML, a JSON Feed with relative and external URLs, a
sitemap with undated URLs.

To add a case: put the document in ``tests/fixtures/feed-corpus/`` and write its expected file
by hand (``python -m tests.unit.test_feed_corpus NAME`` prints what the parser makes of it today,
to check line by line before keeping it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import ParseError
from monitor.feeds import parse_feed
from monitor.models import FetchResult

CORPUS = Path(__file__).parents[1] / "fixtures" / "feed-corpus"
CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/feed+json",
    ".xml": "application/xml",
}
DOCUMENTS = sorted(p for p in CORPUS.iterdir() if not p.name.endswith(".expected.json"))


def _parsed(document: Path, content_type: str) -> dict[str, Any]:
    url = f"https://{document.stem}.example/feeds/{document.name}"
    result = FetchResult(
        url=url,
        final_url=url,
        status=200,
        content=document.read_bytes(),
        headers={"content-type": content_type},
    )
    try:
        feed = parse_feed(result)
    except ParseError as exc:
        return {"error": str(exc)}
    return {
        "kind": feed.kind,
        "title": feed.title,
        "rejected": list(feed.rejected),
        "entries": [
            {
                "url": e.url,
                "title": e.title,
                "guid": e.guid,
                "published": e.published.isoformat() if e.published else None,
                "updated": e.updated.isoformat() if e.updated else None,
                "authors": list(e.authors),
                "summary": e.summary,
            }
            for e in feed.entries
        ],
    }


def _expected(document: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        document.with_name(document.name + ".expected.json").read_text(encoding="utf-8")
    )
    return data


def test_every_document_has_its_expected_result() -> None:
    assert len(DOCUMENTS) >= 12
    for document in DOCUMENTS:
        assert document.with_name(document.name + ".expected.json").exists(), document.name


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_the_corpus_parses_as_expected(document: Path) -> None:
    expected = _expected(document)
    content_type = expected.pop("content_type", CONTENT_TYPES[document.suffix])
    assert _parsed(document, content_type) == expected


if __name__ == "__main__":
    for name in sys.argv[1:]:
        doc = CORPUS / name
        print(json.dumps(_parsed(doc, CONTENT_TYPES[doc.suffix]), indent=2, ensure_ascii=False))
