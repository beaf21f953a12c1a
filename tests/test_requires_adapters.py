"""``requires=`` on both adapters (``ChatPatinox``, ``PatinoxEmbeddings``, ``Patinox``,
``PatinoxEmbedding``) against real loopback fakes: no I/O at construction, the choice made once at
the first call (sync, async and streaming alike), the request sent to the chosen model, LangChain's
``profile`` and LlamaIndex's ``metadata`` following the choice, and typed errors for bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from langchain_core.load import dumpd, load
from llama_index.core.llms import ChatMessage

from patinox_core import ConfigurationError, LocalProvider, LocalSettings, ModelNotFoundError, Requirements
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel
from patinox_langchain import ChatPatinox, PatinoxEmbeddings
from patinox_llamaindex import Patinox, PatinoxEmbedding

THINKER = {"tools": True, "thinking": True}  # only qwen3:8b (Ollama, not loaded, 40960 trained)
LONG_TOOLS = {"tools": True, "min_context": 16384}  # devstral (LM Studio, loaded, 32768 allocated)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOllamaServer, FakeLMStudioServer]]:
    ollama = FakeOllamaServer([
        OllamaModel("llama3.2", capabilities=["completion", "tools"], loaded=True, reply="from llama"),
        OllamaModel("qwen3:8b", capabilities=["completion", "tools", "thinking"], family="qwen3",
                    parameter_size="8.2B", context_length=40960, reply="from qwen3", thinking="hmm"),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], parameter_size="137M", context_length=2048),
    ])
    lms = FakeLMStudioServer([
        LMStudioModel("mistralai/devstral-small-2507", tool_use=True, loaded=True, params_string="24B",
                      max_context_length=131072, loaded_context_length=32768, reply="from devstral"),
        LMStudioModel("text-embedding-bge-m3", type="embeddings", loaded=False, max_context_length=8192,
                      params_string="568M", size_bytes=437_000_000),
    ])
    with ollama, lms:
        yield ollama, lms


@pytest.fixture
def provider(fakes) -> Iterator[LocalProvider]:
    settings = LocalSettings(endpoints=[{"url": s.url} for s in fakes], discover_defaults=False, max_retries=0,
                             probe_timeout=10, connect_timeout=10)  # found even when the fakes answer late
    with LocalProvider(settings) as p:
        yield p


def sent_models(server) -> list[str]:
    return [r.json["model"] for r in server.requests if r.method == "POST" and r.json and "model" in r.json]


def total_requests(fakes) -> int:
    return sum(len(s.requests) for s in fakes)


# -- LangChain --------------------------------------------------------------------------------

def test_chatpatinox_chooses_at_the_first_call_and_profile_follows(fakes, provider):
    ollama = fakes[0]
    chat = ChatPatinox(requires=THINKER, client=provider)
    assert total_requests(fakes) == 0 and chat.profile is None  # no I/O in __init__
    assert chat.invoke("hi").content == "from qwen3"
    assert sent_models(ollama)[-1] == "qwen3:8b"
    assert chat.profile["reasoning_output"] is True and chat.profile["tool_calling"] is True
    assert chat._get_ls_params()["ls_model_name"] == "qwen3:8b"
    listings = sum(r.path == "/api/tags" for r in ollama.requests)
    chat.invoke("again")
    assert sum(r.path == "/api/tags" for r in ollama.requests) == listings  # chosen once, kept


@pytest.mark.parametrize("path", ["ainvoke", "stream", "astream"])
def test_chatpatinox_every_path_uses_the_choice(fakes, provider, path):
    lms = fakes[1]
    chat = ChatPatinox(requires=LONG_TOOLS, client=provider)
    if path == "ainvoke":
        text = asyncio.run(chat.ainvoke("hi")).content
    elif path == "stream":
        text = "".join(c.content for c in chat.stream("hi"))
    else:
        async def collect() -> str:
            return "".join([c.content async for c in chat.astream("hi")])
        text = asyncio.run(collect())
    assert text == "from devstral" and sent_models(lms)[-1] == "mistralai/devstral-small-2507"
    assert chat.profile["max_input_tokens"] == 32768  # the allocated window of the chosen model


def test_chatpatinox_resolve_makes_the_choice_and_a_per_call_model_skips_it(fakes, provider):
    ollama = fakes[0]
    chat = ChatPatinox(requires=Requirements(tools=True, thinking=True), client=provider)
    assert chat.resolve().name == "qwen3:8b" and chat.profile["reasoning_output"] is True
    other = ChatPatinox(requires="vision", client=provider)  # nothing sees images here...
    assert other.invoke("hi", model="llama3.2").content == "from llama"  # ...but a named model needs no choice
    assert sent_models(ollama)[-1] == "llama3.2:latest"


def test_chatpatinox_nothing_qualifies(provider):
    chat = ChatPatinox(requires={"vision": True}, client=provider)
    with pytest.raises(ModelNotFoundError, match="vision=True excluded the last candidates"):
        chat.invoke("hi")


def test_chatpatinox_bad_requires_is_a_typed_error():
    with pytest.raises(ConfigurationError, match="did you mean 'min_context'"):
        ChatPatinox(requires={"min_ctx": 4096})
    with pytest.raises(ConfigurationError, match="both model= and requires="):
        ChatPatinox(model="llama3.2", requires={"tools": True})
    with pytest.raises(ConfigurationError, match="did you mean 'tools'"):
        ChatPatinox(requires="toosl")


def test_chatpatinox_serializes_requires_as_a_dict():
    chat = ChatPatinox(requires={"tools": True, "min_context": 32768})
    data = dumpd(chat)
    assert data["kwargs"]["requires"] == {"tools": True, "min_context": 32768}
    again = load(data, allowed_objects=[ChatPatinox], valid_namespaces=["patinox_langchain"])
    assert again.requires == chat.requires


def test_patinoxembeddings_chooses_an_embedding_model(fakes, provider):
    lms = fakes[1]
    emb = PatinoxEmbeddings(requires={"min_context": 4096}, client=provider)
    assert len(emb.embed_query("x")) == 8 and sent_models(lms)[-1] == "text-embedding-bge-m3"
    assert asyncio.run(emb.aembed_documents(["a", "b"])) and emb._chosen.name == "text-embedding-bge-m3"
    with pytest.raises(ModelNotFoundError, match="min_context=65536"):
        PatinoxEmbeddings(requires="ctx>=64k", client=provider).embed_query("x")


# -- LlamaIndex -------------------------------------------------------------------------------

def test_patinox_chooses_at_the_first_call_and_metadata_follows(fakes, provider):
    ollama = fakes[0]
    llm = Patinox(requires=THINKER, local_provider=provider)
    assert total_requests(fakes) == 0 and llm.model_info is None  # no I/O in __init__ or metadata
    assert llm.metadata.model_name == "unknown"
    assert llm.chat([ChatMessage(role="user", content="hi")]).message.content == "from qwen3"
    assert sent_models(ollama)[-1] == "qwen3:8b"
    meta = llm.metadata
    assert meta.model_name == "qwen3:8b" and meta.is_function_calling_model is True


@pytest.mark.parametrize("path", ["achat", "astream_chat", "complete", "acomplete", "stream_complete"])
def test_patinox_every_path_uses_the_choice(fakes, provider, path):
    lms = fakes[1]
    llm = Patinox(requires=LONG_TOOLS, local_provider=provider)
    messages = [ChatMessage(role="user", content="hi")]
    if path == "achat":
        text = asyncio.run(llm.achat(messages)).message.content
    elif path == "astream_chat":
        async def collect() -> str:
            return "".join([r.delta or "" async for r in await llm.astream_chat(messages)])
        text = asyncio.run(collect())
    elif path == "complete":
        text = llm.complete("hi").text
    elif path == "acomplete":
        text = asyncio.run(llm.acomplete("hi")).text
    else:
        text = "".join(r.delta or "" for r in llm.stream_complete("hi"))
    assert text == "from devstral" and sent_models(lms)[-1] == "mistralai/devstral-small-2507"
    assert llm.metadata.model_name == "mistralai/devstral-small-2507" and llm.metadata.context_window == 32768


def test_patinox_resolve_and_errors(provider):
    llm = Patinox(requires="tools, thinking", local_provider=provider)
    assert llm.resolve().name == "qwen3:8b" and asyncio.run(llm.aresolve()).name == "qwen3:8b"
    with pytest.raises(ConfigurationError, match="did you mean 'allow_remote'"):
        Patinox(requires={"allow_remot": True})
    with pytest.raises(ConfigurationError, match="both a model name and requires="):
        Patinox("llama3.2", requires={"tools": True})
    with pytest.raises(ModelNotFoundError, match="vision=True"):
        Patinox(requires={"vision": True}, local_provider=provider).complete("hi")


def test_patinoxembedding_chooses_an_embedding_model(fakes, provider):
    ollama = fakes[0]
    emb = PatinoxEmbedding(requires={"servers": ["ollama"]}, local_provider=provider)
    assert emb.model_info is None
    assert len(emb.get_query_embedding("x")) == 8 and sent_models(ollama)[-1] == "nomic-embed-text:latest"
    assert emb.model_info is not None and emb.model_info.name == "nomic-embed-text:latest"
    assert asyncio.run(PatinoxEmbedding(requires={}, local_provider=provider).aget_query_embedding("x"))
    with pytest.raises(ConfigurationError, match="both a model name and requires="):
        PatinoxEmbedding(model_name="nomic-embed-text", requires={"min_context": 1})


@pytest.mark.parametrize("adapter", ["langchain", "llamaindex"])
def test_preload_loads_the_chosen_model(fakes, provider, adapter):
    ollama = fakes[0]
    before = len(ollama.requests)
    if adapter == "langchain":
        text = ChatPatinox(requires=THINKER, preload=True, client=provider).invoke("hi").content
    else:
        text = Patinox(requires=THINKER, preload=True, local_provider=provider).complete("hi").text
    posts = [r.json.get("model") for r in ollama.requests[before:]
             if r.method == "POST" and r.path != "/api/show" and r.json]  # /api/show: the catalogue's listing
    assert text == "from qwen3" and len(posts) >= 2 and set(posts) == {"qwen3:8b"}  # the load, then the chat
