"""A hostile HTTP server on 127.0.0.1: it answers with raw bytes chosen to hurt a client (a 2 GB
``Content-Length``, an endless chunked body, a gzip bomb, a line that never ends, an HTML page where
SSE should be, one byte every 0.2 s, ``100 Continue`` forever, a redirect, escape sequences).

Each attack is a generator of byte strings the server writes in order; the server stops when the
client hangs up or after ``MAX_ATTACK_S`` (every loop is bounded in time; ``Route.max_s`` gives a long
but finite attack more). Requests are read
(headers and a ``Content-Length`` body) unless the attack says ``read_body=False``.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__test__: dict[str, object] = {}

MAX_ATTACK_S = 20.0  # no attack writes for longer than this
Attack = Callable[[], Iterator[bytes]]


def head(status: str = "200 OK", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def complete(body: bytes, status: str = "200 OK", content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> Attack:
    """An ordinary, complete reply (for probes and for replies carrying hostile text)."""
    def attack() -> Iterator[bytes]:
        yield head(status, {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}) + body
    return attack


def huge_content_length() -> Iterator[bytes]:
    """Declares 2 GB, then sends zeros as fast as the client reads."""
    yield head(headers={"Content-Type": "application/json", "Content-Length": str(2_000_000_000)})
    block = b"0" * (1 << 20)
    while True:
        yield block


def endless_chunked() -> Iterator[bytes]:
    """A chunked JSON body that never ends."""
    yield head(headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}) + chunk(b'{"a":"')
    block = chunk(b"x" * (1 << 20))
    while True:
        yield block


def _bomb_blocks() -> tuple[bytes, bytes]:
    """A gzip stream's first bytes and a self-contained deflate block (a full flush resets the history,
    so the block may be repeated): 16 MiB of zeros per ~16 KB block."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"0" * (16 << 20)
    first = z.compress(b'{"a":"') + z.compress(zeros) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(zeros) + z.flush(zlib.Z_FULL_FLUSH)
    return first, block


def gzip_bomb() -> Iterator[bytes]:
    """About 2 MB of gzip (honest ``Content-Length``) that inflates to about 2 GB."""
    first, block = _bomb_blocks()
    count = (2 << 20) // len(block)
    yield head(headers={"Content-Type": "application/json", "Content-Encoding": "gzip",
                        "Content-Length": str(len(first) + count * len(block))}) + first
    for _ in range(count):
        yield block


def endless_line(content_type: str) -> Attack:
    """A streamed reply whose first line never ends."""
    def attack() -> Iterator[bytes]:
        yield head(headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"})
        block = chunk(b"x" * (1 << 20))
        while True:
            yield block
    return attack


def many_valid_lines(megabytes: int) -> Attack:
    """A well-formed Ollama NDJSON stream of ``megabytes`` of one-token lines, then its final line."""
    def attack() -> Iterator[bytes]:
        yield head(headers={"Content-Type": "application/x-ndjson", "Transfer-Encoding": "chunked"})
        line = b'{"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"x"},' \
               b'"done":false}\n'
        block = chunk(line * ((64 << 10) // len(line)))
        for _ in range((megabytes << 20) // len(block)):
            yield block
        yield chunk(b'{"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":""},'
                    b'"done":true,"done_reason":"stop"}\n') + b"0\r\n\r\n"
    return attack


def sse_junk() -> Iterator[bytes]:
    """An HTML proxy page, over and over, where SSE ``data:`` lines should be."""
    yield head(headers={"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"})
    page = chunk(b"<html><body><p>Proxy maintenance, please wait</p></body></html>\n" * 64)
    while True:
        yield page


def drip(data: bytes, every: float) -> Attack:
    """``data`` one byte at a time, ``every`` seconds apart (after it, the same again, bounded)."""
    def attack() -> Iterator[bytes]:
        for byte in data:
            yield bytes([byte])
            time.sleep(every)
    return attack


def drip_body(every: float) -> Attack:
    """Honest headers, then a body of spaces dripped one byte at a time."""
    def attack() -> Iterator[bytes]:
        yield head(headers={"Content-Type": "application/json", "Content-Length": "100000"})
        while True:
            yield b" "
            time.sleep(every)
    return attack


def endless_continue(every: float) -> Attack:
    def attack() -> Iterator[bytes]:
        while True:
            yield b"HTTP/1.1 100 Continue\r\n\r\n"
            time.sleep(every)
    return attack


def never_answer() -> Iterator[bytes]:
    """Reads nothing, answers nothing (the client's body fills the socket buffers)."""
    time.sleep(MAX_ATTACK_S)
    yield b""


OLLAMA_ROOT = complete(b"Ollama is running", content_type="text/plain")
OLLAMA_VERSION = complete(b'{"version":"0.12.0"}')


@dataclass
class Route:
    attack: Attack
    read_body: bool = True
    max_s: float = MAX_ATTACK_S  # a long but finite attack may write for longer


@dataclass
class HostileServer:
    """``routes`` maps a path prefix to an attack; other paths get 404. ``requests`` records
    (method, path, headers) of what was received."""

    routes: dict[str, Attack | Route]
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="hostile")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _route(self, path: str) -> Route:
        for prefix, attack in sorted(self.routes.items(), key=lambda kv: -len(kv[0])):
            if path.startswith(prefix):
                return attack if isinstance(attack, Route) else Route(attack)
        return Route(complete(b'{"error":"not found"}', "404 Not Found"))

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(MAX_ATTACK_S)  # per send: a client that stops reading is dropped
        reader = sock.makefile("rb")
        try:
            while True:
                line = reader.readline(65536)
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (h := reader.readline(65536)) not in (b"\r\n", b"\n", b""):
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                self.requests.append((method, path, headers))
                route = self._route(path)
                if route.read_body and headers.get("content-length", "0").isdigit():
                    reader.read(int(headers.get("content-length", "0")))
                t0 = time.monotonic()
                for data in route.attack():
                    if data:
                        sock.sendall(data)
                    if time.monotonic() - t0 > route.max_s:
                        return
                if not route.read_body:
                    return
        except (OSError, ValueError):
            return
        finally:
            reader.close()
