"""LocalProvider end to end over discovery and real loopback fake servers (two or more at once):
catalogue facts and their sources, failover and cooldown, refusals, context guard, embeddings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from patinox_core import (
    CapabilityError,
    ChatRequest,
    ContextOverflowError,
    LocalProvider,
    LocalSettings,
    Message,
    ProviderKind,
    ServerError,
)
from patinox_core.capabilities import Source
from patinox_core.router import ContextWindowWarning
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel

TOOL = {"type": "function", "function": {"name": "get_weather", "description": "weather",
                                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def settings(*urls: str, **kw) -> LocalSettings:
    kw.setdefault("discover_defaults", False)
    kw.setdefault("max_retries", 0)
    kw.setdefault("probe_timeout", 0.5)
    return LocalSettings(endpoints=[{"url": u} for u in urls], **kw)


def ask(text: str = "hi", model: str | None = "llama3.2", **kw) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content=text)], **kw)


def chats(server) -> int:
    return sum(r.path in ("/api/chat", "/v1/chat/completions", "/api/v0/chat/completions") for r in server.requests)


@pytest.fixture
def mixed() -> Iterator[tuple[FakeOllamaServer, FakeLMStudioServer]]:
    ollama_models = [
        OllamaModel("llama3.2", capabilities=["completion", "tools"], loaded=True, loaded_context_length=8192),
        OllamaModel("qwen3:4b", capabilities=["completion"], family="qwen3", parameter_size="4.0B",
                    context_length=40960, num_ctx=16384),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], family="nomic-bert", parameter_size="137M",
                    context_length=2048),
    ]
    lms_models = [LMStudioModel("qwen/qwen3-8b", tool_use=True, loaded=True, loaded_context_length=8192),
                  LMStudioModel("text-embedding-bge-m3", type="embeddings", loaded=False, max_context_length=8192)]
    with FakeOllamaServer(ollama_models) as ollama, FakeLMStudioServer(lms_models) as lms:
        yield ollama, lms


@pytest.fixture
def twins() -> Iterator[tuple[FakeOllamaServer, FakeOllamaServer]]:
    """Two Ollama servers with the same model, loaded on both."""
    def models():
        return [OllamaModel("llama3.2", capabilities=["completion", "tools"], loaded=True, reply="one two three")]

    with FakeOllamaServer(models()) as first, FakeOllamaServer(models()) as second:
        yield first, second


# -- catalogue ---------------------------------------------------------------------------------

def test_catalogue_from_both_servers(mixed):
    ollama, lms = mixed
    p = LocalProvider(settings(ollama.url, lms.url))
    models = {m.name: m for m in p.list_models()}
    assert set(models) == {"llama3.2:latest", "qwen3:4b", "nomic-embed-text:latest", "qwen/qwen3-8b",
                           "text-embedding-bge-m3"}
    llama, qwen, embed = models["llama3.2:latest"], models["qwen3:4b"], models["nomic-embed-text:latest"]
    assert (llama.kind, llama.service, llama.loaded) == (ProviderKind.OLLAMA, ollama.url, True)
    assert (llama.context_length, llama.effective_context_length) == (131072, 8192)  # /api/show vs /api/ps
    assert (qwen.context_length, qwen.effective_context_length) == (40960, 16384)  # Modelfile num_ctx
    assert llama.capabilities.tools and embed.capabilities.embeddings and not embed.capabilities.chat
    lm, bge = models["qwen/qwen3-8b"], models["text-embedding-bge-m3"]
    assert (lm.kind, lm.service, lm.loaded) == (ProviderKind.LMSTUDIO, lms.url, True)
    assert (lm.context_length, lm.effective_context_length) == (32768, 8192)
    assert lm.capabilities.tools and lm.source["tools"] is Source.SERVER
    assert bge.capabilities.embeddings and not bge.capabilities.chat and bge.effective_context_length == 4096


def test_server_facts_beat_heuristics_and_overrides_beat_both(mixed):
    ollama, _ = mixed
    qwen = LocalProvider(settings(ollama.url)).get_model("qwen3:4b")
    assert not qwen.capabilities.tools and not qwen.capabilities.thinking  # the name suggests both
    assert qwen.source["tools"] is qwen.source["thinking"] is Source.SERVER
    overridden = LocalProvider(settings(ollama.url, overrides={"qwen3": {"tools": True, "context_length": 8192}}))
    qwen = overridden.get_model("qwen3:4b")
    assert qwen.capabilities.tools and qwen.context_length == 8192
    assert qwen.source["tools"] is qwen.source["context_length"] is Source.OVERRIDE
    assert qwen.effective_context_length == 8192  # never above the (overridden) maximum


async def test_async_catalogue_and_chat_on_both_servers(mixed):
    ollama, lms = mixed
    p = LocalProvider(settings(ollama.url, lms.url))
    assert len(await p.alist_models()) == 5
    assert (await p.achat(ask(model="qwen3-8b"))).service == lms.url  # name after the namespace
    assert (await p.achat(ask())).service == ollama.url
    chunks = [c async for c in p.astream_chat(ask(model="qwen/qwen3-8b"))]
    assert chunks[-1].finish_reason == "stop" and "".join(c.content for c in chunks)


def test_default_models_across_servers(mixed):
    ollama, lms = mixed
    p = LocalProvider(settings(ollama.url, lms.url))
    assert p.get_model().name == "qwen/qwen3-8b"  # 8B beats 3.2B and 4B
    assert p.get_model(capability="embeddings").service == lms.url  # bge-m3 (8B claimed) beats nomic (137M)
    assert p.chat(ask(model=None)).service == lms.url


# -- failover ------------------------------------------------------------------------------------

def test_failover_when_the_first_server_dies_sync(twins):
    first, second = twins
    p = LocalProvider(settings(first.url, second.url, cooldown=0.3))
    assert p.chat(ask()).service == first.url
    first.kill()
    for _ in range(3):
        assert p.chat(ask()).service == second.url
    first.restart()
    assert p.chat(ask()).service == second.url and chats(first) == 1  # cooling down: skipped
    assert "".join(c.content for c in p.stream_chat(ask())) == "one two three" and chats(first) == 1
    time.sleep(0.35)
    assert p.chat(ask("a new conversation")).service == first.url  # back after the cooldown


async def test_failover_when_the_first_server_dies_async(twins):
    first, second = twins
    p = LocalProvider(settings(first.url, second.url, cooldown=0.3))
    assert (await p.achat(ask())).service == first.url
    first.kill()
    chunks = [c async for c in p.astream_chat(ask())]
    assert chunks[-1].service == second.url and "".join(c.content for c in chunks) == "one two three"
    first.restart()
    assert (await p.achat(ask())).service == second.url and chats(first) == 1
    await asyncio.sleep(0.35)
    assert (await p.achat(ask("a new conversation"))).service == first.url  # (the old one stays on second)


def test_failover_on_a_busy_server(twins):
    first, second = twins
    p = LocalProvider(settings(first.url, second.url))
    first.fail_next(503, "server busy, please try again.  maximum pending requests exceeded")
    assert p.chat(ask()).service == second.url


def test_a_stream_cut_after_output_is_not_replayed(twins):
    first, second = twins
    p = LocalProvider(settings(first.url, second.url))
    first.set_stream_chunking(words=1, delay=0.05)  # the client reads the first line before the reset
    first.cut_stream(after=1)
    seen = []
    with pytest.raises(Exception) as err:
        for chunk in p.stream_chat(ask()):
            seen.append(chunk.content)
    assert seen == ["one "] and chats(second) == 0
    assert err.type.__module__ == "patinox_core.errors"


def test_error_line_mid_stream_reaches_the_caller(twins):
    first, second = twins
    p = LocalProvider(settings(first.url, second.url))
    first.error_mid_stream(after=1)
    with pytest.raises(ServerError):
        list(p.stream_chat(ask()))
    assert chats(second) == 0


# -- refusals and the context guard ----------------------------------------------------------------

def test_tools_to_a_model_without_tools_is_refused_before_sending(mixed):
    ollama, lms = mixed
    p = LocalProvider(settings(ollama.url, lms.url))
    with pytest.raises(CapabilityError) as err:
        p.chat(ask(model="qwen3:4b", tools=[TOOL]))
    assert "qwen/qwen3-8b" in str(err.value) and chats(ollama) == 0
    with pytest.raises(CapabilityError, match="text-embedding-bge-m3"):
        p.embed(["x"], model="qwen3:4b")
    with pytest.raises(CapabilityError):
        p.chat(ask(model="nomic-embed-text"))
    image = ChatRequest(model="llama3.2", messages=[Message(role="user", content="?", images=["aGk="])])
    with pytest.raises(CapabilityError, match="images"):
        p.chat(image)
    assert chats(ollama) == chats(lms) == 0


def test_context_guard_with_a_real_server(mixed):
    ollama, _ = mixed
    prompt = "word " * 20_000  # about 25k tokens by the estimate; qwen3:4b gets 16384
    with pytest.warns(ContextWindowWarning, match="16384"):
        LocalProvider(settings(ollama.url)).chat(ask(prompt, model="qwen3:4b"))
    with pytest.raises(ContextOverflowError):
        LocalProvider(settings(ollama.url, context_guard="raise")).chat(ask(prompt, model="qwen3:4b"))
    assert chats(ollama) == 1


def test_truncation_reported_by_prompt_eval_count_warns():
    model = OllamaModel("llama3.2", capabilities=["completion"], num_ctx=1024, prompt_eval_count=1000)
    with FakeOllamaServer([model]) as ollama, FakeOllamaServer([]) as other:
        p = LocalProvider(settings(ollama.url, other.url))
        with pytest.warns(ContextWindowWarning) as record:
            p.chat(ask("x" * 20_000))
    assert any("probably truncated" in str(w.message) for w in record)


# -- embeddings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_embeddings_are_batched_and_ordered(mixed, mode):
    ollama, lms = mixed
    p = LocalProvider(settings(ollama.url, lms.url))
    texts = [f"text number {i}" for i in range(10)]
    if mode == "sync":
        result = p.embed(texts, model="nomic-embed-text", batch_size=4, max_concurrency=3)
        whole = p.embed(texts, model="nomic-embed-text")
    else:
        result = await p.aembed(texts, model="nomic-embed-text", batch_size=4, max_concurrency=3)
        whole = await p.aembed(texts, model="nomic-embed-text")
    sizes = sorted(len(r.json["input"]) for r in ollama.requests if r.path == "/api/embed")
    assert sizes == [2, 4, 4, 10]
    assert result.vectors == whole.vectors and result.dimensions == 8 and result.service == ollama.url
    lms_result = p.embed(texts[:3], model="text-embedding-bge-m3")
    assert len(lms_result.vectors) == 3 and lms_result.service == lms.url
