"""Reasoning on every server kind, over real loopback HTTP against the fakes.

Each kind answers with its reasoning where that server puts it: Ollama's ``message.thinking``,
Ollama ``/v1``'s and vLLM's ``reasoning``, ``reasoning_content`` (LM Studio, llama-server, SGLang),
or inline ``<think>…</think>`` in the content (a server without a reasoning parser), including a
reply whose chat template opened the block (only ``</think>`` comes) and one cut by ``max_tokens``.
Checked sync, async, streamed and async-streamed; then the multi-turn round trip (what each
server gets back), effort levels against what the model allows, reasoning token counts, and the
thinking + structured-output guard.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from patinox_core import CapabilityError, ChatRequest, LocalProvider, LocalSettings, Message
from patinox_core.backends.lmstudio import LMStudioBackend
from patinox_core.backends.ollama import OllamaBackend
from patinox_core.backends.openai_compat import OpenAICompatBackend
from patinox_core.testing import (
    FakeLlamaServer,
    FakeLMStudioServer,
    FakeOllamaServer,
    FakeOpenAIServer,
    FakeSGLangServer,
    FakeVLLMServer,
    LMStudioModel,
    OllamaModel,
    OpenAIModel,
)
from patinox_core.transport import Transport
from patinox_core.types import ChatChunk, ChatResult, merge_chunks

REASONING = "Two plus two is four."
ANSWER = "4"
SCHEMA = {"title": "Sum", "type": "object", "properties": {"total": {"type": "integer"}}, "required": ["total"]}


@dataclass
class Kind:
    """One running fake and a provider pinned to it."""

    name: str
    server: Any
    provider: LocalProvider
    model: str

    def bodies(self, path: str = "chat") -> list[dict[str, Any]]:
        return [r.json for r in self.server.requests if r.method == "POST" and path in r.path]

    def request(self, **kwargs: Any) -> ChatRequest:
        messages = kwargs.pop("messages", [Message("user", "2+2?")])
        return ChatRequest(model=self.model, messages=messages, **kwargs)


SETTINGS = LocalSettings(discover_defaults=False)


def _provider(backend: Any) -> LocalProvider:
    return LocalProvider(SETTINGS, backends=[backend])


@contextmanager
def _openai(name: str, flavor: str | None, field: str | None, *, think_open: bool = False,
            **model: Any) -> Iterator[Kind]:
    served = OpenAIModel("qwen3-8b", reply=ANSWER, reasoning=REASONING, reasoning_field=field, think_open=think_open,
                         **model)
    with FakeOpenAIServer([served]) as server:
        yield Kind(name, server, _provider(OpenAICompatBackend(server.url, flavor=flavor)), "qwen3-8b")


@contextmanager
def _engine(name: str, field: str | None, *, think_open: bool = False, **model: Any) -> Iterator[Kind]:
    factory = {"llama_server": lambda: FakeLlamaServer("qwen3-8b", reply=ANSWER, service_s=0),
               "vllm": lambda: FakeVLLMServer("Qwen/Qwen3-8B", reply=ANSWER, service_s=0),
               "sglang": lambda: FakeSGLangServer("Qwen/Qwen3-8B", reply=ANSWER)}[name]
    with factory() as server:
        served = next(iter(server.models.values()))
        served.reasoning, served.reasoning_field, served.think_open = REASONING, field, think_open
        for key, value in model.items():
            setattr(served, key, value)
        yield Kind(name, server, _provider(OpenAICompatBackend(server.url, flavor=name)), served.id)


@contextmanager
def _ollama(*, inline: bool = False, think_open: bool = False, **model: Any) -> Iterator[Kind]:
    served = OllamaModel("qwen3", reply=ANSWER, thinking=REASONING, inline_think=inline, think_open=think_open,
                         capabilities=["completion", "tools", "thinking"], **model)
    with FakeOllamaServer([served]) as server:
        yield Kind("ollama", server, _provider(OllamaBackend(server.url, Transport(SETTINGS))), "qwen3:latest")


@contextmanager
def _lmstudio(**model: Any) -> Iterator[Kind]:
    served = LMStudioModel("qwen/qwen3-8b", reply=ANSWER, reasoning=REASONING, reasoning_capable=True, **model)
    with FakeLMStudioServer([served]) as server:
        yield Kind("lmstudio", server, _provider(LMStudioBackend(server.url)), "qwen/qwen3-8b")


#: Every kind with its server's own reasoning field.
FIELD_KINDS: dict[str, Callable[[], Any]] = {
    "ollama": _ollama,
    "ollama_v1": lambda: _openai("ollama_v1", "ollama_v1", "reasoning"),
    "lmstudio": _lmstudio,
    "llama_server": lambda: _engine("llama_server", "reasoning_content"),
    "vllm": lambda: _engine("vllm", "reasoning"),
    "sglang": lambda: _engine("sglang", "reasoning_content"),
}
#: Servers without a reasoning parser: ``<think>`` in the content, opened by the model or the template.
INLINE_KINDS: dict[str, Callable[..., Any]] = {
    "ollama": lambda **kw: _ollama(inline=True, **kw),
    "llama_server": lambda **kw: _engine("llama_server", None, **kw),
    "llama_cpp_python": lambda **kw: _openai("llama_cpp_python", "llama_cpp_python", None, **kw),
    "openai_compatible": lambda **kw: _openai("openai_compatible", None, None, **kw),
}


def _four_ways(kind: Kind, request: ChatRequest) -> list[ChatResult]:
    """The same request sync, async, streamed and async-streamed (streams merged)."""
    async def both() -> tuple[ChatResult, list[ChatChunk]]:
        chunks = [c async for c in kind.provider.astream_chat(request)]
        return await kind.provider.achat(request), chunks

    result, achunks = asyncio.run(both())
    return [kind.provider.chat(request), result, merge_chunks(list(kind.provider.stream_chat(request))),
            merge_chunks(achunks)]


# --------------------------------------------------------------------------- normalised replies


@pytest.mark.parametrize("name", FIELD_KINDS)
def test_reasoning_field_is_thinking_never_content(name: str) -> None:
    with FIELD_KINDS[name]() as kind:
        for result in _four_ways(kind, kind.request(think=True)):
            assert (result.message.content, result.message.thinking) == (ANSWER, REASONING), name


@pytest.mark.parametrize("name", INLINE_KINDS)
@pytest.mark.parametrize("think_open", [False, True], ids=["tags", "template-opened"])
def test_inline_think_is_split_off(name: str, think_open: bool) -> None:
    with INLINE_KINDS[name](think_open=think_open) as kind:
        for result in _four_ways(kind, kind.request(think=True)):
            assert (result.message.content, result.message.thinking) == (ANSWER, REASONING), name
            assert "think>" not in result.message.content


@pytest.mark.parametrize("name", INLINE_KINDS)
def test_a_template_opened_block_without_asking_is_split_in_a_full_reply(name: str) -> None:
    """Without ``think``, a non-stream reply is still split at the stray ``</think>``; a stream is
    not (its first words were already shown as content: the documented limit)."""
    with INLINE_KINDS[name](think_open=True) as kind:
        result = kind.provider.chat(kind.request())
        assert (result.message.content, result.message.thinking) == (ANSWER, REASONING)


@pytest.mark.parametrize("name", ["llama_cpp_python", "openai_compatible", "llama_server"])
def test_an_unterminated_think_cut_by_max_tokens_is_all_thinking(name: str) -> None:
    with INLINE_KINDS[name]() as kind:
        for result in _four_ways(kind, kind.request(think=True, max_tokens=3)):
            assert result.finish_reason == "length"
            assert result.message.content == ""
            assert result.message.thinking == "Two plus two "


def test_ollama_unterminated_inline_think_cut_by_num_predict() -> None:
    with _ollama(inline=True) as kind:
        for result in _four_ways(kind, kind.request(think=True, max_tokens=3)):
            assert (result.finish_reason, result.message.content) == ("length", "")
            assert result.message.thinking == "Two plus two "


def test_a_stream_starting_inside_a_block_holds_nothing_back_once_the_server_splits() -> None:
    """With ``think`` on, text is held only until it shows which it is: here the server's own
    reasoning field comes first, so the answer streams as it arrives."""
    with _engine("llama_server", "reasoning_content") as kind:
        chunks = list(kind.provider.stream_chat(kind.request(think=True)))
        assert [c.thinking for c in chunks if c.thinking] == ["Two ", "plus ", "two ", "is ", "four."]
        assert [c.content for c in chunks if c.content] == [ANSWER]


# --------------------------------------------------------------------------- multi-turn round trip

HISTORY = [Message("user", "2+2?"), Message("assistant", ANSWER, thinking=REASONING), Message("user", "3+3?")]
#: Where each server reads an earlier turn's reasoning (None: it is dropped).
SENT_BACK = {"ollama": "thinking", "ollama_v1": "reasoning", "lmstudio": None, "llama_server": "reasoning_content",
             "vllm": "reasoning", "sglang": None, "llama_cpp_python": None, "openai_compatible": None}


@pytest.mark.parametrize("name", SENT_BACK)
def test_earlier_reasoning_goes_back_the_way_each_server_reads_it(name: str) -> None:
    factory = FIELD_KINDS.get(name) or INLINE_KINDS[name]
    with factory() as kind:
        kind.provider.chat(kind.request(messages=HISTORY, think=True))
        asyncio.run(_drain(kind.provider, kind.request(messages=HISTORY, think=True)))
        for body in kind.bodies():
            assistant = body["messages"][1]
            assert assistant["role"] == "assistant" and assistant["content"] == ANSWER  # never inlined
            field = SENT_BACK[name]
            others = {"thinking", "reasoning", "reasoning_content"} - {field}
            assert assistant.get(field) == REASONING if field else not others & set(assistant)
            assert not others & set(assistant)


async def _drain(provider: LocalProvider, request: ChatRequest) -> None:
    async for _ in provider.astream_chat(request):
        pass


def test_multi_turn_reasoning_survives_a_conversation() -> None:
    """Turn 1's reasoning (from the reply) is sent back with turn 2, as the server reads it."""
    with _engine("llama_server", "reasoning_content") as kind:
        first = kind.provider.chat(kind.request(think=True))
        history = [Message("user", "2+2?"), first.message, Message("user", "and 3+3?")]
        second = merge_chunks(list(kind.provider.stream_chat(kind.request(messages=history, think=True))))
        assert second.message.thinking == REASONING
        sent = kind.bodies()[-1]["messages"][1]
        assert sent == {"role": "assistant", "content": ANSWER, "reasoning_content": REASONING}


# --------------------------------------------------------------------------- effort levels


@pytest.fixture
def ollama_levels() -> Iterator[Kind]:
    """gpt-oss (levels only, ignores a bool, no metadata) and a model whose server lists its values."""
    models = [OllamaModel("gpt-oss:20b", reply=ANSWER, thinking=REASONING, ignores_bool_think=True,
                          capabilities=["completion", "tools", "thinking"]),
              OllamaModel("qwen3", reply=ANSWER, thinking=REASONING, capabilities=["completion", "thinking"]),
              OllamaModel("deepthink", reply=ANSWER, thinking=REASONING, capabilities=["completion", "thinking"],
                          think_values=["low", "medium", "high", "max"], think_default="high")]
    with FakeOllamaServer(models) as server:
        yield Kind("ollama", server, _provider(OllamaBackend(server.url, Transport(SETTINGS))), "gpt-oss:20b")


@pytest.mark.parametrize(("think", "sent"), [(True, "medium"), ("low", "low"), ("high", "high"), (None, None)])
def test_gpt_oss_gets_a_level_never_a_bool(ollama_levels: Kind, think: Any, sent: Any) -> None:
    result = ollama_levels.provider.chat(ollama_levels.request(think=think))
    assert ollama_levels.bodies()[-1].get("think") == sent
    assert result.message.thinking == REASONING


@pytest.mark.parametrize(("model", "think", "allowed"), [
    ("gpt-oss:20b", False, "'low', 'medium', 'high'"),
    ("gpt-oss:20b", "max", "'low', 'medium', 'high'"),
    ("qwen3", "high", "True, False"),
    ("deepthink", False, "'low', 'medium', 'high', 'max'"),
])
def test_a_value_the_model_does_not_take_is_refused_before_sending(ollama_levels: Kind, model: str, think: Any,
                                                                  allowed: str) -> None:
    request = ChatRequest(model=model, messages=[Message("user", "hi")], think=think)
    for call in (lambda: ollama_levels.provider.chat(request),
                 lambda: list(ollama_levels.provider.stream_chat(request)),
                 lambda: asyncio.run(ollama_levels.provider.achat(request))):
        with pytest.raises(CapabilityError) as err:
            call()
        assert f"it allows {allowed}" in err.value.message and err.value.model is not None
    assert ollama_levels.bodies() == []


def test_ollama_show_thinking_values_are_read_and_obeyed(ollama_levels: Kind) -> None:
    info = ollama_levels.provider.get_model("deepthink")
    assert (info.reasoning_options, info.reasoning_default) == (("low", "medium", "high", "max"), "high")
    ollama_levels.provider.chat(ChatRequest(model="deepthink", messages=[Message("user", "hi")], think="max"))
    ollama_levels.provider.chat(ChatRequest(model="deepthink", messages=[Message("user", "hi")], think=True))
    assert [b["think"] for b in ollama_levels.bodies()] == ["max", "high"]


def test_lmstudio_allowed_options_are_read_from_its_listing() -> None:
    with _lmstudio(reasoning_options=["low", "medium", "high"], reasoning_default="low") as kind:
        info = kind.provider.get_model(kind.model)
        assert (info.reasoning_options, info.reasoning_default) == (("low", "medium", "high"), "low")
        kind.provider.chat(kind.request(think=True))
        kind.provider.chat(kind.request(think="high"))
        assert [b.get("reasoning_effort") for b in kind.bodies()] == ["low", "high"]
        with pytest.raises(CapabilityError, match="it allows 'low', 'medium', 'high'"):
            kind.provider.chat(kind.request(think="max"))


def test_lmstudio_cannot_turn_reasoning_off_through_its_openai_endpoint() -> None:
    with _lmstudio() as kind:
        with pytest.raises(CapabilityError, match="no request field that turns reasoning off") as err:
            kind.provider.chat(kind.request(think=False))
        assert "model settings" in (err.value.hint or "")
        assert kind.bodies() == []


def test_an_override_states_the_allowed_values() -> None:
    served = OpenAIModel("my-reasoner", reply=ANSWER)
    with FakeOpenAIServer([served]) as server:
        settings = LocalSettings(discover_defaults=False,
                                 overrides={"my-reasoner": {"thinking": True, "reasoning_options": ["low", "high"]}})
        provider = LocalProvider(settings, backends=[OpenAICompatBackend(server.url, flavor="vllm")])
        with pytest.raises(CapabilityError, match="it allows 'low', 'high'"):
            provider.chat(ChatRequest(model="my-reasoner", messages=[Message("user", "hi")], think="medium"))
        provider.chat(ChatRequest(model="my-reasoner", messages=[Message("user", "hi")], think="high"))
        assert server.requests[-1].json["reasoning_effort"] == "high"


def test_max_is_a_level_sent_as_each_server_takes_it() -> None:
    """A model with no known values gets ``"max"`` as it is: ``think`` natively, ``reasoning_effort`` on ``/v1``."""
    served = OllamaModel("deepseek-v4", reply=ANSWER, thinking=REASONING, capabilities=["completion", "thinking"])
    with FakeOllamaServer([served]) as server:
        request = ChatRequest(model="deepseek-v4", messages=[Message("user", "hi")], think="max")
        _provider(OllamaBackend(server.url, Transport(SETTINGS))).chat(request)
        assert server.requests[-1].json["think"] == "max"
    with FakeOpenAIServer([OpenAIModel("deepseek-v4", reply=ANSWER)]) as server:
        _provider(OpenAICompatBackend(server.url, flavor="ollama_v1")).chat(
            ChatRequest(model="deepseek-v4", messages=[Message("user", "hi")], think="max"))
        assert server.requests[-1].json["reasoning_effort"] == "max"


# --------------------------------------------------------------------------- reasoning tokens


def test_reasoning_tokens_are_reported_where_the_server_counts_them() -> None:
    """OpenAI's ``completion_tokens_details.reasoning_tokens``, as a gateway passes it through."""
    with _openai("litellm", "litellm", "reasoning_content", reasoning_tokens=True) as kind:
        for result in _four_ways(kind, kind.request(think=True)):
            assert result.usage.reasoning_tokens == 5 and result.usage.output_tokens == 6
    with _engine("llama_server", "reasoning_content") as kind:  # no count: unknown, not zero
        assert kind.provider.chat(kind.request(think=True)).usage.reasoning_tokens is None


# --------------------------------------------------------------------------- thinking + structured output


def test_llama_server_turns_default_thinking_off_for_a_schema() -> None:
    with _engine("llama_server", "reasoning_content", schema_in_reasoning=True, json_reply={"total": 4}) as kind:
        for result in _four_ways(kind, kind.request(response_format=SCHEMA)):
            assert json.loads(result.message.content) == {"total": 4} and result.message.thinking is None
        assert {json.dumps(b["chat_template_kwargs"]) for b in kind.bodies()} == {'{"enable_thinking": false}'}


@pytest.mark.parametrize("factory", [lambda: _engine("llama_server", "reasoning_content"), _lmstudio],
                         ids=["llama_server", "lmstudio"])
def test_asked_thinking_with_a_schema_is_refused_where_they_clash(factory: Callable[[], Any]) -> None:
    with factory() as kind:
        request = kind.request(think=True, response_format=SCHEMA)
        for call in (lambda: kind.provider.chat(request), lambda: list(kind.provider.stream_chat(request))):
            with pytest.raises(CapabilityError, match="JSON lands in the reasoning") as err:
                call()
            assert "leave reasoning unset" in (err.value.hint or "")
        assert kind.bodies() == []


def test_lmstudio_json_left_in_the_reasoning_becomes_the_answer() -> None:
    with _lmstudio(schema_in_reasoning=True, json_reply={"total": 4}) as kind:
        for result in _four_ways(kind, kind.request(response_format=SCHEMA)):
            assert json.loads(result.message.content) == {"total": 4}


@pytest.mark.parametrize("factory", [_ollama, lambda: _engine("vllm", "reasoning"),
                                     lambda: _engine("sglang", "reasoning_content")], ids=["ollama", "vllm", "sglang"])
def test_servers_that_constrain_only_the_answer_keep_thinking_with_a_schema(factory: Callable[[], Any]) -> None:
    with factory() as kind:
        result = kind.provider.chat(kind.request(think=True, response_format=SCHEMA))
        assert result.message.thinking == REASONING and json.loads(result.message.content) is not None
        body = kind.bodies()[-1]
        assert body.get("think", True) is True
        assert (body.get("chat_template_kwargs") or {}).get("enable_thinking", True) is True
