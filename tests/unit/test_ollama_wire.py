"""Pure Ollama converters on literal payloads as the servers send them (no sockets)."""

from __future__ import annotations

import json
import time

import pytest

from patinox_core import (
    AuthenticationError,
    CapabilityError,
    ChatRequest,
    ConfigurationError,
    ContextOverflowError,
    InvalidResponseError,
    Message,
    ModelNotFoundError,
    RecoveryStrategy,
    ServerError,
    ServiceUnavailableError,
    ToolCall,
)
from patinox_core.backends.base import ErrorPayload, tool_call_id
from patinox_core.backends.malformed import MalformedReply
from patinox_core.backends.ollama import (
    TagEntry,
    embed_from_wire,
    embed_to_wire,
    facts_from_ps,
    facts_from_show,
    facts_from_tags,
    legacy_embed_from_wire,
    legacy_embed_to_wire,
    merge_facts,
)
from patinox_core.backends.ollama_wire import (
    EndpointNotFoundError,
    ModelLoadedReply,
    OllamaChatStream,
    canonical_json,
    classify_error,
    forced_tool,
    from_wire,
    image_urls,
    split_think,
    to_wire,
)
from patinox_core.embedding import merge_embeddings
from patinox_core.types import EmbeddingResult, Usage, merge_chunks

# --- literal payloads ---------------------------------------
NON_STREAM = {  # openllmetry recording, gemma3:1b
    "model": "gemma3:1b", "created_at": "2025-08-20T09:45:30.391699Z",
    "message": {"role": "assistant", "content": "Okay, I understand. ..."},
    "done_reason": "stop", "done": True,
    "total_duration": 1078043917, "load_duration": 109557375,
    "prompt_eval_count": 19, "prompt_eval_duration": 153401750,
    "eval_count": 104, "eval_duration": 814595750,
}
STREAM_LINES = [  # openllmetry recording, llama3 (middle lines elided in the doc)
    '{"model":"llama3","created_at":"2024-05-24T20:26:46.294874Z","message":{"role":"assistant","content":"Why"},'
    '"done":false}',
    '{"model":"llama3","created_at":"2024-05-24T20:26:46.3Z","message":{"role":"assistant","content":" did"},'
    '"done":false}',
    '{"model":"llama3","created_at":"2024-05-24T20:26:47.872905Z","message":{"role":"assistant","content":""},'
    '"done_reason":"stop","done":true,"total_duration":1897385625,"load_duration":1631208,"prompt_eval_count":17,'
    '"prompt_eval_duration":313560000,"eval_count":50,"eval_duration":1577990000}',
]
TOOL_STREAM = [  # docs example: the whole call in one chunk, then done with done_reason "stop"
    '{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":"",'
    '"tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}]},"done":false}',
    '{"model":"llama3.2","created_at":"2025-07-07T20:22:19.19314Z","message":{"role":"assistant","content":""},'
    '"done_reason":"stop","done":true,"total_duration":182242375,"load_duration":41295167,"prompt_eval_count":169,'
    '"prompt_eval_duration":24573166,"eval_count":15,"eval_duration":115959084}',
]
TAGS = {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest",
                    "modified_at": "2025-06-23T17:01:52.264371207-04:00", "size": 2019393189,
                    "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                    "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                                "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}}]}
PS = {"models": [{"name": "mistral:latest", "model": "mistral:latest", "size": 5137025024, "digest": "2ae6f6dd",
                  "details": {"family": "llama"}, "expires_at": "2024-06-04T14:38:31.83753-07:00",
                  "size_vram": 5137025024, "context_length": 4096}]}
SHOW = {"parameters": 'num_ctx                        8192\nstop                           "<|eot_id|>"',
        "details": {"family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": "llama", "general.parameter_count": 3212749888,
                       "llama.context_length": 131072, "llama.embedding_length": 3072},
        "capabilities": ["completion", "tools"]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def req(**kw: object) -> ChatRequest:
    kw.setdefault("model", "llama3.2")
    kw.setdefault("messages", [Message("user", "hi")])
    return ChatRequest(**kw)  # type: ignore[arg-type]


def feed_all(parser: OllamaChatStream, lines: list[str]) -> list:
    out = [c for line in lines for c in parser.feed(line)]
    return out + parser.close()


# --- to_wire -------------------------------------------------------------------------------
def test_to_wire_maps_every_option_and_sends_stream_flag() -> None:
    body = to_wire(req(max_tokens=64, stop=["\n"], seed=7, temperature=0.2, top_p=0.9, top_k=40, num_ctx=8192,
                       options={"repeat_penalty": 1.1, "num_ctx": 1}), stream=False)
    assert body["stream"] is False
    assert body["options"] == {"num_predict": 64, "stop": ["\n"], "seed": 7, "temperature": 0.2, "top_p": 0.9,
                               "top_k": 40, "num_ctx": 8192, "repeat_penalty": 1.1}
    assert to_wire(req(), stream=True)["stream"] is True
    assert "options" not in to_wire(req(), stream=True)


def test_keep_alive_request_beats_settings() -> None:
    assert to_wire(req(), False, keep_alive="10m")["keep_alive"] == "10m"
    assert to_wire(req(keep_alive=0), False, keep_alive="10m")["keep_alive"] == 0
    assert "keep_alive" not in to_wire(req(), False)


@pytest.mark.parametrize("think", [True, False, "low", "high"])
def test_think_bool_or_level(think: object) -> None:
    assert to_wire(req(think=think), False)["think"] == think


SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(("fmt", "wire"), [
    ("json", "json"),
    (SCHEMA, SCHEMA),
    ({"type": "json_object"}, "json"),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}, {"type": "object"}),
])
def test_format(fmt: object, wire: object) -> None:
    assert to_wire(req(response_format=fmt), False)["format"] == wire


def test_images_base64_data_urls_and_fetched_urls() -> None:
    r = req(messages=[Message("user", "what is it?", images=["data:image/png;base64,AAAA", "BBBB",
                                                              "https://example.com/cat.png"])])
    assert image_urls(r) == ["https://example.com/cat.png"]
    body = to_wire(r, False, images={"https://example.com/cat.png": "CCCC"})
    assert body["messages"][0]["images"] == ["AAAA", "BBBB", "CCCC"]
    with pytest.raises(ConfigurationError, match="not fetched"):
        to_wire(r, False)


def test_tool_history_round_trip() -> None:
    call = ToolCall("call_h5lxl0e8", "get_weather", {"city": "Tokyo"})
    r = req(tools=[WEATHER], messages=[
        Message("user", "weather in Tokyo?"),
        Message("assistant", "", tool_calls=[call], thinking="need the tool"),
        Message("tool", "11 degrees celsius", tool_call_id="call_h5lxl0e8"),
    ])
    body = to_wire(r, False)
    assert body["tools"] == [WEATHER]
    assistant, tool = body["messages"][1], body["messages"][2]
    fn = {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}}
    assert assistant["tool_calls"] == [{"id": "call_h5lxl0e8", "function": fn}]
    assert assistant["thinking"] == "need the tool"
    assert tool == {"role": "tool", "content": "11 degrees celsius", "tool_name": "get_weather",
                    "tool_call_id": "call_h5lxl0e8"}


def test_a_tool_call_without_an_id_is_sent_without_one() -> None:
    r = req(messages=[Message("user", "weather?"),
                      Message("assistant", "", tool_calls=[ToolCall(None, "get_weather", {"city": "Tokyo"})])])
    [call] = to_wire(r, False)["messages"][1]["tool_calls"]
    assert call == {"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}}}


def test_bare_function_specs_are_wrapped() -> None:
    assert to_wire(req(tools=[WEATHER["function"]]), False)["tools"] == [WEATHER]


def test_tool_choice_none_sends_no_tools() -> None:
    body = to_wire(req(tools=[WEATHER], tool_choice="none"), False)
    assert "tools" not in body and "format" not in body


def test_named_tool_choice_is_forced_by_format() -> None:
    body = to_wire(req(tools=[WEATHER, TIME], tool_choice="get_weather",
                       messages=[Message("system", "Be brief."), Message("user", "Tokyo?")]), False)
    assert "tools" not in body
    assert body["format"] == WEATHER["function"]["parameters"]
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][0]["content"].startswith("Be brief.\n\nCall the tool `get_weather`")


def test_required_with_several_tools_uses_alternatives() -> None:
    body = to_wire(req(tools=[WEATHER, TIME], tool_choice="required"), False)
    alternatives = body["format"]["anyOf"]
    assert [a["properties"]["name"]["enum"] for a in alternatives] == [["get_weather"], ["get_time"]]
    assert body["messages"][0]["role"] == "system" and "get_time" in body["messages"][0]["content"]


@pytest.mark.parametrize("kw", [
    {"tool_choice": "required"},
    {"tools": [WEATHER], "tool_choice": "nope"},
    {"tools": [WEATHER], "tool_choice": "required", "response_format": "json"},
    {"model": None},
])
def test_bad_requests_raise_configuration_error(kw: dict) -> None:
    with pytest.raises(ConfigurationError):
        to_wire(req(**kw), False)


# --- from_wire -----------------------------------------------------------------------------
def test_from_wire_real_recording() -> None:
    r = from_wire(NON_STREAM, model="gemma3:1b", service="http://127.0.0.1:11434")
    assert r.message.content == "Okay, I understand. ..."
    assert r.finish_reason == "stop"
    assert r.usage == Usage(19, 104, 123, None)
    assert r.metrics.tokens_per_second == pytest.approx(104 / 0.81459575)
    assert r.metrics.load_duration_s == pytest.approx(0.109557375)
    assert r.metrics.total_duration_s == pytest.approx(1.078043917)
    assert r.metrics.time_to_first_token_s == pytest.approx(0.109557375 + 0.15340175)
    assert r.raw == NON_STREAM and r.service == "http://127.0.0.1:11434"


def test_cached_prompt_reports_none_not_zero() -> None:
    data = {k: v for k, v in NON_STREAM.items() if not k.startswith("prompt_eval")}
    usage = from_wire({**data, "prompt_eval_cached_count": 19}).usage
    assert usage == Usage(input_tokens=None, output_tokens=104, total_tokens=None, cached_input_tokens=19)


def test_tool_calls_keep_server_ids_else_derive_them() -> None:
    msg = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_h5lxl0e8", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}}},
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
    r = from_wire({**NON_STREAM, "message": msg})
    assert r.finish_reason == "tool_calls"  # native done_reason stays "stop"
    assert [c.id for c in r.message.tool_calls] == [
        "call_h5lxl0e8", tool_call_id("get_weather", canonical_json({"city": "Paris"}), 1)]
    assert r.message.tool_calls[1].arguments == {"city": "Paris"}


def test_string_arguments_are_parsed() -> None:
    msg = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}]}
    assert from_wire({**NON_STREAM, "message": msg}).message.tool_calls[0].arguments == {"a": 1}


def test_thinking_field_and_inline_think_are_separated() -> None:
    msg = {"role": "assistant", "content": "<think>inline plan</think>\n\nParis.", "thinking": "field plan. "}
    r = from_wire({**NON_STREAM, "message": msg})
    assert r.message.content == "Paris."
    assert r.message.thinking == "field plan. inline plan"


def test_length_finish() -> None:
    assert from_wire({**NON_STREAM, "done_reason": "length"}).finish_reason == "length"


def test_load_reply_is_never_an_empty_answer() -> None:
    load = {"model": "llama3.2", "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""}, "done_reason": "load", "done": True}
    with pytest.raises(ModelLoadedReply) as info:
        from_wire(load, model="llama3.2")
    assert isinstance(info.value, ServerError) and info.value.recovery is RecoveryStrategy.RETRY


def test_forced_tool_reply_becomes_a_call() -> None:
    r = req(tools=[WEATHER, TIME], tool_choice="get_weather")
    out = from_wire({**NON_STREAM, "message": {"role": "assistant", "content": '{"city": "Oslo"}'}},
                    forced=forced_tool(r))
    assert out.finish_reason == "tool_calls" and out.message.content == ""
    assert (out.message.tool_calls[0].name, out.message.tool_calls[0].arguments) == ("get_weather", {"city": "Oslo"})
    wrapped = forced_tool(req(tools=[WEATHER, TIME], tool_choice="required"))
    content = '{"name": "get_time", "arguments": {}}'
    call = from_wire({**NON_STREAM, "message": {"role": "assistant", "content": content}}, forced=wrapped)
    assert call.message.tool_calls[0].name == "get_time"


@pytest.mark.parametrize(("content", "reason"), [("not json", "stop"), ('{"city": "Os', "length"),
                                                  ('{"name": "other", "arguments": {}}', "stop")])
def test_forced_tool_bad_replies(content: str, reason: str) -> None:
    """A reply that is not a call of a given tool is data (an invalid call), never an exception."""
    forced = forced_tool(req(tools=[WEATHER, TIME], tool_choice="required"))
    out = from_wire({**NON_STREAM, "done_reason": reason, "message": {"role": "assistant", "content": content}},
                    forced=forced)
    assert out.message.tool_calls == [] and out.message.content == ""
    [bad] = out.message.invalid_tool_calls
    assert bad.arguments == content and "not a JSON call of get_weather or get_time" in bad.error
    assert ("raise max_tokens" in bad.error) is (reason == "length")


# --- stream parser -------------------------------------------------------------------------
def test_stream_recording() -> None:
    parser = OllamaChatStream("llama3", "http://h")
    parser.t0 = time.perf_counter() - 1.0
    chunks = feed_all(parser, STREAM_LINES)
    assert [c.content for c in chunks] == ["Why", " did", ""]
    final = chunks[-1]
    assert final.finish_reason == "stop" and final.usage == Usage(17, 50, 67)
    assert final.metrics.tokens_per_second == pytest.approx(50 / 1.57799)
    assert final.metrics.time_to_first_token_s >= 1.0  # client-measured from t0
    assert merge_chunks(chunks).message.content == "Why did"


def test_stream_tool_call_chunk() -> None:
    chunks = feed_all(OllamaChatStream("llama3.2"), TOOL_STREAM)
    result = merge_chunks(chunks)
    assert result.finish_reason == "tool_calls"
    assert result.message.tool_calls == [ToolCall(tool_call_id("get_weather", '{"city":"Tokyo"}', 0), "get_weather",
                                                  {"city": "Tokyo"})]
    assert result.usage.input_tokens == 169


def _lines(contents: list[str], thinking: list[str] | None = None) -> list[str]:
    out = [json.dumps({"model": "m", "message": {"role": "assistant", "content": "", "thinking": t}, "done": False})
           for t in thinking or []]
    out += [json.dumps({"model": "m", "message": {"role": "assistant", "content": c}, "done": False})
            for c in contents]
    return [*out, json.dumps({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                              "done_reason": "stop", "eval_count": 3, "eval_duration": 10})]


def test_stream_thinking_deltas() -> None:
    result = merge_chunks(feed_all(OllamaChatStream("m"), _lines(["Par", "is."], ["Hmm, ", "France."])))
    assert (result.message.content, result.message.thinking) == ("Paris.", "Hmm, France.")


def test_inline_think_split_at_every_boundary_matches_non_stream() -> None:
    text = "<think>let me see</think>\n\nThe answer <b>is</b> 42."
    expected = split_think(text)
    assert expected == ("The answer <b>is</b> 42.", "let me see")
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1, 3):
            pieces = [text[:i], text[i:j], text[j:]]
            result = merge_chunks(feed_all(OllamaChatStream("m"), _lines(pieces)))
            assert (result.message.content, result.message.thinking or "") == expected, pieces


def test_unclosed_think_is_thinking() -> None:
    assert split_think("<think>still thinking") == ("", "still thinking")
    result = merge_chunks(feed_all(OllamaChatStream("m"), _lines(["<think>still ", "thinking"])))
    assert (result.message.content, result.message.thinking) == ("", "still thinking")


def test_stream_error_line_raises_error_payload() -> None:
    parser = OllamaChatStream("m")
    parser.feed(STREAM_LINES[0])
    with pytest.raises(ErrorPayload) as info:
        parser.feed('{"error":"an error was encountered while running the model"}')
    assert isinstance(classify_error(None, info.value.body), ServerError)


def test_stream_without_done_means_the_server_stopped() -> None:
    parser = OllamaChatStream("m", "http://h")
    parser.feed(STREAM_LINES[0])
    with pytest.raises(ServiceUnavailableError, match="stopped sending before the reply was finished") as info:
        parser.close()
    assert info.value.service == "http://h" and info.value.model == "m"


def test_lines_after_done_are_ignored() -> None:
    parser = OllamaChatStream("m")
    assert len(feed_all(parser, STREAM_LINES)) == 3
    assert parser.feed(STREAM_LINES[0]) == []


def test_stream_load_reply_raises_before_any_chunk() -> None:
    line = '{"model":"m","created_at":"x","message":{"role":"assistant","content":""},"done_reason":"load","done":true}'
    with pytest.raises(ModelLoadedReply):
        OllamaChatStream("m").feed(line)


def test_stream_forced_tool_buffers_content() -> None:
    forced = forced_tool(req(tools=[WEATHER], tool_choice="required"))
    chunks = feed_all(OllamaChatStream("m", forced=forced), _lines(['{"ci', 'ty": "Rome"}']))
    assert all(c.content == "" for c in chunks)
    assert chunks[-1].tool_calls[0].arguments == {"city": "Rome"} and chunks[-1].finish_reason == "tool_calls"


# --- errors (exact strings of §1.11) ----------------------------------------------------------
@pytest.mark.parametrize(("status", "text", "kind", "recovery"), [
    (404, "model 'llama3.2:latest' not found", ModelNotFoundError, RecoveryStrategy.PULL_MODEL),
    (404, 'model "llama3.2" not found, try pulling it first', ModelNotFoundError, RecoveryStrategy.PULL_MODEL),
    (400, "registry.ollama.ai/library/gemma3:4b does not support tools", CapabilityError, RecoveryStrategy.NONE),
    (400, '"gemma3" does not support thinking', CapabilityError, RecoveryStrategy.NONE),
    (400, '"nomic-embed-text" does not support chat', CapabilityError, RecoveryStrategy.NONE),
    (400, "the input length exceeds the context length", ContextOverflowError, RecoveryStrategy.REDUCE_INPUT),
    (500, "input exceeds maximum context length and cannot be truncated further", ContextOverflowError,
     RecoveryStrategy.REDUCE_INPUT),
    (503, "server busy, please try again.  maximum pending requests exceeded", ServerError, RecoveryStrategy.RETRY),
    (429, "too many requests", ServerError, RecoveryStrategy.RETRY),
    (500, 'option "num_ctx" must be of type integer', ConfigurationError, RecoveryStrategy.FIX_CONFIG),
    (500, "an error was encountered while running the model", ServerError, RecoveryStrategy.RETRY),
    (None, "an error was encountered while running the model", ServerError, RecoveryStrategy.RETRY),
    (401, "unauthorized", AuthenticationError, RecoveryStrategy.FIX_CONFIG),
    (403, "remote inference is unavailable", ConfigurationError, RecoveryStrategy.FIX_CONFIG),
    (400, "missing request body", ConfigurationError, RecoveryStrategy.FIX_CONFIG),
    (400, 'invalid think value: "x" (must be "high", "medium", "low", "max", true, or false)', ConfigurationError,
     RecoveryStrategy.FIX_CONFIG),
    (400, "something new", ConfigurationError, RecoveryStrategy.FIX_CONFIG),
])
def test_classify_error(status: int | None, text: str, kind: type, recovery: RecoveryStrategy) -> None:
    err = classify_error(status, {"error": text})
    assert type(err) is kind and err.recovery is recovery and err.status_code == status


def test_not_found_hint_names_the_model() -> None:
    assert "`ollama pull llama3.2:latest`" in str(classify_error(404, {"error": "model 'llama3.2:latest' not found"}))
    err = classify_error(404, {"error": "model 'llama3.2:latest' not found"}, model="llama3.2")
    assert err.model == "llama3.2" and "`ollama pull llama3.2`" in str(err)
    overflow = classify_error(400, "the input length exceeds the context length")
    assert "reduce the input or raise num_ctx" in str(overflow)


def test_page_not_found_is_an_old_server_not_a_missing_model() -> None:
    err = classify_error(404, "404 page not found")
    assert isinstance(err, EndpointNotFoundError) and err.recovery is RecoveryStrategy.FALLBACK


def test_error_objects_and_raw_text() -> None:
    assert "bad" in str(classify_error(400, {"error": {"message": "bad", "type": "invalid_request_error"}}))
    assert isinstance(classify_error(200, {"error": "weird"}), InvalidResponseError)


# --- embeddings ------------------------------------------------------------------------------
def test_embed_wire() -> None:
    assert embed_to_wire(["a"], "all-minilm", truncate=False, keep_alive="1m", options={"num_ctx": 512}) == {
        "model": "all-minilm", "input": ["a"], "truncate": False, "keep_alive": "1m", "options": {"num_ctx": 512}}
    data = {"model": "all-minilm", "embeddings": [[0.010071029, -0.0017594862]], "total_duration": 14143917,
            "load_duration": 1019500, "prompt_eval_count": 8}
    result = embed_from_wire(data, expected=1, service="http://h")
    assert result.vectors == [[0.010071029, -0.0017594862]] and result.dimensions == 2
    assert result.usage.input_tokens == 8 and result.model == "all-minilm"
    with pytest.raises(ValueError):
        embed_from_wire(data, expected=2)


def test_legacy_embed_wire_normalises() -> None:
    assert legacy_embed_to_wire("hi", "m", keep_alive=0) == {"model": "m", "prompt": "hi", "keep_alive": 0}
    assert legacy_embed_from_wire({"embedding": [3.0, 4.0]}) == [0.6, 0.8]
    assert legacy_embed_from_wire({"embedding": []}) == []


def test_merge_embeddings_keeps_none_honest() -> None:
    a = EmbeddingResult([[1.0]], model="m", usage=Usage(input_tokens=3))
    b = EmbeddingResult([[2.0]], model="m", usage=Usage(input_tokens=4))
    c = EmbeddingResult([[3.0]], model="m", usage=Usage())
    assert merge_embeddings([a, b], "m", "s").usage.input_tokens == 7
    assert merge_embeddings([a, c], "m", "s").usage.input_tokens is None
    assert merge_embeddings([a, b, c], "m", "s").vectors == [[1.0], [2.0], [3.0]]


# --- model facts -----------------------------------------------------------------------------
def test_facts_from_tags_show_ps() -> None:
    (tag,) = facts_from_tags(TAGS)
    assert tag.name == "llama3.2:latest" and tag.digest.startswith("a80c")
    assert tag.facts == {"family": "llama", "parameter_size": "3.2B", "quantization": "Q4_K_M",
                         "size_bytes": 2019393189}
    show = facts_from_show(SHOW)
    assert show["context_length"] == 131072 and show["default_context_length"] == 8192
    assert show["parameter_count"] == 3212749888 and show["model_type"] == "llm"
    assert show["capabilities"] == {"chat": True, "completion": True, "embeddings": False, "tools": True,
                                    "vision": False, "thinking": False}
    assert facts_from_ps(PS) == {"mistral:latest": {"loaded": True, "loaded_context_length": 4096}}
    merged = merge_facts(tag, show, None)
    assert merged["loaded"] is False and merged["name"] == "llama3.2:latest" and merged["context_length"] == 131072
    loaded = merge_facts(TagEntry("mistral:latest", "", {}), None, facts_from_ps(PS)["mistral:latest"])
    assert loaded["loaded_context_length"] == 4096


def test_old_show_without_capabilities() -> None:
    old = {"details": {"family": "llama", "families": ["llama", "clip"]}, "model_info": {}}
    assert facts_from_show(old)["capabilities"] == {"vision": True}
    assert "capabilities" not in facts_from_show({"details": {}, "model_info": {}})


def test_embedding_only_model_and_new_tags_fields() -> None:
    (tag,) = facts_from_tags({"models": [{"name": "e", "model": "e", "size": "", "digest": "",
                                          "capabilities": ["embedding"], "details": {"context_length": 2048}}]})
    assert tag.facts["model_type"] == "embeddings" and tag.facts["capabilities"]["chat"] is False
    assert tag.facts["context_length"] == 2048 and "size_bytes" not in tag.facts  # llama-server shim: size ""


def test_empty_lists() -> None:
    assert facts_from_tags({"models": []}) == [] and facts_from_ps({"models": []}) == {}
    with pytest.raises(MalformedReply, match="has no 'models'"):
        facts_from_tags({"error": "Unexpected endpoint"})


@pytest.mark.parametrize(("field", "value"), [("thinking", 3), ("thinking", ["x"]), ("content", {"a": 1})])
def test_a_stream_line_with_a_field_of_the_wrong_type_is_malformed(field: str, value: object) -> None:
    line = json.dumps({"model": "m", "message": {"role": "assistant", "content": "", field: value}, "done": False})
    with pytest.raises(MalformedReply, match=f"message.{field} is"):
        OllamaChatStream("m").feed(line)
    assert OllamaChatStream("m").feed(json.dumps({"message": {"content": "hi", "thinking": None}}))[0].content == "hi"
