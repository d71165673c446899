"""Ending the process after a Ctrl-C that was caught (``monitor``'s one line and exit 130).

Standard library only: ``python -m monitor`` and the ``monitor`` script (both enter through
:mod:`monitor.__main__`) import it before anything else, so that a Ctrl-C during the rest of
their imports is handled too.
"""

from __future__ import annotations

import sys
from typing import NoReturn

# What a shell reports for a command stopped by Ctrl-C: 128 + SIGINT.
INTERRUPTED_EXIT_CODE = 130


def exit_interrupted() -> NoReturn:
    """Say ``interrupted`` on one line and exit with :data:`INTERRUPTED_EXIT_CODE`.

    CPython remembers a KeyboardInterrupt that ended a string ``exec``/``eval`` (the code that
    dataclasses, typing and pydantic generate while modules are imported) even when a caller
    caught it, and under ``python -m`` then ends the process by SIGINT at exit instead of with
    the exit code it was given. A string evaluation that ends normally clears that memory.
    """
    sys.stderr.write("interrupted\n")
    sys.stderr.flush()
    eval("None")  # noqa: S307 - a constant: clears the flag described above
    raise SystemExit(INTERRUPTED_EXIT_CODE) from None
