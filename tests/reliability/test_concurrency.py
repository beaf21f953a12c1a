"""Concurrency: many requests at once over two servers holding the same model, one killed half-way.

Every reply echoes a per-request token and names its server, so a reply delivered to the wrong
caller is caught. Zero results may be lost or mixed; afterwards the servers' open connections are
back to their baseline once the provider is closed, and no task or worker thread is left behind.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from patinox_core import ChatRequest, ChatResult, LocalProvider, LocalSettings, Message
from patinox_core.testing import FakeOllamaServer, OllamaModel

N_ASYNC = 1000
N_THREADS, N_SYNC = 16, 200


def _echo(tag: str) -> Callable[[list[dict[str, Any]]], str]:
    return lambda messages: f"echo {messages[-1]['content']} from {tag}"


def _embed_echo(text: str) -> list[float]:
    return [1.0, float(text.removeprefix("token-"))]  # the fake normalises: the ratio keeps the token


def _server(tag: str) -> FakeOllamaServer:
    return FakeOllamaServer([
        OllamaModel("llama3.2", reply=_echo(tag), loaded=True),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], loaded=True, embed_fn=_embed_echo),
    ])


@pytest.fixture
def twins() -> Iterator[tuple[FakeOllamaServer, FakeOllamaServer]]:
    with _server("A") as a, _server("B") as b:
        yield a, b


def _settings(*servers: FakeOllamaServer) -> LocalSettings:
    return LocalSettings(endpoints=[{"url": s.url, "kind": "ollama"} for s in servers], discover_defaults=False,
                         connect_timeout=2.0, read_timeout=30.0, cold_load_timeout=30.0, probe_timeout=2.0,
                         max_retries=1)


def _ask(i: int) -> ChatRequest:
    return ChatRequest(model="llama3.2", messages=[Message("user", f"token-{i}")])


def _check_tagged(results: list[Any], servers: tuple[FakeOllamaServer, ...]) -> dict[str, int]:
    """Every result is the reply to its own request; returns how many each server answered."""
    lost = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert not lost, f"{len(lost)} requests failed, e.g. #{lost[0][0]}: {lost[0][1]!r}"
    by_server = {s.url: tag for s, tag in zip(servers, "AB", strict=False)}
    counts = {"A": 0, "B": 0}
    for i, result in enumerate(results):
        tag = by_server[result.service]
        assert result.message.content == f"echo token-{i} from {tag}", f"request {i} got {result.message.content!r}"
        counts[tag] += 1
    return counts


def _wait_closed(*servers: FakeOllamaServer, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while any(s.open_connections for s in servers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [s.open_connections for s in servers] == [0] * len(servers), "connections left open"


def _patinox_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("patinox") and t.is_alive()]


@pytest.mark.timeout(120)
def test_1000_async_requests_one_server_killed_half_way(twins) -> None:
    a, b = twins
    assert (a.open_connections, b.open_connections) == (0, 0)

    async def main() -> tuple[list[Any], list[asyncio.Task], list[asyncio.Task]]:
        provider = LocalProvider(_settings(a, b))
        await provider.alist_models()
        done = 0

        async def one(i: int) -> Any:
            nonlocal done
            result = await provider.achat(_ask(i))
            done += 1
            if done == N_ASYNC // 2:
                await asyncio.to_thread(a.kill)
            return result

        results = await asyncio.gather(*(one(i) for i in range(N_ASYNC)), return_exceptions=True)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await provider.aclose()
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return results, pending, left

    results, pending, left = asyncio.run(main())
    counts = _check_tagged(results, (a, b))
    assert counts["A"] >= 1 and counts["B"] >= N_ASYNC // 4, counts  # balanced, then B alone
    assert pending == [] and left == [], f"tasks left: {pending or left}"
    _wait_closed(a, b)


@pytest.mark.timeout(120)
def test_concurrent_async_streams_and_embeddings_never_mix(twins) -> None:
    a, b = twins

    async def main() -> tuple[list[str], list[Any]]:
        async with LocalProvider(_settings(a, b)) as provider:
            async def stream(i: int) -> str:
                return "".join([c.content async for c in provider.astream_chat(_ask(i))])

            texts = await asyncio.gather(*(stream(i) for i in range(300)))
            vectors = await asyncio.gather(*(provider.aembed([f"token-{i}"], "nomic-embed-text") for i in range(300)))
        return texts, vectors

    texts, embeddings = asyncio.run(main())
    assert all(text in (f"echo token-{i} from A", f"echo token-{i} from B") for i, text in enumerate(texts))
    assert {text[-1] for text in texts} == {"A", "B"}  # spread over both servers
    for i, result in enumerate(embeddings):
        (x, y), = result.vectors
        assert round(y / x) == i, f"embedding {i} belongs to token {y / x:.1f}"
    _wait_closed(a, b)


@pytest.mark.timeout(120)
def test_sync_api_from_16_threads_one_server_killed_half_way(twins) -> None:
    a, b = twins
    provider = LocalProvider(_settings(a, b))
    provider.list_models()
    done, lock = [0], threading.Lock()

    def one(i: int) -> Any:
        if i % 4 == 3:  # a quarter as streams, merged into one result
            chunks = list(provider.stream_chat(_ask(i)))
            result = ChatResult(Message("assistant", "".join(c.content for c in chunks)), service=chunks[-1].service)
        else:
            result = provider.chat(_ask(i))
        with lock:
            done[0] += 1
            kill = done[0] == N_SYNC // 2
        if kill:
            a.kill()
        return result

    def guarded(i: int) -> Any:
        try:
            return one(i)
        except Exception as exc:  # reported by _check_tagged with its index
            return exc

    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(guarded, range(N_SYNC)))
    counts = _check_tagged(results, (a, b))
    assert counts["A"] >= 1 and counts["B"] >= N_SYNC // 4, counts  # balanced, then B alone
    provider.close()
    _wait_closed(a, b)
    assert _patinox_threads() == []
