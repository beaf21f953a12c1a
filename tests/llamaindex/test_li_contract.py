"""Contract tests for ``Patinox`` / ``PatinoxEmbedding`` against the fake Ollama and LM Studio
servers, in langchain-tests' categories: invoke, stream, async, usage, stop, tools, structured
output, images, errors (plus thinking and embeddings)."""

from __future__ import annotations

import base64

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from patinox_core.errors import (
    CapabilityError,
    LocalProviderError,
    ModelNotFoundError,
    ServerError,
    ServiceUnavailableError,
)

from .conftest import Server

HI = [ChatMessage(role="user", content="Hi there")]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


TOOL = FunctionTool.from_defaults(fn=multiply)


class City(BaseModel):
    name: str
    population: int


# --------------------------------------------------------------------------- invoke


def test_chat_returns_assistant_text(server: Server) -> None:
    resp = server.llm().chat(HI)
    assert isinstance(resp, ChatResponse)
    assert resp.message.role == "assistant" and resp.message.content
    assert resp.additional_kwargs["finish_reason"] == "stop"
    assert resp.additional_kwargs["service"] == server.url
    assert server.chats()[-1]["messages"][-1]["content"] == "Hi there"


def test_complete_returns_text(server: Server) -> None:
    resp = server.llm().complete("Say hello")
    assert isinstance(resp, CompletionResponse) and resp.text
    assert resp.raw["usage"]["completion_tokens"] > 0


def test_system_prompt_and_history_are_sent_in_order(server: Server) -> None:
    history = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="a"),
               ChatMessage(role="assistant", content="b"), ChatMessage(role="user", content="c")]
    server.llm().chat(history)
    sent = server.chats()[-1]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [("system", "Be brief."), ("user", "a"),
                                                          ("assistant", "b"), ("user", "c")]


# --------------------------------------------------------------------------- stream


def test_stream_chat_deltas_add_up(server: Server) -> None:
    llm = server.llm()
    full = llm.chat(HI).message.content
    parts = list(llm.stream_chat(HI))
    assert len(parts) > 2
    assert "".join(p.delta or "" for p in parts) == full
    assert parts[-1].message.content == full
    assert server.chats()[-1]["stream"] is True


def test_stream_complete(server: Server) -> None:
    parts = list(server.llm().stream_complete("Say hello"))
    assert parts[-1].text == "".join(p.delta or "" for p in parts) != ""


# --------------------------------------------------------------------------- async (native)


async def test_async_twins_match_sync(server: Server) -> None:
    llm = server.llm()
    sync_text = llm.chat(HI).message.content
    assert (await llm.achat(HI)).message.content == sync_text
    assert (await llm.acomplete("Hi there")).text == sync_text
    deltas = [r.delta async for r in await llm.astream_chat(HI)]
    assert "".join(d or "" for d in deltas) == sync_text
    texts = [r.text async for r in await llm.astream_complete("Hi there")]
    assert texts[-1] == sync_text


async def test_async_client_survives_a_new_event_loop(server: Server) -> None:
    import asyncio
    import threading

    llm = server.llm()
    first = (await llm.achat(HI)).message.content
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(asyncio.run(llm.achat(HI)).message.content or ""))
    t.start()
    t.join(30)
    assert out == [first]


# --------------------------------------------------------------------------- usage


def test_usage_in_raw_and_token_counter(server: Server) -> None:
    counter = TokenCountingHandler()
    llm = server.llm(callback_manager=CallbackManager([counter]))
    resp = llm.chat(HI)
    usage = resp.raw["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert counter.prompt_llm_token_count == usage["prompt_tokens"]
    assert counter.completion_llm_token_count == usage["completion_tokens"]


def test_usage_on_last_stream_chunk(server: Server) -> None:
    last = list(server.llm().stream_chat(HI))[-1]
    assert last.raw["usage"]["completion_tokens"] > 0
    assert last.additional_kwargs["finish_reason"] == "stop"


def test_metrics_and_model_in_additional_kwargs(server: Server) -> None:
    kw = server.llm().chat(HI).additional_kwargs
    assert kw["model"] and kw["metrics"]["tokens_per_second"] > 0


# --------------------------------------------------------------------------- stop, max tokens, sampling


def test_stop_and_sampling_parameters_reach_the_server(server: Server) -> None:
    llm = server.llm(temperature=0.2, top_p=0.9, seed=7, stop=["END"])
    llm.chat(HI, top_k=20 if server.kind == "ollama" else None)
    body = server.chats()[-1]
    if server.kind == "ollama":
        assert body["options"] == {"temperature": 0.2, "top_p": 0.9, "seed": 7, "stop": ["END"], "top_k": 20}
    else:  # OpenAI-compatible: top-level keys, never an Ollama-style `options` (LI-LMStudio's bug)
        assert (body["temperature"], body["top_p"], body["seed"], body["stop"]) == (0.2, 0.9, 7, ["END"])
        assert "options" not in body


def test_extras_go_where_the_server_reads_them(server: Server) -> None:
    server.llm(additional_kwargs={"repeat_penalty": 1.1}).chat(HI, presence_penalty=0.5)
    body = server.chats()[-1]
    extras = body["options"] if server.kind == "ollama" else body
    assert (extras["repeat_penalty"], extras["presence_penalty"]) == (1.1, 0.5)


def test_per_call_stop_overrides_field(server: Server) -> None:
    server.llm(stop=["END"]).chat(HI, stop=["STOP"])
    body = server.chats()[-1]
    assert (body.get("options") or body)["stop"] == ["STOP"]


def test_max_tokens_limits_the_reply(server: Server) -> None:
    resp = server.llm(max_tokens=2).chat(HI)
    assert resp.additional_kwargs["finish_reason"] == "length"
    assert resp.raw["usage"]["completion_tokens"] == 2
    assert server.llm(max_tokens=2).metadata.num_output == 2


# --------------------------------------------------------------------------- tools


def test_chat_with_tools_gives_tool_selections_with_ids(server: Server) -> None:
    llm = server.llm()
    resp = llm.chat_with_tools([TOOL], user_msg="What is 6 times 7?")
    (sel,) = llm.get_tool_calls_from_response(resp)
    assert (sel.tool_name, sel.tool_kwargs) == ("multiply", {"a": 6, "b": 7})
    assert sel.tool_id and sel.tool_id != "multiply"
    assert server.chats()[-1]["tools"][0]["function"]["name"] == "multiply"


def test_predict_and_call_runs_the_tool(server: Server) -> None:
    out = server.llm().predict_and_call([TOOL], user_msg="What is 6 times 7?")
    assert out.response == "42"
    assert out.sources[0].tool_name == "multiply"


def test_tool_result_round_trip_keeps_the_call_id(server: Server) -> None:
    llm = server.llm()
    first = llm.chat_with_tools([TOOL], user_msg="6*7?")
    (sel,) = llm.get_tool_calls_from_response(first)
    history = [ChatMessage(role="user", content="6*7?"), first.message,
               ChatMessage(role="tool", content="42", additional_kwargs={"tool_call_id": sel.tool_id,
                                                                         "name": "multiply"})]
    llm.chat_with_tools([TOOL], chat_history=history)
    sent = server.chats()[-1]["messages"]
    assert sent[-1]["role"] == "tool" and sent[-1]["content"] == "42"
    assert sent[-1]["tool_call_id"] == sel.tool_id
    calls = sent[-2]["tool_calls"]
    assert calls[0]["id"] == sel.tool_id and calls[0]["function"]["name"] == "multiply"


def test_stream_chat_with_tools(server: Server) -> None:
    llm = server.llm()
    last = list(llm.stream_chat_with_tools([TOOL], user_msg="6*7?"))[-1]
    (sel,) = llm.get_tool_calls_from_response(last)
    assert sel.tool_kwargs == {"a": 6, "b": 7} and sel.tool_id != "multiply"


async def test_async_tools(server: Server) -> None:
    llm = server.llm()
    resp = await llm.achat_with_tools([TOOL], user_msg="6*7?")
    assert [s.tool_kwargs for s in llm.get_tool_calls_from_response(resp)] == [{"a": 6, "b": 7}]
    out = await llm.apredict_and_call([TOOL], user_msg="6*7?")
    assert out.response == "42"


def test_no_tool_call_error_or_empty(ollama: Server) -> None:
    llm = ollama.llm()
    resp = llm.chat(HI)
    assert llm.get_tool_calls_from_response(resp, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="Expected at least one tool call"):
        llm.get_tool_calls_from_response(resp)


def test_tool_required_is_sent(lms: Server) -> None:
    lms.llm().chat_with_tools([TOOL], user_msg="6*7?")
    assert lms.chats()[-1].get("tool_choice") in (None, "auto")
    lms.llm().chat_with_tools([TOOL], user_msg="6*7?", tool_required=True)
    assert lms.chats()[-1]["tool_choice"] in ("required", {"type": "function", "function": {"name": "multiply"}})


# --------------------------------------------------------------------------- structured output


def _expect_schema(server: Server) -> None:
    body = server.chats()[-1]
    if server.kind == "ollama":
        assert body["format"]["properties"].keys() == {"name", "population"}
    else:
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"]["properties"].keys() == {"name", "population"}


PROMPT = PromptTemplate("Describe the city {city}.")


def test_structured_predict_uses_the_json_schema(server: Server) -> None:
    out = server.llm().structured_predict(City, PROMPT, city="Paris")
    assert isinstance(out, City)
    _expect_schema(server)
    assert "Describe the city Paris." in server.chats()[-1]["messages"][-1]["content"]


async def test_astructured_predict(server: Server) -> None:
    assert isinstance(await server.llm().astructured_predict(City, PROMPT, city="Paris"), City)
    _expect_schema(server)


def test_stream_structured_predict_ends_with_the_object(server: Server) -> None:
    parts = list(server.llm().stream_structured_predict(City, PROMPT, city="Paris"))
    assert isinstance(parts[-1], City)
    _expect_schema(server)


async def test_astream_structured_predict(server: Server) -> None:
    parts = [p async for p in await server.llm().astream_structured_predict(City, PROMPT, city="Paris")]
    assert isinstance(parts[-1], City)


def test_as_structured_llm(server: Server) -> None:
    sllm = server.llm().as_structured_llm(City)
    resp = sllm.chat(HI)
    assert isinstance(resp.raw, City)


def test_json_format_field(ollama: Server) -> None:
    ollama.llm(format="json").chat(HI)
    assert ollama.chats()[-1]["format"] == "json"


# --------------------------------------------------------------------------- images


def test_image_bytes_are_sent(server: Server) -> None:
    msg = ChatMessage(role="user", blocks=[TextBlock(text="What is this?"), ImageBlock(image=PNG)])
    resp = server.llm(model=server.vision).chat([msg])
    assert resp.message.content == "A small test image."
    sent = server.chats()[-1]["messages"][-1]
    b64 = base64.b64encode(PNG).decode()
    if server.kind == "ollama":
        assert sent["images"] == [b64]
    else:
        assert {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}} in sent["content"]


def test_image_http_url_is_fetched_for_ollama(ollama: Server) -> None:
    url = ollama.fake.serve_file("/cat.png", PNG)
    msg = ChatMessage(role="user", blocks=[TextBlock(text="What is this?"), ImageBlock(url=url)])
    ollama.llm(model="llava").chat([msg])
    assert ollama.chats()[-1]["messages"][-1]["images"] == [base64.b64encode(PNG).decode()]


def test_image_to_a_text_only_model_is_refused_before_sending(server: Server) -> None:
    msg = ChatMessage(role="user", blocks=[TextBlock(text="?"), ImageBlock(image=PNG)])
    with pytest.raises(LocalProviderError):
        server.llm(model=server.embed).chat([msg])


# --------------------------------------------------------------------------- thinking


def test_thinking_block_and_stream_deltas(ollama: Server) -> None:
    llm = ollama.llm(model="qwen3", thinking=True)
    resp = llm.chat(HI)
    assert isinstance(resp.message.blocks[0], ThinkingBlock)
    assert resp.message.blocks[0].content == "Let me think."
    assert ollama.chats()[-1]["think"] is True
    parts = list(llm.stream_chat(HI))
    assert "".join(p.additional_kwargs.get("thinking_delta") or "" for p in parts) == "Let me think."
    assert isinstance(parts[-1].message.blocks[0], ThinkingBlock)


def test_thinking_block_in_history_is_sent_back(ollama: Server) -> None:
    history = [ChatMessage(role="user", content="q"),
               ChatMessage(role="assistant", blocks=[ThinkingBlock(content="hmm"), TextBlock(text="a")]),
               ChatMessage(role="user", content="and?")]
    ollama.llm(model="qwen3").chat(history)
    assert ollama.chats()[-1]["messages"][1]["thinking"] == "hmm"


def test_lmstudio_reasoning_becomes_a_thinking_block(lms: Server) -> None:
    lms.fake.models["qwen/qwen3-8b"].reasoning = "Step by step."
    resp = lms.llm().chat(HI)
    assert [type(b) for b in resp.message.blocks][:2] == [ThinkingBlock, TextBlock]
    assert resp.message.blocks[0].content == "Step by step."


# --------------------------------------------------------------------------- errors


def test_unknown_model_says_how_to_get_it(ollama: Server) -> None:
    with pytest.raises(ModelNotFoundError, match="ollama pull"):
        ollama.llm(model="no-such-model").chat(HI)


def test_server_error_is_typed(server: Server) -> None:
    llm = server.llm(max_retries=0)
    llm.resolve()
    server.fake.fail_with(500, {"error": "boom"}, path=None, times=None)
    with pytest.raises(ServerError):
        llm.chat(HI)


async def test_unreachable_server_is_typed_in_every_path(server: Server) -> None:
    llm = server.llm(max_retries=0)
    server.fake.kill()
    with pytest.raises(ServiceUnavailableError):
        llm.chat(HI)
    with pytest.raises(ServiceUnavailableError):
        list(llm.stream_chat(HI))
    with pytest.raises(ServiceUnavailableError):
        await llm.achat(HI)
    with pytest.raises(ServiceUnavailableError):
        [r async for r in await llm.astream_chat(HI)]


def test_error_mid_stream_reaches_the_caller_typed(ollama: Server) -> None:
    llm = ollama.llm(max_retries=0)
    llm.chat(HI)
    ollama.fake.error_mid_stream(2)
    with pytest.raises(LocalProviderError):
        list(llm.stream_chat(HI))


def test_unsupported_block_fails_before_any_request(ollama: Server) -> None:
    from llama_index.core.base.llms.types import AudioBlock

    before = len(ollama.fake.requests)
    with pytest.raises(CapabilityError, match="AudioBlock"):
        ollama.llm().chat([ChatMessage(role="user", blocks=[AudioBlock(audio=b"RIFF0000WAVE")])])
    assert len(ollama.fake.requests) == before


# --------------------------------------------------------------------------- embeddings


def test_embeddings_query_and_batch(server: Server) -> None:
    emb = server.embedding(embed_batch_size=2)
    q = emb.get_query_embedding("hello")
    docs = emb.get_text_embedding_batch(["a", "b", "c", "d", "e"])
    assert len(docs) == 5 and len(q) == len(docs[0]) > 0
    assert [len(b["input"]) for b in server.embeds()[1:]] == [2, 2, 1]


def test_one_llamaindex_batch_fans_out_into_bounded_requests(server: Server) -> None:
    """The default LlamaIndex batch is large; the HTTP requests stay small and run concurrently."""
    emb = server.embedding(request_batch_size=3, num_workers=2)
    texts = [f"text {i}" for i in range(10)]
    vectors = emb.get_text_embedding_batch(texts)
    assert vectors == [emb.get_text_embedding(t) for t in texts]  # order kept
    sizes = sorted(len(b["input"]) for b in server.embeds()[:4])
    assert sizes == [1, 3, 3, 3] and emb.embed_batch_size == 2048


async def test_async_embeddings_match_sync(server: Server) -> None:
    emb = server.embedding()
    texts = ["one", "two", "three"]
    assert await emb.aget_text_embedding_batch(texts) == emb.get_text_embedding_batch(texts)
    assert await emb.aget_query_embedding("q") == emb.get_query_embedding("q")
    assert await emb.aget_text_embedding("one") == emb.get_text_embedding("one")


def test_embedding_prefixes(server: Server) -> None:
    emb = server.embedding(query_instruction="search_query: ", text_instruction="search_document: ")
    emb.get_query_embedding("cats?")
    emb.get_text_embedding_batch(["Cats purr."])
    inputs = [b["input"] for b in server.embeds()]
    flat = [t for i in inputs for t in ([i] if isinstance(i, str) else i)]
    assert flat == ["search_query: cats?", "search_document: Cats purr."]


def test_embedding_dimensions_reach_the_server(ollama: Server) -> None:
    vec = ollama.embedding(dimensions=3).get_text_embedding("cats")
    assert len(vec) == 3 and ollama.embeds()[-1]["dimensions"] == 3


def test_embedding_errors_are_typed(server: Server) -> None:
    with pytest.raises(ModelNotFoundError):
        server.embedding(model_name="no-such-embedder").get_text_embedding("x")
    with pytest.raises(LocalProviderError):  # a chat model asked for embeddings
        server.embedding(model_name=server.chat).get_text_embedding("x")


def test_embedding_progress_bar(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    server.embedding(show_progress=True, embed_batch_size=2).get_text_embedding_batch(["a", "b", "c"])
    assert "Generating embeddings" in capsys.readouterr().err


async def test_async_embedding_progress_bar(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    emb = server.embedding(show_progress=True, embed_batch_size=2, num_workers=2)
    assert len(await emb.aget_text_embedding_batch(["a", "b", "c"])) == 3
    err = capsys.readouterr().err
    assert "Generating embeddings" in err and "3/3" in err


def test_tool_call_blocks_have_unique_ids_in_message(server: Server) -> None:
    resp = server.llm().chat_with_tools([TOOL], user_msg="6*7?")
    ids = [b.tool_call_id for b in resp.message.blocks if isinstance(b, ToolCallBlock)]
    assert ids and all(i and i != "multiply" for i in ids)
