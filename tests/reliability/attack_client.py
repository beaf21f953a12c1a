"""One patinox call against a (hostile) server, in its own process, measured: run by ``attacks.py`` as
``python -m tests.reliability.attack_client '<json spec>'``; prints one JSON line: the error class
and message (or the result), the peak RSS growth in MB over the call, and its wall time.

The address space is capped (``AS_LIMIT``) so an unbounded read fails with ``MemoryError`` in this
process instead of exhausting the machine.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

__test__: dict[str, object] = {}

AS_LIMIT = 3 << 30


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_DONE: list[float] = []  # when an async call finished, inside its loop (asyncio.run may then wait for
                         # executor threads, such as a name lookup still running, before it returns)


def _run(coro: Any) -> Any:
    async def timed() -> Any:
        try:
            return await coro
        finally:
            _DONE.append(time.monotonic())

    return asyncio.run(timed())


def _call(spec: dict[str, Any]) -> Any:
    from patinox_core import ChatRequest, LocalSettings, Message
    from patinox_core.backends.ollama import OllamaBackend
    from patinox_core.backends.openai_compat import OpenAICompatBackend
    from patinox_core.catalogue import known_loaded
    from patinox_core.discovery import ServiceDiscovery
    from patinox_core.transport import Transport

    settings = LocalSettings(**spec.get("settings", {}))
    op, url = spec["op"], spec["url"]
    if op in ("discover", "adiscover"):
        disc = ServiceDiscovery(settings)
        found = disc.discover(refresh=True) if op == "discover" else _run(disc.adiscover(refresh=True))
        return [(s.base_url, s.healthy, s.error) for s in found]
    transport = Transport(settings)
    backend = (OllamaBackend(url, transport, settings) if spec.get("kind", "ollama") == "ollama"
               else OpenAICompatBackend(url, transport, settings))
    backend.load_state = known_loaded(backend.base_url, backend.kind, ["m"])
    prompt = "x" * spec["prompt_size"] if spec.get("prompt_size") else spec.get("prompt", "hi")
    request = ChatRequest(model="m", messages=[Message("user", prompt)])
    if op == "chat":
        return backend.chat(request).content
    if op == "achat":
        return _run(backend.achat(request)).content
    if op == "stream":
        return [c.content for c in backend.stream_chat(request)][:3]
    if op == "stream_count":  # consume without keeping: memory must stay flat however long the stream
        return sum(1 for _ in backend.stream_chat(request))
    if op == "astream_count":
        async def count() -> int:
            return sum([1 async for _ in backend.astream_chat(request)])
        return _run(count())
    if op == "astream":
        async def collect() -> list[str]:
            return [c.content async for c in backend.astream_chat(request)][:3]
        return _run(collect())
    if op == "embed":
        return len(backend.embed(["a"], "m").vectors)
    if op == "aembed":
        return len(_run(backend.aembed(["a"], "m")).vectors)
    raise SystemExit(f"unknown op {op}")


def _slow_dns(seconds: float) -> None:
    """``*.test`` names resolve to 127.0.0.1 after ``seconds`` (a slow resolver); nothing else changes."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".test"):
            time.sleep(seconds)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("slow_dns"):
        _slow_dns(spec["slow_dns"])
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    import patinox_core.backends.ollama
    import patinox_core.backends.openai_compat
    import patinox_core.discovery  # noqa: F401

    base, t0 = _rss_mb(), time.monotonic()
    out: dict[str, Any] = {"error": None, "message": None, "result": None}
    try:
        out["result"] = _call(spec)
    except BaseException as exc:
        out["error"], out["message"] = type(exc).__name__, str(exc)[:2000]
        out["lpe"] = type(exc).__module__.startswith("patinox_core")
    out["elapsed"] = (_DONE[0] if _DONE else time.monotonic()) - t0
    out["rss_growth_mb"] = _rss_mb() - base
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
