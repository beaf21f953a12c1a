"""LocalProvider over in-process backends (ScriptedBackend / FunctionBackend): catalogue, name
resolution, fallback and cooldown, capability refusals, context guard, embeddings batching."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings

import pytest

from patinox_core import (
    CapabilityError,
    ChatRequest,
    ChatResult,
    ConfigurationError,
    ContextOverflowError,
    InvalidResponseError,
    LocalProvider,
    LocalSettings,
    Message,
    Metrics,
    ModelNotFoundError,
    ProviderKind,
    RecoveryStrategy,
    ServerError,
    ServiceUnavailableError,
    SpeedTier,
    Usage,
    create_default_provider,
)
from patinox_core.fakes.scripted import MidStreamError, fake_vector
from patinox_core.router import ContextWindowWarning
from patinox_core.testing import FunctionBackend, ScriptedBackend

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


def caps(*names: str) -> dict[str, bool]:
    flags = dict.fromkeys(("chat", "completion", "embeddings", "tools", "vision", "thinking"), False)
    flags.update(dict.fromkeys(names, True))
    return flags


def facts(loaded: bool = False, num_ctx: int | None = None) -> list[dict]:
    return [
        {"name": "llama3.2:latest", "parameter_size": "3.2B", "context_length": 131072, "loaded": loaded,
         "default_context_length": num_ctx, "capabilities": caps("chat", "completion", "tools")},
        {"name": "gemma3:12b", "parameter_size": "12.2B", "loaded": False, "capabilities": caps("chat", "vision")},
        {"name": "nomic-embed-text:latest", "parameter_size": "137M", "loaded": False,
         "capabilities": caps("embeddings")},
    ]


def settings(**kw) -> LocalSettings:
    return LocalSettings(discover_defaults=False, **kw)


def ask(text: str = "hi", model: str | None = "llama3.2", **kw) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content=text)], **kw)


def pair(*replies_a, replies_b=("from b",) * 4, loaded_b: bool = False, loaded_a: bool = False, **kw):
    a = ScriptedBackend(*replies_a, base_url="http://a.test", models=facts(loaded=loaded_a))
    b = ScriptedBackend(*replies_b, base_url="http://b.test", models=facts(loaded=loaded_b))
    return a, b, LocalProvider(settings(**kw), backends=[a, b])


# -- catalogue and names -------------------------------------------------------------------

def test_catalogue_lists_every_copy_and_answers_backends_what_is_loaded():
    a, b, p = pair(loaded_b=True)
    models = p.list_models()
    assert [(m.name, m.service) for m in models][:2] == [("llama3.2:latest", "http://a.test"),
                                                         ("gemma3:12b", "http://a.test")]
    assert len(models) == 6 and a.list_calls == b.list_calls == 1
    p.list_models()
    assert a.list_calls == 1  # cached for discovery_ttl
    p.list_models(refresh=True)
    assert a.list_calls == 2
    # the catalogue alone owns load state; each backend asks it through its LoadState
    assert a.load_state.is_loaded("llama3.2:latest") is False and b.load_state.is_loaded("llama3.2") is True
    assert p.get_model("llama3.2").service == "http://b.test"  # loaded copy first
    assert p.get_model("nomic").name == "nomic-embed-text:latest"  # unique prefix


async def test_async_catalogue_matches_sync():
    _, _, p = pair()
    assert [m.name for m in await p.alist_models()] == [m.name for m in p.list_models()]
    assert (await p.aget_model("gemma3")).name == "gemma3:12b"


def test_name_errors_are_actionable():
    a, b, p = pair()
    with pytest.raises(ModelNotFoundError) as err:
        p.chat(ask(model="mistral-nemo"))
    assert "ollama pull mistral-nemo" in str(err.value) and err.value.recovery is RecoveryStrategy.PULL_MODEL
    b.models.append({"name": "llama3.2:1b"})
    p.list_models(refresh=True)
    with pytest.raises(ConfigurationError, match=r"llama3\.2:1b"):
        p.chat(ask(model="llama3.2:"))
    assert a.requests == b.requests == []


def test_default_model_choice():
    a, _, p = pair("ok", "ok", "ok")
    p.chat(ask(model=None))
    assert a.requests[-1].model == "gemma3:12b"  # best tier among chat models
    p.chat(ask(model=None, tools=[TOOL]))
    assert a.requests[-1].model == "llama3.2:latest"  # the best that can also call tools
    p.settings.default_model = "llama3.2"
    p.chat(ask(model=None))
    assert a.requests[-1].model == "llama3.2:latest"
    assert p.get_model(capability="embeddings").name == "nomic-embed-text:latest"


def test_nothing_found_explains_how_to_start_a_server():
    p = LocalProvider(settings())
    with pytest.raises(ServiceUnavailableError) as err:
        p.chat(ask())
    assert "ollama serve" in str(err.value) and "lms server start" in str(err.value)
    assert p.list_models() == []


def test_provider_setting_restricts_kind():
    a = ScriptedBackend("a", base_url="http://a.test", models=facts())
    lms = ScriptedBackend("lms", kind="lmstudio", base_url="http://lms.test", models=facts())
    p = LocalProvider(settings(provider="lmstudio"), backends=[a, lms])
    assert {m.service for m in p.list_models()} == {"http://lms.test"}
    assert p.chat(ask()).message.content == "lms" and a.requests == []


def test_create_default_provider_passes_settings_and_backends():
    b = ScriptedBackend("x", models=facts())
    p = create_default_provider(discover_defaults=False, cooldown=5, backends=[b])
    assert p.settings.cooldown == 5 and p.chat(ask()).message.content == "x"
    assert "LocalProvider(" in repr(p)


# -- fallback ------------------------------------------------------------------------------

def test_failover_and_cooldown_sync():
    a, b, p = pair(ServiceUnavailableError("refused"), "a again", cooldown=0.2, loaded_a=True, loaded_b=True)
    first = p.chat(ask())
    assert first.message.content == "from b" and first.service == "http://b.test"
    assert len(a.requests) == 1 and len(b.requests) == 1
    assert p.chat(ask()).message.content == "from b"
    assert len(a.requests) == 1  # cooling down: skipped
    time.sleep(0.25)
    assert p.chat(ask("a new conversation")).message.content == "a again"  # the old one stays on b


async def test_failover_and_cooldown_async():
    a, _b, p = pair(ServerError("500 boom"), "a again", cooldown=0.2, loaded_a=True, loaded_b=True)
    assert (await p.achat(ask())).message.content == "from b"
    assert (await p.achat(ask())).message.content == "from b" and len(a.requests) == 1
    await asyncio.sleep(0.25)
    assert (await p.achat(ask("a new conversation"))).message.content == "a again"


def test_bad_model_output_falls_back_without_cooling_the_server():
    bad = InvalidResponseError("tool call 'f' has arguments that are not a JSON object")
    a, b, p = pair(bad, "a again", cooldown=30, loaded_a=True, loaded_b=True)
    assert p.chat(ask()).message.content == "from b"
    assert p.chat(ask("another")).message.content == "a again"  # a was not put to rest for the model's output
    assert len(a.requests) == 2 and len(b.requests) == 1


def test_cooling_service_is_still_a_last_resort():
    _a, _b, p = pair(ServiceUnavailableError("refused"), "a is back", replies_b=("from b", ServerError("b broke")))
    assert p.chat(ask()).message.content == "from b"
    assert p.chat(ask()).message.content == "a is back"  # b failed; a was cooling down but was left to try


def test_no_fallback_on_errors_another_server_cannot_fix():
    _a, b, p = pair(CapabilityError("does not support tools"))
    with pytest.raises(CapabilityError):
        p.chat(ask())
    assert b.requests == []


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_exhausted_raises_the_most_actionable_with_attempts(mode):
    _a, _b, p = pair(ServiceUnavailableError("refused"), replies_b=(ServerError("runner crashed"),))
    with pytest.raises(ServerError) as err:
        p.chat(ask()) if mode == "sync" else await p.achat(ask())
    assert len(err.value.attempts) == 2 and err.value.service == "http://b.test"


def test_stream_falls_back_before_the_first_chunk_sync():
    _a, _b, p = pair(ServiceUnavailableError("refused"), replies_b=("one two three four five six seven",))
    chunks = list(p.stream_chat(ask()))
    assert "".join(c.content for c in chunks) == "one two three four five six seven"
    assert chunks[-1].finish_reason == "stop" and chunks[-1].service == "http://b.test"


async def test_stream_falls_back_before_the_first_chunk_async():
    a, _b, p = pair(ServerError("busy"), replies_b=("one two three four",))
    chunks = [c async for c in p.astream_chat(ask())]
    assert "".join(c.content for c in chunks) == "one two three four" and len(a.requests) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_stream_commits_after_the_first_chunk(mode):
    broken = MidStreamError("one two three four five six seven", after=1, error=ServerError("runner died"))
    _a, b, p = pair(broken)
    seen = []
    with pytest.raises(ServerError, match="runner died"):
        if mode == "sync":
            for chunk in p.stream_chat(ask()):
                seen.append(chunk.content)
        else:
            async for chunk in p.astream_chat(ask()):
                seen.append(chunk.content)
    assert seen == ["one two three "] and b.requests == []


def test_stream_validates_before_iteration():
    _, _, p = pair()
    with pytest.raises(ModelNotFoundError):
        p.stream_chat(ask(model="nope"))


# -- capability refusals -------------------------------------------------------------------

@pytest.mark.parametrize(("request_", "suggested"), [
    (ask(model="gemma3:12b", tools=[TOOL]), "llama3.2:latest"),
    (ChatRequest(model="llama3.2", messages=[Message(role="user", content="what is this", images=["aGVsbG8="])]),
     "gemma3:12b"),
    (ask(model="nomic-embed-text"), "gemma3:12b"),
])
async def test_capability_refusals_before_sending(request_, suggested):
    a, b, p = pair()
    for call in (lambda: p.chat(request_), lambda: list(p.stream_chat(request_))):
        with pytest.raises(CapabilityError) as err:
            call()
        assert suggested in str(err.value)
    with pytest.raises(CapabilityError):
        await p.achat(request_)
    assert a.requests == b.requests == []


def test_embeddings_on_a_chat_model_is_refused():
    a, _, p = pair()
    with pytest.raises(CapabilityError, match="nomic-embed-text:latest"):
        p.embed(["x"], model="llama3.2")
    assert a.embed_calls == []


def test_overrides_unlock_a_capability():
    _a, _, p = pair("ok", overrides={"gemma3:12b": {"tools": True}})
    assert p.chat(ask(model="gemma3:12b", tools=[TOOL])).message.content == "ok"


# -- context guard -------------------------------------------------------------------------

def small_ctx(*replies, kind: str = "ollama", **kw):
    b = ScriptedBackend(*replies, kind=kind, base_url="http://small.test", models=facts(num_ctx=1000))
    return b, LocalProvider(settings(**kw), backends=[b])


def test_context_guard_warns():
    b, p = small_ctx("ok")
    with pytest.warns(ContextWindowWarning, match="may not fit llama3.2:latest's context of 1000"):
        p.chat(ask("x" * 8000))
    assert len(b.requests) == 1


def test_context_guard_raises_before_sending():
    b, p = small_ctx("ok", context_guard="raise")
    with pytest.raises(ContextOverflowError) as err:
        p.chat(ask("x" * 8000))
    assert err.value.recovery is RecoveryStrategy.REDUCE_INPUT and "num_ctx" in str(err.value)
    assert b.requests == []
    assert p.chat(ask("x" * 8000, num_ctx=4096)).message.content == "ok"  # a larger num_ctx fits


def test_context_guard_off_and_short_prompts_are_silent():
    truncated = ChatResult(message=Message(role="assistant", content="ok"), usage=Usage(input_tokens=10))
    _b, p = small_ctx("ok", truncated, context_guard="off")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.chat(ask("x" * 8000))
        p.chat(ask("x" * 8000))
        small_ctx("ok")[1].chat(ask("short"))


def test_truncation_after_an_ollama_reply_warns():
    truncated = ChatResult(message=Message(role="assistant", content="ok"), usage=Usage(input_tokens=990))
    _, p = small_ctx(truncated)
    with pytest.warns(ContextWindowWarning) as record:
        p.chat(ask("x" * 8000))
    assert any("probably truncated the prompt" in str(w.message) for w in record)


def test_no_truncation_check_for_lmstudio():
    truncated = ChatResult(message=Message(role="assistant", content="ok"), usage=Usage(input_tokens=990))
    _, p = small_ctx(truncated, kind="lmstudio")
    with pytest.warns(ContextWindowWarning) as record:
        p.chat(ask("x" * 8000))
    assert not any("truncated" in str(w.message) for w in record)


def test_measured_speed_reaches_the_catalogue():
    fast = ChatResult(message=Message(role="assistant", content="ok"), metrics=Metrics(tokens_per_second=120.0))
    _a, _, p = pair(fast)
    p.chat(ask())
    info = next(m for m in p.list_models() if m.service == "http://a.test" and m.name == "llama3.2:latest")
    assert info.tokens_per_second == 120.0 and info.speed_tier is SpeedTier.VERY_FAST and info.loaded


# -- embeddings ----------------------------------------------------------------------------

def test_embed_batches_concurrently_in_order():
    active, peak, lock = [0], [0], threading.Lock()

    def vectors(texts, model, **opts):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.03)
        with lock:
            active[0] -= 1
        return [fake_vector(t, opts.get("dimensions") or 4) for t in texts]

    backend = FunctionBackend(lambda r: "unused", embed_fn=vectors, models=facts())
    p = LocalProvider(settings(embed_batch_size=3), backends=[backend])
    texts = [f"text {i}" for i in range(10)]
    result = p.embed(texts, max_concurrency=2, dimensions=4)
    assert result.vectors == [fake_vector(t, 4) for t in texts] and result.dimensions == 4
    assert sorted(len(c.texts) for c in backend.embed_calls) == [1, 3, 3, 3]
    assert all(c.model == "nomic-embed-text:latest" and c.opts == {"dimensions": 4} for c in backend.embed_calls)
    assert peak[0] == 2
    assert len(p.embed(texts, batch_size=10).vectors) == 10 and len(backend.embed_calls) == 5
    assert p.embed([]).vectors == [] and p.embed("one").vectors == [fake_vector("one", 4)]
    with pytest.raises(ConfigurationError):
        p.embed(texts, batch_size=0)


class SlowAsyncBackend(ScriptedBackend):
    active = peak = 0

    async def aembed(self, texts, model, **opts):
        type(self).active += 1
        type(self).peak = max(type(self).peak, type(self).active)
        await asyncio.sleep(0.02)
        type(self).active -= 1
        return self.embed(texts, model, **opts)


async def test_aembed_batches_under_a_semaphore():
    SlowAsyncBackend.active = SlowAsyncBackend.peak = 0
    backend = SlowAsyncBackend(models=facts())
    p = LocalProvider(settings(), backends=[backend])
    texts = [f"t{i}" for i in range(9)]
    result = await p.aembed(texts, batch_size=2, max_concurrency=3)
    assert result.vectors == [fake_vector(t) for t in texts]
    assert sorted(len(c.texts) for c in backend.embed_calls) == [1, 2, 2, 2, 2]
    assert SlowAsyncBackend.peak == 3 and result.usage.input_tokens == 9


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_embed_batches_fail_over(mode):
    a, b, p = pair()
    a.fail_next(ServiceUnavailableError("refused"))
    texts = ["a", "b", "c", "d"]
    result = p.embed(texts, batch_size=2, max_concurrency=1) if mode == "sync" else await p.aembed(
        texts, batch_size=2, max_concurrency=1)
    assert result.vectors == [fake_vector(t) for t in texts]
    assert len(a.embed_calls) == 0 and len(b.embed_calls) == 2  # a failed once, then cooled down


def test_sync_calls_work_inside_a_running_loop():
    async def main():
        _, _, p = pair("from a")
        return p.chat(ask()).message.content, p.health()

    content, health = asyncio.run(main())
    assert content == "from a"
    assert {s.base_url: s.healthy for s in health} == {"http://a.test": True, "http://b.test": True}


def test_health_reports_a_dead_backend():
    a, _b, p = pair()
    a.kill()
    report = {s.base_url: s for s in p.health()}
    assert not report["http://a.test"].healthy and "killed" in report["http://a.test"].error
    assert report["http://b.test"].healthy and report["http://b.test"].kind is ProviderKind.OLLAMA


def test_a_model_pulled_after_the_catalogue_was_built_is_found():
    a = ScriptedBackend("new model speaking", base_url="http://a.test", models=facts())
    p = LocalProvider(settings(discovery_ttl=600), backends=[a])
    p.list_models()
    a.models.append({"name": "phi4:latest", "capabilities": caps("chat", "completion")})
    assert p.chat(ask(model="phi4")).message.content == "new model speaking"  # one refresh on a miss
    assert a.list_calls == 2 and a.requests[-1].model == "phi4:latest"
    with pytest.raises(ModelNotFoundError):
        p.chat(ask(model="still-missing"))
    assert a.list_calls == 3


def test_cooldown_warns_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    """A dead server is logged at WARNING when it goes down, not again for every request."""
    a = ScriptedBackend(*[ServiceUnavailableError("refused")] * 3, base_url="http://a.test", models=facts(True))
    p = LocalProvider(settings(cooldown=30), backends=[a])
    with caplog.at_level("DEBUG", logger="patinox.router"):
        for _ in range(3):
            with pytest.raises(ServiceUnavailableError):
                p.chat(ask())
    levels = [r.levelname for r in caplog.records if "cooling down" in r.getMessage()]
    assert levels == ["WARNING", "DEBUG", "DEBUG"]
