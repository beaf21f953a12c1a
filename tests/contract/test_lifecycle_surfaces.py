"""``patinox pull | load | unload`` and the adapters' ``pull_if_missing=`` / ``preload=`` against the fakes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest

from patinox_core import LocalSettings, ModelNotFoundError
from patinox_core.cli import EXIT_ERROR, EXIT_INTERRUPTED, main
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeOllamaServer, OllamaModel

GEMMA = OllamaModel("gemma3:1b", size=815_000_000, reply="Hi from gemma.")


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as server:
        server.registry.offer(GEMMA)
        yield server


def provider(url: str) -> LocalProvider:
    return LocalProvider(LocalSettings(endpoints=[url], discover_defaults=False, max_retries=0))


def chats(server: FakeOllamaServer) -> list[list[dict]]:
    """The messages of each /api/chat request, in order (an empty list is a load)."""
    return [r.json["messages"] for r in server.requests if r.path == "/api/chat"]


# --- the CLI -------------------------------------------------------------------------------------------
def test_cli_pull_load_unload(ollama: FakeOllamaServer, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    with provider(ollama.url) as p:
        assert main(["pull", "gemma3:1b"], provider=p, out=out) == 0
        assert main(["load", "gemma3:1b", "--context", "8192", "--keep-alive", "-1"], provider=p, out=out) == 0
        assert main(["unload", "gemma3:1b"], provider=p, out=out) == 0
        assert main(["unload", "gemma3:1b"], provider=p, out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines == [f"pulled gemma3:1b onto {ollama.url}", f"loaded gemma3:1b on {ollama.url}, context 8192",
                     f"unloaded gemma3:1b from {ollama.url}", "gemma3:1b is not loaded anywhere"]
    err = capsys.readouterr().err
    assert "pulling manifest" in err and "verifying sha256 digest" in err and "success" in err
    assert "loaded gemma3:1b in" in err and "(context 8192 tokens)" in err
    load = next(r.json for r in ollama.requests if r.path == "/api/chat")
    assert load["keep_alive"] == -1 and load["options"] == {"num_ctx": 8192}


def test_cli_pull_failure_and_interrupt(ollama: FakeOllamaServer, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with provider(ollama.url) as p:
        assert main(["pull", "no-such-model"], provider=p, out=io.StringIO()) == EXIT_ERROR
        err = capsys.readouterr().err
        assert "pull of no-such-model failed" in err and "left on" in err and "file does not exist" in err

        from patinox_core.provisioning import bar as bar_module

        real = bar_module.ProgressBar.__call__

        def interrupt(self: bar_module.ProgressBar, event: object) -> None:
            real(self, event)
            if getattr(event, "phase", None) == "layer" and getattr(event, "completed", 0):
                raise KeyboardInterrupt

        monkeypatch.setattr(bar_module.ProgressBar, "__call__", interrupt)
        ollama.registry.delay = 0.01
        assert main(["pull", "gemma3:1b"], provider=p, out=io.StringIO()) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "pull of gemma3:1b cancelled; left on" in err and "partial layer file(s)" in err


# --- LangChain ---------------------------------------------------------------------------------------
def test_chatpatinox_pulls_only_when_asked(ollama: FakeOllamaServer) -> None:
    pytest.importorskip("langchain_core")
    from patinox_langchain import ChatPatinox

    with provider(ollama.url) as p:
        with pytest.raises(ModelNotFoundError):
            ChatPatinox(model="gemma3:1b", client=p).invoke("hi")
        assert not any(r.path == "/api/pull" for r in ollama.requests)
        llm = ChatPatinox(model="gemma3:1b", client=p, pull_if_missing=True)
        assert llm.invoke("hi").content == "Hi from gemma."
        assert llm.invoke("again").content == "Hi from gemma."
    assert sum(r.path == "/api/pull" for r in ollama.requests) == 1  # once per instance


def test_chatpatinox_preload_loads_before_the_first_request(ollama: FakeOllamaServer) -> None:
    pytest.importorskip("langchain_core")
    from patinox_langchain import ChatPatinox

    with provider(ollama.url) as p:
        llm = ChatPatinox(model="qwen3", client=p, preload=True, num_ctx=8192, keep_alive="30m")
        assert "".join(str(c.content) for c in llm.stream("hi"))
        asyncio.run(ChatPatinox(model="llama3.2", client=p, preload=True).ainvoke("hi"))
    sent = chats(ollama)
    assert sent[0] == [] and sent[1] and sent[2] == [] and sent[3]  # load, chat, load, chat
    first_load = next(r.json for r in ollama.requests if r.path == "/api/chat")
    assert first_load["options"] == {"num_ctx": 8192} and first_load["keep_alive"] == "30m"


# --- LlamaIndex ------------------------------------------------------------------------------------------
def test_llamaindex_patinox_pull_and_preload(ollama: FakeOllamaServer) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.llms import ChatMessage

    from patinox_llamaindex import Patinox

    with provider(ollama.url) as p:
        llm = Patinox("gemma3:1b", local_provider=p, pull_if_missing=True, preload=True)
        assert llm.complete("hi").text == "Hi from gemma."
        assert ollama.find("gemma3:1b").loaded
        other = Patinox("qwen3", local_provider=p, preload=True)
        asyncio.run(other.achat([ChatMessage(role="user", content="hi")]))
    assert sum(r.path == "/api/pull" for r in ollama.requests) == 1
    assert [m == [] for m in chats(ollama)] == [True, False, True, False]


# --- embeddings --------------------------------------------------------------------------------------------
def test_embeddings_pull_and_preload(ollama: FakeOllamaServer) -> None:
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    from patinox_langchain import PatinoxEmbeddings
    from patinox_llamaindex import PatinoxEmbedding

    ollama.registry.offer(OllamaModel("all-minilm", capabilities=["embedding"], embedding_dim=384, size=46_000_000))
    with provider(ollama.url) as p:
        lc = PatinoxEmbeddings(model="all-minilm", client=p, pull_if_missing=True)
        assert len(lc.embed_query("hi")) == 384
        li = PatinoxEmbedding(local_provider=p, preload=True)  # the default embedding model
        asyncio.run(li.aget_text_embedding("hi"))
        default = p.get_model(None, capability="embeddings").name
    assert sum(r.path == "/api/pull" for r in ollama.requests) == 1
    loads = [r.json for r in ollama.requests if r.path == "/api/chat" and not r.json["messages"]]
    assert [body["model"] for body in loads] == [default] and ollama.find(default).loaded


# --- load state drives the read timeout ------------------------------------------------------------------
def test_after_unload_a_request_gets_the_cold_load_timeout_again(ollama: FakeOllamaServer) -> None:
    with provider(ollama.url) as p:
        p.load("qwen3")
        backend = p.fleet.backend(p.get_model("qwen3"))
        assert backend.timeout_kind("qwen3:latest") == "normal"
        p.unload("qwen3")
        assert backend.timeout_kind("qwen3:latest") == "cold"
