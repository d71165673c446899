"""``python -m monitor``: the same command line as ``monitor``."""

if __name__ == "__main__":  # a spawned extraction worker imports this module; it runs nothing
    from monitor.cli import main

    main()
