"""A database filled by real detect() calls for the web view's tests: a ferry story with a
development, another outlet's report of it, a reprint and a follow-up; a hostile article; a
webhook channel (so each alert has a pending delivery) and two sources, one failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import Engine

from monitor.config import MonitorConfig, parse_config
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.storage.db import session_factory
from monitor.storage.tables import SourceRow
from tests.support.articles import article

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
FERRY = (
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June. "
    "Engineers found corrosion in 14 of its 22 steel piles, council leader Ines Varga said. "
    "The ferry to Kell Island will move to the north quay while a new terminal is built."
)
FERRY_REPORT = (
    "Tarrow's old ferry terminal will close by June after the harbour council voted on Tuesday. "
    "Corrosion was found in 14 of the 22 steel piles, said council leader Ines Varga. "
    "Residents of Kell Island said the move to the north quay would lengthen their trip."
)
FERRY_FOLLOW_UP = (
    "Kell Lines said on Thursday it would add a second ferry, the Marta, from 3 April. "
    "Fares on the Tarrow crossing will rise by 8 percent, the operator's director Juno Pell said."
)
CHOIR = (
    "The Fenwick youth choir won the national title in Carrow on Saturday with 91 points. "
    "Conductor Alma Rudd said the 40 singers had rehearsed twice a week since September."
)
RLO = "\u202e"
HOSTILE_TITLE = (
    f'<script>alert(1)</script> Tarrow ferry <img src=x onerror="alert(2)"> {RLO}gnp.exe ]]> \x07'
)
HOSTILE_TEXT = (
    "The Tarrow ferry <script>alert(3)</script> sank at dawn near Quill Point on Friday. "
    'Harbour master <img src=x onerror="alert(4)"> Bram Oslo said 12 crew were rescued. '
    f"The ferry operator {RLO}cod.exe said an inquiry would open on Monday ]]> now."
)
HOSTILE_SOURCE = '<b onmouseover="alert(5)">evil</b>'
HOSTILE_URL = "javascript:alert(6)"
TOPICS = [
    {"name": "Tarrow ferry", "query": "tarrow AND ferry"},
    {"name": "Choir (Fenwick)", "query": "fenwick AND choir"},
    {"name": "Quiet", "query": "zeppelin"},
]


CHANNELS = [{"type": "webhook", "name": "hook", "url": "https://hooks.example/monitor"}]
RETRY_AT = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
SOURCE_ERROR = "HTTP 503 from https://post.example/rss?apikey=SECRET123 <script>alert(7)</script>"


def seed_sources(engine: Engine) -> None:
    """A healthy source, and one failing and asked to wait (with a hostile error text)."""
    with session_factory(engine).begin() as s:
        s.add(SourceRow(name="gazette", url="https://gazette.example/rss", last_success_at=T0))
        s.add(
            SourceRow(
                name="post",
                url="https://post.example/rss?apikey=SECRET123",
                consecutive_failures=5,
                last_error=SOURCE_ERROR,
                last_error_type="TransientFetchError",
                retry_at=RETRY_AT,
                last_success_at=T0,
            )
        )


def seed_articles() -> list[Article]:
    at = T0
    return [
        article(
            "gazette", "https://gazette.example/1", "Tarrow to close ferry terminal", FERRY, at
        ),
        article(
            "post",
            "https://post.example/2",
            "Tarrow to close ferry terminal",
            FERRY,
            at + timedelta(hours=1),
        ),
        article(
            "herald",
            "https://herald.example/3",
            "Ferry terminal closure confirmed",
            FERRY_REPORT,
            at + timedelta(hours=2),
        ),
        article(
            "gazette",
            "https://gazette.example/4",
            "Kell Lines adds a second ferry",
            FERRY_FOLLOW_UP + " " + FERRY,
            at + timedelta(hours=30),
        ),
        article(
            "post", "https://post.example/5", "Fenwick choir wins", CHOIR, at + timedelta(hours=31)
        ),
        article(HOSTILE_SOURCE, HOSTILE_URL, HOSTILE_TITLE, HOSTILE_TEXT, at + timedelta(hours=40)),
    ]


def seed(engine: Engine, tmp_path: Path) -> tuple[MonitorConfig, Path]:
    """Store the articles through detect() (alerts included); the config and its file."""
    data = {"topics": TOPICS, "channels": CHANNELS}
    config = parse_config(data)
    seed_sources(engine)
    detect(session_factory(engine), seed_articles(), {}, config, DetectionSettings(), now=T0)
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return config, path
