"""Issue 19 item 5: both adapters carry the same reply facts (server, kind, what the server measured,
cache-read tokens) under the same keys, from each server's own figures: Ollama's durations and eval
counts, llama.cpp's ``timings`` (with ``cache_n``), LM Studio's ``stats``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage

from patinox_core import LocalProvider, LocalSettings
from patinox_core.reply_facts import KEYS
from patinox_core.testing import FakeLlamaServer, FakeLMStudioServer, FakeOllamaServer, OllamaModel
from patinox_langchain import ChatPatinox
from patinox_llamaindex import Patinox


def _facts(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in KEYS if k in meta}


def _seconds_or_rate(facts: dict[str, Any], *names: str) -> None:
    for name in names:
        assert isinstance(facts[name], float) and facts[name] > 0, name


@pytest.fixture
def servers() -> Iterator[dict[str, Any]]:
    with ExitStack() as stack:
        ollama = stack.enter_context(FakeOllamaServer([OllamaModel("llama3.2", loaded=True)]))
        llama = stack.enter_context(FakeLlamaServer("gemma-3-4b-it", service_s=0.0))
        llama.cache_n = 32
        lms = stack.enter_context(FakeLMStudioServer())
        yield {"ollama": ollama, "llama_server": llama, "lmstudio": lms}


# (kind in settings, server_kind reported, facts every reply must carry)
CASES = {
    "ollama": ("ollama", {"time_to_first_token_s", "tokens_per_second", "load_duration_s", "total_duration_s"}),
    "llama_server": ("openai_compatible", {"time_to_first_token_s", "tokens_per_second", "total_duration_s"}),
    "lmstudio": ("lmstudio", {"time_to_first_token_s", "tokens_per_second"}),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_both_adapters_carry_the_same_reply_facts(servers: dict[str, Any], kind: str) -> None:
    server = servers[kind]
    settings_kind, timed = CASES[kind]
    local = LocalProvider(LocalSettings(endpoints=[{"url": server.url, "kind": settings_kind}],
                                        discover_defaults=False))
    with local:
        model = local.get_model(None, capability="chat").name
        lc = ChatPatinox(model=model, client=local)
        li = Patinox(model=model, local_provider=local)
        lc_facts = _facts(lc.invoke("hi").response_metadata)
        li_facts = _facts(li.chat([ChatMessage(role="user", content="hi")]).additional_kwargs)
        lc_stream = _facts(list(lc.stream("hi"))[-1].response_metadata)  # the last chunk carries the totals
        li_stream = _facts(list(li.stream_chat([ChatMessage(role="user", content="hi")]))[-1].additional_kwargs)
    for facts in (lc_facts, li_facts, lc_stream, li_stream):
        assert facts["server"] == server.url and facts["server_kind"] == kind
        assert timed <= set(facts), (kind, facts)
        _seconds_or_rate(facts, "time_to_first_token_s", "tokens_per_second")
    assert set(lc_facts) == set(li_facts) and set(lc_stream) == set(li_stream)  # the same keys in both
    assert lc_facts["server_kind"] == li_facts["server_kind"]
    if kind == "llama_server":  # timings.cache_n: prompt tokens read from the KV cache
        assert lc_facts["cache_read_tokens"] == li_facts["cache_read_tokens"] == lc_stream["cache_read_tokens"] == 32
        assert lc.invoke("hi").usage_metadata["input_token_details"]["cache_read"] == 32  # type: ignore[index]
    else:
        assert "cache_read_tokens" not in lc_facts


def test_ollamas_cached_prompt_count_is_the_cache_read(servers: dict[str, Any]) -> None:
    ollama = servers["ollama"]
    ollama.omit_prompt_eval_count(cached=19)
    local = LocalProvider(LocalSettings(endpoints=[{"url": ollama.url, "kind": "ollama"}], discover_defaults=False))
    with local:
        meta = ChatPatinox(model="llama3.2", client=local).invoke("hi").response_metadata
    assert meta["cache_read_tokens"] == 19 and meta["server_kind"] == "ollama"
