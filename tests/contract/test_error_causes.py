"""Issue 15 item 3: errors that name the real cause, against a loopback llama-cpp-python fake."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from llama_cpp_fake import LlamaCppPython

from patinox_core.cli import main
from patinox_core.dimensions import EmbeddingDimensionsWarning
from patinox_core.errors import (
    ConfigurationError,
    ContextOverflowError,
    ModelNotFoundError,
    RecoveryStrategy,
    ServiceUnavailableError,
)
from patinox_langchain import ChatPatinox, PatinoxEmbeddings
from patinox_llamaindex import Patinox, PatinoxEmbedding

LONG = "cat " * 400


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LlamaCppPython]:
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    for name in ("OLLAMA_HOST", "LM_STUDIO_API_BASE", "PATINOX_ENDPOINTS"):
        monkeypatch.delenv(name, raising=False)
    with LlamaCppPython() as srv:
        yield srv


def chat(srv: LlamaCppPython, **kw) -> ChatPatinox:
    return ChatPatinox(model="gemma3-270m", base_url=srv.url, max_retries=0, **kw)


async def test_context_overflow_is_the_same_error_streamed_or_not(server: LlamaCppPython) -> None:
    server.max_prompt_chars = 100
    llm = chat(server)
    with pytest.raises(ContextOverflowError) as invoked:
        llm.invoke(LONG)
    with pytest.raises(ContextOverflowError) as streamed:
        list(llm.stream(LONG))
    with pytest.raises(ContextOverflowError) as astreamed:
        [c async for c in llm.astream(LONG)]
    for err in (streamed.value, astreamed.value):
        assert (err.message, err.hint, err.recovery) == (invoked.value.message, invoked.value.hint,
                                                         RecoveryStrategy.REDUCE_INPUT)
        assert isinstance(err.__cause__, ServiceUnavailableError)  # what the empty stream itself said
    sent = [r.json for r in server.requests if r.path == "/v1/chat/completions"]
    assert [b["stream"] for b in sent] == [False, True, False, True, False]  # one diagnosis per empty stream
    assert sent[2]["max_tokens"] == 1 and sent[2]["messages"] == sent[1]["messages"]
    server.max_prompt_chars = None
    assert "".join(str(c.content) for c in llm.stream("hi")) == "Hello."


def test_an_openai_server_given_as_ollama_says_what_it_is(server: LlamaCppPython, monkeypatch, capsys) -> None:
    with pytest.raises(ConfigurationError, match="is not Ollama: it answers like llama-cpp-python") as info:
        chat(server, provider="ollama").invoke("hi")
    assert "provider='openai_compatible'" in (info.value.hint or "") and "ollama pull" not in str(info.value)
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"{server.url}: the server at {server.url} is not Ollama" in out and "(none installed)" not in out
    assert f"PATINOX_ENDPOINTS={server.url} (and unset OLLAMA_HOST)" in out


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/api/chat"])
def test_a_base_url_naming_an_endpoint_says_which_url_to_use(server: LlamaCppPython, path: str) -> None:
    with pytest.raises(ConfigurationError, match="is an API path, not a server address") as info:
        ChatPatinox(model="gemma3-270m", base_url=server.url + path).invoke("hi")
    assert info.value.hint == f"use base_url='{server.url}' (patinox adds the API paths itself)"
    assert "start Ollama" not in str(info.value) and info.value.message.startswith("base_url=")
    with pytest.raises(ConfigurationError, match="is an API path") as li:
        Patinox(model="gemma3-270m", base_url=server.url + path).complete("hi")
    assert li.value.hint == info.value.hint
    assert not server.requests


def test_embeddings_without_a_model_mention_overrides_and_patinox_models(server: LlamaCppPython,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        PatinoxEmbeddings(base_url=server.url).embed_query("hi")
    hint = info.value.hint or ""
    assert "gemma3-270m" in hint and "overrides={'gemma3-270m': {'embeddings': True}}" in hint
    assert "`patinox models`" in hint
    monkeypatch.setenv("PATINOX_OVERRIDES", '{"gemma3-270m": {"embeddings": true}}')  # as the hint says
    assert len(PatinoxEmbeddings(base_url=server.url).embed_query("hi")) == 640


async def test_dimensions_the_server_ignores_are_a_warning(server: LlamaCppPython) -> None:
    lc = PatinoxEmbeddings(model="gemma3-270m", base_url=server.url, dimensions=8)
    li = PatinoxEmbedding(model_name="gemma3-270m", base_url=server.url, dimensions=8)
    with pytest.warns(EmbeddingDimensionsWarning, match="asked for 8-dimensional vectors, but .* returned 640"):
        assert len(lc.embed_query("hi")) == 640
    with pytest.warns(EmbeddingDimensionsWarning, match="returned 640"):
        assert [len(v) for v in await lc.aembed_documents(["a", "b"])] == [640, 640]
    with pytest.warns(EmbeddingDimensionsWarning, match="returned 640"):
        li.get_text_embedding("hi")
    server.embedding_dim = 8
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbeddingDimensionsWarning)
        assert len(lc.embed_query("hi")) == 8
