"""``python -m monitor``: the same command line as ``monitor``."""

from monitor.interrupts import exit_interrupted

if __name__ == "__main__":  # a spawned extraction worker imports this module; it runs nothing
    try:
        # A Ctrl-C while the command line is still being imported (a second or so) stops it as
        # one later does: one line and exit 130, not a traceback of the imports.
        from monitor.cli import main
    except KeyboardInterrupt:
        exit_interrupted()
    main()
