"""Issue 15 items 4 and 5: both adapters report one catalogue by one rule, and a context override
turns the context guard on where the server cannot tell its allocated window (llama.cpp, vLLM)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from llama_cpp_fake import LlamaCppPython
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW

from patinox_core.capabilities import model_info
from patinox_core.config import LocalSettings, ProviderKind
from patinox_core.errors import ContextOverflowError
from patinox_core.router import ContextWindowWarning, LocalProvider
from patinox_langchain import ChatPatinox
from patinox_llamaindex import Patinox


@pytest.fixture
def server() -> Iterator[LlamaCppPython]:
    with LlamaCppPython(models=("gemma3-270m", "my-model")) as srv:
        yield srv


def provider(srv: LlamaCppPython, **settings) -> LocalProvider:
    return LocalProvider(LocalSettings(endpoints=[{"url": srv.url, "kind": "openai_compatible"}],
                                       discover_defaults=False, max_retries=0, **settings))


def both(local: LocalProvider, model: str) -> tuple[dict, object]:
    lc = ChatPatinox(model=model, client=local)
    lc.resolve()
    li = Patinox(model=model, local_provider=local)
    li.resolve()
    return dict(lc.profile or {}), li.metadata


@pytest.mark.parametrize(("overrides", "tools"), [({}, True), ({"my-model": {"tools": False}}, False),
                                                  ({"my-model": {"tools": True}}, True)])
def test_tool_flags_agree(server: LlamaCppPython, overrides: dict, tools: bool) -> None:
    with provider(server, overrides=overrides) as local:
        profile, metadata = both(local, "my-model")
    assert profile["tool_calling"] is metadata.is_function_calling_model is tools
    assert profile["tool_choice"] is profile["tool_call_streaming"] is tools


def test_unknown_window_rule_is_documented_and_shared(server: LlamaCppPython) -> None:
    with provider(server) as local:
        profile, metadata = both(local, "my-model")
    assert "max_input_tokens" not in profile  # unknown: left out of LangChain's profile
    assert metadata.context_window == DEFAULT_CONTEXT_WINDOW  # LlamaIndex needs a number: its default


def test_context_override_is_the_effective_window_and_guards(server: LlamaCppPython) -> None:
    overrides = {"gemma3-270m": {"context_length": 2048}}
    with provider(server, overrides=overrides, context_guard="raise") as local:
        profile, metadata = both(local, "gemma3-270m")
        assert profile["max_input_tokens"] == metadata.context_window == 2048
        assert local.get_model("gemma3-270m").effective_context_length == 2048
        sent = len(server.requests)
        with pytest.raises(ContextOverflowError, match="reject the request"):
            ChatPatinox(model="gemma3-270m", client=local).invoke("word " * 3000)
        assert len(server.requests) == sent  # refused before sending
    with provider(server, overrides=overrides) as local, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ChatPatinox(model="gemma3-270m", client=local).invoke("word " * 3000)
    assert any(issubclass(w.category, ContextWindowWarning) and "HTTP 400" in str(w.message) for w in caught)


def test_trained_length_is_effective_only_where_the_allocation_is_unknowable() -> None:
    facts = {"name": "m", "context_length": 32768}
    vllm = model_info({**facts, "loaded_context_length": 8192, "loaded": True}, service="s",
                      kind=ProviderKind.OPENAI_COMPATIBLE)
    llama = model_info(facts, service="s", kind=ProviderKind.OPENAI_COMPATIBLE)
    ollama = model_info(facts, service="s", kind=ProviderKind.OLLAMA, version="0.12.3")
    assert (vllm.effective_context_length, llama.effective_context_length, ollama.effective_context_length) == (
        8192, 32768, 4096)
