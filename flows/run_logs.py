"""Prefect run logs that show an expected failure as its message, not as a traceback.

Prefect logs the exception that failed a flow or task run with its traceback ("Encountered
exception during execution"). For the failures the monitor expects and explains in one line — a
setting that is wrong (a Prefect Secret block that does not exist, a config file that does not
parse), a database it cannot open, a cycle of the same config already running — that traceback
is over a hundred lines of library frames printed above the message the user needs, which the
record's own text, the run's final state and the command's error line already carry. Any other
exception (a bug) keeps its traceback, and so does every record while the run loggers are set to
``DEBUG`` (``PREFECT_LOGGING_LEVEL=DEBUG``).
"""

from __future__ import annotations

import logging

from monitor.errors import ConfigError, CycleRunningError, DatabaseUnreachableError

# Failures whose message says what happened and what to change.
EXPECTED = (ConfigError, DatabaseUnreachableError, CycleRunningError)
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class ExpectedFailureFilter(logging.Filter):
    """Drops the traceback of a record whose exception is an expected failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, EXPECTED) and not logging.getLogger(record.name).isEnabledFor(
            logging.DEBUG
        ):
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = ExpectedFailureFilter()


def quiet_expected_failures() -> None:
    """Install the filter on Prefect's run loggers (idempotent). Called when a run starts:
    Prefect configures its loggers when it is first set up, which would drop a filter added
    before."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
