"""Pure LangChain <-> neutral mapping (``patinox_langchain/_convert.py``): literals in, literals out."""

from __future__ import annotations

import doctest
import json

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from pydantic import BaseModel, Field

import patinox_core.types as core
from patinox_core.backends.base import tool_call_id
from patinox_core.errors import CapabilityError, ConfigurationError
from patinox_langchain import _convert as conv

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_doctests() -> None:
    result = doctest.testmod(conv)
    assert result.attempted > 5 and result.failed == 0


# --------------------------------------------------------------------------- messages


def test_roles_and_text() -> None:
    msgs = conv.to_messages([SystemMessage("be brief"), HumanMessage("hi", name="ann"), AIMessage("hello")])
    assert [(m.role, m.content, m.name) for m in msgs] == [
        ("system", "be brief", None), ("user", "hi", "ann"), ("assistant", "hello", None)]


@pytest.mark.parametrize(("role", "expected"), [("developer", "system"), ("human", "user"), ("ai", "assistant"),
                                                ("tool", "tool"), ("User", "user")])
def test_chat_message_roles(role: str, expected: str) -> None:
    assert conv.to_message(ChatMessage(content="x", role=role)).role == expected


def test_unknown_role_and_type_raise() -> None:
    with pytest.raises(ConfigurationError, match="role 'wizard'"):
        conv.to_message(ChatMessage(content="x", role="wizard"))
    with pytest.raises(ConfigurationError, match="RemoveMessage"):
        conv.to_message(RemoveMessage(id="1"))


def test_list_content_text_parts_joined() -> None:
    msg = conv.to_message(HumanMessage([{"type": "text", "text": "one"}, "two", {"type": "text", "text": ""}]))
    assert msg.content == "one\ntwo" and msg.images == []


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}, f"data:image/png;base64,{PNG}"),
        ({"type": "image_url", "image_url": "http://127.0.0.1:9/cat.png"}, "http://127.0.0.1:9/cat.png"),
        ({"type": "image", "base64": PNG, "mime_type": "image/png"}, f"data:image/png;base64,{PNG}"),
        ({"type": "image", "base64": PNG}, PNG),
        ({"type": "image", "url": "https://example.invalid/a.jpg"}, "https://example.invalid/a.jpg"),
        ({"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
         f"data:image/png;base64,{PNG}"),
        ({"type": "image", "source_type": "url", "url": "http://h/x.png"}, "http://h/x.png"),
        ({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
         f"data:image/png;base64,{PNG}"),
        ({"type": "image", "source": {"type": "url", "url": "http://h/y.png"}}, "http://h/y.png"),
    ],
)
def test_image_blocks(block: dict, expected: str) -> None:
    msg = conv.to_message(HumanMessage([{"type": "text", "text": "what is this?"}, block]))
    assert msg.content == "what is this?"
    assert msg.images == [expected]


def test_image_without_data_or_by_file_id() -> None:
    with pytest.raises(ConfigurationError, match="image block without data"):
        conv.to_message(HumanMessage([{"type": "image", "mime_type": "image/png"}]))
    with pytest.raises(CapabilityError, match="file id"):
        conv.to_message(HumanMessage([{"type": "image", "file_id": "file-123"}]))


@pytest.mark.parametrize("kind", ["file", "audio", "input_audio", "video"])
def test_unsupported_media_is_an_error_not_dropped(kind: str) -> None:
    with pytest.raises(CapabilityError, match=kind):
        conv.to_message(HumanMessage([{"type": kind, "base64": "AAAA", "mime_type": "x/y"}]))


def test_unknown_block_type_raises() -> None:
    with pytest.raises(ConfigurationError, match="'hologram'"):
        conv.to_message(HumanMessage([{"type": "hologram"}]))


def test_ai_message_tool_calls_keep_ids_and_args() -> None:
    ai = AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "abc123", "type": "tool_call"}])
    msg = conv.to_message(ai)
    assert msg.role == "assistant" and msg.content == ""
    assert msg.tool_calls == [core.ToolCall(id="abc123", name="add", arguments={"a": 1, "b": 2})]


def test_missing_tool_call_id_is_deterministic() -> None:
    ai = AIMessage("", tool_calls=[{"name": "add", "args": {"b": 2, "a": 1}, "id": None, "type": "tool_call"}])
    first, second = conv.to_message(ai), conv.to_message(ai)
    expected = tool_call_id("add", '{"a":1,"b":2}', 0)
    assert first.tool_calls[0].id == second.tool_calls[0].id == expected


def test_anthropic_list_content_with_tool_use_keeps_text_only() -> None:
    ai = AIMessage(
        [{"type": "text", "text": "some text"}, {"type": "tool_use", "id": "abc123", "name": "add", "input": {"a": 1}}],
        tool_calls=[{"name": "add", "args": {"a": 1}, "id": "abc123", "type": "tool_call"}],
    )
    msg = conv.to_message(ai)
    assert msg.content == "some text" and [c.id for c in msg.tool_calls] == ["abc123"]


def test_reasoning_from_additional_kwargs_and_blocks() -> None:
    a = conv.to_message(AIMessage("4", additional_kwargs={"reasoning_content": "2+2"}))
    b = conv.to_message(AIMessage([{"type": "reasoning", "reasoning": "2+2"}, {"type": "text", "text": "4"}]))
    c = conv.to_message(AIMessage([{"type": "thinking", "thinking": "2+2", "signature": "x"},
                                   {"type": "text", "text": "4"}]))
    assert (a.thinking, a.content) == (b.thinking, b.content) == (c.thinking, c.content) == ("2+2", "4")


def test_v1_ai_content_with_tool_call_block() -> None:
    ai = AIMessage(
        [{"type": "tool_call", "id": "c1", "name": "f", "args": {}}],
        tool_calls=[{"name": "f", "args": {}, "id": "c1", "type": "tool_call"}],
        response_metadata={"output_version": "v1"},
    )
    msg = conv.to_message(ai)
    assert msg.content == "" and msg.tool_calls[0].id == "c1"


def test_tool_and_function_messages() -> None:
    tm = conv.to_message(ToolMessage(json.dumps({"result": 3}), name="add", tool_call_id="abc123", status="error"))
    assert (tm.role, tm.content, tm.tool_call_id, tm.name) == ("tool", '{"result": 3}', "abc123", "add")
    fm = conv.to_message(FunctionMessage(content="3", name="add"))
    assert (fm.role, fm.name) == ("tool", "add")
    listed = conv.to_message(ToolMessage([{"type": "text", "text": "ok"}], tool_call_id="1"))
    assert listed.content == "ok"


# --------------------------------------------------------------------------- tools, formats


class Person(BaseModel):
    """A person."""

    name: str = Field(description="Their name")


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tool_specs_from_every_kind() -> None:
    def mul(a: int, b: int) -> int:
        """Multiply."""
        return a * b

    specs = conv.to_tool_specs([add, mul, Person, Person.model_json_schema()])
    assert [s["function"]["name"] for s in specs] == ["add", "mul", "Person", "Person"]
    assert all(s["type"] == "function" for s in specs)
    assert specs[0]["function"]["parameters"]["required"] == ["a", "b"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [(None, None), (False, None), ("auto", "auto"), ("none", "none"), ("any", "required"), ("required", "required"),
     (True, "required"), ("add", "add"), ({"type": "function", "function": {"name": "add"}}, "add"),
     ({"type": "tool", "name": "add"}, "add")],
)
def test_tool_choice(choice: object, expected: str | None) -> None:
    assert conv.to_tool_choice(choice, ["add", "mul"]) == expected


def test_tool_choice_unknown_name_raises() -> None:
    with pytest.raises(ConfigurationError, match="'sub' is not one of the bound tools"):
        conv.to_tool_choice("sub", ["add"])
    with pytest.raises(ConfigurationError):
        conv.to_tool_choice(3, ["add"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("json", "json"), ({"type": "json_object"}, "json"), ({"type": "text"}, None),
     ({"type": "object", "properties": {}}, {"type": "object", "properties": {}}),
     ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}, {"type": "object"})],
)
def test_response_format(value: object, expected: object) -> None:
    assert conv.to_response_format(value) == expected


def test_response_format_invalid() -> None:
    with pytest.raises(ConfigurationError):
        conv.to_response_format("yaml")


# --------------------------------------------------------------------------- results


def _result(**kw: object) -> core.ChatResult:
    base = dict(
        message=core.Message(role="assistant", content="Paris", thinking="capital of France"),
        finish_reason="stop",
        usage=core.Usage(input_tokens=12, output_tokens=3, cached_input_tokens=8),
        metrics=core.Metrics(time_to_first_token_s=0.1, tokens_per_second=40.0),
        model="llama3.2:latest",
        service="http://127.0.0.1:11434",
    )
    base.update(kw)
    return core.ChatResult(**base)  # type: ignore[arg-type]


def test_ai_message_fields() -> None:
    msg = conv.to_ai_message(_result(), kind="ollama")
    assert msg.content == "Paris"  # reasoning never in content
    assert msg.additional_kwargs == {"reasoning_content": "capital of France"}
    assert msg.usage_metadata == {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15,
                                  "input_token_details": {"cache_read": 8}}
    assert msg.response_metadata == {
        "model_provider": "ollama", "model_name": "llama3.2:latest", "model": "llama3.2:latest",
        "service": "http://127.0.0.1:11434", "finish_reason": "stop",
        "metrics": {"time_to_first_token_s": 0.1, "tokens_per_second": 40.0},
        "server": "http://127.0.0.1:11434", "time_to_first_token_s": 0.1, "tokens_per_second": 40.0,
        "cache_read_tokens": 8,
    }
    assert [b["type"] for b in msg.content_blocks] == ["reasoning", "text"]


def test_ai_message_tool_calls() -> None:
    call = core.ToolCall(id="call_1", name="add", arguments={"a": 1, "b": 2})
    msg = conv.to_ai_message(_result(message=core.Message(role="assistant", tool_calls=[call]),
                                     finish_reason="tool_calls"), kind=None)
    assert msg.tool_calls == [{"name": "add", "args": {"a": 1, "b": 2}, "id": "call_1", "type": "tool_call"}]
    assert msg.response_metadata["model_provider"] == "patinox"
    assert any(b["type"] == "tool_call" for b in msg.content_blocks)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (core.Usage(), None),
        (None, None),
        (core.Usage(input_tokens=5, output_tokens=2), {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}),
        # a fully cached Ollama prompt omits prompt_eval_count: usage is still reported
        (core.Usage(output_tokens=4, cached_input_tokens=9),
         {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13, "input_token_details": {"cache_read": 9}}),
        (core.Usage(output_tokens=4), {"input_tokens": 0, "output_tokens": 4, "total_tokens": 4}),
        (core.Usage(input_tokens=3), {"input_tokens": 3, "output_tokens": 0, "total_tokens": 3}),
    ],
)
def test_usage_metadata(usage: core.Usage | None, expected: dict | None) -> None:
    assert conv.to_usage_metadata(usage) == expected


def test_stream_chunks_merge_into_one_message() -> None:
    chunks = [
        core.ChatChunk(thinking="hmm "),
        core.ChatChunk(thinking="ok", content="Hel"),
        core.ChatChunk(content="lo", tool_calls=[core.ToolCall(id="call_a", name="add", arguments={"a": 1})]),
        core.ChatChunk(tool_calls=[core.ToolCall(id="call_b", name="add", arguments={"a": 2})]),
        core.ChatChunk(finish_reason="tool_calls", usage=core.Usage(input_tokens=3, output_tokens=5),
                       metrics=core.Metrics(total_duration_s=1.5), model="m", service="http://s"),
    ]
    out: list[AIMessageChunk] = []
    index = 0
    for c in chunks:
        out.append(conv.to_ai_chunk(c, kind="lmstudio", tool_index=index))
        index += len(c.tool_calls)
    assert [m.chunk_position for m in out] == [None, None, None, None, "last"]
    assert all(m.usage_metadata is None for m in out[:-1]) and all(not m.response_metadata for m in out[:-1])
    full = out[0]
    for m in out[1:]:
        full = full + m
    assert full.content == "Hello"
    assert full.additional_kwargs == {"reasoning_content": "hmm ok"}
    assert [(c["id"], c["index"]) for c in full.tool_call_chunks] == [("call_a", 0), ("call_b", 1)]
    assert [(c["id"], c["args"]) for c in full.tool_calls] == [("call_a", {"a": 1}), ("call_b", {"a": 2})]
    assert full.usage_metadata == {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8}
    assert full.response_metadata["model_name"] == "m"
    assert full.response_metadata["model_provider"] == "lmstudio"
    assert full.response_metadata["metrics"] == {"total_duration_s": 1.5}


def test_final_chunk_without_usage() -> None:
    last = conv.to_ai_chunk(core.ChatChunk(content="x", finish_reason="length", usage=core.Usage()), kind=None)
    assert last.usage_metadata is None and last.response_metadata["finish_reason"] == "length"


def test_conversation_tool_ids_are_stable_whatever_the_client_ids() -> None:
    def conversation(call_id: str) -> list:
        return [HumanMessage("1+2?"),
                AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": call_id,
                                           "type": "tool_call"}]),
                ToolMessage("3", tool_call_id=call_id), ToolMessage("orphan", tool_call_id="other")]

    first, second = conv.to_messages(conversation("5f1c-uuid-a")), conv.to_messages(conversation("9e2d-uuid-b"))
    assert first == second  # byte-stable request bodies: cassettes replay
    expected = tool_call_id("add", '{"a":1,"b":2}', 0)
    assert first[1].tool_calls[0].id == first[2].tool_call_id == expected
    assert first[3].tool_call_id == "other"


def _merge(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    return full


def test_v1_stream_blocks_never_collide() -> None:
    counter, index, out = conv.BlockCounter(), 0, []
    stream = [core.ChatChunk(thinking="hmm"), core.ChatChunk(content="Let me "), core.ChatChunk(content="call."),
              core.ChatChunk(tool_calls=[core.ToolCall("c1", "f", {"a": 1}), core.ToolCall("c2", "g", {})]),
              core.ChatChunk(finish_reason="tool_calls", model="m")]
    for c in stream:
        out.append(conv.to_ai_chunk(c, kind=None, tool_index=index, v1=counter))
        index += len(c.tool_calls)
    full = _merge(out)
    assert full.response_metadata["output_version"] == "v1"
    assert [b["type"] for b in full.content] == ["reasoning", "text", "tool_call", "tool_call"]
    assert full.content[1]["text"] == "Let me call."
    assert [c["id"] for c in full.tool_calls] == ["c1", "c2"]
