"""One TLS context for the process's HTTP clients: building one loads the CA bundle (~50 ms of CPU), and the
API, upload and download clients were each building their own before the first frame."""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default context (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR), made once and shared."""
    return httpx.create_ssl_context()
