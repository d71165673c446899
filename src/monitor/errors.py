"""Typed errors of the monitor.

Every error the core raises on purpose derives from :class:`MonitorError`. Library errors are
translated at the boundary (``raise FetchError(...) from exc``) so callers never match on
third-party types or on message strings. Whether a retry can help is a property of the type::

    MonitorError
    ├── ConfigError                 bad config file, settings or topic query (permanent)
    │   ├── QueryError              a topic query that does not parse
    │   └── DatabaseUrlError        a database URL that names no usable database (exit 2)
    ├── FetchError                  could not get a resource over HTTP
    │   ├── TransientFetchError     timeout, connection reset, 5xx, 429: try again next cycle
    │   │   ├── HeldBackError       not sent: the host asked to be left alone (Retry-After)
    │   │   ├── OverBudgetError     not fetched (or cut off) because a wall-clock budget ran out
    │   │   └── UnreachableHostError    the host name does not resolve, or TLS fails
    │   └── PermanentFetchError     4xx, refused address, redirect loop, too large
    │       ├── BlockedAddressError     host resolves to a private/loopback address
    │       ├── ResponseTooLargeError   body exceeded the configured cap
    │       └── RobotsDisallowedError   not requested: the host's robots.txt disallows it
    ├── ParseError                  a feed that is not a feed (invalid XML, HTML page, bad JSON)
    │   └── NotAFeedError           an HTML page (a home or section page): its feeds are looked for
    ├── ExtractionError             the page yielded no usable article text, or workers failed
    │   ├── ExtractionTimeoutError  a page ran past the per-page time limit (worker replaced)
    │   └── PageTooLargeError       a page over the extraction size cap, not extracted
    ├── StorageError                the database refused an operation we did not expect it to
    │   └── DatabaseUnreachableError    no connection: refused, unknown host or database,
    │                                   a SQLite file that cannot be created (exit 1)
    ├── CycleRunningError           another cycle of the same config holds its lock
    ├── FeedbackError               feedback on a story, development or mark that is not there
    ├── LinkError                   an alert's action link that is malformed, forged or expired
    ├── SearchError                 a web search's parameters are not valid (too long, unknown)
    ├── StageClosedError            a fetch or extraction asked of a stage the cycle shut down
    │   ├── FetcherClosedError
    │   └── ExtractorClosedError
    └── DeliveryError               an alert could not be delivered on a channel
        ├── TransientDeliveryError  SMTP/webhook down, timeout, 5xx: retried with back-off
        └── PermanentDeliveryError  rejected recipient, 4xx, bad credentials: dead after retries

"Not modified" and "duplicate" are return values, never exceptions.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every error raised on purpose by the monitor."""


class ConfigError(MonitorError):
    """The configuration (file, environment or a value in it) is invalid."""


class QueryError(ConfigError):
    """A topic query does not parse. ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, *, query: str, position: int | None = None) -> None:
        self.query = query
        self.reason = message
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where} in query {query!r}")


class DatabaseUrlError(ConfigError):
    """The database URL cannot be used: it does not parse, names an unknown dialect or driver,
    or one whose package is not installed. Commands exit with :data:`EXIT_CODE`."""

    EXIT_CODE = 2


class FetchError(MonitorError):
    """A resource could not be fetched. ``url`` is the URL that was asked for; ``status`` the
    HTTP status that refused it, when one did."""

    retryable = False

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class TransientFetchError(FetchError):
    """Timeouts, connection errors, 5xx and 429: the next cycle may succeed.

    ``retry_after_s`` is how long the server asked us to wait (``Retry-After`` on a 429 or
    503), in seconds, when it said.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        url: str,
        retry_after_s: float | None = None,
        status: int | None = None,
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, url=url, status=status)


class HeldBackError(TransientFetchError):
    """The request was not sent: its host answered 429 (or 503 with Retry-After) to another
    request moments ago and asked to be left alone. Not the resource's failure."""


class OverBudgetError(TransientFetchError):
    """Not fetched, or cut off, because the source's or the cycle's wall-clock budget ran out:
    left for a later cycle, and not the page's own failure."""


class UnreachableHostError(TransientFetchError):
    """The host name does not resolve (DNS), or the TLS handshake with it fails (a bad or
    expired certificate). A resolver or certificate glitch may pass, so a page is tried again;
    a feed that keeps failing this way has moved or gone (see :mod:`monitor.polling`)."""


class PermanentFetchError(FetchError):
    """4xx, refused addresses, redirect loops: retrying the same request will not help.
    ``status`` is the HTTP status that said so, when one did."""


class BlockedAddressError(PermanentFetchError):
    """The host resolves to a private, loopback or link-local address and those are not allowed."""


class ResponseTooLargeError(PermanentFetchError):
    """The response body exceeded the configured size cap."""


class RobotsDisallowedError(PermanentFetchError):
    """Not requested: the host's robots.txt disallows the URL for the monitor's user agent
    (see :mod:`monitor.robots`; a source may be set to ignore it)."""


class ParseError(MonitorError):
    """A feed document could not be parsed into entries."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class NotAFeedError(ParseError):
    """An HTML page where a feed was expected: a source set to a site's home or section page,
    whose feeds and sitemaps :mod:`monitor.discovery` looks for."""


class ExtractionError(MonitorError):
    """Extraction could not run (the extraction processes failed or could not start), or a
    page yielded no usable article text.
    ``url`` is the page's URL when one page is concerned."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class ExtractionTimeoutError(ExtractionError):
    """A page's extraction ran past the per-page limit; its worker process was replaced."""


class PageTooLargeError(ExtractionError):
    """A page over the extraction size cap: not handed to the extractor at all."""


class StorageError(MonitorError):
    """The database refused an operation in a way the monitor did not expect."""


class DatabaseUnreachableError(StorageError):
    """No connection to the database: the server refuses or does not answer, its host or the
    database does not exist, the credentials are refused, or a SQLite file (or its directory)
    cannot be created or opened. The URL itself is valid; commands exit with
    :data:`EXIT_CODE`."""

    EXIT_CODE = 1


class CycleRunningError(MonitorError):
    """Another cycle of the same config is running (it holds the config's cycle lock): this one
    does not start, rather than repeat its fetching and extraction. ``monitor run`` exits with
    :data:`EXIT_CODE`."""

    EXIT_CODE = 3

    def __init__(self, config: str, since: str | None, holder: str | None) -> None:
        self.config = config
        self.since = since
        self.holder = holder
        super().__init__(
            f"another cycle of config {config} is running since {since or 'an unknown time'}, "
            f"started by {holder or 'an unknown process'}"
        )


class FeedbackError(MonitorError):
    """Feedback naming a story, development, topic or earlier mark that does not exist."""


class LinkError(MonitorError):
    """An alert's signed action link refused. ``reason`` says why: ``malformed``, ``signature``
    (tampered, or signed with another secret), ``expired`` or ``wrong-action``."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class SearchError(MonitorError):
    """A search of the web view asked with a parameter it refuses: a query over the length
    bound, an unknown relevance rule, a ``since`` that is not a time."""


class StageClosedError(MonitorError):
    """The cycle shut a stage down (it failed, or finished) while this work was asked of it or
    under way: the work was cancelled."""


class FetcherClosedError(StageClosedError):
    """A fetch asked of, or under way in, a closed fetcher."""


class ExtractorClosedError(StageClosedError):
    """An extraction asked of, or under way in, a closed extractor."""


class DeliveryError(MonitorError):
    """An alert could not be delivered on a channel."""

    retryable = False

    def __init__(self, message: str, *, channel: str) -> None:
        self.channel = channel
        super().__init__(message)


class TransientDeliveryError(DeliveryError):
    """The channel is down or slow; the delivery is retried with back-off, and not before
    ``retry_after_s`` when the channel said how long to wait (``Retry-After``)."""

    retryable = True

    def __init__(self, message: str, *, channel: str, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, channel=channel)


class PermanentDeliveryError(DeliveryError):
    """The channel rejected the message; retrying as-is will not help."""
