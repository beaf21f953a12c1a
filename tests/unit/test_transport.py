"""transport.py with httpx.MockTransport: error mapping, bounded retries, streams, per-loop clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from patinox_core import (
    ConfigurationError,
    InvalidResponseError,
    LocalProviderError,
    LocalSettings,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from patinox_core.backends.base import ErrorPayload
from patinox_core.backends.malformed import as_list
from patinox_core.transport import CallContext, Transport, loads
from patinox_core.types import ChatChunk

pytestmark = pytest.mark.timeout(20)
URL = "http://127.0.0.1:11434"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers from a script."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer


def classify(status: int | None, body: Any) -> LocalProviderError:
    kind = ServerError if status is None or status >= 500 else ConfigurationError
    return kind(f"classified {status}: {body!r}")


def make(handler: Recorder, **settings: Any) -> Transport:
    return Transport(LocalSettings(**{"max_retries": 2, **settings}), transport=httpx.MockTransport(handler))


def ctx(t: Transport, **kw: Any) -> CallContext:
    return t.context(URL, classify, model="llama3.2", unreachable_hint="start Ollama with `ollama serve`", **kw)


class LineParser:
    """A minimal StreamParser: ``{"c": text}`` lines, ``{"error": …}`` raises."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.closed = False

    def feed(self, line: str) -> list[ChatChunk]:
        data = loads(line)
        if "error" in data:
            raise ErrorPayload(data)
        return [ChatChunk(content=data["c"])]

    def close(self) -> list[ChatChunk]:
        self.closed = True
        return [ChatChunk(finish_reason="stop")]


class BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Two good lines, then the connection breaks."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"c":"a"}\n{"c":"b"}\n'
        raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"c":"a"}\n{"c":"b"}\n'
        raise httpx.ReadError("connection reset by peer")


def run_all(t: Transport, c: CallContext, mode: str) -> Any:
    """One call through each of the four entry points."""
    if mode == "request":
        return t.request(c, "POST", URL + "/api/chat", {"a": 1})
    if mode == "arequest":
        return asyncio.run(t.arequest(c, "POST", URL + "/api/chat", {"a": 1}))
    if mode == "stream":
        return list(t.stream(c, URL + "/api/chat", {"a": 1}, LineParser()))

    async def consume() -> list[ChatChunk]:
        return [x async for x in t.astream(c, URL + "/api/chat", {"a": 1}, LineParser())]

    return asyncio.run(consume())


MODES = ["request", "arequest", "stream", "astream"]
FAILURES = [
    (httpx.ConnectError("[Errno 111] Connection refused"), ServiceUnavailableError, RecoveryStrategy.FALLBACK),
    (httpx.ConnectTimeout("timed out"), ServiceUnavailableError, RecoveryStrategy.FALLBACK),
    (httpx.ReadTimeout(""), RequestTimeoutError, RecoveryStrategy.RETRY),
    (httpx.WriteTimeout(""), RequestTimeoutError, RecoveryStrategy.RETRY),
    (httpx.PoolTimeout(""), RequestTimeoutError, RecoveryStrategy.RETRY),
    (httpx.RemoteProtocolError("Server disconnected"), ServiceUnavailableError, RecoveryStrategy.FALLBACK),
    (httpx.ReadError("reset"), ServiceUnavailableError, RecoveryStrategy.FALLBACK),
    (httpx.WriteError("broken pipe"), ServiceUnavailableError, RecoveryStrategy.FALLBACK),
    (httpx.CloseError("close"), ServiceUnavailableError, RecoveryStrategy.FALLBACK),
    (httpx.UnsupportedProtocol("ftp"), ServiceUnavailableError, RecoveryStrategy.FALLBACK),
    (httpx.DecodingError("bad gzip"), ServiceUnavailableError, RecoveryStrategy.FALLBACK),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("exc", "kind", "recovery"), FAILURES, ids=[type(f[0]).__name__ for f in FAILURES])
def test_every_httpx_failure_is_mapped(mode: str, exc: Exception, kind: type, recovery: RecoveryStrategy) -> None:
    t = make(Recorder(exc), max_retries=0)
    with pytest.raises(kind) as info:
        run_all(t, ctx(t), mode)
    err = info.value
    assert err.recovery is recovery and err.__cause__ is exc
    assert (err.service, err.model) == (URL, "llama3.2")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        assert "start Ollama with `ollama serve`" in str(err)


@pytest.mark.parametrize("mode", ["request", "arequest"])
def test_malformed_json_and_malformed_replies_are_invalid_response(mode: str) -> None:
    t = make(Recorder(httpx.Response(200, content=b'{"model": "x", "mess')))
    with pytest.raises(InvalidResponseError, match="not JSON") as info:
        run_all(t, ctx(t), mode)
    assert info.value.hint and "malformed" in info.value.hint and info.value.service == URL
    t = make(Recorder(httpx.Response(200, json={"models": None})))
    with pytest.raises(InvalidResponseError, match="models is null, not a JSON array"):
        t.request(ctx(t), "GET", URL + "/api/tags", parse=lambda d: as_list(d["models"], "models"))


@pytest.mark.parametrize("mode", MODES)
def test_a_bug_in_a_parser_surfaces_as_itself(mode: str) -> None:
    """The funnel maps transport and decode failures only: patinox's own AttributeError is not "malformed data"."""
    t = make(Recorder(httpx.Response(200, text='{"c":"hi"}\n')))

    def buggy(data: Any) -> Any:
        return data.no_such_attribute

    class BuggyParser(LineParser):
        def feed(self, line: str) -> list[ChatChunk]:
            return buggy(line)

    with pytest.raises(AttributeError, match="no_such_attribute"):
        if mode == "request":
            t.request(ctx(t), "GET", URL, parse=buggy)
        elif mode == "arequest":
            asyncio.run(t.arequest(ctx(t), "GET", URL, parse=buggy))
        elif mode == "stream":
            list(t.stream(ctx(t), URL, {}, BuggyParser()))
        else:
            async def consume() -> None:
                async for _ in t.astream(ctx(t), URL, {}, BuggyParser()):
                    pass

            asyncio.run(consume())


@pytest.mark.parametrize("mode", MODES)
def test_error_statuses_go_to_the_classifier(mode: str) -> None:
    t = make(Recorder(httpx.Response(404, text="404 page not found")))
    with pytest.raises(ConfigurationError, match="classified 404: '404 page not found'") as info:
        run_all(t, ctx(t), mode)
    assert info.value.status_code == 404 and info.value.service == URL
    t = make(Recorder(httpx.Response(400, json={"error": "model is required"})))
    with pytest.raises(ConfigurationError, match="model is required"):
        run_all(t, ctx(t), mode)


@pytest.mark.parametrize("mode", ["request", "arequest"])
def test_error_body_with_http_200_is_an_error(mode: str) -> None:
    t = make(Recorder(httpx.Response(200, json={"error": "Unexpected endpoint or method. (GET /)"})))
    with pytest.raises(ConfigurationError, match="classified 200") as info:
        run_all(t, ctx(t), mode)
    assert info.value.status_code == 200


@pytest.mark.parametrize("mode", MODES)
def test_503_retried_a_bounded_number_of_times(mode: str) -> None:
    rec = Recorder(httpx.Response(503, json={"error": "server busy"}))
    t = make(rec, max_retries=2)
    t0 = time.monotonic()
    with pytest.raises(ServerError, match="server busy"):
        run_all(t, ctx(t), mode)
    assert len(rec.requests) == 3 and time.monotonic() - t0 < 1


@pytest.mark.parametrize("mode", MODES)
def test_503_then_success(mode: str) -> None:
    ok = httpx.Response(200, text='{"c":"hi"}\n')
    rec = Recorder(httpx.Response(503, json={"error": "busy"}), ok)
    t = make(rec)
    result = run_all(t, ctx(t), mode)
    assert len(rec.requests) == 2
    assert result == {"c": "hi"} if mode.endswith("request") else [c.content for c in result] == ["hi", ""]


@pytest.mark.parametrize("mode", MODES)
def test_connect_failures_retried_then_mapped(mode: str) -> None:
    rec = Recorder(httpx.ConnectError("refused"))
    t = make(rec, max_retries=1)
    with pytest.raises(ServiceUnavailableError):
        run_all(t, ctx(t), mode)
    assert len(rec.requests) == 2
    rec = Recorder(httpx.ConnectError("refused"))
    t = make(rec)
    with pytest.raises(ServiceUnavailableError):
        run_all(t, ctx(t, retries=0), mode)
    assert len(rec.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_500_and_timeouts_are_not_retried(mode: str) -> None:
    for answer in (httpx.Response(500, json={"error": "boom"}), httpx.ReadTimeout("")):
        rec = Recorder(answer)
        t = make(rec, max_retries=3)
        with pytest.raises(LocalProviderError):
            run_all(t, ctx(t), mode)
        assert len(rec.requests) == 1


def test_retry_after_is_honoured() -> None:
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "0.3"}, json={"error": "slow down"}),
                   httpx.Response(200, json={"ok": True}))
    t = make(rec)
    t0 = time.monotonic()
    assert t.request(ctx(t), "GET", URL) == {"ok": True}
    assert time.monotonic() - t0 >= 0.3


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_stream_break_after_bytes_is_not_replayed(mode: str) -> None:
    rec = Recorder(httpx.Response(200, stream=BrokenStream()))
    t = make(rec)
    got: list[ChatChunk] = []

    async def consume() -> None:
        async for c in t.astream(ctx(t), URL, {}, LineParser()):
            got.append(c)

    with pytest.raises(ServiceUnavailableError, match="broke"):
        if mode == "stream":
            got.extend(t.stream(ctx(t), URL, {}, LineParser()))
        else:
            asyncio.run(consume())
    assert [c.content for c in got] == ["a", "b"] and len(rec.requests) == 1


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_error_payload_in_stream_is_classified_without_status(mode: str) -> None:
    t = make(Recorder(httpx.Response(200, text='{"c":"a"}\n{"error":"runner crashed"}\n')))
    with pytest.raises(ServerError, match="classified None") as info:
        run_all(t, ctx(t), mode)
    assert info.value.status_code is None and info.value.model == "llama3.2"


def test_stream_sets_t0_and_calls_close() -> None:
    t = make(Recorder(httpx.Response(200, text='{"c":"a"}\n\n{"c":"b"}\n')))
    parser = LineParser()
    before = time.perf_counter()
    chunks = list(t.stream(ctx(t), URL, {}, parser))
    assert [c.content for c in chunks] == ["a", "b", ""] and chunks[-1].finish_reason == "stop"
    assert parser.closed and parser.t0 >= before


def test_async_clients_are_per_event_loop() -> None:
    t = make(Recorder(httpx.Response(200, json={"ok": True})))
    clients = []

    async def call() -> Any:
        clients.append(t.aclient())
        result = await t.arequest(ctx(t), "GET", URL)
        assert t.aclient() is clients[-1]  # reused within the loop
        return result

    assert asyncio.run(call()) == {"ok": True}
    assert asyncio.run(call()) == {"ok": True}  # a second loop: a new client, not the closed loop's
    assert clients[0] is not clients[1]


def test_sync_client_is_pooled() -> None:
    t = make(Recorder(httpx.Response(200, json={})))
    assert t.client() is t.client()
    t.close()
    assert t.client() is not None


def test_context_timeouts_retries_and_headers() -> None:
    s = LocalSettings(connect_timeout=0.5, read_timeout=7, cold_load_timeout=90, probe_timeout=0.25, max_retries=4)
    t = Transport(s)
    c = t.context(URL, classify)
    assert (c.timeout.connect, c.timeout.read, c.retries, c.headers) == (0.5, 7, 4, {})
    assert t.context(URL, classify, kind="cold").timeout.read == 90
    assert t.context(URL, classify, kind="probe").timeout.read == 0.25
    assert t.context(URL, classify, kind="cold", read=3).timeout.read == 3
    assert t.context(URL, classify, retries=0).retries == 0
    creds = Transport(LocalSettings(ollama_url="http://bob:s3cret@box.lan:11434"))
    assert creds.context("http://box.lan:11434", classify).headers["Authorization"].startswith("Basic ")
    keyed = Transport(LocalSettings(api_key="sk-local", endpoints=URL))  # the key goes to named servers only
    assert keyed.context(URL, classify).headers == {"Authorization": "Bearer sk-local"}


def test_request_sends_json_and_auth_headers() -> None:
    rec = Recorder(httpx.Response(200, json={}))
    t = Transport(LocalSettings(api_key="sk-local", endpoints=URL), transport=httpx.MockTransport(rec))
    t.request(ctx(t), "POST", URL + "/api/chat", {"model": "m"})
    sent = rec.requests[0]
    assert sent.headers["content-type"] == "application/json" and sent.headers["authorization"] == "Bearer sk-local"
    assert loads(sent.content) == {"model": "m"}


def test_get_bytes_follows_redirects_without_auth_headers() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old.png":
            return httpx.Response(302, headers={"Location": "https://img.example/new.png"})
        return httpx.Response(200, content=b"\x89PNG")

    rec = Recorder(answer)
    t = Transport(LocalSettings(api_key="sk-local"), transport=httpx.MockTransport(rec))
    c = t.context("https://img.example", classify)
    assert t.get_bytes(c, "https://img.example/old.png") == b"\x89PNG"
    assert asyncio.run(t.aget_bytes(c, "https://img.example/old.png")) == b"\x89PNG"
    assert all("authorization" not in r.headers for r in rec.requests)


@pytest.mark.parametrize("sync", [True, False])
def test_get_bytes_errors(sync: bool) -> None:
    t = make(Recorder(httpx.Response(404, text="not here")))

    def get(limit: int = 10) -> bytes:
        c = t.context("https://img.example", classify)
        if sync:
            return t.get_bytes(c, "https://img.example/x.png", limit=limit)
        return asyncio.run(t.aget_bytes(c, "https://img.example/x.png", limit=limit))

    with pytest.raises(ConfigurationError, match="classified 404"):
        get()
    t = make(Recorder(httpx.Response(200, content=b"x" * 64)))
    with pytest.raises(ConfigurationError, match="larger than"):
        get(limit=16)
    t = make(Recorder(httpx.ConnectError("refused")))
    with pytest.raises(ServiceUnavailableError):
        get()
