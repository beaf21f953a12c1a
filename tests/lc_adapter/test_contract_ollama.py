"""ChatPatinox and PatinoxEmbeddings on the Ollama-native path, against ``FakeOllamaServer``.

The same categories as LangChain's standard integration suite (invoke, stream, async, batch,
usage, stop, tools, structured output, images, reasoning, errors), asserting both what LangChain
users get and what went over the wire.
"""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from patinox_core.backends.base import tool_call_id
from patinox_core.errors import (
    CapabilityError,
    ConfigurationError,
    ModelNotFoundError,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from patinox_core.testing import FakeOllamaServer, OllamaModel
from patinox_langchain import ChatPatinox, PatinoxEmbeddings

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                       "AAAABJRU5ErkJggg==")
PNG_B64 = base64.b64encode(PNG).decode()
JOKE = '{"setup": "Why did the cat sit on the laptop?", "punchline": "To keep an eye on the mouse."}'


class Joke(BaseModel):
    """Joke to tell user."""

    setup: str = Field(description="question to set up a joke")
    punchline: str = Field(description="answer to resolve the joke")


@tool
def magic_function(input: int) -> int:
    """Applies a magic function to an input."""
    return input + 2


@tool
def get_weather(location: str) -> str:
    """Get the weather at a location."""
    return "It's sunny."


def models() -> list[OllamaModel]:
    return [
        OllamaModel("llama3.2", reply="The sky is blue.", capabilities=["completion", "tools"], json_reply=JOKE,
                    tool_calls=[{"name": "magic_function", "arguments": {"input": 3}}]),
        OllamaModel("qwen3", reply="4", capabilities=["completion", "tools", "thinking"], thinking="2 plus 2.",
                    family="qwen3"),
        OllamaModel("deepseek-r1", reply="Paris.", capabilities=["completion"], thinking="Capital of France.",
                    inline_think=True),
        OllamaModel("llava", reply="A tiny image.", capabilities=["completion", "vision"]),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], embedding_dim=16, family="nomic-bert"),
    ]


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer(models()) as srv:
        yield srv


def chat(server: FakeOllamaServer, model: str = "llama3.2", **kw: object) -> ChatPatinox:
    return ChatPatinox(model=model, base_url=server.url, provider="ollama", **kw)  # type: ignore[arg-type]


def chat_bodies(server: FakeOllamaServer) -> list[dict]:
    return [r.json for r in server.requests if r.path == "/api/chat"]


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    return full


# --------------------------------------------------------------------------- invoke, stream, async


def test_invoke_maps_reply_usage_and_metadata(server: FakeOllamaServer) -> None:
    msg = chat(server).invoke("Hello")
    assert isinstance(msg, AIMessage) and msg.content == "The sky is blue."
    assert msg.usage_metadata == {"input_tokens": 5, "output_tokens": 4, "total_tokens": 9}
    meta = msg.response_metadata
    assert (meta["model_name"], meta["model_provider"], meta["service"], meta["finish_reason"]) == (
        "llama3.2:latest", "ollama", server.url, "stop")
    assert meta["metrics"]["tokens_per_second"] == pytest.approx(50.0)
    assert meta["metrics"]["load_duration_s"] == pytest.approx(1.5)


def test_standard_params_all_reach_the_server(server: FakeOllamaServer) -> None:
    model = chat(server, temperature=0.1, max_tokens=3, top_p=0.9, top_k=20, seed=7, stop=["\n"], num_ctx=8192,
                 keep_alive="10m", options={"repeat_penalty": 1.1})
    msg = model.invoke("Hello")
    body = chat_bodies(server)[-1]
    assert body["options"] == {"temperature": 0.1, "num_predict": 3, "top_p": 0.9, "top_k": 20, "seed": 7,
                               "stop": ["\n"], "num_ctx": 8192, "repeat_penalty": 1.1}
    assert body["keep_alive"] == "10m"
    assert msg.response_metadata["finish_reason"] == "length" and msg.content == "The sky is "


def test_per_call_params_override_fields(server: FakeOllamaServer) -> None:
    chat(server, temperature=0.5, stop=["x"]).invoke("Hi", temperature=0.0, max_tokens=2, stop=["you"])
    options = chat_bodies(server)[-1]["options"]
    assert (options["temperature"], options["num_predict"], options["stop"]) == (0.0, 2, ["you"])


def test_stream_concatenates_to_invoke(server: FakeOllamaServer) -> None:
    model = chat(server)
    chunks = list(model.stream("Hello"))
    full = merged(chunks)
    assert len(chunks) > 3 and full.content == model.invoke("Hello").content
    assert chunks[-1].chunk_position == "last"
    assert sum(1 for c in chunks if c.usage_metadata) == 1
    assert full.usage_metadata == {"input_tokens": 5, "output_tokens": 4, "total_tokens": 9}
    assert full.response_metadata["model_name"] == "llama3.2:latest"
    assert chat_bodies(server)[0]["stream"] is True


def test_stream_v1_output_has_one_text_block(server: FakeOllamaServer) -> None:
    full = merged(list(chat(server, output_version="v1").stream("Hello")))
    assert [b["type"] for b in full.content_blocks] == ["text"]
    assert full.text == "The sky is blue."


async def test_async_twins_match_sync(server: FakeOllamaServer) -> None:
    model = chat(server)
    sync = model.invoke("Hello")
    result = await model.ainvoke("Hello")
    chunks = [c async for c in model.astream("Hello")]
    assert result.content == sync.content == merged(chunks).content
    assert result.usage_metadata == sync.usage_metadata
    assert [m.content for m in await model.abatch(["a", "b"])] == ["The sky is blue."] * 2


def test_same_model_across_event_loops(server: FakeOllamaServer) -> None:
    model = chat(server)  # ChatOllama: "Event loop is closed" on the second asyncio.run
    assert asyncio.run(model.ainvoke("one")).content == asyncio.run(model.ainvoke("two")).content


def test_batch_and_conversation(server: FakeOllamaServer) -> None:
    model = chat(server)
    assert [m.content for m in model.batch(["Hello", "Hey"])] == ["The sky is blue."] * 2
    model.invoke([SystemMessage("be brief"), HumanMessage("hello", name="ann"), AIMessage("hi"), HumanMessage("?")])
    assert [m["role"] for m in chat_bodies(server)[-1]["messages"]] == ["system", "user", "assistant", "user"]


def test_default_model_is_chosen_when_none_given(server: FakeOllamaServer) -> None:
    msg = ChatPatinox(base_url=server.url).invoke("Hello")
    assert msg.response_metadata["model_name"] in {"llama3.2:latest", "qwen3:latest", "deepseek-r1:latest",
                                                   "llava:latest"}


def test_profile_filled_from_catalogue_after_first_call(server: FakeOllamaServer) -> None:
    model = chat(server, model="qwen3")
    assert model.profile is None and server.requests == []  # no I/O at construction
    model.invoke("2+2?")
    assert model.profile is not None
    assert (model.profile["tool_calling"], model.profile["reasoning_output"], model.profile["image_inputs"]) == (
        True, True, False)
    assert model.profile["max_input_tokens"] == 4096
    explicit = chat(server, model="llava")
    assert explicit.resolve().capabilities.vision and explicit.profile["image_inputs"] is True


def test_model_override_per_call(server: FakeOllamaServer) -> None:
    msg = chat(server).invoke("2+2?", model="qwen3")
    assert msg.response_metadata["model_name"] == "qwen3:latest"
    assert chat(server)._get_ls_params(model="qwen3")["ls_model_name"] == "qwen3"


# --------------------------------------------------------------------------- usage, stop


def test_usage_when_the_prompt_was_cached(server: FakeOllamaServer) -> None:
    server.omit_prompt_eval_count(cached=5)  # Ollama omits prompt_eval_count for a cached prompt
    msg = chat(server).invoke("Hello")
    assert msg.usage_metadata == {"input_tokens": 5, "output_tokens": 4, "total_tokens": 9,
                                  "input_token_details": {"cache_read": 5}}


def test_stop_sequences(server: FakeOllamaServer) -> None:
    chat(server).invoke("hi", stop=["you"])
    chat(server, stop=["you"]).invoke("hi")
    assert [b["options"]["stop"] for b in chat_bodies(server)] == [["you"], ["you"]]


# --------------------------------------------------------------------------- tools


def test_tool_calls_invoke_and_stream(server: FakeOllamaServer) -> None:
    model = chat(server).bind_tools([magic_function])
    msg = model.invoke("What is magic_function(3)?")
    assert [(c["name"], c["args"]) for c in msg.tool_calls] == [("magic_function", {"input": 3})]
    assert msg.response_metadata["finish_reason"] == "tool_calls"
    chunks = list(model.stream("What is magic_function(3)?"))
    with_calls = [c for c in chunks if c.tool_call_chunks]
    assert len(with_calls) == 1 and with_calls[0].tool_call_chunks[0]["index"] == 0
    full = merged(chunks)
    assert full.tool_calls == msg.tool_calls
    body = chat_bodies(server)[0]
    assert body["tools"][0]["function"]["name"] == "magic_function"


def test_tool_call_ids_are_deterministic_without_server_ids() -> None:
    with FakeOllamaServer(models(), version="0.9.0") as old:  # no tool-call ids before Ollama 0.12.10
        model = chat(old).bind_tools([magic_function])
        first, second = model.invoke("x"), model.invoke("x")
        streamed = merged(list(model.stream("x")))
    expected = tool_call_id("magic_function", '{"input":3}', 0)
    assert first.tool_calls[0]["id"] == second.tool_calls[0]["id"] == streamed.tool_calls[0]["id"] == expected
    assert streamed.tool_call_chunks[0]["id"] == expected


def test_tool_choice_is_enforced_not_ignored(server: FakeOllamaServer) -> None:
    model = chat(server).bind_tools([magic_function, get_weather], tool_choice="get_weather")
    msg = model.invoke("Hello!")
    assert [c["name"] for c in msg.tool_calls] == ["get_weather"]
    body = chat_bodies(server)[-1]
    assert "tools" not in body and body["format"]["properties"]["location"]["type"] == "string"
    any_tool = chat(server).bind_tools([magic_function], tool_choice="any").invoke("Hello!")
    assert [c["name"] for c in any_tool.tool_calls] == ["magic_function"]


def test_tool_results_go_back_with_ids_and_names(server: FakeOllamaServer) -> None:
    model = chat(server).bind_tools([magic_function])
    call = model.invoke("What is magic_function(3)?")
    result = magic_function.invoke(call.tool_calls[0])
    model.invoke([HumanMessage("What is magic_function(3)?"), call, result])
    sent = chat_bodies(server)[-1]["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"index": 0, "name": "magic_function", "arguments": {"input": 3}}
    assert sent[2] == {"role": "tool", "content": "5", "tool_name": "magic_function",
                       "tool_call_id": sent[1]["tool_calls"][0]["id"]}


def test_agent_loop_history_replays_byte_identically(server: FakeOllamaServer) -> None:
    def history(call_id: str) -> list:
        return [HumanMessage("1+2?"), AIMessage("", tool_calls=[{"name": "magic_function", "args": {"input": 3},
                                                                "id": call_id, "type": "tool_call"}]),
                ToolMessage("5", tool_call_id=call_id)]

    model = chat(server).bind_tools([magic_function])
    model.invoke(history("0b5d2c6e-uuid-one"))
    model.invoke(history("7f1e9a3b-uuid-two"))
    first, second = [r.body for r in server.requests if r.path == "/api/chat"]
    assert first == second


# --------------------------------------------------------------------------- structured output


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_structured_output_methods(server: FakeOllamaServer, method: str) -> None:
    structured = chat(server).with_structured_output(Joke, method=method)  # type: ignore[arg-type]
    joke = structured.invoke("Tell me a joke about cats.")
    assert isinstance(joke, Joke)
    streamed = list(structured.stream("Tell me a joke about cats."))
    assert streamed and isinstance(streamed[-1], Joke)
    body = chat_bodies(server)[0]
    if method == "json_schema":
        assert body["format"] == Joke.model_json_schema() and "tools" not in body
    elif method == "json_mode":
        assert body["format"] == "json"
    else:  # a forced call of the Joke "tool": constrained by its argument schema
        assert body["format"]["required"] == ["setup", "punchline"]


async def test_structured_output_dict_schema_include_raw(server: FakeOllamaServer) -> None:
    structured = chat(server).with_structured_output(Joke.model_json_schema(), include_raw=True)
    out = await structured.ainvoke("Tell me a joke about cats.")
    assert out["parsing_error"] is None and set(out["parsed"]) == {"setup", "punchline"}
    assert isinstance(out["raw"], AIMessage)


def test_structured_output_rejects_unknown_arguments(server: FakeOllamaServer) -> None:
    with pytest.raises(ConfigurationError, match="unknown argument"):
        chat(server).with_structured_output(Joke, mode="x")
    with pytest.raises(ConfigurationError, match="method"):
        chat(server).with_structured_output(Joke, method="xml")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("block", [
    {"type": "image", "base64": PNG_B64, "mime_type": "image/png"},
    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
])
def test_base64_images(server: FakeOllamaServer, block: dict) -> None:
    msg = chat(server, model="llava").invoke([HumanMessage([{"type": "text", "text": "Describe it."}, block])])
    assert msg.content == "A tiny image."
    assert chat_bodies(server)[-1]["messages"][0]["images"] == [PNG_B64]


async def test_http_image_url_is_fetched_and_sent_as_base64(server: FakeOllamaServer) -> None:
    with FakeOllamaServer([]) as files:  # any loopback HTTP server will do as the image host
        url = files.serve_file("/cat.png", PNG)
        message = HumanMessage([{"type": "text", "text": "Describe it."}, {"type": "image", "url": url}])
        chat(server, model="llava").invoke([message])
        await chat(server, model="llava").ainvoke([message])
    assert [b["messages"][0]["images"] for b in chat_bodies(server)] == [[PNG_B64], [PNG_B64]]


def test_images_to_a_model_without_vision_are_refused(server: FakeOllamaServer) -> None:
    block = {"type": "image", "base64": PNG_B64, "mime_type": "image/png"}
    with pytest.raises(CapabilityError, match="llava"):
        chat(server).invoke([HumanMessage([{"type": "text", "text": "?"}, block])])
    assert chat_bodies(server) == []


# --------------------------------------------------------------------------- reasoning


def test_reasoning_is_separate_from_content(server: FakeOllamaServer) -> None:
    msg = chat(server, model="qwen3", reasoning=True).invoke("2+2?")
    assert msg.content == "4" and msg.additional_kwargs == {"reasoning_content": "2 plus 2."}
    assert chat_bodies(server)[-1]["think"] is True
    full = merged(list(chat(server, model="qwen3").stream("2+2?", reasoning=True)))
    assert full.content == "4" and full.additional_kwargs["reasoning_content"] == "2 plus 2."
    assert chat_bodies(server)[-1]["think"] is True
    v1 = chat(server, model="qwen3", reasoning=True, output_version="v1").invoke("2+2?")
    assert [b["type"] for b in v1.content] == ["reasoning", "text"]


def test_reasoning_off_is_sent(server: FakeOllamaServer) -> None:
    chat(server, model="qwen3").invoke("2+2?", reasoning=False)
    assert chat_bodies(server)[-1]["think"] is False


def test_inline_think_tags_never_reach_content(server: FakeOllamaServer) -> None:
    server.set_stream_chunking(chars=3)  # split "<think>" across NDJSON lines
    model = chat(server, model="deepseek-r1")
    for msg in (model.invoke("Capital?"), merged(list(model.stream("Capital?")))):
        assert msg.content == "Paris." and "<think>" not in msg.content
        assert msg.additional_kwargs["reasoning_content"] == "Capital of France."


# --------------------------------------------------------------------------- errors


def test_unknown_model_says_how_to_pull_it(server: FakeOllamaServer) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        chat(server, model="mistral").invoke("Hello")
    assert info.value.recovery is RecoveryStrategy.PULL_MODEL and "ollama pull" in str(info.value)


def test_server_down_is_service_unavailable() -> None:
    srv = FakeOllamaServer(models()).start()
    url = srv.url
    srv.stop()
    with pytest.raises(ServiceUnavailableError):
        ChatPatinox(model="llama3.2", base_url=url, provider="ollama", max_retries=0).invoke("Hello")


def test_server_error_and_mid_stream_error(server: FakeOllamaServer) -> None:
    model = chat(server)
    model.invoke("warm up")
    server.fail_next(500, "llama runner process has terminated")
    with pytest.raises(ServerError):
        model.invoke("Hello")
    server.error_mid_stream(after=2)
    seen: list[str] = []
    with pytest.raises(ServerError):
        for chunk in model.stream("Hello"):
            seen.append(str(chunk.content))
    assert "".join(seen) == "The sky "


def test_timeout_is_honoured(server: FakeOllamaServer) -> None:
    model = chat(server, timeout=0.3, max_retries=0)
    model.invoke("warm up")
    server.delay_first_byte(1.5, path="/api/chat")
    with pytest.raises(RequestTimeoutError):
        model.invoke("Hello")


def test_unknown_kwargs_are_rejected(server: FakeOllamaServer) -> None:
    with pytest.raises(ConfigurationError, match="unknown argument"):
        chat(server).invoke("Hello", num_predict=5)
    with pytest.raises(ValueError, match="frequency_penalty"):
        ChatPatinox(model="llama3.2", frequency_penalty=1.0)
    assert chat_bodies(server) == []


def test_tools_to_a_model_without_tools_are_refused(server: FakeOllamaServer) -> None:
    with pytest.raises(CapabilityError):
        chat(server, model="deepseek-r1").bind_tools([magic_function]).invoke("x")


# --------------------------------------------------------------------------- embeddings


def test_embeddings_order_batches_prefixes_and_options(server: FakeOllamaServer) -> None:
    texts = [f"text {i}" for i in range(7)]
    emb = PatinoxEmbeddings(model="nomic-embed-text", base_url=server.url, provider="ollama", batch_size=2,
                            max_concurrency=3, dimensions=8, truncate=True, document_prefix="search_document: ",
                            query_prefix="search_query: ")
    vectors = emb.embed_documents(texts)
    one_by_one = [emb.embed_documents([t])[0] for t in texts]
    assert vectors == one_by_one and len(vectors[0]) == 8
    bodies = [r.json for r in server.requests if r.path == "/api/embed"]
    assert all(len(b["input"]) <= 2 and b["dimensions"] == 8 and b["truncate"] is True for b in bodies)
    # three batches run at once: they may arrive in any order, but every text went once, prefixed
    assert sorted(t for b in bodies[:4] for t in b["input"]) == sorted(f"search_document: {t}" for t in texts)
    query = emb.embed_query("cats")
    assert [r.json for r in server.requests if r.path == "/api/embed"][-1]["input"] == ["search_query: cats"]
    assert len(query) == 8


async def test_async_embeddings_match_sync(server: FakeOllamaServer) -> None:
    emb = PatinoxEmbeddings(model="nomic-embed-text", base_url=server.url, batch_size=3)
    texts = ["foo", "bar", "baz", "qux"]
    assert await emb.aembed_documents(texts) == emb.embed_documents(texts)
    assert await emb.aembed_query("foo") == emb.embed_query("foo")


def test_embeddings_progress_bar(server: FakeOllamaServer, capsys: pytest.CaptureFixture[str]) -> None:
    emb = PatinoxEmbeddings(base_url=server.url, batch_size=2, show_progress=True)
    assert len(emb.embed_documents([str(i) for i in range(5)])) == 5
    assert "5/5" in capsys.readouterr().err


def test_embeddings_default_model_and_json_roundtrip(server: FakeOllamaServer) -> None:
    vector = PatinoxEmbeddings(base_url=server.url).embed_query("hi")
    assert len(vector) == 16 and all(isinstance(x, float) for x in vector)
    assert json.loads(json.dumps(vector)) == vector


def test_progress_without_tqdm_warns_once(server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import patinox_langchain.embeddings as module

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if tqdm were not installed
    monkeypatch.setattr(module, "_TQDM_WARNED", False)
    emb = PatinoxEmbeddings(base_url=server.url, show_progress=True)
    with pytest.warns(UserWarning, match="needs tqdm"):
        assert len(emb.embed_documents(["a", "b"])) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(emb.embed_documents(["c"])) == 1  # warned once only
