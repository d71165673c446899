"""``monitor web`` and ``monitor export-feed``: the web view and a topic's Atom feed.

``monitor web`` serves :mod:`monitor.web` with uvicorn, on 127.0.0.1:8000 by default. Any other
address needs ``MONITOR_WEB__TOKEN``: without it the command refuses to start (exit 2), since the
pages show everything the monitor stored. ``monitor export-feed`` writes the feed the server
would answer for ``/topics/<slug>/feed.atom`` to standard output, for static hosting.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from monitor.cli.common import (
    ConfigOption,
    ensure_database,
    fail,
    load_settings,
    warn_unknown_settings,
)
from monitor.config import Settings, config_path, load_config

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_missing_database(settings: Settings) -> None:
    """Stop with one line when the configured SQLite file does not exist: the web view and its
    feeds only read, and opening the file would leave an empty database (and its directory)
    behind for nothing."""
    from monitor.storage.db import sqlite_file

    path = sqlite_file(settings.resolved_database_url())
    if path is not None and not path.exists():
        setting = "MONITOR_DATA_DIR" if settings.database_url is None else "MONITOR_DATABASE_URL"
        raise fail(
            f"nothing to show yet: no database at {path} (see {setting}); "
            "`monitor run --config FILE` runs a cycle that creates it"
        )


def web(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option("--host", help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="port to bind")] = 8000,
) -> None:
    """Serve the web view and Atom feeds over the monitor's database (pages read-only; feedback
    forms write)."""
    import uvicorn

    from monitor.web import create_app

    settings = load_settings()
    warn_unknown_settings()
    if not is_loopback(host) and settings.web.token is None:
        raise fail(
            f"refusing to bind {host}: the web view shows everything the monitor stored; set "
            "MONITOR_WEB__TOKEN to require a token, or bind 127.0.0.1 behind an authenticating "
            "reverse proxy"
        )
    loaded = load_config(config_path(config, settings))
    refuse_missing_database(settings)
    ensure_database(settings)
    app = create_app(settings, loaded)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


def export_feed(
    topic: Annotated[str, typer.Argument(help="topic name or slug")],
    config: ConfigOption = None,
) -> None:
    """Write a topic's Atom feed to standard output (links under MONITOR_WEB__BASE_URL)."""
    from monitor.storage.db import is_at_head, session_factory
    from monitor.web.app import NOT_AT_HEAD, read_only_engine
    from monitor.web.atom import render_feed
    from monitor.web.feeds import topic_feed
    from monitor.web.views import topic_slugs

    settings = load_settings()
    loaded = load_config(config_path(config, settings))
    slugs = topic_slugs(loaded.topics)
    found = next(((s, t) for s, t in slugs.items() if topic in (s, t.name)), None)
    if found is None:
        known = ", ".join(repr(t.name) for t in loaded.topics) or "none"
        raise fail(f"no topic {topic!r} in the config (topics: {known})")
    refuse_missing_database(settings)
    engine = read_only_engine(settings.resolved_database_url())
    try:
        if not is_at_head(engine):
            raise fail(NOT_AT_HEAD)
        with session_factory(engine)() as session:
            feed = topic_feed(session, found[0], found[1], settings.web.base_url or "")
    finally:
        engine.dispose()
    typer.echo(render_feed(feed).body, nl=False)


def register(app: typer.Typer) -> None:
    app.command("web")(web)
    app.command("export-feed")(export_feed)
