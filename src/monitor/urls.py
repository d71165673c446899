"""Canonical URLs: one spelling per article, whatever link a feed or a share button gave us.

Contract:

* :func:`canonicalize` takes any http(s) URL, optionally relative to ``base``, and returns an
  absolute URL with lower-case scheme and host, no default port, no fragment, no tracking
  parameters, and the remaining query parameters in a stable (sorted) order. Two links to the same
  article that differ only in those respects canonicalize to the same string, which storage makes
  unique.
* :func:`host_of` returns the lower-case host name of a URL (no port, no user info).
* Anything that is not an http(s) URL with a host raises :class:`~monitor.errors.ParseError`;
  neither function raises ``ValueError``. This is the one check every URL from the network
  passes (a feed's entry links, a redirect's ``Location``, a page's ``rel=canonical``, a
  configured source): a host the HTTP client could not encode (an invalid IDNA name such as
  ``xn--zz--.example``, a label over 63 characters, a broken IP literal), control characters,
  and a URL longer than :data:`MAX_URL_CHARS` are refused here, so they are that item's error
  and never an exception half-way through a cycle.
* :func:`monitor.redact.redact_url` is how a URL is shown; the URL itself is what is fetched.

The normalisation itself (case, default ports, path slashes and percent-encoding, tracker list,
query ordering, punycode) is courlan's ``normalize_url``; this module only adds base resolution,
validation, fragment removal and a few tracker names courlan's list does not cover.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit

import idna
from courlan import normalize_url

from monitor.errors import ParseError

_SCHEMES = frozenset({"http", "https"})
# Longer URLs are refused: storage keys them (a unique index on the canonical URL, 2,000
# characters, which an updated version's key extends by 24), and no news page needs more.
MAX_URL_CHARS = 1900
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f\ud800-\udfff]")
_IPV4_LIKE = re.compile(r"^[0-9.]+$")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.{1,2}(?:/|$)")

# courlan's tracker pattern already covers utm_*, fbclid, gclid, dclid, msclkid, mc_cid, mc_eid,
# igshid, _ga, yclid, ref_src and many more; these are common ones its pattern misses.
_EXTRA_TRACKERS = re.compile(
    r"^(?:_hsenc|_hsmi|_openstat|__twitter_impression|s_kwcid|ncid|cmpid|wt\.mc_id|wt_mc|spm)$",
    re.IGNORECASE,
)


def canonicalize(url: str, base: str | None = None) -> str:
    """Return the canonical spelling of ``url`` (resolved against ``base`` when relative)."""
    parts = _split_http(url, base)
    if _DOT_SEGMENT.search(parts.path):
        # urljoin applies RFC 3986 dot-segment removal; courlan only collapses slashes.
        parts = parts._replace(path=urlsplit(urljoin(parts.geturl(), parts.path)).path)
    # Fragments never select a different document on the server, so they are not identity;
    # courlan keeps most of them, hence they are dropped before it sees the URL.
    parts = parts._replace(fragment="", query=_drop_extra_trackers(parts.query))
    try:
        normalized = normalize_url(parts)
    except ValueError as exc:
        raise ParseError(f"cannot normalise URL {url!r}: {exc}", url=url) from exc
    result = urlsplit(normalized)
    if not result.path:
        # "http://host" and "http://host/" name the same resource; keep one spelling.
        result = result._replace(path="/")
    return result.geturl()


def host_of(url: str) -> str:
    """Return the lower-case host name of an absolute http(s) URL."""
    parts = _split_http(url, None)
    host = parts.hostname
    assert host is not None  # _split_http guarantees a host
    return host


def _split_http(url: str, base: str | None) -> SplitResult:
    """Resolve and split ``url``, insisting on an http(s) scheme and a host."""
    if not isinstance(url, str) or not url.strip():
        raise ParseError("empty URL", url=url if isinstance(url, str) else None)
    # Feed links often carry stray whitespace or line breaks around (and inside) them.
    candidate = "".join(url.split())
    if _CONTROL_OR_SPACE.search(candidate):
        raise ParseError(f"URL contains control characters: {url[:200]!r}", url=url)
    if len(candidate) > MAX_URL_CHARS:
        raise ParseError(
            f"URL longer than {MAX_URL_CHARS} characters ({len(candidate)}): {url[:100]!r}...",
            url=url,
        )
    try:
        if base is not None:
            candidate = urljoin("".join(base.split()), candidate)
        parts = urlsplit(candidate)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ParseError(f"invalid URL {url!r}: {exc}", url=url) from exc
    if parts.scheme.lower() not in _SCHEMES:
        raise ParseError(f"not an http(s) URL: {url!r}", url=url)
    if not host:
        raise ParseError(f"URL has no host: {url!r}", url=url)
    if len(parts.geturl()) > MAX_URL_CHARS:  # resolved against a long base
        raise ParseError(f"URL longer than {MAX_URL_CHARS} characters: {url[:100]!r}...", url=url)
    _check_host(host, url)
    return parts


def _check_host(host: str, url: str) -> None:
    """Refuse a host the HTTP client cannot encode: it would raise while building the request."""
    if ":" in host:  # an IPv6 literal; urlsplit has checked its brackets
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError as exc:
            raise ParseError(f"invalid IPv6 address in {url!r}: {exc}", url=url) from exc
        return
    if _IPV4_LIKE.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise ParseError(f"invalid IPv4 address in {url!r}: {exc}", url=url) from exc
        return
    try:
        # As the HTTP client does: a Unicode name is encoded to A-labels, and every A-label
        # ("xn--...") must decode again, since the client decodes them to show the host.
        ascii_host = host if host.isascii() else idna.encode(host).decode("ascii")
        for label in ascii_host.split("."):
            if len(label) > 63:
                raise ParseError(f"host label longer than 63 characters in {url!r}", url=url)
            if label.startswith("xn--"):
                idna.decode(label)
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        if isinstance(exc, ParseError):
            raise
        raise ParseError(f"invalid international host name {host!r}: {exc}", url=url) from exc


def _drop_extra_trackers(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _EXTRA_TRACKERS.match(k)]
    if len(kept) == len(pairs):
        return query
    return urlencode(kept)
