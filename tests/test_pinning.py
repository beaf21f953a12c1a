"""Issue 16 item 1: ``base_url=`` pins one server in both adapters, whatever the environment names."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from patinox_core.config import ProviderKind
from patinox_core.errors import ModelNotFoundError
from patinox_core.pinning import pinned_settings
from patinox_core.testing import FakeOllamaServer, OllamaModel
from patinox_langchain import ChatPatinox, PatinoxEmbeddings
from patinox_llamaindex import Patinox, PatinoxEmbedding

ENV_URLS = ("OLLAMA_HOST", "OLLAMA_BASE_URL", "LM_STUDIO_API_BASE", "LMSTUDIO_BASE_URL", "PATINOX_OLLAMA_URL",
            "PATINOX_LMSTUDIO_URL", "PATINOX_ENDPOINTS")


@pytest.fixture
def servers() -> Iterator[tuple[FakeOllamaServer, FakeOllamaServer]]:
    """A (pinned) holds only "other"; B (named by the environment) holds llama3.2 and an embedder."""
    a_models = [OllamaModel("other", reply="from A", loaded=True)]
    b_models = [OllamaModel("llama3.2", reply="from B, not the pinned server", loaded=True),
                OllamaModel("nomic-embed-text", capabilities=["embedding"], loaded=True)]
    with FakeOllamaServer(a_models) as a, FakeOllamaServer(b_models) as b:
        yield a, b


def _chat_lc(url: str, provider: str | None) -> object:
    return ChatPatinox(model="llama3.2", base_url=url, provider=provider, max_retries=0).invoke("hi").content


def _chat_li(url: str, provider: str | None) -> object:
    return Patinox(model="llama3.2", base_url=url, provider=provider, max_retries=0).complete("hi").text


def _embed_lc(url: str, provider: str | None) -> object:
    return PatinoxEmbeddings(model="nomic-embed-text", base_url=url, provider=provider).embed_query("hi")


def _embed_li(url: str, provider: str | None) -> object:
    return PatinoxEmbedding(model_name="nomic-embed-text", base_url=url, provider=provider).get_query_embedding("hi")


@pytest.mark.parametrize("call", [_chat_lc, _chat_li, _embed_lc, _embed_li])
@pytest.mark.parametrize("variable", ENV_URLS)
@pytest.mark.parametrize("provider", [None, "ollama"])
def test_a_pinned_model_never_answers_from_the_environment_server(
        servers: tuple[FakeOllamaServer, FakeOllamaServer], monkeypatch: pytest.MonkeyPatch,
        call: Callable[[str, str | None], object], variable: str, provider: str | None) -> None:
    pinned, elsewhere = servers
    monkeypatch.setenv(variable, elsewhere.url)
    with pytest.raises(ModelNotFoundError):
        call(pinned.url, provider)
    assert not [r for r in elsewhere.requests if r.path in ("/api/chat", "/api/embed")]


@pytest.mark.parametrize("call", [_chat_lc, _chat_li])
@pytest.mark.parametrize("provider", [None, "ollama"])
def test_a_pinned_model_answers_from_the_pinned_server(monkeypatch: pytest.MonkeyPatch,
                                                       call: Callable[[str, str | None], object],
                                                       provider: str | None) -> None:
    """Both servers hold the model; ``OLLAMA_HOST`` names B, ``base_url`` (with credentials) names A."""
    with FakeOllamaServer([OllamaModel("llama3.2", reply="from A", loaded=True)]) as a, \
            FakeOllamaServer([OllamaModel("llama3.2", reply="from B", loaded=True)]) as b:
        monkeypatch.setenv("OLLAMA_HOST", b.url)
        assert call(a.url.replace("http://", "http://alice:pw-123456@"), provider) == "from A"
    assert not [r for r in b.requests if r.path == "/api/chat"]


@pytest.mark.parametrize("provider", [None, "local", "ollama", "lmstudio", "openai_compatible"])
def test_pinned_settings_name_only_the_pinned_url(monkeypatch: pytest.MonkeyPatch, provider: str | None) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.9:11434")
    monkeypatch.setenv("LM_STUDIO_API_BASE", "http://10.0.0.8:1234/v1")
    monkeypatch.setenv("PATINOX_ENDPOINTS", "http://10.0.0.7:8080")
    s = pinned_settings(base_url="http://127.0.0.1:8080/v1", provider=provider)
    kind = None if provider in (None, "local") else ProviderKind(provider)
    assert s.configured_urls() == [("http://127.0.0.1:8080", kind)] and s.discover_defaults is False


def test_a_pinned_url_without_a_port_gets_its_kinds_port() -> None:
    assert pinned_settings(base_url="127.0.0.1", provider="ollama").configured_urls()[0][0] == "http://127.0.0.1:11434"
    assert pinned_settings(base_url="127.0.0.1", provider="lmstudio").configured_urls()[0][0] == "http://127.0.0.1:1234"
    assert pinned_settings(base_url="127.0.0.1", provider=None).configured_urls()[0][0] == "http://127.0.0.1:8080"


def test_nothing_pinned_keeps_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "box.lan:11500")
    s = pinned_settings(base_url=None, provider=None, read_timeout=5.0, max_retries=0)
    assert s.discover_defaults is True and s.ollama_url == "http://box.lan:11500" and s.endpoints == []
    assert (s.read_timeout, s.max_retries) == (5.0, 0)


def test_module_doctests() -> None:
    import doctest

    import patinox_core.pinning as module

    assert doctest.testmod(module).failed == 0
