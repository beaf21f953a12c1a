"""The aiohttp-backed httpx transport: same replies and same httpx exceptions as httpx's own,
one session per event loop, and its wiring into ``Transport`` (loopback fake server only)."""

from __future__ import annotations

import asyncio
import gc
import gzip
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("aiohttp")
import aiohttp

from patinox_core import LocalSettings, RequestTimeoutError, ServerError, ServiceUnavailableError
from patinox_core._aiohttp_transport import AiohttpTransport, _map_errors
from patinox_core.fakes._http import FakeHTTPServer, FakeRequest, Fault, Reply, StreamReply
from patinox_core.transport import Transport

LINES = [f'{{"i":{i}}}\n' for i in range(10)]


class EchoServer(FakeHTTPServer):
    """JSON, echo, NDJSON streams, gzip and error replies."""

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        if request.path == "/json":
            return Reply(body={"ok": True})
        if request.path == "/echo":
            return Reply(body={"method": request.method, "body": request.body.decode(), "headers": request.headers})
        if request.path == "/stream":
            return StreamReply(lines=LINES)
        if request.path == "/slow-stream":
            return StreamReply(lines=LINES, delay_between=0.6)
        if request.path == "/gzip":
            return Reply(body=gzip.compress(b'{"zipped":true}'), headers={"Content-Encoding": "gzip"})
        if request.path == "/busy":
            return Reply(status=503, body={"error": "server busy"})
        return Reply(status=404, body="404 page not found", content_type="text/plain")


@pytest.fixture
def server() -> Iterator[EchoServer]:
    with EchoServer() as srv:
        yield srv  # type: ignore[misc]


def _client(**kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AiohttpTransport(**kwargs), timeout=httpx.Timeout(5.0))


def _settings(**kwargs: Any) -> LocalSettings:
    return LocalSettings(discover_defaults=False, connect_timeout=1.0, read_timeout=0.3, max_retries=0, **kwargs)


def _classify(status: int | None, body: Any) -> ServerError:
    return ServerError(f"HTTP {status}: {body}")


# -- replies ---------------------------------------------------------------------------------
async def test_request_and_reply_pass_through(server: EchoServer) -> None:
    async with _client() as client:
        resp = await client.post(server.url + "/echo", content=b'{"a":1}',
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer k"})
        assert resp.status_code == 200 and resp.http_version == "HTTP/1.1" and resp.reason_phrase == "OK"
        echo = resp.json()
        assert echo["method"] == "POST" and echo["body"] == '{"a":1}'
        assert echo["headers"]["authorization"] == "Bearer k"
        assert echo["headers"]["content-length"] == "7"
        assert echo["headers"]["host"] == f"127.0.0.1:{server.port}"
        missing = await client.get(server.url + "/nope")
        assert missing.status_code == 404 and missing.text == "404 page not found"


async def test_stream_lines_and_gzip(server: EchoServer) -> None:
    async with _client() as client:
        async with client.stream("GET", server.url + "/stream") as resp:
            lines = [line async for line in resp.aiter_lines() if line]
        assert lines == [line.strip() for line in LINES]
        zipped = await client.get(server.url + "/gzip")  # httpx decodes: aiohttp passes bytes through
        assert zipped.json() == {"zipped": True}
    assert server.open_connections <= 1  # the connection was pooled, not one per request


# -- errors ----------------------------------------------------------------------------------
async def test_refused_connection_is_connect_error(server: EchoServer) -> None:
    server.refuse()
    async with _client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(server.url + "/json")


async def test_read_timeout_from_request_extensions(server: EchoServer) -> None:
    server.delay_first_byte(1.0)
    async with _client() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url + "/json", timeout=httpx.Timeout(5.0, read=0.2))
        ok = await client.get(server.url + "/json", timeout=httpx.Timeout(5.0, read=2.0))
        assert ok.json() == {"ok": True}


async def test_read_timeout_between_chunks(server: EchoServer) -> None:
    async with _client() as client, client.stream("GET", server.url + "/slow-stream",
                                                  timeout=httpx.Timeout(5.0, read=0.2)) as resp:
        with pytest.raises(httpx.ReadTimeout):
            async for _ in resp.aiter_lines():
                pass


async def test_cut_stream_is_a_broken_connection(server: EchoServer) -> None:
    server.inject(Fault(path="/stream", cut_after=3))
    async with _client() as client, client.stream("GET", server.url + "/stream") as resp:
        seen = 0
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async for line in resp.aiter_lines():
                seen += bool(line)
        assert seen <= 3


async def test_dropped_request_is_remote_protocol_error(server: EchoServer) -> None:
    server.inject(Fault(path="/json", drop=True))
    async with _client() as client:  # POST: aiohttp itself resends only idempotent methods
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post(server.url + "/json", content=b"{}")


@pytest.mark.parametrize(("raised", "expected"), [
    (aiohttp.ConnectionTimeoutError("Connection timeout to host"), httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), httpx.ReadTimeout),
    (asyncio.TimeoutError(), httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError("Response payload is not completed"), httpx.RemoteProtocolError),
    (aiohttp.ClientOSError(104, "Connection reset by peer"), httpx.ReadError),
    (aiohttp.InvalidURL("nope://x"), httpx.UnsupportedProtocol),
    (aiohttp.ClientError("other"), httpx.TransportError),
])
def test_error_mapping_table(raised: BaseException, expected: type[httpx.HTTPError]) -> None:
    request = httpx.Request("GET", "http://127.0.0.1:1/x")
    with pytest.raises(expected) as info, _map_errors(request):
        raise raised
    assert info.value.request is request and info.value.__cause__ is raised


# -- sessions per event loop -----------------------------------------------------------------
def test_one_session_per_loop_closed_with_the_loop(server: EchoServer, caplog: pytest.LogCaptureFixture) -> None:
    transport = AiohttpTransport()
    sessions: list[aiohttp.ClientSession] = []

    async def use() -> Any:
        client = httpx.AsyncClient(transport=transport)  # never closed: the loop's shutdown does it
        sessions.append(await transport._session())
        return (await client.get(server.url + "/json")).json()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert asyncio.run(use()) == {"ok": True}
        assert asyncio.run(use()) == {"ok": True}  # a second loop: a fresh session, no "loop is closed"
        loop = asyncio.new_event_loop()  # closed without shutdown_asyncgens: swept by the next loop
        assert loop.run_until_complete(use()) == {"ok": True}
        loop.close()
        assert asyncio.run(use()) == {"ok": True}
        gc.collect()
    assert len({id(s) for s in sessions}) == 4 and all(s.closed for s in sessions)
    assert transport._sessions == {}
    assert not [w for w in caught if "Unclosed" in str(w.message)]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "Unclosed" in r.getMessage()]


# -- wiring into Transport ---------------------------------------------------------------------
async def test_transport_uses_aiohttp_by_default_and_maps_errors(server: EchoServer) -> None:
    t = Transport(_settings())
    ctx = t.context(server.url, _classify)
    assert await t.arequest(ctx, "POST", server.url + "/echo", {"x": 1}, parse=lambda d: d["body"]) == '{"x":1}'
    assert t.clients.fast() is not None  # the aiohttp fast path carries arequest
    with pytest.raises(ServerError, match="server busy"):
        await t.arequest(ctx, "GET", server.url + "/busy")
    server.delay_first_byte(1.0)
    with pytest.raises(RequestTimeoutError):
        await t.arequest(ctx, "GET", server.url + "/json")
    assert await t.arequest(ctx, "GET", server.url + "/gzip") == {"zipped": True}
    server.refuse()
    with pytest.raises(ServiceUnavailableError, match="cannot connect"):
        await t.arequest(ctx, "GET", server.url + "/json")
    await t.aclose()


async def test_transport_stream_cut_maps_to_service_unavailable(server: EchoServer) -> None:
    class Lines:
        t0 = 0.0

        def __init__(self) -> None:
            self.seen: list[str] = []

        def feed(self, line: str) -> list[Any]:
            self.seen.append(line)
            return []

        def close(self) -> list[Any]:
            return []

    t = Transport(_settings())
    ctx = t.context(server.url, _classify)
    parser = Lines()
    assert [c async for c in t.astream(ctx, server.url + "/stream", {}, parser)] == []
    assert parser.seen == [line.strip() for line in LINES]
    server.inject(Fault(path="/stream", cut_after=2))
    with pytest.raises(ServiceUnavailableError, match="broke"):
        async for _ in t.astream(ctx, server.url + "/stream", {}, Lines()):
            pass
    await t.aclose()


async def test_injected_httpx_transport_still_serves_async_calls() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"mock": True})

    t = Transport(_settings(), httpx.MockTransport(handler))
    ctx = t.context("http://127.0.0.1:9", _classify)
    assert await t.arequest(ctx, "GET", "http://127.0.0.1:9/x") == {"mock": True}
    assert seen == ["http://127.0.0.1:9/x"]
    assert t.clients.fast() is None  # no aiohttp when a transport was injected
    await t.aclose()
