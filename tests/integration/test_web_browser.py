"""The web view in a real browser: headless Chromium from the OS packages (tests/support/browser)
against a real uvicorn on loopback over a database filled by detect(), on SQLite and PostgreSQL.

A reader opens the Topics page, follows a topic to its timeline and a development to its story,
sees one mark on the SVG timeline per article, presses "Not my topic" and sees the mute; the
database holds it and the next detect() raises no alert for the story. The same over the demo
newsroom, served on loopback and read by real cycles: after "Not my topic", the next cycle
stores the story's next development and raises no alert for it. Every page (topics,
timelines, stories, articles, sources, deliveries, search) renders with its stylesheet; on the
Deliveries page the reader retries a dead delivery and the next delivery pass sends it. No page
logs a console error (scripts, failed resources, Content-Security-Policy violations).
Screenshots of each step are saved in the test's tmp dir (``screenshots/``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import Engine, func, select

from monitor.alert_settings import DeliverySettings
from monitor.alerts.outbox import deliver_due
from monitor.config import MonitorConfig, Settings, get_settings, parse_config
from monitor.demo.content import ARTICLES, OUTLETS
from monitor.demo.newsroom import Newsroom
from monitor.demo.server import LocalServer
from monitor.pipeline.detect import detect
from monitor.storage.db import session_factory
from monitor.storage.tables import AlertRow, ArticleRow, DeliveryRow, FeedbackRow, StoryRow
from monitor.web import create_app
from tests.integration.test_feedback import SETTINGS, THIRD
from tests.integration.web_seed import T0, TOPICS, seed
from tests.support.articles import article
from tests.support.browser import chromium, console_errors
from tests.support.pipeline import run_cycle
from tests.support.web import serve
from tests.support.webhook import Behaviour, WebhookReceiver

NOW = T0 + timedelta(days=3)
TOPIC = "Tarrow ferry"
SLUG = "tarrow-ferry"
FIRST = "Tarrow to close ferry terminal"  # the story's first development's headline


@dataclass(frozen=True)
class Reader:
    """A browser on the site, saving a screenshot of each page it checks."""

    base: str
    driver: webdriver.Chrome
    shots: Path

    def check(self, name: str) -> None:
        """The page rendered (the stylesheet applied), logged no error; screenshot it."""
        heading = self.driver.find_element(By.TAG_NAME, "h1")
        assert heading.is_displayed()
        # style.css loaded and allowed by the Content-Security-Policy
        body = self.driver.find_element(By.TAG_NAME, "body")
        assert body.value_of_css_property("max-width") == "960px"
        assert console_errors(self.driver) == [], self.driver.current_url
        path = self.shots / f"{name}.png"
        assert self.driver.save_screenshot(str(path))
        assert path.stat().st_size > 5_000  # a rendered page, not a blank one

    def wait_for(self, css: str) -> None:
        WebDriverWait(self.driver, 15).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, css),
            f"no {css} on {self.driver.current_url}",
        )


@pytest.fixture
def site(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[str, MonitorConfig]]:
    config, _path = seed(engine, tmp_path)
    settings = get_settings(_env_file=None, database_url=db_url, web={"user": "ana"})
    with serve(create_app(settings, config, clock=lambda: NOW)) as base:
        yield base, config


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[webdriver.Chrome, Path]]:
    """Chromium (else skipped, or failed in CI) and the directory for its screenshots."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium(tmp_path / "profile") as driver:
        yield driver, shots


@pytest.fixture
def reader(browser: tuple[webdriver.Chrome, Path], site: tuple[str, MonitorConfig]) -> Reader:
    return Reader(site[0], *browser)


def test_reader_follows_a_topic_to_a_story_and_mutes_it(
    reader: Reader, site: tuple[str, MonitorConfig], engine: Engine
) -> None:
    sessions = session_factory(engine)
    driver = reader.driver
    driver.get(reader.base + "/")
    assert driver.title.startswith("Topics")
    reader.check("1-topics")

    driver.find_element(By.LINK_TEXT, TOPIC).click()
    reader.wait_for("p.query")
    assert driver.current_url == f"{reader.base}/topics/{SLUG}"
    assert driver.find_element(By.TAG_NAME, "h1").text == TOPIC
    reader.check("2-topic-timeline")

    entry = driver.find_element(
        By.XPATH, f"//article[contains(@class, 'entry')][.//h2//bdi[text()='{FIRST}']]"
    )
    entry.find_element(By.LINK_TEXT, "story").click()
    reader.wait_for("svg.timeline")
    story = int(driver.current_url.rsplit("/", 1)[1])
    with sessions() as s:
        stored = set(s.scalars(select(ArticleRow.id).where(ArticleRow.story_id == story)))
        first = s.scalars(
            select(ArticleRow.id).where(ArticleRow.url == "https://gazette.example/1")
        ).one()
    assert first in stored
    marks = driver.find_elements(By.CSS_SELECTOR, "svg.timeline a.mark")
    assert {int(m.get_attribute("data-article") or 0) for m in marks} == stored
    assert len(marks) == len(stored)  # one mark per article
    roles = {int(m.get_attribute("data-article") or 0): m.get_attribute("data-role") for m in marks}
    assert roles[first] == "development"
    assert all(m.is_displayed() for m in marks)
    reader.check("3-story")

    with sessions() as s:
        alerts_before = list(s.scalars(select(AlertRow.id).where(AlertRow.topic == TOPIC)))
    controls = driver.find_element(
        By.CSS_SELECTOR, f'div.feedback[data-topic="{SLUG}"][data-story="{story}"]'
    )
    controls.find_element(By.XPATH, ".//button[text()='Not my topic']").click()
    reader.wait_for(f'div.feedback[data-topic="{SLUG}"] .muted-badge')
    assert driver.current_url == f"{reader.base}/stories/{story}"
    badge = driver.find_element(By.CSS_SELECTOR, f'div.feedback[data-topic="{SLUG}"] .muted-badge')
    assert badge.text == f"muted for {TOPIC}: not my topic"
    assert driver.find_elements(By.XPATH, "//button[text()='Unmute']")
    reader.check("4-story-muted")
    with sessions() as s:
        rows = s.scalars(select(FeedbackRow)).all()
    assert [(r.kind, r.topic, r.story_id, r.created_by, r.undone_at) for r in rows] == [
        ("not_my_topic", TOPIC, story, "ana", None)
    ]

    # A new development of the story, which would have alerted the topic: stored, not alerted.
    third = article("post", "https://post.example/9", "Tarrow ferry works", THIRD, NOW)
    detect(sessions, [third], {}, site[1], SETTINGS, now=NOW)
    with sessions() as s:
        row = s.scalars(select(ArticleRow).where(ArticleRow.url == third.url)).one()
        assert (row.story_id, row.is_development) == (story, True)
        assert list(s.scalars(select(AlertRow.id).where(AlertRow.topic == TOPIC))) == (
            alerts_before
        )
        assert s.scalar(select(func.count()).select_from(FeedbackRow)) == 1

    driver.get(f"{reader.base}/topics/{SLUG}")
    reader.wait_for(".muted-badge")
    muted = driver.find_elements(
        By.CSS_SELECTOR, f'div.feedback[data-story="{story}"] .muted-badge'
    )
    assert muted
    assert all(b.text == f"muted for {TOPIC}: not my topic" for b in muted)
    ActionChains(driver).scroll_to_element(muted[0]).perform()
    reader.check("5-topic-muted")
    driver.get(f"{reader.base}/stories/{story}")
    reader.wait_for("svg.timeline")
    marks = driver.find_elements(By.CSS_SELECTOR, "svg.timeline a.mark")
    assert len(marks) == len(stored) + 1  # the new article, drawn too
    reader.check("6-story-after-cycle")


def test_every_page_renders_and_a_dead_delivery_is_retried(
    reader: Reader, site: tuple[str, MonitorConfig], engine: Engine, settings: Settings
) -> None:
    sessions = session_factory(engine)
    receiver = WebhookReceiver(Behaviour(always_status=404)).start()
    try:
        # the seed's webhook channel, pointed at a receiver that refuses: every delivery dies
        hooked = parse_config(
            {
                "topics": TOPICS,
                "channels": [{"type": "webhook", "name": "hook", "url": receiver.url()}],
            }
        )
        once = settings.model_copy(update={"delivery": DeliverySettings(max_attempts=1)})
        dead = asyncio.run(deliver_due(sessions, hooked, once, now=NOW)).dead
        assert dead >= 2

        with sessions() as s:
            stories = sorted(s.scalars(select(StoryRow.id)))
            articles = sorted(s.scalars(select(ArticleRow.id)))
        pages = [
            ("topics", "/"),
            *(
                (f"topic-{slug}", f"/topics/{slug}")
                for slug in ("tarrow-ferry", "choir-fenwick", "quiet")
            ),
            *((f"story-{i}", f"/stories/{i}") for i in stories),
            *((f"article-{i}", f"/articles/{i}") for i in articles),
            ("sources", "/sources"),
            ("search", "/search?q=tarrow+AND+ferry&since=30d"),
            ("deliveries", "/deliveries"),
        ]
        for name, path in pages:
            reader.driver.get(reader.base + path)
            reader.check(name)

        buttons = reader.driver.find_elements(
            By.XPATH, "//tr[@class='delivery']//button[text()='Retry']"
        )
        assert len(buttons) == dead
        cell = buttons[0].find_element(By.XPATH, "ancestor::td[@data-delivery]")
        target = int(cell.get_attribute("data-delivery") or 0)
        buttons[0].click()
        reader.wait_for("p.notice")
        assert reader.driver.current_url == f"{reader.base}/deliveries?retried={target}"
        notice = reader.driver.find_element(By.CSS_SELECTOR, "p.notice").text
        assert notice == f"Delivery {target} is queued again: the next delivery pass sends it."
        left = reader.driver.find_elements(By.CSS_SELECTOR, "td[data-delivery]")
        assert target not in {int(c.get_attribute("data-delivery") or 0) for c in left}
        assert len(left) == dead - 1
        reader.check("deliveries-retried")
        with sessions() as s:
            row = s.get(DeliveryRow, target)
            assert row is not None
            assert (row.state, row.attempts) == ("pending", 0)

        receiver.behaviour = Behaviour()
        sent = asyncio.run(deliver_due(sessions, hooked, once, now=NOW))
        assert (sent.sent, sent.messages) == (1, 1)
        with sessions() as s:
            row = s.get(DeliveryRow, target)
            assert row is not None
            assert row.state == "sent"
        assert len(receiver.accepted) == 1
    finally:
        receiver.stop()


def test_demo_newsroom_muted_story_stays_silent_through_the_next_cycle(
    browser: tuple[webdriver.Chrome, Path],
    db_url: str,
    engine: Engine,
    settings: Settings,
    local_server: LocalServer,
) -> None:
    sessions = session_factory(engine)
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    config = parse_config(newsroom.config(channels=[]))
    topic = config.topics[0].name
    newsroom.publish(0)
    run_cycle(sessions, settings, config)
    web = get_settings(_env_file=None, database_url=db_url, web={"user": "ana"})
    with serve(create_app(web, config)) as base:
        reader = Reader(base, *browser)
        driver = reader.driver
        driver.get(base + "/")
        reader.check("demo-1-topics")
        driver.find_element(By.LINK_TEXT, topic).click()
        reader.wait_for("article.entry")
        reader.check("demo-2-topic")
        [entry] = driver.find_elements(By.CSS_SELECTOR, "article.entry")  # the first report
        entry.find_element(By.LINK_TEXT, "story").click()
        reader.wait_for("svg.timeline")
        story = int(driver.current_url.rsplit("/", 1)[1])
        with sessions() as s:
            stored = set(s.scalars(select(ArticleRow.id).where(ArticleRow.story_id == story)))
        marks = driver.find_elements(By.CSS_SELECTOR, "svg.timeline a.mark")
        assert sorted(int(m.get_attribute("data-article") or 0) for m in marks) == sorted(stored)
        reader.check("demo-3-story")
        driver.find_element(By.XPATH, "//button[text()='Not my topic']").click()
        reader.wait_for(".muted-badge")
        reader.check("demo-4-muted")

        # the reprint and rewrite (step 1), then the raised pay offer (step 2): a development of
        # the story that alerts the topic when it is not muted
        for step in (1, 2):
            newsroom.publish(step)
            run_cycle(sessions, settings, config)
        offer = newsroom.url(newsroom.article("offer-raised"))
        with sessions() as s:
            row = s.scalars(select(ArticleRow).where(ArticleRow.url == offer)).one()
            assert (row.story_id, row.is_development) == (story, True)
            alerted = set(s.scalars(select(AlertRow.story_id).where(AlertRow.topic == topic)))
            assert alerted == {story}
            assert s.scalar(select(func.count()).select_from(AlertRow)) == 1
        driver.get(f"{base}/stories/{story}")
        reader.wait_for("svg.timeline")
        badge = driver.find_element(By.CSS_SELECTOR, ".muted-badge")
        assert badge.text == f"muted for {topic}: not my topic"
        marks = driver.find_elements(By.CSS_SELECTOR, "svg.timeline a.mark")
        with sessions() as s:
            now_stored = s.scalar(
                select(func.count()).select_from(ArticleRow).where(ArticleRow.story_id == story)
            )
        assert len(marks) == now_stored > len(stored)
        reader.check("demo-5-story-after-cycles")
