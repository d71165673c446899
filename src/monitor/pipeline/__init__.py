"""The stages of one monitor cycle, as plain functions.

``flows/`` composes them into the Prefect flow; this package decides nothing about tasks,
retries or concurrency of stages::

    collect      sources -> feeds (conditional GET) -> new entries only -> pages   (I/O: HTTP, DB)
    extract      pages -> ExtractedPage | None                              (CPU, process pool)
    articles     pages + extractions -> Article (summary-only fallback)           (pure)
    detect       Article -> dedup, story, development -> alerts + outbox rows      (DB)
    deliver      outbox -> channels                                              (I/O: SMTP, HTTP)
    report       counts -> CycleReport -> markdown                                (pure)
"""
