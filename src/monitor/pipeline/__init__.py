"""The stages of one monitor cycle, as plain functions, and their one composition.

:func:`monitor.pipeline.cycle.compose` runs them in this order, through a runner that decides how
each stage call runs: as Prefect tasks (``flows/cycle.py``) or as plain calls
(:class:`~monitor.pipeline.cycle.PlainRunner`)::

    collect      sources -> feeds (conditional GET; resolve: a page's feed, a sitemap index)
                 -> entries whose article keys are not stored -> pages        (I/O: HTTP, DB)
    extract      pages -> ExtractedPage | None          (CPU: monitor.extract_pool's processes)
    articles     pages + extractions -> Article (summary-only fallback)                (pure)
    detect       Article -> duplicate / story placement (monitor.stories) -> stored, and
                 alerting: each topic reads the archive from its cursor -> alerts + outbox (DB)
    deliver      outbox -> channels (monitor.alerts.outbox)                (I/O: SMTP, HTTP)
    report       counts -> CycleReport -> markdown                                     (pure)

Kept between cycles: ``sources`` (health, validators, rhythm, robots.txt) and ``failures``
(pages parked after failing cycle after cycle). ``feedback`` applies the reader's feedback
from the web view and the command line.
"""
