"""A fast loopback fake model server for the benchmarks, run in its own process.

Raw asyncio protocol (on uvloop when installed) with pre-serialised bodies, so its per-request
cost stays small next to the clients'. Speaks Ollama's native API (``/``, ``/api/version``,
``/api/tags``, ``/api/show``, ``/api/ps``, ``/api/chat`` non-stream (16-token reply) and streamed
(16 chunks; 500 when the prompt contains ``[long stream]``),
``/api/embed``) and the OpenAI-compatible ``/v1/chat/completions`` (+ SSE), ``/v1/embeddings``
and ``/v1/models``. Embeddings take ``--embed-base-ms`` per request plus ``--embed-per-text-ms``
per text, with at most ``--embed-parallel`` requests served at once.

It listens on ``--ports`` ephemeral ports of 127.0.0.1 and prints ``{"ports": [...]}`` on stdout
once ready. Control lines on stdin: ``kill I`` (stop listening on port index I and reset its
connections, like a crash), ``start I`` (listen again), ``reset``, ``quit`` (each answered ``ok``)
and ``stats`` (answered with one JSON line: requests per path and per port, embedding batch sizes;
also ``GET /__bench/stats``, ``POST /__bench/reset``).

    python -m benchmarks.server --ports 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import socket
import struct
import sys
import threading
from typing import Any

try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a patinox dependency
    _loads = json.loads

CHAT_MODEL = "llama3.2"
EMBED_MODEL = "nomic-embed-text"
CREATED_AT = "2025-08-20T09:45:30.391699Z"
REPLY_TOKENS = [
    "Hello", "!", " I", " am", " a", " fast", " fake", " model", ",", " and", " this", " reply",
    " has", " sixteen", " tokens", ".",
]
#: a stream request whose body contains this gets the long (``--chunks``) stream; any other
#: stream request (e.g. ``ChatOllama.invoke``, which always streams) gets the 16-token reply
LONG_MARK = b"[long stream]"
_MAX_HEAD = 65536


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _reply(body: bytes, content_type: bytes = b"application/json; charset=utf-8", status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (status, content_type, len(body), body)


def _chunked(lines: list[bytes], content_type: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % content_type
    return head + b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"


def _vector_texts(dims: int, count: int = 16) -> tuple[list[bytes], list[bytes]]:
    """``count`` distinct unit vectors, as JSON float arrays and as base64 float32 (OpenAI)."""
    rng = random.Random(7)
    as_json, as_b64 = [], []
    for _ in range(count):
        v = [rng.gauss(0.0, 1.0) for _ in range(dims)]
        norm = sum(x * x for x in v) ** 0.5
        v = [x / norm for x in v]
        as_json.append(b"[" + ",".join(f"{x:.7g}" for x in v).encode() + b"]")
        as_b64.append(b'"' + base64.b64encode(struct.pack(f"<{dims}f", *v)) + b'"')
    return as_json, as_b64


class Bodies:
    """Every reply, serialised once at start-up."""

    def __init__(self, chunks: int, dims: int) -> None:
        content = "".join(REPLY_TOKENS)
        metrics = {"total_duration": 181000000, "load_duration": 2100000, "prompt_eval_count": 12,
                   "prompt_eval_duration": 24000000, "eval_count": len(REPLY_TOKENS), "eval_duration": 150000000}
        self.root = _reply(b"Ollama is running", b"text/plain; charset=utf-8")
        self.version = _reply(_dumps({"version": "0.12.6"}))
        self.not_found = _reply(b"404 page not found", b"text/plain", b"404 Not Found")
        self.chat = _reply(_dumps({"model": CHAT_MODEL, "created_at": CREATED_AT,
                                   "message": {"role": "assistant", "content": content},
                                   "done_reason": "stop", "done": True, **metrics}))
        long_tokens = [f" tok{i % 10}" for i in range(chunks)]
        self.chat_stream = self._ndjson(long_tokens, metrics)
        self.chat_stream_short = self._ndjson(REPLY_TOKENS, metrics)
        self.oa_chat, self.oa_stream, self.oa_stream_usage = self._openai(content, long_tokens)
        _, self.oa_stream_short, self.oa_stream_short_usage = self._openai(content, REPLY_TOKENS)
        self._catalogue()
        self.vectors, self.vectors_b64 = _vector_texts(dims)

    @staticmethod
    def _ndjson(tokens: list[str], metrics: dict[str, int]) -> bytes:
        head = {"model": CHAT_MODEL, "created_at": CREATED_AT}
        lines = [_dumps({**head, "message": {"role": "assistant", "content": t}, "done": False}) + b"\n"
                 for t in tokens]
        lines.append(_dumps({**head, "message": {"role": "assistant", "content": ""}, "done_reason": "stop",
                             "done": True, **metrics}) + b"\n")
        return _chunked(lines, b"application/x-ndjson")

    @staticmethod
    def _openai(content: str, tokens: list[str]) -> tuple[bytes, bytes, bytes]:
        """The /v1 non-stream reply, and the SSE stream of ``tokens`` without / with a usage event."""
        base = {"id": "chatcmpl-150", "created": 1776298304, "model": CHAT_MODEL, "system_fingerprint": "fp_ollama"}
        usage = {"prompt_tokens": 12, "completion_tokens": len(REPLY_TOKENS), "total_tokens": 12 + len(REPLY_TOKENS)}
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        whole = _reply(_dumps({**base, "object": "chat.completion", "choices": [choice], "usage": usage}))
        events = []
        for i, token in enumerate(tokens):
            delta = {"role": "assistant", "content": token} if i == 0 else {"content": token}
            events.append({**base, "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        events.append({**base, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        sse = [b"data: " + _dumps(e) + b"\n\n" for e in events]
        done = [b"data: [DONE]\n\n"]
        usage_event = [b"data: " + _dumps({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
                       + b"\n\n"]
        sse_type = b"text/event-stream"
        return whole, _chunked(sse + done, sse_type), _chunked(sse + usage_event + done, sse_type)

    def _catalogue(self) -> None:
        details = {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                   "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
        edetails = {"parent_model": "", "format": "gguf", "family": "nomic-bert", "families": ["nomic-bert"],
                    "parameter_size": "137M", "quantization_level": "F16"}
        entries = [(f"{CHAT_MODEL}:latest", 2019393189, details, 4096),
                   (f"{EMBED_MODEL}:latest", 274302450, edetails, 2048)]
        digests = ["a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                   "0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f"]
        tags = [{"name": n, "model": n, "modified_at": "2025-06-23T17:01:52.264371207-04:00", "size": size,
                 "digest": digest, "details": d} for (n, size, d, _), digest in zip(entries, digests, strict=True)]
        self.tags = _reply(_dumps({"models": tags}))
        ps = [{**t, "expires_at": "2099-01-01T00:00:00-00:00", "size_vram": t["size"], "context_length": ctx}
              for t, (_, _, _, ctx) in zip(tags, entries, strict=True)]
        self.ps = _reply(_dumps({"models": ps}))
        self.show = {
            CHAT_MODEL: _reply(_dumps({"details": details, "capabilities": ["completion", "tools"],
                                       "parameters": "num_ctx 4096", "modified_at": "2025-06-23T17:01:52-04:00",
                                       "model_info": {"general.architecture": "llama", "llama.context_length": 131072,
                                                      "general.parameter_count": 3212749888}})),
            EMBED_MODEL: _reply(_dumps({"details": edetails, "capabilities": ["embedding"],
                                        "modified_at": "2025-06-23T17:01:52-04:00",
                                        "model_info": {"general.architecture": "nomic-bert",
                                                       "nomic-bert.context_length": 2048,
                                                       "nomic-bert.embedding_length": 768}})),
        }
        self.show_missing = _reply(_dumps({"error": "model not found"}), status=b"404 Not Found")
        self.models = _reply(_dumps({"object": "list", "data": [
            {"id": n, "object": "model", "created": 1750712512, "owned_by": "library"} for n, *_ in entries]}))


class App:
    """Routing, embedding timing and request statistics (shared by every port)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.bodies = Bodies(args.chunks, args.dims)
        self.embed_base_s = args.embed_base_ms / 1000
        self.embed_per_text_s = args.embed_per_text_ms / 1000
        self.embed_gate = asyncio.Semaphore(args.embed_parallel)
        self.reset()

    def reset(self) -> None:
        self.stats: dict[str, Any] = {"requests": 0, "paths": {}, "ports": {}, "embed_requests": 0, "embed_texts": 0,
                                      "embed_max_batch": 0, "embed_max_inflight": 0}
        self._inflight = 0

    def dispatch(self, method: bytes, path: bytes, body: bytes, port: int) -> Any:
        """bytes to send now, or a coroutine that returns them."""
        b = self.bodies
        st = self.stats
        st["requests"] += 1
        key = path.decode("latin-1")
        st["paths"][key] = st["paths"].get(key, 0) + 1
        st["ports"][port] = st["ports"].get(port, 0) + 1
        if path == b"/api/chat":
            if not _loads(body).get("stream", True):
                return b.chat
            return b.chat_stream if LONG_MARK in body else b.chat_stream_short
        if path == b"/v1/chat/completions":
            req = _loads(body)
            if not req.get("stream"):
                return b.oa_chat
            usage = (req.get("stream_options") or {}).get("include_usage")
            if LONG_MARK in body:
                return b.oa_stream_usage if usage else b.oa_stream
            return b.oa_stream_short_usage if usage else b.oa_stream_short
        if path == b"/api/embed" or path == b"/v1/embeddings":
            return self._embed(path == b"/v1/embeddings", _loads(body))
        if path == b"/api/tags":
            return b.tags
        if path == b"/api/ps":
            return b.ps
        if path == b"/api/show":
            req = _loads(body)
            name = str(req.get("model") or req.get("name") or "").removesuffix(":latest")
            return b.show.get(name, b.show_missing)
        if path == b"/api/version":
            return b.version
        if path == b"/v1/models":
            return b.models
        if path == b"/":
            return b.root
        if path == b"/__bench/stats":
            return _reply(_dumps(st))
        if path == b"/__bench/reset" and method == b"POST":
            self.reset()
            return _reply(b"{}")
        return b.not_found

    async def _embed(self, openai: bool, req: dict[str, Any]) -> bytes:
        texts = req.get("input", [])
        n = 1 if isinstance(texts, str) else len(texts)
        st = self.stats
        st["embed_requests"] += 1
        st["embed_texts"] += n
        st["embed_max_batch"] = max(st["embed_max_batch"], n)
        async with self.embed_gate:
            self._inflight += 1
            st["embed_max_inflight"] = max(st["embed_max_inflight"], self._inflight)
            try:
                await asyncio.sleep(self.embed_base_s + self.embed_per_text_s * n)
            finally:
                self._inflight -= 1
        model = str(req.get("model", EMBED_MODEL)).encode()
        if openai:
            b64 = req.get("encoding_format") == "base64"
            vecs = self.bodies.vectors_b64 if b64 else self.bodies.vectors
            items = b",".join(b'{"object":"embedding","index":%d,"embedding":%s}' % (i, vecs[i % len(vecs)])
                              for i in range(n))
            body = b'{"object":"list","data":[%s],"model":"%s","usage":{"prompt_tokens":%d,"total_tokens":%d}}' % (
                items, model, 4 * n, 4 * n)
        else:
            vecs = self.bodies.vectors
            body = b'{"model":"%s","embeddings":[%s],"total_duration":%d,"load_duration":1019500,' \
                   b'"prompt_eval_count":%d}' % (model, b",".join(vecs[i % len(vecs)] for i in range(n)),
                                                 int((self.embed_base_s + self.embed_per_text_s * n) * 1e9), 4 * n)
        return _reply(body)


class Conn(asyncio.Protocol):
    """One client connection: a minimal HTTP/1.1 parser (Content-Length bodies, keep-alive)."""

    def __init__(self, app: App, listener: Listener) -> None:
        self.app = app
        self.listener = listener
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.pending: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.listener.conns.add(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.conns.discard(self.transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > _MAX_HEAD:
                    self.transport.close()  # type: ignore[union-attr]
                return
            head = bytes(self.buf[:end]).lower()
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
                elif line.startswith(b"connection:") and b"close" in line:
                    close = True
            if len(self.buf) < end + 4 + length:
                return
            request_line = bytes(self.buf[: self.buf.find(b"\r\n")])
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            method, target = request_line.split(b" ", 2)[:2]
            out = self.app.dispatch(method, target.split(b"?", 1)[0], body, self.listener.port)
            if isinstance(out, bytes):
                self._send(out, close)
            else:
                task = asyncio.ensure_future(self._send_later(out, close))
                self.pending.add(task)  # a strong reference until it is done
                task.add_done_callback(self.pending.discard)

    def _send(self, data: bytes, close: bool) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)
            if close:
                t.close()

    async def _send_later(self, coro: Any, close: bool) -> None:
        self._send(await coro, close)


class Listener:
    """One listening port and its open connections (so ``kill`` can reset them)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.port = 0
        self.server: asyncio.base_events.Server | None = None
        self.conns: set[asyncio.Transport] = set()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: Conn(self.app, self), sock=sock, backlog=4096)

    def kill(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for t in list(self.conns):
            sock = t.get_extra_info("socket")
            if sock is not None:  # RST like a crashed process
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            t.abort()
        self.conns.clear()


async def _main(args: argparse.Namespace) -> None:
    app = App(args)
    listeners = [Listener(app) for _ in range(args.ports)]
    for listener in listeners:
        await listener.start()
    print(json.dumps({"ports": [lst.port for lst in listeners]}), flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    async def control(line: str) -> None:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "kill":
            listeners[int(arg)].kill()
        elif cmd == "start":
            await listeners[int(arg)].start()
        elif cmd == "stats":
            print(json.dumps(app.stats), flush=True)
            return
        elif cmd == "reset":
            app.reset()
        elif cmd == "quit" and not stop.done():
            stop.set_result(None)
        print("ok", flush=True)

    def read_stdin() -> None:
        for line in sys.stdin:
            asyncio.run_coroutine_threadsafe(control(line), loop)
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))

    threading.Thread(target=read_stdin, daemon=True).start()
    await stop


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ports", type=int, default=1)
    p.add_argument("--chunks", type=int, default=500)
    p.add_argument("--dims", type=int, default=768)
    p.add_argument("--embed-base-ms", type=float, default=20.0)
    p.add_argument("--embed-per-text-ms", type=float, default=0.05)
    p.add_argument("--embed-parallel", type=int, default=4)
    args = p.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_main(args))
    else:
        uvloop.run(_main(args))


if __name__ == "__main__":
    main()
