"""Reading a reply within its limits: which cap applies to a body (``limits.py``), and the loops that
feed httpx's decoded chunks to it, sync and async alike. ``transport.py`` calls these for every
complete reply, probe, error body and download."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from .errors import ConfigurationError, InvalidResponseError
from .limits import ERROR_BODY_LIMIT, LINE_LIMIT, PROBE_BODY_LIMIT, BodyCollector, LineSplitter, check_declared
from .redaction import redact


class _Context(Protocol):  # what of a ``transport.CallContext`` the readers use
    service: str
    max_body: int

    @property
    def fields(self) -> dict[str, Any]: ...


def body_collector(ctx: _Context, status: int, headers: Any) -> BodyCollector:
    """Where a reply's body goes while it is read: error replies keep their first
    ``ERROR_BODY_LIMIT`` bytes (the rest is never read), others fail past ``ctx.max_body``."""
    if status >= 300:
        return BodyCollector(ERROR_BODY_LIMIT, "an error reply", truncate=True)
    what = f"the reply from {ctx.service}"
    check_declared(headers.get("content-length"), ctx.max_body, what)
    return BodyCollector(ctx.max_body, what)


def probe_collector(ctx: _Context, headers: Any) -> BodyCollector:
    what = f"the discovery probe reply from {ctx.service}"
    check_declared(headers.get("content-length"), PROBE_BODY_LIMIT, what, None)
    return BodyCollector(PROBE_BODY_LIMIT, what, setting=None)


def read(resp: httpx.Response, body: BodyCollector) -> bytes:
    for chunk in resp.iter_bytes():
        body.add(chunk)
        if body.full:
            break
    return body.result()


async def aread(resp: httpx.Response, body: BodyCollector) -> bytes:
    async for chunk in resp.aiter_bytes():
        body.add(chunk)
        if body.full:
            break
    return body.result()


def line_splitter(ctx: _Context) -> LineSplitter:
    return LineSplitter(min(LINE_LIMIT, ctx.max_body))


class _FetchCollector(BodyCollector):
    """A downloaded file over its limit is the caller's input, not a server fault."""

    __slots__ = ("ctx", "url")

    def __init__(self, limit: int, ctx: _Context, url: str) -> None:
        super().__init__(limit, url)
        self.ctx = ctx
        self.url = url

    def add(self, chunk: bytes) -> None:
        try:
            super().add(chunk)
        except InvalidResponseError:
            raise ConfigurationError(f"{redact(self.url)[:120]} is larger than {self.limit // 1_000_000} MB",
                                     hint="pass a smaller file", **self.ctx.fields) from None


def fetch_collector(ctx: _Context, url: str, limit: int) -> BodyCollector:
    return _FetchCollector(limit, ctx, url)


__all__ = ["aread", "body_collector", "fetch_collector", "line_splitter", "probe_collector", "read"]
