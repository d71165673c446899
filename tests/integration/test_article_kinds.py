"""A page's own marks of commentary, read from the page a cycle fetches, keep it from alerting.

A real newsroom on 127.0.0.1 publishes a report, then a column on the same story whose headline
and opening are its own. Marked as commentary by its page — a JSON-LD ``@type`` in the body, a
declared ``article:section``, or a ``rel=canonical`` under ``/opinion/`` while the feed links a
neutral URL — the column joins the story without an alert, and its decision says which mark
was read. Unmarked, the same page alerts (the control).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.storage.tables import AlertRow, ArticleRow
from tests.support.feeds import RSS, gazette_rss
from tests.support.pipeline import run_cycle

REPORT_TITLE = "Tarrow council votes to close the ferry terminal"
REPORT = [
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June.",
    "Engineers found corrosion in 14 of the 22 steel piles that carry the terminal building.",
    "Council leader Ines Varga said the ferry to Kell Island would move to the north quay.",
    "A new terminal is to be built on the same site by the end of next year.",
]
COLUMN_TITLE = "Dara Quill: Tarrow traded its ferry for a car park"
COLUMN = [
    "Dara Quill has watched the Tarrow ferry leave from the old terminal for forty years.",
    "Quill argues the council ignored a cheaper repair offered by Holm Marine in 2021.",
    "Residents of Kell Island, she writes, will pay for a decision taken in a single evening.",
    "The vote followed a report on corroded piles that the council kept from the public.",
]

JSON_LD = (
    '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": '
    '[{"@type": "WebPage"}, {"@type": ["OpinionNewsArticle", "NewsArticle"], '
    '"headline": "Tarrow traded its ferry"}]}</script>'
)
SECTION = '<meta property="article:section" content="Comment is free">'


def _page(title: str, paragraphs: list[str], *, head: str = "", body: str = "") -> bytes:
    text = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html lang='en'><head><title>{title}</title>{head}</head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article><h1>{title}</h1>{text}</article>{body}"
        "<footer>Copyright Tarrow Gazette</footer></body></html>"
    ).encode()


def _rss(base: str, items: list[tuple[str, str]]) -> bytes:
    """The feed listing ``items`` (path, title), an hour apart."""
    dated = [(p, t, f"Tue, 04 Mar 2025 0{i}:00:00 GMT") for i, (p, t) in enumerate(items)]
    return gazette_rss(base, dated)


def _config(server: LocalServer) -> Any:
    return parse_config(
        {
            "sources": [{"name": "gazette", "url": server.url("/rss.xml")}],
            "topics": [{"name": "Tarrow ferry", "query": "tarrow AND ferry"}],
        }
    )


@pytest.mark.parametrize(
    ("mark", "kind", "expected_mark"),
    [
        ("json-ld", "opinion", "page type OpinionNewsArticle"),
        ("section", "opinion", "page section 'Comment is free'"),
        ("canonical", "opinion", "URL section /opinion/"),
        (None, "news", None),
    ],
)
def test_a_column_marked_by_its_page_joins_its_story_without_an_alert(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    mark: str | None,
    kind: str,
    expected_mark: str | None,
) -> None:
    base = local_server.base_url
    local_server.table.set("/news/vote.html", Route(body=_page(REPORT_TITLE, REPORT)))
    items = [("/news/vote.html", REPORT_TITLE)]
    local_server.table.set("/rss.xml", Route(content_type=RSS, body=_rss(base, items)))
    config = _config(local_server)
    run_cycle(sessions, settings, config)

    canonical = f"<link rel='canonical' href='{base}/opinion/2025/mar/04/tarrow-ferry'>"
    column = _page(
        COLUMN_TITLE,
        COLUMN,
        head={"section": SECTION, "canonical": canonical}.get(mark or "", ""),
        body=JSON_LD if mark == "json-ld" else "",
    )
    local_server.table.set("/news/ferry-column.html", Route(body=column))
    items.append(("/news/ferry-column.html", COLUMN_TITLE))
    local_server.table.set("/rss.xml", Route(content_type=RSS, body=_rss(base, items)))
    run_cycle(sessions, settings, config)

    with sessions() as session:
        report, piece = session.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
        alerted = set(session.scalars(select(AlertRow.article_id)))
    assert piece.story_id == report.story_id
    salience = piece.decision["salience"]
    assert salience["kind"] == kind
    assert salience.get("kind_marks", [None]) == [expected_mark]
    assert report.id in alerted
    assert (piece.id in alerted) == (mark is None)
