"""The pooled httpx clients: one sync client (thread-safe, created lazily) and one async client per
running event loop, so ``asyncio.run()`` twice on the same object works (a client is never used on
a loop other than its own). Async traffic goes through aiohttp (``_aiohttp_transport.py``) unless an
httpx transport was injected; ``fast()`` is aiohttp's direct path for complete requests."""

from __future__ import annotations

import asyncio
import http.cookiejar
import threading
import weakref
from collections.abc import Callable
from typing import Any

import httpx

from ._sync_network import DeadlineHTTPTransport
from .config import LocalSettings
from .driver import FastFetch
from .timeouts import split_timeout


def default_async_transport() -> httpx.AsyncBaseTransport | None:
    """An aiohttp-backed httpx transport, or None (httpx's default) when aiohttp is not installed.
    Imported lazily. It stays the default (measured in one benchmark run, rows "... over httpx's
    async pool (no aiohttp)"): 200 concurrent ``OllamaBackend.achat`` took 0.14x the raw
    ``httpx.AsyncClient`` floor with aiohttp and 2.67x without; ``LocalProvider.achat`` 0.23x vs 2.30x."""
    try:
        from ._aiohttp_transport import AiohttpTransport
    except ImportError:
        return None
    return AiohttpTransport()


def _no_cookies() -> http.cookiejar.CookieJar:
    """A cookie jar that accepts nothing (its policy allows no domain)."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class Clients:
    """The clients of one ``Transport``. ``injected`` (an httpx transport; ``httpx.MockTransport``
    serves both) replaces the network; ``async_factory`` makes each loop's async transport."""

    def __init__(self, settings: LocalSettings, injected: httpx.BaseTransport | httpx.AsyncBaseTransport | None,
                 async_factory: Callable[[], httpx.AsyncBaseTransport | None] | None) -> None:
        self.settings = settings
        self._injected = injected
        self._async_factory = async_factory
        self._client: httpx.Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary())
        self._fast: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FastFetch | None] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    def _kwargs(self) -> dict[str, Any]:
        # no cookie jar: a cookie one server sets must never reach another (cookies ignore ports),
        # and the async path (aiohttp) keeps none either
        return {"trust_env": False, "follow_redirects": False, "timeout": split_timeout(self.settings),
                "cookies": _no_cookies()}

    def client(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
                    t = (self._injected if isinstance(self._injected, httpx.BaseTransport)
                         else DeadlineHTTPTransport(limits=limits))
                    self._client = httpx.Client(transport=t, limits=limits, **self._kwargs())
                    # close pooled sockets when the clients are garbage-collected unclosed
                    weakref.finalize(self, self._client.close)
                client = self._client
        return client

    def aclient(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None or client.is_closed:
            if isinstance(self._injected, httpx.AsyncBaseTransport):
                t: httpx.AsyncBaseTransport | None = self._injected
            else:
                t = self._async_factory() if self._async_factory else None
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            client = httpx.AsyncClient(transport=t, limits=limits, **self._kwargs())
            self._aclients[loop] = client
            self._fast[loop] = getattr(t, "request_bytes", None)
        return client

    def fast(self) -> FastFetch | None:
        """aiohttp's direct path for complete requests on the running loop (after ``aclient()``), or None."""
        return self._fast.get(asyncio.get_running_loop())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._aclients.pop(loop, None)
        self._fast.pop(loop, None)
        if client is not None:
            await client.aclose()


__all__ = ["Clients", "default_async_transport"]
