"""Credentials out of URLs that are shown: errors, listings, reports, artifacts, events, logs.

A feed URL may carry a secret (``https://user:pass@host/feed``, ``?apikey=...``,
``?token=...``); the real URL is what is fetched, and :func:`redact_url` is what is shown.
:func:`redact_text` does the same for every URL inside a message (an error naming the URL it
failed on). Both are total: any string in, a string out.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

MASK = "***"

# Query parameter names that carry credentials (compared in lower case, without - and _).
_SECRET_PARAMS = frozenset(
    {
        "apikey",
        "key",
        "token",
        "accesstoken",
        "authtoken",
        "auth",
        "authorization",
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "clientsecret",
        "signature",
        "sig",
        "session",
        "sessionid",
        "sid",
        "credential",
        "credentials",
        "privatekey",
        "jwt",
        "bearer",
        "xapikey",
    }
)
# Names that end like a credential: api_key, feed_token, my-secret, ...
_SECRET_SUFFIX = re.compile(r"(?:key|token|secret|password|passwd|signature)$")
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>`]+")
_PARAM = re.compile(r"([^&;=]*)(=?)([^&;]*)")


def redact_url(url: str) -> str:
    """``url`` with the password of its user info, and the values of query parameters named
    like credentials, replaced by ``***``; a user name alone is masked too."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _redact_loose(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = _redact_query(parts.query)
    fragment = _redact_query(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return SplitResult(parts.scheme, netloc, parts.path, query, fragment).geturl()


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def _redact_query(query: str) -> str:
    if not query:
        return query

    def one(match: re.Match[str]) -> str:
        name, equals, value = match.groups()
        if equals and value and _is_secret(name):
            return f"{name}={MASK}"
        return match.group(0)

    return _PARAM.sub(one, query)


def _is_secret(name: str) -> bool:
    key = re.sub(r"[-_.\s]|%5f|%2d", "", name.lower())
    return key in _SECRET_PARAMS or bool(_SECRET_SUFFIX.search(key))


def _redact_loose(url: str) -> str:
    # Not even splittable (a broken IPv6 literal): mask what looks like user info and values.
    url = re.sub(r"(://)[^/@\s]*@", r"\1" + MASK + "@", url)
    return re.sub(
        r"([?&;])([^&;=#\s]+)=([^&;#\s]*)",
        lambda m: f"{m.group(1)}{m.group(2)}={MASK if _is_secret(m.group(2)) else m.group(3)}",
        url,
    )
