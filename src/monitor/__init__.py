"""News monitor: one alert per new development on a tracked topic.

The package is the pure core of the pipeline. It never imports Prefect; orchestration lives in the
top-level ``flows`` package, schedules in ``deploy/``.
"""

__version__ = "0.1.0"

# Sent as User-Agent unless MONITOR_USER_AGENT says otherwise (config.py and fetch.py).
DEFAULT_USER_AGENT = "news-monitor/0.1 (+https://github.com/news-monitor/news-monitor)"
