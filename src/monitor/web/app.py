"""The web view's ASGI application: pages and feeds over the monitor's database, and the
reader's feedback forms.

:func:`create_app` builds a Starlette app from the settings and the config file; nothing happens
at import time. The pages' database engine cannot write: SQLite connections run with ``PRAGMA
query_only``, PostgreSQL sessions are READ ONLY (``SET SESSION CHARACTERISTICS``); it never takes
the cycle or write locks, so a running cycle never waits for it. Only the feedback actions
(:mod:`monitor.web.actions`: POST forms with a CSRF token) write, through an engine of their own,
in transactions holding the detection lock the cycles take.

Security, whatever the page:

* every response carries a Content-Security-Policy without scripts (``default-src 'none'``, the
  stylesheet from ``/style.css``, images only inline), ``X-Frame-Options: DENY`` with
  ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
  no-referrer``;
* with ``MONITOR_WEB__TOKEN`` set, every request but an alert's signed action link
  (:mod:`monitor.web.act`, ``/act/...``: the signed token is its credential) needs it:
  ``Authorization: Bearer <token>``, or ``?token=<token>`` once, answered with a redirect to
  the same address without it and a cookie (HttpOnly, SameSite=Strict) holding an HMAC of the
  token, not the token;
* stored text (titles, facts, outlet names: all from pages we do not control) is autoescaped, bidi
  overrides and control characters are shown visibly (:mod:`monitor.web.templating`), and only
  http(s) URLs become links.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.config import MonitorConfig, Settings
from monitor.errors import ConfigError, QueryError, SearchError
from monitor.pipeline.sources import source_health
from monitor.storage.db import is_at_head, make_engine, session_factory
from monitor.topics import RELEVANCE, parse_query
from monitor.web import act, actions, health, search, views
from monitor.web.atom import MEDIA_TYPE, RenderedFeed, not_modified, render_feed
from monitor.web.cache import PageCache, Served
from monitor.web.feeds import load_story_feed, topic_feed
from monitor.web.templating import page_environment
from monitor.web.timeline import story_timeline

Clock = Callable[[], datetime]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
COOKIE = "monitor_web"
log = logging.getLogger(__name__)


# Why the web view (and `monitor export-feed`) refuse a database: they never migrate one.
NOT_AT_HEAD = (
    "the database is not at the current schema (or has none yet): run `monitor db upgrade` or "
    "a cycle first; the web view only reads"
)


def read_only_engine(url: str) -> Engine:
    """An engine on ``url`` whose connections refuse every write."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":

        def _query_only(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA query_only=ON")
            cursor.close()

        event.listen(engine, "connect", _query_only)
    elif engine.dialect.name == "postgresql":

        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            # psycopg 3: outside a transaction, so the setting holds for the session.
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_conn.commit()

        event.listen(engine, "connect", _read_only)
    return engine


def _cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"monitor-web-cookie", hashlib.sha256).hexdigest()


class _Guard(BaseHTTPMiddleware):
    """Security headers on every response; the access token when one is set."""

    def __init__(self, app: Any, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        fresh_csrf = actions.start_csrf(request)
        try:
            response = await self._checked(request, call_next)
        except Exception:  # the server's own 500 page would go out without the headers
            log.exception("error serving %s", request.url.path)
            response = Response(
                "Internal error.\n", status_code=500, media_type="text/plain; charset=utf-8"
            )
        response.headers.update(SECURITY_HEADERS)
        if fresh_csrf:
            actions.finish_csrf(request, response)
        return response

    async def _checked(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if self.token is None or request.url.path.startswith(act.PREFIX):
            return await call_next(request)
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return _unauthorized()
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                COOKIE,
                _cookie_value(self.token),
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/",
            )
            return response
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self.token.encode()
        ):
            return await call_next(request)
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), _cookie_value(self.token).encode()):
            return await call_next(request)
        return _unauthorized()


def _cache_timing(served: Served[Any]) -> str:
    """A Server-Timing entry saying whether the page was kept or built (browsers' developer
    tools show it)."""
    return 'page;desc="kept"' if served.hit else 'page;desc="built"'


def _unauthorized() -> Response:
    return Response(
        "This page needs the access token (MONITOR_WEB__TOKEN).\n",
        status_code=401,
        media_type="text/plain; charset=utf-8",
        headers={"WWW-Authenticate": 'Bearer realm="news-monitor"'},
    )


# Long by design: the route table, whose handlers share this app's engines, templates and clock
# as closures; each handler is a few lines over the views, actions and feeds modules (its
# branches are the handlers', counted as one function's).
def create_app(  # noqa: C901
    settings: Settings,
    config: MonitorConfig,
    *,
    clock: Clock | None = None,
    page_size: int = views.TIMELINE_PAGE,
) -> Starlette:
    """The web view over ``settings``' database, showing ``config``'s topics; a topic page
    shows ``page_size`` developments, with a link to the older ones.

    A :class:`~monitor.errors.ConfigError` when the database is not at the current schema (the
    web view never migrates; ``monitor db upgrade`` does).
    """
    now = clock or (lambda: datetime.now(UTC))
    engine = read_only_engine(settings.resolved_database_url())
    if not is_at_head(engine):
        engine.dispose()
        raise ConfigError(NOT_AT_HEAD)
    sessions: sessionmaker[Session] = session_factory(engine)
    writer = make_engine(settings.resolved_database_url())  # the feedback actions' only
    env = page_environment()
    cache = PageCache(engine)
    slugs = views.topic_slugs(config.topics)
    base_url = settings.web.base_url
    token = settings.web.token.get_secret_value() if settings.web.token else None
    link_secret = settings.web.link_secret
    stylesheet = files("monitor.web").joinpath("static/style.css").read_bytes()
    icon = files("monitor.web").joinpath("static/favicon.svg").read_bytes()

    def page(name: str, status: int = 200, **context: Any) -> Response:
        body = env.get_template(name).render(context)
        return Response(body, status_code=status, media_type="text/html; charset=utf-8")

    def base(request: Request) -> str:
        return base_url or str(request.base_url).rstrip("/")

    def kept_page(request: Request, served: Served[str]) -> Response:
        body = cache.personal(served.value, actions.csrf_token(request))
        response = Response(body, media_type="text/html; charset=utf-8")
        response.headers["Server-Timing"] = _cache_timing(served)
        return response

    def feed_response(request: Request, served: Served[RenderedFeed]) -> Response:
        rendered = served.value
        headers = {
            "ETag": rendered.etag,
            "Last-Modified": rendered.last_modified,
            "Cache-Control": "no-cache",
            "Server-Timing": _cache_timing(served),
        }
        if not_modified(
            rendered,
            request.headers.get("if-none-match"),
            request.headers.get("if-modified-since"),
        ):
            return Response(status_code=304, headers=headers)
        return Response(rendered.body, media_type=MEDIA_TYPE, headers=headers)

    def topic_of(request: Request) -> tuple[str, Any]:
        slug = request.path_params["slug"]
        if slug not in slugs:
            raise HTTPException(404, "no such topic")
        return slug, slugs[slug]

    blank_search: dict[str, Any] = {
        "q": "",
        "relevance": "prominent",
        "since": "",
        "relevances": RELEVANCE,
        "max_query": search.MAX_QUERY,
        "max_hits": search.MAX_HITS,
    }

    def topics_page(request: Request) -> Response:
        with sessions() as session:
            summaries = views.topic_summaries(session, config, now=now())
        return page("topics.html", summaries=summaries, **blank_search)

    def topic_page(request: Request) -> Response:
        slug, topic = topic_of(request)
        token = request.query_params.get("before")
        before = views.Cursor.parse(token) if token is not None else None
        if token is not None and before is None:
            raise HTTPException(400, "not a place in the timeline")

        def build() -> tuple[str, datetime | None]:
            at = now()
            with sessions() as session:
                timeline = views.timeline_page(session, topic, size=page_size, before=before)
                stories = sorted({e.alert.story_id for e in timeline.entries if e.alert.story_id})
                marks = actions.marks(session, stories, at)
            here = f"/topics/{slug}" + (f"?before={before.token}" if before else "")
            body = env.get_template("topic.html").render(
                slug=slug,
                topic=topic,
                entries=timeline.entries,
                older=timeline.older.token if timeline.older else None,
                paged=before is not None,
                here=here,
                marks=marks,
                csrf=cache.csrf_marker,
            )
            return body, marks.ends()

        key = ("topic", slug, before.token if before else None)
        return kept_page(request, cache.serve(key, now(), build))

    def topic_feed_page(request: Request) -> Response:
        slug, topic = topic_of(request)
        at = base(request)

        def build() -> tuple[RenderedFeed, None]:
            with sessions() as session:
                return render_feed(topic_feed(session, slug, topic, at)), None

        return feed_response(request, cache.serve(("topic-feed", slug, at), now(), build))

    def story_page(request: Request) -> Response:
        story_id = request.path_params["story_id"]

        def build() -> tuple[str | None, datetime | None]:
            at = now()
            with sessions() as session:
                story = views.story_view(session, story_id)
                if story is None:
                    return None, None
                alerted = views.story_topics(session, story.id)
                marks = actions.marks(session, [story.id], at)
            body = env.get_template("story.html").render(
                story=story,
                timeline=story_timeline(story),
                topics={t.name: s for s, t in slugs.items() if t.name in alerted},
                marks=marks,
                csrf=cache.csrf_marker,
            )
            return body, marks.ends()

        served = cache.serve(("story", story_id), now(), build)
        if served.value is None:
            raise HTTPException(404, "no such story")
        return kept_page(request, Served(served.value, served.hit))

    def story_feed_page(request: Request) -> Response:
        story_id = request.path_params["story_id"]
        at = base(request)

        def build() -> tuple[RenderedFeed | None, None]:
            with sessions() as session:
                feed = load_story_feed(session, story_id, at)
            return (render_feed(feed) if feed is not None else None), None

        served = cache.serve(("story-feed", story_id, at), now(), build)
        if served.value is None:
            raise HTTPException(404, "no such story")
        return feed_response(request, Served(served.value, served.hit))

    def article_page(request: Request) -> Response:
        with sessions() as session:
            article = views.article_view(session, request.path_params["article_id"], config)
        if article is None:
            raise HTTPException(404, "no such article")
        return page("article.html", article=article, slugs={t.name: s for s, t in slugs.items()})

    def sources_page(request: Request) -> Response:
        with sessions() as session:
            sources = source_health(session)
        return page("sources.html", sources=sources, now=now())

    def deliveries_page(request: Request) -> Response:
        def number(name: str) -> int | None:
            raw = request.query_params.get(name, "")
            return int(raw) if raw.isdigit() and len(raw) < 19 else None

        with sessions() as session:
            alerts = health.failed_deliveries(session)
            notices = health.failed_notices(session)
        return page(
            "deliveries.html",
            alerts=alerts,
            notices=notices,
            retried=number("retried"),
            retried_notice=number("retried_notice"),
            csrf=actions.csrf_token(request),
        )

    def search_page(request: Request) -> Response:
        params = request.query_params
        text = params.get("q", "")
        context: dict[str, Any] = {
            **blank_search,
            "q": text,
            "relevance": params.get("relevance", "prominent"),
            "since": params.get("since", ""),
            "result": None,
            "error": None,
            "position": None,
        }
        if not text.strip():
            return page("search.html", **context)
        try:
            asked = search.search_request(text, context["relevance"], context["since"], now=now())
            query = parse_query(asked.query)
        except QueryError as exc:
            context.update(error=exc.reason, position=exc.position)
            return page("search.html", status=400, **context)
        except SearchError as exc:
            context.update(error=str(exc), q=text[: search.MAX_QUERY])
            return page("search.html", status=400, **context)
        with sessions() as session:
            context["result"] = search.run_search(session, query, asked)
        return page("search.html", **context)

    def style(request: Request) -> Response:
        return Response(stylesheet, media_type="text/css; charset=utf-8")

    def favicon(request: Request) -> Response:
        # named by every page, so that browsers do not ask for a missing /favicon.ico
        return Response(icon, media_type="image/svg+xml")

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "error"
        return page("error.html", status=status, code=status, detail=detail)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            cache.close()
            engine.dispose()
            writer.dispose()

    routes = [
        Route("/", topics_page),
        Route("/topics/{slug}", topic_page),
        Route("/topics/{slug}/feed.atom", topic_feed_page),
        Route("/stories/{story_id:int}", story_page),
        Route("/stories/{story_id:int}/feed.atom", story_feed_page),
        Route("/articles/{article_id:int}", article_page),
        Route("/search", search_page),
        Route("/sources", sources_page),
        Route("/deliveries", deliveries_page),
        Route("/style.css", style),
        Route("/favicon.svg", favicon),
        *actions.routes(
            session_factory(writer),
            slugs,
            settings.web.user,
            now,
            claim=timedelta(seconds=settings.delivery.claim_s),
        ),
        *act.routes(
            sessions,
            session_factory(writer),
            link_secret.get_secret_value() if link_secret is not None else None,
            settings.web.user,
            now,
            page,
        ),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_Guard, token=token)],
        exception_handlers={HTTPException: not_found},
        lifespan=lifespan,
    )
