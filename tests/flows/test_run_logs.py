"""A flow run that fails for a reason the monitor explains logs that reason, not a traceback.

The cycle flow runs for real under Prefect's test server, with a database URL no server answers
at: Prefect's record of the failure keeps its message and loses the library frames. A failure
the monitor does not expect keeps its traceback."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flows.cycle import monitor_cycle
from flows.run_logs import ExpectedFailureFilter

from monitor.errors import DatabaseUnreachableError

pytestmark = pytest.mark.usefixtures("prefect_harness")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def flow_records() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    logger = logging.getLogger("prefect.flow_runs")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def _failures(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if "Encountered exception" in r.getMessage()]


def test_an_unreachable_database_is_logged_as_its_message(
    tmp_path: Path, flow_records: list[logging.LogRecord]
) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("sources: []\ntopics: []\n", encoding="utf-8")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nowhere"
    with pytest.raises(DatabaseUnreachableError):
        monitor_cycle(config_path=str(config), database_url=url)
    [failure] = _failures(flow_records)
    assert "cannot open the database" in failure.getMessage()
    assert failure.exc_info is None  # no traceback printed with it
    assert "Traceback" not in logging.Formatter().format(failure)


def test_an_unexpected_failure_keeps_its_traceback(
    tmp_path: Path, flow_records: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.cycle

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug somewhere in the cycle")

    monkeypatch.setattr(flows.cycle, "compose", broken)
    config = tmp_path / "monitor.yaml"
    config.write_text("sources: []\ntopics: []\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        monitor_cycle(config_path=str(config), database_url=f"sqlite:///{tmp_path}/m.db")
    [failure] = _failures(flow_records)
    assert failure.exc_info is not None
    assert "Traceback" in logging.Formatter().format(failure)


def test_debug_logging_keeps_every_traceback() -> None:
    logger = logging.getLogger("prefect.flow_runs")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        try:
            raise DatabaseUnreachableError("cannot open the database x")
        except DatabaseUnreachableError:
            record = logger.makeRecord(
                logger.name, logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
            )
        assert ExpectedFailureFilter().filter(record)
        assert record.exc_info is not None
    finally:
        logger.setLevel(before)
