"""The engine fakes of ``patinox_core.testing``: llama-server, vLLM and a LiteLLM proxy.

Each is checked over real loopback HTTP: its documented fields, its slots (never more requests
at work than slots), its queue (FIFO) and its refusal past ``queue_limit`` (status, JSON body,
``Retry-After``), and its counters. A held server (``hold = True``) is filled to a known state
before anything is asserted, so no assertion depends on timing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from patinox_core import LocalProvider, LocalSettings
from patinox_core.testing import FakeLiteLLMProxy, FakeLlamaServer, FakeVLLMServer, GatewayModel, SlotServer

CHAT = {"model": "m", "messages": [{"role": "user", "content": "conversation 1: hello"}]}


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within 10 s: {what}")
        await asyncio.sleep(0.005)


def _arrived(server: SlotServer, n: int) -> Callable[[], bool]:
    return lambda: len(server.pool.records) == n


async def _fill(server: SlotServer, n: int, path: str = "/v1/chat/completions",
                body: dict[str, Any] | None = None) -> tuple[httpx.AsyncClient, list[asyncio.Task[httpx.Response]]]:
    """Send ``n`` requests to a held server, one at a time in order, each once the server has seen it."""
    client = httpx.AsyncClient(base_url=server.url, timeout=20)
    tasks: list[asyncio.Task[httpx.Response]] = []
    for i in range(n):
        payload = {**(body or CHAT), "messages": [{"role": "user", "content": f"request {i}"}]}
        tasks.append(asyncio.create_task(client.post(path, json=payload)))
        await _until(_arrived(server, i + 1), f"request {i} arrived")
    return client, tasks


async def test_llama_server_slots_queue_and_503_with_retry_after() -> None:
    with FakeLlamaServer(slots=2, queue_limit=2, retry_after=2, service_s=0) as server:
        server.hold = True
        client, tasks = await _fill(server, 6)
        await _until(lambda: sum(t.done() for t in tasks) == 2, "two refusals answered")
        refused = [t.result() for t in tasks if t.done()]
        assert [r.status_code for r in refused] == [503, 503]
        assert refused[0].headers["retry-after"] == "2"
        assert refused[0].json()["error"]["code"] == 503 and refused[0].json()["error"]["type"] == "unavailable_error"
        assert (server.pool.processing, server.pool.queued) == (2, 2)

        slots = (await client.get("/slots")).json()
        assert [(s["id"], s["is_processing"]) for s in slots] == [(0, True), (1, True)]
        assert (await client.get("/slots", params={"fail_on_no_slot": 1})).status_code == 503

        server.hold = False
        answers = await asyncio.gather(*tasks)
        await client.aclose()
        assert [r.status_code for r in answers] == [200, 200, 200, 200, 503, 503]
        stats = server.stats(records=True)
        assert {k: stats[k] for k in ("served", "refused", "max_concurrency", "max_queued")} == {
            "served": 4, "refused": 2, "max_concurrency": 2, "max_queued": 2}
        served = sorted((r for r in stats["records"] if not r["refused"]), key=lambda r: r["started"])
        assert [r["key"] for r in served] == [f"request {i}" for i in range(4)]  # FIFO
        assert all(r["arrived"] <= r["started"] <= r["finished"] for r in served)
        assert {r["slot"] for r in served} == {0, 1}


async def test_llama_server_never_works_more_than_its_slots() -> None:
    with FakeLlamaServer(slots=3, service_s=0.01) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            replies = await asyncio.gather(*(client.post("/v1/chat/completions", json=CHAT) for _ in range(12)))
        assert [r.status_code for r in replies] == [200] * 12
        stats = server.stats(records=True)
        assert stats["served"] == 12 and stats["refused"] == 0 and stats["max_concurrency"] <= 3
        events = sorted([(r["started"], 1) for r in stats["records"]] + [(r["finished"], -1) for r in stats["records"]],
                        key=lambda e: (e[0], e[1]))
        running, peak = 0, 0
        for _, step in events:
            running += step
            peak = max(peak, running)
        assert peak <= 3


def test_llama_server_documented_fields() -> None:
    with FakeLlamaServer("gemma-3-4b-it", slots=4, n_ctx=8192, reply="Paris is the capital.") as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/health").json() == {"status": "ok"}
        props = client.get("/props").json()
        assert props["total_slots"] == 4 and props["default_generation_settings"]["n_ctx"] == 8192
        assert props["model_path"].endswith(".gguf") and props["build_info"] == server.build_info
        models = client.get("/v1/models").json()
        entry = models["data"][0]
        assert (entry["id"], entry["owned_by"], entry["meta"]["n_ctx_train"]) == ("gemma-3-4b-it", "llamacpp", 131072)
        assert models["models"][0]["model"] == "gemma-3-4b-it"
        assert [s["id"] for s in client.get("/slots").json()] == [0, 1, 2, 3]

        reply = client.post("/v1/chat/completions", json=CHAT).json()
        assert reply["choices"][0]["message"]["content"] == "Paris is the capital."
        assert reply["system_fingerprint"] == server.build_info
        assert client.post("/chat/completions", json={**CHAT, "max_tokens": 2}).json()["choices"][0][
            "finish_reason"] == "length"
        with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True,
                                                                 "stream_options": {"include_usage": True}}) as resp:
            events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == \
            "Paris is the capital."
        assert chunks[-1]["usage"]["completion_tokens"] == 4
        refused = client.post("/v1/embeddings", json={"model": "m", "input": ["a"]})  # a chat model
        assert refused.status_code == 400 and set(refused.json()["error"]) == {"code", "message", "type"}

        missing = client.get("/nope")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
        server.loading = True
        loading = client.get("/health")
        assert loading.status_code == 503 and loading.json()["error"]["message"] == "Loading model"
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 503
        assert server.stats()["served"] == 4  # every POST to a work route holds a slot; not while loading

    with FakeLlamaServer("nomic-embed-text", embedding_dim=16) as server, httpx.Client(base_url=server.url) as client:
        vectors = client.post("/embeddings", json={"model": "any", "input": ["a", "b"]}).json()["data"]
        assert [len(v["embedding"]) for v in vectors] == [16, 16]


async def test_vllm_fields_and_queue_limit_zero() -> None:
    with FakeVLLMServer("Qwen/Qwen3-8B", slots=1, queue_limit=0, service_s=0, max_model_len=16384) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            entry = (await client.get("/v1/models")).json()["data"][0]
            assert (entry["owned_by"], entry["max_model_len"], entry["root"]) == ("vllm", 16384, "Qwen/Qwen3-8B")
            assert (await client.get("/version")).json() == {"version": "0.11.0"}
            health = await client.get("/health")
            assert (health.status_code, health.content) == (200, b"")
            assert (await client.get("/")).json() == {"detail": "Not Found"}
            body = {"model": "Qwen/Qwen3-8B", "messages": [{"role": "user", "content": "hi"}]}
            answer = (await client.post("/v1/chat/completions", json=body)).json()
            assert answer["choices"][0]["message"]["content"] == "Hello from vLLM."
            wrong = await client.post("/v1/chat/completions", json={**body, "model": "other"})
            assert wrong.status_code == 404 and wrong.json()["type"] == "NotFoundError"

            server.hold = True
            first = asyncio.create_task(client.post("/v1/chat/completions", json=body))
            await _until(lambda: server.pool.processing == 1, "the one slot taken")
            busy = await client.post("/v1/chat/completions", json=body)
            server.hold = False
            assert (await first).status_code == 200
        assert busy.status_code == 503 and "retry-after" not in busy.headers
        assert (busy.json()["object"], busy.json()["code"]) == ("error", 503)
        assert (server.stats()["served"], server.stats()["refused"]) == (3, 1)


async def test_litellm_proxy_fields_headers_and_429() -> None:
    models = [GatewayModel("qwen3", model="hosted_vllm/Qwen/Qwen3-8B", max_input_tokens=32768, supports_vision=True)]
    with FakeLiteLLMProxy(models, slots=1, queue_limit=0, retry_after=3, master_key="sk-test") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/health/liveliness")).json() == "I'm alive!"
            assert (await client.get("/v1/models")).status_code == 401
            client.headers["Authorization"] = "Bearer sk-test"
            listed = (await client.get("/v1/models")).json()["data"]
            assert [(m["id"], m["owned_by"], m["created"]) for m in listed] == [("qwen3", "openai", 1677610602)]
            info = (await client.get("/model/info")).json()["data"][0]
            assert info["model_name"] == "qwen3" and info["litellm_params"]["model"] == "hosted_vllm/Qwen/Qwen3-8B"
            assert "api_key" not in info["litellm_params"]  # LiteLLM lists api_base, never a key
            facts = info["model_info"]
            assert (facts["max_input_tokens"], facts["mode"], facts["litellm_provider"]) == (32768, "chat",
                                                                                           "hosted_vllm")
            assert facts["supports_function_calling"] is True and facts["supports_vision"] is True

            body = {"model": "qwen3", "messages": [{"role": "user", "content": "hi"}]}
            ok = await client.post("/v1/chat/completions", json=body)
            assert ok.status_code == 200 and ok.headers["x-litellm-version"] == server.version
            assert ok.headers["x-litellm-model-group"] == "qwen3" and ok.headers["server"] == "uvicorn"
            unknown = await client.post("/v1/chat/completions", json={**body, "model": "gpt-9"})
            assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "400"

            server.hold = True
            first = asyncio.create_task(client.post("/chat/completions", json=body))
            await _until(lambda: server.pool.processing == 1, "the one slot taken")
            busy = await client.post("/v1/chat/completions", json=body)
            server.hold = False
            assert (await first).status_code == 200
        assert busy.status_code == 429 and busy.headers["retry-after"] == "3"
        assert busy.json()["error"]["type"] == "throttling_error"
        assert server.stats()["refused"] == 1


@pytest.mark.parametrize("make", [
    lambda: FakeLlamaServer("gemma-3-4b-it", n_ctx=8192),
    lambda: FakeVLLMServer("gemma-3-4b-it", max_model_len=8192),
], ids=["llama-server", "vllm"])
def test_patinox_reads_the_fakes_context_and_answers_through_them(make: Callable[[], SlotServer]) -> None:
    from patinox_core import ChatRequest, Message

    with make() as server, LocalProvider(LocalSettings(endpoints=[server.url], discover_defaults=False)) as provider:
        info = provider.get_model("gemma-3-4b-it")
        assert info.loaded_context_length == 8192
        result = provider.chat(ChatRequest(model="gemma-3-4b-it", messages=[Message(role="user", content="hi")]))
        assert result.message.content and result.service == server.url
        assert server.stats()["served"] == 1
