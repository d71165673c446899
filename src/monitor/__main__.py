"""``python -m monitor`` and the ``monitor`` console script: the command line, entered so that
a Ctrl-C during its imports is handled too.

Only :mod:`monitor.interrupts` (standard library only) is imported before :func:`main` runs:
the console script imports this module, not :mod:`monitor.cli`, whose imports take a second or
so.
"""

from monitor.interrupts import exit_interrupted


def main() -> None:
    """Run the command line; a Ctrl-C while it is still being imported stops it as one later
    does: ``interrupted`` on one line and exit 130, not a traceback of the imports."""
    try:
        from monitor.cli import main as cli_main
    except KeyboardInterrupt:
        exit_interrupted()
    cli_main()


if __name__ == "__main__":  # a spawned extraction worker imports this module; it runs nothing
    main()
