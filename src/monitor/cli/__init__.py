"""The ``monitor`` command line: the outer ring that calls the core; nothing in the core
imports it.

One module per group of commands (:mod:`~monitor.cli.run`, :mod:`~monitor.cli.listings`,
:mod:`~monitor.cli.db`, :mod:`~monitor.cli.topics`, :mod:`~monitor.cli.alerts`,
:mod:`~monitor.cli.stories`, :mod:`~monitor.cli.feedback`, :mod:`~monitor.cli.web`,
:mod:`~monitor.cli.demo`), each with a ``register(app)``;
:mod:`~monitor.cli.app` registers them all on the root command. Shared options and helpers are
in :mod:`~monitor.cli.common`.
"""

from monitor.cli.app import app, main, prefect_defaults
from monitor.cli.common import start_extraction

__all__ = ["app", "main", "prefect_defaults", "start_extraction"]
