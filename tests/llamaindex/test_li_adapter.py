"""Construction, configuration and serialization of the adapters (no request unless stated)."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage

from patinox_core.config import LocalSettings, ProviderKind
from patinox_core.errors import ConfigurationError
from patinox_core.router import LocalProvider
from patinox_llamaindex import Patinox, PatinoxEmbedding

from .conftest import Server


def test_class_names_and_llamaindex_base_classes() -> None:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.llms.function_calling import FunctionCallingLLM

    assert issubclass(Patinox, FunctionCallingLLM) and Patinox.class_name() == "Patinox_llm"
    assert issubclass(PatinoxEmbedding, BaseEmbedding) and PatinoxEmbedding.class_name() == "PatinoxEmbedding"


def test_round_trip_through_to_dict_without_the_api_key() -> None:
    llm = Patinox("llama3.2", api_key="sekrit", reasoning="low", temperature=0.1, base_url="http://127.0.0.1:5")
    data = llm.to_dict()
    assert data["class_name"] == "Patinox_llm" and "api_key" not in data
    assert "sekrit" not in repr(llm) and "sekrit" not in llm.to_json()
    again = Patinox.from_dict(data)
    assert (again.model, again.thinking, again.temperature, again.base_url) == ("llama3.2", "low", 0.1,
                                                                                  "http://127.0.0.1:5")
    emb = PatinoxEmbedding("nomic-embed-text", api_key="s2", query_instruction="q: ")
    assert PatinoxEmbedding.from_dict(emb.to_dict()).query_instruction == "q: "
    assert "s2" not in emb.to_json()


def test_provider_kind_accepts_aliases_and_rejects_unknown() -> None:
    assert Patinox(provider="lm-studio").provider is ProviderKind.LMSTUDIO
    assert PatinoxEmbedding(provider="ollama").provider is ProviderKind.OLLAMA
    with pytest.raises((ConfigurationError, ValueError)):
        Patinox(provider="gpt")


def test_pinned_settings_from_fields() -> None:
    llm = Patinox("m", base_url="http://127.0.0.1:1234/v1", provider="lmstudio", timeout=5, max_retries=1,
                  api_key="k")
    s = llm.local_provider.settings
    assert [(e.url, e.kind) for e in s.endpoints] == [("http://127.0.0.1:1234", ProviderKind.LMSTUDIO)]
    assert (s.discover_defaults, s.read_timeout, s.max_retries) == (False, 5, 1)
    assert s.api_key is not None and s.api_key.get_secret_value() == "k"
    assert llm.local_provider is llm.local_provider  # created once


def test_environment_applies_when_nothing_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "box.lan:11500")
    monkeypatch.setenv("PATINOX_DEFAULT_MODEL", "qwen3")
    s = PatinoxEmbedding().local_provider.settings
    assert s.ollama_url == "http://box.lan:11500" and s.default_model == "qwen3"


def test_local_provider_and_settings_exclude_the_pinning_fields() -> None:
    provider = LocalProvider(LocalSettings(discover_defaults=False))
    with pytest.raises(ConfigurationError, match="local_provider= cannot be combined with base_url="):
        Patinox("m", local_provider=provider, base_url="http://127.0.0.1:5")
    with pytest.raises(ConfigurationError, match="settings= cannot be combined with timeout="):
        PatinoxEmbedding(settings=LocalSettings(), timeout=3)
    with pytest.raises(ConfigurationError):
        Patinox(local_provider=provider, settings=LocalSettings())
    assert Patinox("m", local_provider=provider).local_provider is provider


def test_one_provider_shared_by_llm_and_embedding(ollama: Server) -> None:
    provider = LocalProvider(LocalSettings(endpoints=[ollama.url], discover_defaults=False))
    llm = Patinox("llama3.2", local_provider=provider)
    emb = PatinoxEmbedding("nomic-embed-text", local_provider=provider)
    llm.chat([ChatMessage(role="user", content="hi")])
    emb.get_text_embedding("cats")
    assert [r.path for r in ollama.fake.requests].count("/api/tags") == 1  # one catalogue for both


def test_default_models_come_from_the_router(ollama: Server) -> None:
    llm = Patinox(base_url=ollama.url)
    resp = llm.chat([ChatMessage(role="user", content="hi")])
    assert resp.additional_kwargs["model"] == llm.metadata.model_name == "qwen3:latest"  # best chat model
    emb = PatinoxEmbedding(base_url=ollama.url)
    assert len(emb.get_query_embedding("cats")) == 4 and ollama.embeds()[-1]["model"] == "nomic-embed-text:latest"


def test_copies_and_pickles(ollama: Server) -> None:
    import copy
    import pickle

    llm = ollama.llm()
    llm.resolve()
    twin = copy.deepcopy(llm)
    assert twin.local_provider is llm.local_provider  # one catalogue
    other = llm.model_copy(update={"model": "qwen3"})
    assert other.model_info is None and other.metadata.context_window == 3900  # not llama3.2's entry
    other.resolve()
    assert (other.metadata.context_window, llm.metadata.context_window) == (8192, 4096)
    revived = pickle.loads(pickle.dumps(llm))
    assert revived.model == "llama3.2" and revived.model_info is None
    assert revived.chat([ChatMessage(role="user", content="hi")]).message.content
    emb = pickle.loads(pickle.dumps(ollama.embedding()))
    assert len(emb.get_text_embedding("cats")) == 4


def test_per_call_model_does_not_become_the_metadata(ollama: Server) -> None:
    llm = ollama.llm()  # llama3.2
    llm.chat([ChatMessage(role="user", content="hi")], model="qwen3")
    assert llm.model_info is None
    llm.chat([ChatMessage(role="user", content="hi")])
    assert llm.model_info is not None and llm.model_info.name == "llama3.2:latest"
