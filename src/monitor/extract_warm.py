"""Imported by the extraction fork server, once, before it forks any worker.

Importing this module loads trafilatura and detection's reading code and runs them on a small
article page and on the near-empty page each worker warms up with. What they build on first use
(lazy imports, compiled patterns, stoplists, caches) then sits in the fork server's memory, and
every worker forked from it starts warm, instead of each worker paying for it again (about
0.2 s of CPU per worker, per cycle).

Nothing else in the package acts on import; this module does because a fork server's preload
list (module names to import) is the only way to run code in it before it forks. Nothing but
:func:`monitor.extract_pool._context` names it.
"""

from __future__ import annotations

import contextlib

from monitor.extract import extract_page, quiet_extraction_logs
from monitor.extract_pool import WARM_UP_PAGE, WARM_UP_URL
from monitor.pipeline.articles import extract_and_read
from monitor.stories.settings import DetectionSettings

_URL = "https://warm-up.invalid/news/2031/05/04/quarry-blast"
_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Quarry blast shakes Orrinford | Valley Post</title>
<meta property="og:site_name" content="Valley Post">
<meta property="article:published_time" content="2031-05-04T08:00:00Z">
<meta name="author" content="Petra Lund">
<link rel="canonical" href="https://warm-up.invalid/news/2031/05/04/quarry-blast">
</head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li></ul></nav>
<article><h1>Quarry blast shakes Orrinford</h1>
<p>A blast at the Orrinford quarry shook houses across the valley on Monday morning, and
12 workers were evacuated, site manager Petra Lund said.</p>
<p>"Nobody was hurt and the site is closed until the inspectors have been," Lund told the
Valley Post. The Mines Board will visit on 9 May, the council said on Tuesday.</p>
<p>Residents in Upper Orrinford reported cracked windows and a power cut lasting 40 minutes,
according to the regional grid operator.</p>
</article>
<div class="comments"><p>Reader comment</p></div>
<footer>Copyright Valley Post. All rights reserved.</footer>
</body></html>"""


def warm_up() -> None:
    quiet_extraction_logs()
    # A failure here only means a cold start: never let it take the fork server down.
    with contextlib.suppress(Exception):
        extract_and_read(_PAGE, _URL, min_text_chars=0, settings=DetectionSettings())
        # The page each worker warms up with (monitor.extract_pool._init_worker): now a repeat.
        extract_page(WARM_UP_PAGE, WARM_UP_URL)


warm_up()
