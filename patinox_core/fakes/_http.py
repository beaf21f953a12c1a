"""A tiny real HTTP/1.1 server on 127.0.0.1 with fault injection, run in a background thread.

The base of ``FakeOllamaServer`` and ``FakeLMStudioServer`` (``patinox_core.testing``). It speaks
enough HTTP/1.1 for httpx (keep-alive, Content-Length request bodies, chunked streamed replies) and
can refuse connections, delay the first byte, cut a body mid-line, answer with any status/body, or
die mid-stream. Usable from sync and async tests alike: it has its own thread and event loop.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires


@dataclass
class FakeRequest:
    """A request the fake server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """A complete reply. ``body`` may be a dict/list (JSON-encoded), str or bytes."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"
    pretty: bool = False

    def encode(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        if self.body is None:
            return b""
        return json.dumps(self.body, indent=2 if self.pretty else None, separators=None if self.pretty else (",", ":")
                          ).encode()


@dataclass
class StreamReply:
    """A chunked reply: one chunk per item of ``lines`` (already framed: add ``\\n`` yourself)."""

    lines: Iterable[str | bytes]
    status: int = 200
    content_type: str = "application/x-ndjson"
    headers: dict[str, str] = field(default_factory=dict)
    delay_between: float = 0.0
    cut_after: int | None = None  # close the socket abruptly after this many chunks (server killed)
    truncate_after: int | None = None  # end the body cleanly after this many chunks + half a line


@dataclass
class Fault:
    """A fault for the next ``times`` requests whose path starts with ``path`` (None: any path).

    Exactly one of the effects is usually set: ``reply`` (answer this instead), ``delay``
    (seconds before the first byte; the normal reply follows), ``drop`` (close the connection
    without answering), or a stream effect applied to a streamed reply (``cut_after``,
    ``truncate_after``, ``error_line_after`` + ``error_line``).
    """

    path: str | None = None
    times: int | None = 1  # None: until cleared
    reply: Reply | None = None
    delay: float = 0.0
    drop: bool = False
    cut_after: int | None = None
    truncate_after: int | None = None
    error_line_after: int | None = None
    error_line: str | None = None

    def matches(self, req: FakeRequest) -> bool:
        return self.path is None or req.path.startswith(self.path)


Handler = Callable[[FakeRequest], "Reply | StreamReply"]


class FakeHTTPServer:
    """Base class: subclasses implement ``handle(request) -> Reply | StreamReply`` (or the async
    ``ahandle``, to wait without blocking the loop)."""

    server_header: str | None = None

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.requests: list[FakeRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._accepting = False
        self.open_connections = 0

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeHTTPServer:
        if self._thread is None:
            ready = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name=f"fake-{self.port}")
            self._thread.start()
            if not ready.wait(10):
                raise RuntimeError("fake server did not start within 10 s")
        if not self._accepting:
            self._call(self._listen())
        return self

    def stop(self) -> None:
        """Stop listening, drop every connection and end the thread."""
        if self._loop is None:
            return
        self.kill()
        self._call(self._cancel_tasks())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop, self._thread = None, None

    def kill(self) -> None:
        """Simulate a crash: stop listening (new connections are refused) and reset open ones."""
        if self._loop is not None and self._accepting:
            self._call(self._close_all())

    refuse = kill  # alias used by fault-matrix tests

    def restart(self) -> None:
        """Listen again on the same port after ``kill()``."""
        self.start()

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeHTTPServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # -- fault injection -----------------------------------------------------------------
    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail_with(self, status: int, body: Any, *, path: str | None = None, times: int | None = 1) -> Fault:
        """Answer the next matching request(s) with ``status`` and ``body``."""
        return self.inject(Fault(path=path, times=times, reply=Reply(status=status, body=body)))

    def delay_first_byte(self, seconds: float, *, path: str | None = None, times: int | None = 1) -> Fault:
        return self.inject(Fault(path=path, times=times, delay=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, req: FakeRequest) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(req):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    # -- to implement --------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> Reply | StreamReply:  # pragma: no cover - abstract
        raise NotImplementedError

    async def ahandle(self, request: FakeRequest) -> Reply | StreamReply:
        """The reply, on the server's event loop: ``handle(request)`` unless a subclass awaits
        something first (simulated work, a slot); it must never block the loop."""
        return self.handle(request)

    # -- internals -----------------------------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        ready.set()
        self._loop.run_forever()

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock, backlog=2048)
        self._accepting = True

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close_all(self) -> None:
        self._accepting = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.open_connections += 1
        try:
            while self._accepting:
                req = await _read_request(reader)
                if req is None:
                    break
                with self._lock:
                    self.requests.append(req)
                fault = self._take_fault(req)
                if fault is not None and fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault is not None and fault.drop:
                    _abort(writer)
                    return
                reply = fault.reply if fault is not None and fault.reply is not None else await self.ahandle(req)
                if isinstance(reply, StreamReply):
                    if fault is not None:
                        reply = _apply_stream_fault(reply, fault)
                    if not await self._write_stream(writer, reply):
                        return
                else:
                    await self._write_reply(writer, reply)
                if req.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            if not writer.is_closing():
                writer.close()

    def _head(self, status: int, content_type: str, headers: dict[str, str]) -> list[str]:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}"]
        if self.server_header:
            lines.append(f"Server: {self.server_header}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return lines

    async def _write_reply(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        body = reply.encode()
        head = [*self._head(reply.status, reply.content_type, reply.headers), f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()

    async def _write_stream(self, writer: asyncio.StreamWriter, reply: StreamReply) -> bool:
        head = [*self._head(reply.status, reply.content_type, reply.headers), "Transfer-Encoding: chunked"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        for i, line in enumerate(reply.lines):
            if reply.cut_after is not None and i >= reply.cut_after:
                await writer.drain()
                _abort(writer)
                return False
            data = line.encode() if isinstance(line, str) else line
            if reply.truncate_after is not None and i >= reply.truncate_after:
                data = data[: max(1, len(data) // 2)]
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                break
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            if reply.delay_between:
                await writer.drain()
                await asyncio.sleep(reply.delay_between)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def _apply_stream_fault(reply: StreamReply, fault: Fault) -> StreamReply:
    lines = list(reply.lines)
    if fault.error_line_after is not None:
        error = fault.error_line or '{"error":"an error was encountered while running the model"}\n'
        lines = [*lines[: fault.error_line_after], error]
    return StreamReply(
        lines=lines,
        status=reply.status,
        content_type=reply.content_type,
        headers=reply.headers,
        delay_between=reply.delay_between,
        cut_after=fault.cut_after if fault.cut_after is not None else reply.cut_after,
        truncate_after=fault.truncate_after if fault.truncate_after is not None else reply.truncate_after,
    )


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:  # RST instead of FIN, like a crashed process
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
    transport.abort()


async def _read_request(reader: asyncio.StreamReader) -> FakeRequest | None:
    line = await reader.readline()
    if not line:
        return None
    try:
        method, target, _ = line.decode("latin-1").split(" ", 2)
    except ValueError:
        return None
    headers: dict[str, str] = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(parts)
    split = urlsplit(target)
    return FakeRequest(method.upper(), split.path, parse_qs(split.query), headers, body)


__all__ = ["Fault", "FakeHTTPServer", "FakeRequest", "Reply", "StreamReply"]
