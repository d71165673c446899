"""The web view and Atom feeds: an ASGI app over the monitor's database, read-only but for the
reader's feedback forms (:mod:`monitor.web.actions`).

``monitor web --config FILE`` serves it with uvicorn on 127.0.0.1:8000; under another ASGI server,
:func:`app_from_env` builds it from the environment (``MONITOR_CONFIG_FILE`` and the other
``MONITOR_*`` settings)::

    uvicorn --factory monitor.web:app_from_env --host 127.0.0.1 --port 8000

See :mod:`monitor.web.app` for the pages and the security defaults, :mod:`monitor.web.atom` for
the feeds.
"""

from __future__ import annotations

from starlette.applications import Starlette

from monitor.web.app import create_app

__all__ = ["app_from_env", "create_app"]


def app_from_env() -> Starlette:
    """The app for the settings in the environment and the config file they name."""
    from monitor.config import config_path, get_settings, load_config

    settings = get_settings()
    return create_app(settings, load_config(config_path(None, settings)))
