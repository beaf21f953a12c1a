"""Pure OpenAI-compatible converters on literal payloads."""

from __future__ import annotations

import json

import pytest

from patinox_core.backends.base import ErrorPayload, tool_call_id
from patinox_core.backends.forced_tools import canonical_json
from patinox_core.backends.openai_compat import (
    OpenAIChatStream,
    Quirks,
    classify_error,
    embed_from_wire,
    embed_to_wire,
    fingerprint_openai,
    forced_tool_for,
    from_wire,
    models_from_wire,
    quirks_for,
    summarize_server_message,
    to_wire,
    tool_choice_to_wire,
)
from patinox_core.errors import (
    CapabilityError,
    ConfigurationError,
    ContextOverflowError,
    InvalidResponseError,
    ModelNotFoundError,
    RecoveryStrategy,
    ServerError,
    ServiceUnavailableError,
)
from patinox_core.types import ChatRequest, Message, ToolCall, merge_chunks

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
JOKE = {"type": "function", "function": {"name": "Joke", "parameters": {"type": "object"}}}
CITY = {"title": "City", "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def req(**kw: object) -> ChatRequest:
    return ChatRequest(**{"model": "m", "messages": [Message("user", "hi")], **kw})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- to_wire


def test_to_wire_sends_max_tokens_never_only_max_completion_tokens() -> None:
    body = to_wire(req(max_tokens=16, temperature=0, top_p=0.9, top_k=40, seed=7, stop=["\n"]))
    assert body["max_tokens"] == 16 and "max_completion_tokens" not in body
    assert (body["temperature"], body["top_p"], body["top_k"], body["seed"], body["stop"]) == (0, 0.9, 40, 7, ["\n"])
    assert body["stream"] is False and "stream_options" not in body


def test_stream_requests_usage() -> None:
    assert to_wire(req(), stream=True)["stream_options"] == {"include_usage": True}


def test_assistant_content_is_empty_string_never_null_and_tool_results_carry_the_call_id() -> None:
    call = ToolCall("call_1", "get_weather", {"city": "Paris"})
    body = to_wire(req(messages=[Message("user", "w?"), Message("assistant", tool_calls=[call]),
                                 Message("tool", "11 degrees", name="get_weather")]))
    assistant, tool = body["messages"][1], body["messages"][2]
    assert assistant["content"] == ""
    assert assistant["tool_calls"] == [{"id": "call_1", "type": "function",
                                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]
    assert tool == {"role": "tool", "content": "11 degrees", "tool_call_id": "call_1"}


def test_text_parts_are_joined_into_one_string() -> None:
    parts = [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]
    body = to_wire(req(messages=[Message("assistant", parts), Message("user", None)]))  # type: ignore[arg-type]
    assert [m["content"] for m in body["messages"]] == ["Hello, world", ""]


def test_images_become_image_url_parts() -> None:
    body = to_wire(req(messages=[Message("user", "what is this?", images=["iVBORw0KGgo=", "https://x/cat.jpg"])]))
    parts = body["messages"][0]["content"]
    assert parts == [{"type": "text", "text": "what is this?"},
                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                     {"type": "image_url", "image_url": {"url": "https://x/cat.jpg"}}]


@pytest.mark.parametrize(("choice", "tools", "wire"), [
    ("required", [WEATHER], {"type": "function", "function": {"name": "get_weather"}}),
    ("get_weather", [WEATHER, JOKE], {"type": "function", "function": {"name": "get_weather"}}),
    ("required", [WEATHER, JOKE], "required"),
    ("auto", [WEATHER], "auto"),
    ("none", [WEATHER], "none"),
])
def test_tool_choice(choice: str, tools: list, wire: object) -> None:
    body = to_wire(req(tools=tools, tool_choice=choice))
    assert body["tool_choice"] == wire
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_bare_function_specs_get_their_envelope() -> None:
    body = to_wire(req(tools=[{"name": "f", "parameters": {"type": "object"}}]))
    assert body["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


# llama-cpp-python answers tool_choice="required" with several tools with HTTP 500: forced through JSON output.
LLAMA_CPP = quirks_for("llama_cpp_python")
FORCING_INSTRUCTION = (
    'You must call exactly one of these tools. Answer with only a JSON object {"name": <tool name>, "arguments": '
    '<its arguments>}.\n'
    '- `get_weather`: Weather for a city. Arguments schema: '
    '{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}\n'
    '- `Joke`. Arguments schema: {"properties":{},"type":"object"}')
FORCING_FORMAT = {"type": "json_object", "schema": {"anyOf": [
    {"type": "object", "required": ["name", "arguments"],
     "properties": {"name": {"type": "string", "enum": ["get_weather"]},
                    "arguments": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "object", "required": ["name", "arguments"],
     "properties": {"name": {"type": "string", "enum": ["Joke"]},
                    "arguments": {"type": "object", "properties": {}}}}]}}


def forced_req(**kw: object) -> ChatRequest:
    return req(**{"tools": [WEATHER, JOKE], "tool_choice": "required", **kw})


@pytest.mark.parametrize("stream", [False, True])
def test_required_among_several_tools_is_forced_through_json_on_llama_cpp_python(stream: bool) -> None:
    body = to_wire(forced_req(max_tokens=64), stream=stream, quirks=LLAMA_CPP)
    expected = {"model": "m", "messages": [{"role": "system", "content": FORCING_INSTRUCTION},
                                           {"role": "user", "content": "hi"}],
                "stream": stream, "max_tokens": 64, "response_format": FORCING_FORMAT}
    if stream:
        expected["stream_options"] = {"include_usage": True}
    assert body == expected  # no tools, no tool_choice: the server would answer 500


def test_forcing_instruction_joins_an_existing_system_message() -> None:
    body = to_wire(forced_req(messages=[Message("system", "Be brief."), Message("user", "hi")]), quirks=LLAMA_CPP)
    assert body["messages"] == [{"role": "system", "content": "Be brief.\n\n" + FORCING_INSTRUCTION},
                                {"role": "user", "content": "hi"}]


def test_native_required_elsewhere_and_a_single_tool_is_named() -> None:
    assert to_wire(forced_req(), quirks=quirks_for("lmstudio"))["tool_choice"] == "required"
    one = to_wire(req(tools=[JOKE], tool_choice="required"), quirks=LLAMA_CPP)
    assert one["tool_choice"] == {"type": "function", "function": {"name": "Joke"}} and "response_format" not in one
    named = to_wire(forced_req(tool_choice="Joke"), quirks=LLAMA_CPP)
    assert named["tool_choice"] == {"type": "function", "function": {"name": "Joke"}} and len(named["tools"]) == 2


def test_forced_tools_with_a_response_format_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="cannot be combined with response_format on llama_cpp_python"):
        to_wire(forced_req(response_format=CITY), quirks=LLAMA_CPP)
    assert to_wire(forced_req(response_format=CITY))["tool_choice"] == "required"  # native elsewhere


def test_tool_choice_to_wire_alone_still_refuses_several_tools_on_llama_cpp_python() -> None:
    with pytest.raises(CapabilityError, match="several tools"):
        tool_choice_to_wire("required", ["get_weather", "Joke"], LLAMA_CPP)


def test_tool_choice_naming_an_unbound_tool_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="names no bound tool"):
        to_wire(req(tools=[WEATHER], tool_choice="Joke"))


@pytest.mark.parametrize(("flavor", "fmt", "wire"), [
    (None, "json", {"type": "json_object"}),
    ("vllm", "json", {"type": "json_object"}),
    ("lmstudio", "json", {"type": "json_schema",
                          "json_schema": {"name": "json", "schema": {"type": "object"}, "strict": False}}),
    ("llama_cpp_python", CITY, {"type": "json_object", "schema": CITY}),
    (None, CITY, {"type": "json_schema", "json_schema": {"name": "City", "schema": CITY, "strict": True}}),
    ("llama_server", {"name": "my schema!", "schema": CITY, "strict": False},
     {"type": "json_schema", "json_schema": {"name": "my_schema_", "schema": CITY, "strict": False}}),
    ("lmstudio", {"type": "json_schema", "json_schema": {"name": "c", "schema": CITY}},
     {"type": "json_schema", "json_schema": {"name": "c", "schema": CITY, "strict": True}}),
])
def test_structured_output_per_flavor(flavor: str | None, fmt: object, wire: dict) -> None:
    assert to_wire(req(response_format=fmt), quirks=quirks_for(flavor))["response_format"] == wire


def test_think_mapping() -> None:
    assert to_wire(req(think="high"))["reasoning_effort"] == "high"
    assert to_wire(req(think=False), quirks=quirks_for("ollama_v1"))["reasoning_effort"] == "none"
    assert to_wire(req(think=False), quirks=quirks_for("vllm"))["chat_template_kwargs"] == {"enable_thinking": False}
    assert "reasoning_effort" not in to_wire(req(think=True), quirks=quirks_for("llama_cpp_python"))


def test_options_pass_through_and_model_is_required() -> None:
    assert to_wire(req(options={"repeat_penalty": 1.1}))["repeat_penalty"] == 1.1
    with pytest.raises(ConfigurationError, match="no model"):
        to_wire(req(model=None))


def test_quirks_table() -> None:
    assert quirks_for("llama_cpp_python").required_unsupported
    assert quirks_for("llama_server").listing_is_loaded and not quirks_for("lmstudio").listing_is_loaded
    assert quirks_for(None) == Quirks()


# --------------------------------------------------------------------------- from_wire

LMSTUDIO_REPLY = json.loads("""{
  "id": "chatcmpl-b0sas1gm55r0ckhf22h6xs8", "object": "chat.completion", "created": 1750505643,
  "model": "mistralai/devstral-small-2505",
  "choices": [{"index": 0, "logprobs": null, "finish_reason": "stop",
               "message": {"role": "assistant", "content": "The capital of France is Paris."}}],
  "usage": {"prompt_tokens": 1232, "completion_tokens": 7, "total_tokens": 1239},
  "stats": {}, "system_fingerprint": "mistralai/devstral-small-2505"}""")

OLLAMA_V1_REPLY = {"id": "chatcmpl-150", "object": "chat.completion", "created": 1776298304, "model": "qwen3:0.6b",
                   "system_fingerprint": "fp_ollama",
                   "choices": [{"index": 0, "message": {"role": "assistant",
                                                        "content": "{ \"city\": \"Paris\", \"country\": \"France\" }",
                                                        "reasoning": "Okay, the user is asking ..."},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 136, "completion_tokens": 15, "total_tokens": 151}}

LLAMA_CPP_TOOL_REPLY = {"id": "chatcmpl-x", "object": "chat.completion", "model": "gemma3-270m-tools", "choices": [
    {"index": 0, "finish_reason": "tool_calls", "logprobs": None, "message": {
        "content": None, "role": "assistant",
        "tool_calls": [{"id": "call__0_get_weather_cmpl-x", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{ \"city\": \"Paris\" } "}}],
        "function_call": {"name": "get_weather", "arguments": "{ \"city\": \"Paris\" } "}}}],
    "usage": {"prompt_tokens": 34, "completion_tokens": 9, "total_tokens": 43}}


def test_from_wire_lmstudio_reply() -> None:
    r = from_wire(LMSTUDIO_REPLY)
    assert (r.message.content, r.finish_reason, r.model) == ("The capital of France is Paris.", "stop",
                                                             "mistralai/devstral-small-2505")
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (1232, 7, 1239)
    assert r.metrics.tokens_per_second is None and r.message.thinking is None


def test_from_wire_reasoning_field() -> None:
    r = from_wire(OLLAMA_V1_REPLY)
    assert r.message.thinking == "Okay, the user is asking ..."
    assert json.loads(r.message.content) == {"city": "Paris", "country": "France"}


def test_from_wire_tool_call_keeps_the_server_id_and_null_content() -> None:
    r = from_wire(LLAMA_CPP_TOOL_REPLY)
    assert r.finish_reason == "tool_calls" and r.message.content == ""
    assert r.message.tool_calls == [ToolCall("call__0_get_weather_cmpl-x", "get_weather", {"city": "Paris"})]


def test_from_wire_tool_call_without_id_gets_a_deterministic_one_and_finish_tool_calls() -> None:
    data = {"choices": [{"finish_reason": "stop", "message": {"content": "", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{\"b\": 2, \"a\": 1}"}}]}}]}
    r1, r2 = from_wire(data), from_wire(json.loads(json.dumps(data)))
    assert r1.message.tool_calls[0].id == r2.message.tool_calls[0].id == tool_call_id("f", '{"a":1,"b":2}', 0)
    assert r1.finish_reason == "tool_calls"  # old servers said "stop" next to tool calls


def test_from_wire_strips_think_tags_and_maps_length() -> None:
    data = {"choices": [{"finish_reason": "length", "message": {"content": "<think>2+2</think>\n\n4"}}]}
    r = from_wire(data)
    assert (r.message.content, r.message.thinking, r.finish_reason) == ("4", "2+2", "length")


def test_from_wire_unknown_usage_is_none_not_zero() -> None:
    r = from_wire({"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}]})
    assert r.usage.input_tokens is None and r.usage.output_tokens is None


def test_from_wire_llama_server_timings() -> None:
    data = {"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}],
            "timings": {"prompt_n": 10, "prompt_ms": 25.0, "predicted_n": 16, "predicted_ms": 355.0,
                        "predicted_per_second": 45.07}}
    m = from_wire(data).metrics
    assert (m.time_to_first_token_s, m.tokens_per_second, m.total_duration_s) == (0.025, 45.07, 0.38)


@pytest.mark.parametrize("data", [{"choices": []}, {"id": "x"}])
def test_from_wire_without_choices_is_invalid(data: dict) -> None:
    with pytest.raises(InvalidResponseError):
        from_wire(data)


@pytest.mark.parametrize(("finish", "cause"), [("tool_calls", "malformed"), ("length", "raise max_tokens")])
def test_from_wire_malformed_tool_arguments_are_invalid(finish: str, cause: str) -> None:
    data = {"choices": [{"finish_reason": finish, "message": {"tool_calls": [
        {"id": "call_1", "function": {"name": "f", "arguments": "{city: Par"}},
        {"id": "call_2", "function": {"name": "g", "arguments": '{"x": 1}'}}]}}]}
    out = from_wire(data)
    assert [(c.id, c.name, c.arguments) for c in out.message.tool_calls] == [("call_2", "g", {"x": 1})]
    [bad] = out.message.invalid_tool_calls
    assert (bad.id, bad.name, bad.arguments) == ("call_1", "f", "{city: Par")
    assert "not a JSON object" in bad.error and cause in bad.error


def forced_reply(content: str, finish: str = "stop") -> dict:  # llama-cpp-python's json_object reply
    return {"id": "chatcmpl-9", "object": "chat.completion", "model": "gemma3-270m", "choices": [
        {"index": 0, "finish_reason": finish, "logprobs": None, "message": {"content": content, "role": "assistant"}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 14, "total_tokens": 134}}


def test_forced_reply_becomes_a_tool_call() -> None:
    forced = forced_tool_for(forced_req(), LLAMA_CPP)
    r = from_wire(forced_reply('{ "name": "get_weather", "arguments": { "city": "Paris" } }'), forced=forced)
    call_id = tool_call_id("get_weather", canonical_json({"city": "Paris"}), 0)
    assert r.message.tool_calls == [ToolCall(call_id, "get_weather", {"city": "Paris"})]
    assert r.finish_reason == "tool_calls" and r.message.content == "" and r.usage.total_tokens == 134
    assert from_wire(forced_reply('{"name": "Joke", "arguments": {}}'), forced=forced).message.tool_calls[0].name \
        == "Joke"


@pytest.mark.parametrize(("content", "finish", "match"), [
    ('{ "name": "get_weather", "arguments": { "city": "Par', "length", "cut off by max_tokens"),
    ("Sure! Here is", "stop", "malformed"),
    ('{"city": "Paris"}', "stop", "malformed"),
    ('{"name": "other", "arguments": {}}', "stop", "malformed"),
    ('{"name": "Joke", "arguments": [1]}', "stop", "malformed"),
])
def test_forced_reply_that_is_no_call_is_invalid(content: str, finish: str, match: str) -> None:
    out = from_wire(forced_reply(content, finish), forced=forced_tool_for(forced_req(), LLAMA_CPP))
    [bad] = out.message.invalid_tool_calls
    assert out.message.tool_calls == [] and bad.arguments == content and match in bad.error


# --------------------------------------------------------------------------- SSE stream


def sse(obj: dict) -> str:
    return "data: " + json.dumps(obj)


def delta(d: dict, finish: str | None = None) -> str:
    return sse({"id": "c", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": d, "finish_reason": finish}]})


def run(lines: list[str], *, close: bool = True) -> list:
    parser = OpenAIChatStream("m", service="http://127.0.0.1:1")
    out = [c for line in lines for c in parser.feed(line)]
    return out + (parser.close() if close else [])


def test_stream_content_then_final_chunk_with_usage() -> None:
    chunks = run([delta({"role": "assistant", "content": ""}), delta({"content": "Hel"}), delta({"content": "lo"}),
                  delta({}, "stop"), sse({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
                  "data: [DONE]"])
    assert [c.content for c in chunks] == ["Hel", "lo", ""]
    final = chunks[-1]
    assert final.finish_reason == "stop" and final.usage is not None and final.usage.total_tokens == 5
    assert final.metrics is not None and final.metrics.time_to_first_token_s is not None
    assert final.service == "http://127.0.0.1:1"


def test_stream_without_usage_chunk_reports_unknown_usage() -> None:
    chunks = run([delta({"content": "x"}), delta({}, "length"), "data: [DONE]"])
    assert chunks[-1].usage is None
    assert merge_chunks(chunks).usage.input_tokens is None


def test_stream_fragmented_tool_call_arguments_are_accumulated_by_index() -> None:  # LM Studio, OpenAI
    chunks = run([
        delta({"tool_calls": [{"index": 0, "id": "365174485", "type": "function",
                               "function": {"name": "search_products", "arguments": ""}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"name": "", "arguments": "{\"query\":"}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"name": None, "arguments": "\"dell\"}"}}]}),
        delta({"tool_calls": [{"index": 1, "id": "2", "function": {"name": "f", "arguments": "{}"}}]}),
        delta({}, "tool_calls"), "data: [DONE]"])
    assert chunks[-1].tool_calls == [ToolCall("365174485", "search_products", {"query": "dell"}), ToolCall("2", "f")]
    assert chunks[-1].finish_reason == "tool_calls"


def test_stream_repeated_name_and_id_are_taken_from_the_first_delta_only() -> None:  # llama-cpp-python
    first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "Joke", "arguments": "{\"se"}}
    later = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "Joke", "arguments": "tup\": 1}"}}
    chunks = run([delta({"tool_calls": [first]}), delta({"tool_calls": [later]}), delta({}, "tool_calls"),
                  "data: [DONE]"])
    assert chunks[-1].tool_calls == [ToolCall("call_a", "Joke", {"setup": 1})]


def test_stream_whole_tool_calls_without_index() -> None:  # older Ollama /v1
    chunks = run([delta({"tool_calls": [{"id": "call_1", "type": "function",
                                         "function": {"name": "a", "arguments": "{\"x\":1}"}}]}),
                  delta({"tool_calls": [{"id": "call_2", "type": "function",
                                         "function": {"name": "b", "arguments": "{}"}}]}),
                  delta({"role": "assistant", "content": ""}, "stop"), "data: [DONE]"])
    assert [(c.id, c.name, c.arguments) for c in chunks[-1].tool_calls] == [("call_1", "a", {"x": 1}),
                                                                            ("call_2", "b", {})]
    assert chunks[-1].finish_reason == "tool_calls"


def test_stream_tool_call_without_id_gets_a_deterministic_id() -> None:
    chunks = run([delta({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{\"a\":1}"}}]}),
                  delta({}, "tool_calls"), "data: [DONE]"])
    assert chunks[-1].tool_calls[0].id == tool_call_id("f", '{"a":1}', 0)


FORCED_DELTAS = ['{ "name": "Joke', '", "arguments": {', '"setup": "<think>a pun"', ' } }']


@pytest.mark.parametrize("done", [True, False])
def test_stream_forced_call_is_emitted_on_the_final_chunk_only(done: bool) -> None:
    parser = OpenAIChatStream("m", service="http://127.0.0.1:1", forced=forced_tool_for(forced_req(), LLAMA_CPP))
    lines = [delta({"role": "assistant"}), *[delta({"content": d}) for d in FORCED_DELTAS], delta({}, "stop")]
    chunks = [c for line in [*lines, *(["data: [DONE]"] if done else [])] for c in parser.feed(line)]
    chunks += parser.close()
    assert len(chunks) == 1 and chunks[0].content == "" and chunks[0].thinking == ""  # no content deltas
    call_id = tool_call_id("Joke", canonical_json({"setup": "<think>a pun"}), 0)
    assert chunks[0].tool_calls == [ToolCall(call_id, "Joke", {"setup": "<think>a pun"})]
    assert chunks[0].finish_reason == "tool_calls" and chunks[0].metrics.time_to_first_token_s is not None


def test_stream_forced_call_cut_off_by_max_tokens_is_invalid() -> None:
    parser = OpenAIChatStream("m", forced=forced_tool_for(forced_req(), LLAMA_CPP))
    for line in [delta({"content": FORCED_DELTAS[0]}), delta({}, "length")]:
        assert parser.feed(line) == []
    [final] = parser.feed("data: [DONE]")
    assert final.tool_calls == [] and final.finish_reason == "length"
    assert final.invalid_tool_calls[0].arguments == FORCED_DELTAS[0]
    assert "cut off by max_tokens" in final.invalid_tool_calls[0].error


def test_stream_reasoning_fields_and_think_tags_become_thinking() -> None:
    chunks = run([delta({"reasoning_content": "a"}), delta({"reasoning": "b"}), delta({"content": "<thi"}),
                  delta({"content": "nk>c</think>"}), delta({"content": "\nanswer"}), delta({}, "stop"),
                  "data: [DONE]"])
    merged = merge_chunks(chunks)
    assert (merged.message.thinking, merged.message.content) == ("abc", "answer")


def test_stream_without_done_but_finished_is_accepted() -> None:
    chunks = run([delta({"content": "x"}), delta({}, "stop")])
    assert chunks[-1].finish_reason == "stop"


def test_stream_ending_between_events_means_the_server_stopped() -> None:
    with pytest.raises(ServiceUnavailableError, match="stopped sending before the reply was finished") as info:
        run([delta({"content": "x"})])
    assert info.value.recovery is RecoveryStrategy.FALLBACK


def test_lines_after_done_are_ignored_and_comments_skipped() -> None:
    chunks = run([": ping", delta({"content": "x"}), delta({}, "stop"), "data: [DONE]", delta({"content": "late"})])
    assert "".join(c.content for c in chunks) == "x"


@pytest.mark.parametrize("lines", [
    [delta({"content": "x"}), sse({"error": {"message": "boom", "type": "server_error"}})],
    ['{"error":"an error was encountered while running the model"}'],
    ["{", '  "error": "No models loaded."', "}"],
    [sse({"object": "error", "message": "engine dead", "type": "InternalServerError", "code": 500})],
])
def test_error_in_stream_raises_error_payload(lines: list[str]) -> None:
    with pytest.raises(ErrorPayload):
        run(lines, close=False)


def test_non_sse_body_that_is_not_an_error_is_invalid() -> None:
    with pytest.raises(InvalidResponseError, match="non-SSE"):
        run(["<html>"])


# --------------------------------------------------------------------------- errors

TRACEBACK = ('Traceback (most recent call last):\n  File "/usr/lib/python3.11/site-packages/llama_cpp/server/app.py",'
             ' line 491, in create_chat_completion\n    raise ValueError(x)\nValueError: Input should be \'text\' or '
             "'json_object'")


@pytest.mark.parametrize(("status", "body", "kind", "recovery"), [
    (400, {"error": {"message": "Requested tokens (3000) exceed context window of 2048", "type":
                     "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
     ContextOverflowError, RecoveryStrategy.REDUCE_INPUT),
    (500, {"error": {"message": "Llama model must be created with embedding=True to call this method",
                     "type": "internal_server_error"}}, CapabilityError, RecoveryStrategy.NONE),
    (501, {"error": {"code": 501, "message": "This server does not support embeddings. Start it with `--embeddings`",
                     "type": "not_supported_error"}}, CapabilityError, RecoveryStrategy.NONE),
    (404, {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}, CapabilityError,
     RecoveryStrategy.FALLBACK),
    (404, {"detail": "Not Found"}, CapabilityError, RecoveryStrategy.FALLBACK),
    (200, {"error": "Unexpected endpoint or method. (GET /api/tags)"}, CapabilityError, RecoveryStrategy.FALLBACK),
    (404, {"error": {"message": "model 'llama3.2:latest' not found", "type": "not_found_error"}},
     ModelNotFoundError, RecoveryStrategy.PULL_MODEL),
    (404, {"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404},
     ModelNotFoundError, RecoveryStrategy.PULL_MODEL),
    (422, {"detail": [{"loc": ["body", "messages"], "msg": "Field required", "type": "missing"}]},
     ConfigurationError, RecoveryStrategy.FIX_CONFIG),
    (401, {"error": {"message": "Invalid API key", "type": "auth_error"}}, ConfigurationError,
     RecoveryStrategy.FIX_CONFIG),
    (503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}},
     ServiceUnavailableError, RecoveryStrategy.FALLBACK),
    (500, {"error": {"message": "", "type": "internal_server_error"}}, ServerError, RecoveryStrategy.RETRY),
    (500, "Internal Server Error", ServerError, RecoveryStrategy.RETRY),
    (None, {"error": {"message": "an error was encountered while running the model"}}, ServerError,
     RecoveryStrategy.RETRY),
])
def test_classify_error_table(status: int | None, body: object, kind: type, recovery: RecoveryStrategy) -> None:
    err = classify_error(status, body)
    assert type(err) is kind and err.recovery is recovery


def test_server_tracebacks_and_paths_are_never_echoed() -> None:
    err = classify_error(500, {"error": {"message": TRACEBACK, "type": "internal_server_error"}})
    assert "Traceback" not in str(err) and "site-packages" not in str(err) and "/usr/lib" not in str(err)
    assert "ValueError: Input should be 'text' or 'json_object'" in err.message


def test_summaries_are_one_short_line() -> None:
    text = summarize_server_message("boom " * 100 + "\nsecond line")
    assert "\n" not in text and len(text) <= 200 and "second" not in text
    assert summarize_server_message('failed at C:\\Users\\me\\llama\\server.py line 3') == "failed at <path> line 3"
    assert summarize_server_message("see http://127.0.0.1:8080/v1/models") == "see http://127.0.0.1:8080/v1/models"


# --------------------------------------------------------------------------- embeddings & models


def test_embed_to_wire_sends_strings_only() -> None:
    assert embed_to_wire(["a"], "e")["input"] == ["a"]
    with pytest.raises(ConfigurationError, match="must be strings"):
        embed_to_wire([[101, 2023]], "e")  # type: ignore[list-item]


def test_embed_from_wire_orders_by_index() -> None:
    data = {"object": "list", "model": "text-embedding-bge-m3", "usage": {"prompt_tokens": 0, "total_tokens": 0},
            "data": [{"object": "embedding", "embedding": [0.5, 0.5], "index": 1},
                     {"object": "embedding", "embedding": [0.1, 0.2], "index": 0}]}
    r = embed_from_wire(data)
    assert r.vectors == [[0.1, 0.2], [0.5, 0.5]] and r.dimensions == 2 and r.model == "text-embedding-bge-m3"


def test_per_token_embeddings_are_rejected() -> None:  # llama-cpp-python without pooling
    data = {"data": [{"embedding": [[0.1, 0.2], [0.3, 0.4]], "index": 0}]}
    with pytest.raises(InvalidResponseError, match="pooling"):
        embed_from_wire(data)


LLAMA_CPP_MODELS = {"object": "list", "data": [{"id": "gemma3-270m", "object": "model", "owned_by": "me",
                                                "permissions": []}]}
LLAMA_SERVER_MODELS = {"models": [{"name": "gemma3-270m", "model": "gemma3-270m", "details": {"format": "gguf"}}],
                       "object": "list", "data": [{"id": "gemma3-270m", "object": "model", "owned_by": "llamacpp",
                                                   "meta": {"n_ctx_train": 32768, "n_params": 268098176}}]}
VLLM_MODELS = {"object": "list", "data": [{"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm",
                                           "root": "Qwen/Qwen3-8B", "parent": None, "max_model_len": 8192,
                                           "permission": []}]}
LMSTUDIO_MODELS = {"data": [{"id": "qwen/qwen3-8b", "object": "model", "owned_by": "organization_owner"}],
                   "object": "list"}
OLLAMA_MODELS = {"object": "list", "data": [{"id": "llama3.2:latest", "object": "model", "created": 1718000000,
                                             "owned_by": "library"}]}


@pytest.mark.parametrize(("models", "headers", "flavor"), [
    (LLAMA_CPP_MODELS, {"server": "uvicorn"}, "llama_cpp_python"),
    (LLAMA_SERVER_MODELS, {"Server": "llama.cpp"}, "llama_server"),
    (LLAMA_SERVER_MODELS, {}, "llama_server"),
    (VLLM_MODELS, {"server": "uvicorn"}, "vllm"),
    (LMSTUDIO_MODELS, {"X-Powered-By": "Express"}, "lmstudio"),
    (LMSTUDIO_MODELS, {}, "lmstudio"),
    (OLLAMA_MODELS, {}, "ollama_v1"),
    ({"data": [{"id": "gpt-4o", "object": "model", "owned_by": "openai"}]}, {"x-litellm-version": "1.93.0"},
     "litellm"),
    ({"data": []}, {}, None),
    ("not json", {}, None),
])
def test_fingerprint_openai(models: object, headers: dict, flavor: str | None) -> None:
    assert fingerprint_openai(models, headers) == flavor


def test_models_from_wire_reads_llama_server_router_states() -> None:
    router = {"object": "list", "data": [
        {"id": "qwen3-4b", "owned_by": "llamacpp", "status": {"value": "loaded", "args": ["llama-server"]},
         "meta": {"n_ctx_train": 40960}},
        {"id": "gemma-3-4b", "owned_by": "llamacpp", "status": {"value": "unloaded"}},
        {"id": "nomic", "owned_by": "llamacpp", "status": {"value": "sleeping", "args": []}},
        {"id": "odd", "owned_by": "llamacpp", "status": "junk"}]}
    assert [(f["name"], f.get("loaded")) for f in models_from_wire(router, "llama_server")] == [
        ("qwen3-4b", True), ("gemma-3-4b", False), ("nomic", False), ("odd", True)]


def test_models_from_wire_reads_server_extras() -> None:
    assert models_from_wire(LLAMA_SERVER_MODELS, "llama_server") == [
        {"name": "gemma3-270m", "context_length": 32768, "parameter_count": 268098176, "loaded": True}]
    assert models_from_wire(VLLM_MODELS, "vllm") == [
        {"name": "Qwen/Qwen3-8B", "loaded_context_length": 8192, "context_length": 8192, "loaded": True}]
    assert models_from_wire(LMSTUDIO_MODELS, "lmstudio") == [{"name": "qwen/qwen3-8b"}]
