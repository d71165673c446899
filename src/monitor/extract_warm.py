"""Imported by the extraction fork server, once, before it forks any worker.

Importing this module loads trafilatura and detection's reading code and runs them on a small
article page and on the near-empty page each worker warms up with; it also loads the feed
parser (workers parse the feeds too) and runs it on a small feed. What they build on first use
(lazy imports, compiled patterns, stoplists, caches) then sits in the fork server's memory, and
every worker forked from it starts warm, instead of each worker paying for it again, per
cycle.

Nothing else in the package acts on import; this module does because a fork server's preload
list (module names to import) is the only way to run code in it before it forks. Nothing but
:func:`monitor.extract_pool._context` names it.
"""

from __future__ import annotations

import contextlib

from monitor.detection_settings import DetectionSettings
from monitor.extract import extract_page, quiet_extraction_logs
from monitor.extract_pool import WARM_UP_PAGE, WARM_UP_URL
from monitor.feeds import parse_feeds
from monitor.models import FetchResult
from monitor.pipeline.articles import extract_and_read

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


_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Valley Post</title><link>https://warm-up.invalid/</link>
<item><title>Quarry blast shakes Orrinford</title>
<link>https://warm-up.invalid/news/2031/05/04/quarry-blast</link>
<guid isPermaLink="false">vp-2031-0504-1</guid>
<pubDate>Sun, 04 May 2031 08:00:00 +0000</pubDate>
<description>A blast at the &lt;b&gt;Orrinford&lt;/b&gt; quarry shook houses.</description>
</item></channel></rss>"""


def warm_up() -> None:
    quiet_extraction_logs()
    # A failure here only means a cold start: never let it take the fork server down.
    with contextlib.suppress(Exception):
        extract_and_read(_PAGE, _URL, min_text_chars=0, settings=DetectionSettings())
        # The page each worker warms up with (monitor.extract_pool._init_worker): now a repeat.
        extract_page(WARM_UP_PAGE, WARM_UP_URL)
        url = "https://warm-up.invalid/rss.xml"
        parse_feeds([FetchResult(url, url, 200, _FEED, {"content-type": "application/rss+xml"})])


warm_up()
