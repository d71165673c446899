"""URLs the monitor sends requests to, checked when the config is loaded as the sender will use
them: source feeds, webhooks, the hosts of self-hosted apprise services.

:func:`check_http_url` returns the URL or raises ``ValueError`` with the reason, so pydantic
reports it under the config field it came from. It accepts exactly what httpx can send a
request to:

* scheme ``http`` or ``https`` and a host; no whitespace or control character anywhere;
* a port, when given, from 1 to 65535 (httpx would accept ``:99999`` and fail only when it
  connects);
* an IPv6 literal in brackets that is a valid address; an IPv4 address, or a host name whose
  IDNA (punycode) form is valid: ``xn--`` labels must decode, labels of 1 to 63 letters,
  digits, hyphens (not first or last) or underscores, at most 253 characters in all.

:func:`check_host` applies the host and port rules alone (an apprise URL's host).

:func:`is_public_address` is the one definition of an address requests may go to when private
networks are not allowed (sources, and delivery destinations unless allowed);
:func:`non_public_address` resolves a host and returns the first address that is not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

import httpx

_SCHEMES = frozenset({"http", "https"})
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def check_host(host: str, port: int | None = None) -> str:
    """``host`` (a name, an IPv4 address or a bare IPv6 address) if a request can go to it;
    else ``ValueError``."""
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range (1-65535)")
    if not host:
        raise ValueError("no host")
    if _FORBIDDEN.search(host):
        raise ValueError(f"host {host!r} contains a space or control character")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        if ":" in bare:
            raise ValueError(f"{host!r} is not a valid IPv6 address") from None
    else:
        return host
    try:  # how httpx spells the host on the wire (IDNA 2008, as the idna package checks it)
        parsed = httpx.URL(f"http://{bare}/")
        wire = parsed.raw_host.decode("ascii")
        _ = parsed.host  # decodes every xn-- label, as httpx does when it sends
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise ValueError(f"host {host!r} is not a valid (IDNA) host name: {exc}") from None
    name = wire.rstrip(".").lower()
    if not name or len(name) > 253:
        raise ValueError(f"host {host!r} is not a valid host name (length)")
    for label in name.split("."):
        if not _LABEL.match(label):
            raise ValueError(f"host {host!r} is not a valid host name (label {label!r})")
    return host


def check_http_url(url: str) -> str:
    """``url`` if httpx can send a request to it as written; else ``ValueError`` saying why."""
    if _FORBIDDEN.search(url):
        raise ValueError("contains a space or control character")
    try:
        parts = urlsplit(url)
        port = parts.port  # out of range or not a number: ValueError
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in _SCHEMES:
        raise ValueError("expected an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    netloc_host = parts.netloc.rpartition("@")[2]
    host = parts.hostname
    if netloc_host.startswith("["):
        host = f"[{host}]"
    check_host(host, port)
    try:
        _ = httpx.URL(url).host
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    return url


def is_public_address(address: str) -> bool:
    """True when ``address`` (an IP literal) is globally routable unicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def non_public_address(host: str, port: int) -> str | None:
    """The first address ``host`` resolves to that is not public, or ``None``. Resolution
    errors (``OSError``, ``UnicodeError``) propagate."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    infos = await asyncio.get_running_loop().getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if not is_public_address(address):
            return address
    return None
