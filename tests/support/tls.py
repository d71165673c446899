"""TLS for the test servers: certificates from a throw-away CA (trustme), and which CAs the
client side trusts, set the standard way (``SSL_CERT_FILE``, read by httpx when it builds a
client's SSL context)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme


def server_tls_context(cert: Any) -> ssl.SSLContext:
    """A server-side context presenting ``cert`` (a trustme leaf certificate)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def trust_ca(ca: trustme.CA, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make HTTP clients built from now on trust ``ca`` (and only it)."""
    bundle = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


def trust_default_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make HTTP clients built from now on trust the default bundle (certifi's), whatever the
    machine's environment names."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
