"""Pure LlamaIndex <-> neutral conversions (no server, no provider)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ChatResponse,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.callbacks.token_counting import get_tokens_from_response
from llama_index.core.tools import FunctionTool

from patinox_core import types as core
from patinox_core.config import ProviderKind
from patinox_core.errors import CapabilityError, ConfigurationError
from patinox_llamaindex import _convert as cv

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PNG_B64 = base64.b64encode(PNG).decode()


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("role", "expected"),
    [("system", "system"), ("developer", "system"), ("user", "user"), ("assistant", "assistant"),
     ("model", "assistant"), ("chatbot", "assistant"), ("tool", "tool"), ("function", "tool")],
)
def test_roles(role: str, expected: str) -> None:
    assert cv.to_core_message(ChatMessage(role=role, content="x")).role == expected


def test_text_blocks_join_like_llamaindex_content() -> None:
    msg = ChatMessage(role="user", blocks=[TextBlock(text="a"), TextBlock(text="b")])
    assert cv.to_core_message(msg).content == msg.content == "a\nb"


def test_image_bytes_become_a_data_url_with_guessed_type() -> None:
    msg = ChatMessage(role="user", blocks=[TextBlock(text="what is this?"), ImageBlock(image=PNG)])
    out = cv.to_core_message(msg)
    assert out.images == [f"data:image/png;base64,{PNG_B64}"]
    assert out.content == "what is this?"


def test_image_already_base64_is_not_double_encoded() -> None:
    out = cv.to_core_message(ChatMessage(role="user", blocks=[ImageBlock(image=PNG_B64.encode())]))
    assert out.images == [f"data:image/png;base64,{PNG_B64}"]


def test_image_of_unknown_type_is_bare_base64() -> None:
    raw = b"not an image format"
    out = cv.to_core_message(ChatMessage(role="user", blocks=[ImageBlock(image=raw)]))
    assert out.images == [base64.b64encode(raw).decode()]


def test_image_data_url_and_http_url_pass_through() -> None:
    data_url = f"data:image/png;base64,{PNG_B64}"
    msg = ChatMessage(role="user", blocks=[ImageBlock(url=data_url), ImageBlock(url="https://example.org/cat.png")])
    assert cv.to_core_message(msg).images == [data_url, "https://example.org/cat.png"]


def test_image_path_is_read_and_encoded(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    out = cv.to_core_message(ChatMessage(role="user", blocks=[ImageBlock(path=path)]))
    assert out.images == [f"data:image/png;base64,{PNG_B64}"]


def test_thinking_and_tool_call_blocks_on_assistant_history() -> None:
    msg = ChatMessage(
        role="assistant",
        blocks=[
            ThinkingBlock(content="let me add"),
            TextBlock(text=""),
            ToolCallBlock(tool_call_id="call_1", tool_name="add", tool_kwargs={"a": 1, "b": 2}),
            ToolCallBlock(tool_name="add", tool_kwargs='{"a": 3, "b": 4}'),
        ],
    )
    out = cv.to_core_message(msg)
    assert out.thinking == "let me add"
    assert [c.name for c in out.tool_calls] == ["add", "add"]
    assert out.tool_calls[0].id == "call_1"
    assert out.tool_calls[1].arguments == {"a": 3, "b": 4}
    assert out.tool_calls[1].id not in ("add", "call_1")  # a stable id, never the tool name


def test_tool_result_message_carries_call_id_and_name() -> None:
    msg = ChatMessage(role="tool", content="3", additional_kwargs={"tool_call_id": "call_1", "name": "add"})
    out = cv.to_core_message(msg)
    assert (out.role, out.content, out.tool_call_id, out.name) == ("tool", "3", "call_1", "add")


def test_legacy_openai_tool_calls_in_additional_kwargs() -> None:
    legacy = [{"id": "c9", "type": "function", "function": {"name": "mul", "arguments": '{"x": 2}'}}]
    out = cv.to_core_message(ChatMessage(role="assistant", content="", additional_kwargs={"tool_calls": legacy}))
    assert out.tool_calls == [core.ToolCall(id="c9", name="mul", arguments={"x": 2})]


def test_unsupported_block_is_a_clear_error() -> None:
    msg = ChatMessage(role="user", blocks=[AudioBlock(audio=b"RIFF0000WAVE")])
    with pytest.raises(CapabilityError, match="AudioBlock is not supported"):
        cv.to_core_message(msg)


def test_stable_tool_id_is_deterministic_and_positional() -> None:
    a = cv.stable_tool_id("add", {"a": 1, "b": 2}, 0)
    assert a == cv.stable_tool_id("add", {"b": 2, "a": 1}, 0)
    assert a != cv.stable_tool_id("add", {"a": 1, "b": 2}, 1)
    assert a.startswith("call_") and a != "add"


# --------------------------------------------------------------------------- tools


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tool_specs_are_openai_function_specs() -> None:
    (spec,) = cv.tool_specs([FunctionTool.from_defaults(fn=add)])
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "add"
    assert set(spec["function"]["parameters"]["properties"]) == {"a", "b"}


@pytest.mark.parametrize(
    ("choice", "required", "expected"),
    [(None, False, None), (None, True, "required"), ("auto", False, "auto"), ("add", True, "add"),
     ({"type": "function", "function": {"name": "add"}}, False, "add"), ("", True, "required")],
)
def test_tool_choice(choice: object, required: bool, expected: str | None) -> None:
    assert cv.tool_choice(choice, required=required) == expected


# --------------------------------------------------------------------------- responses


def _result(**kw: object) -> core.ChatResult:
    msg = core.Message(
        role="assistant",
        content="sum is 3",
        thinking="adding",
        tool_calls=[core.ToolCall(id="call_a", name="add", arguments={"a": 1, "b": 2}),
                    core.ToolCall(id="call_b", name="add", arguments={"a": 5, "b": 6})],
    )
    defaults = dict(
        message=msg,
        finish_reason="tool_calls",
        usage=core.Usage(input_tokens=10, output_tokens=4, cached_input_tokens=2),
        metrics=core.Metrics(time_to_first_token_s=0.1, tokens_per_second=50.0),
        model="qwen3:4b",
        service="http://127.0.0.1:11434",
        raw={"done_reason": "stop"},
    )
    defaults.update(kw)
    return core.ChatResult(**defaults)  # type: ignore[arg-type]


def test_result_blocks_are_thinking_text_then_tool_calls() -> None:
    resp = cv.from_core_result(_result())
    kinds = [type(b) for b in resp.message.blocks]
    assert kinds == [ThinkingBlock, TextBlock, ToolCallBlock, ToolCallBlock]
    assert resp.message.role == MessageRole.ASSISTANT
    assert resp.message.content == "sum is 3"
    assert resp.message.blocks[0].content == "adding"


def test_result_usage_in_raw_and_additional_kwargs() -> None:
    resp = cv.from_core_result(_result())
    assert resp.raw["usage"] == {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14, "cached_tokens": 2}
    assert resp.raw["done_reason"] == "stop"  # the server's own fields are kept
    kw = resp.additional_kwargs
    assert (kw["prompt_tokens"], kw["completion_tokens"], kw["total_tokens"]) == (10, 4, 14)
    assert kw["model"] == "qwen3:4b" and kw["service"] == "http://127.0.0.1:11434"
    assert kw["finish_reason"] == "tool_calls"
    assert kw["metrics"] == {"time_to_first_token_s": 0.1, "tokens_per_second": 50.0}
    assert get_tokens_from_response(resp) == (10, 4)  # LlamaIndex's TokenCountingHandler reads it


def test_unknown_usage_is_absent_not_zero() -> None:
    resp = cv.from_core_result(_result(usage=core.Usage(output_tokens=3), raw=None))
    assert resp.raw["usage"] == {"completion_tokens": 3}
    assert "prompt_tokens" not in resp.additional_kwargs


def test_tool_selections_use_call_ids_never_names() -> None:
    sels = cv.tool_selections(cv.from_core_result(_result()))
    assert [(s.tool_id, s.tool_name, s.tool_kwargs) for s in sels] == [
        ("call_a", "add", {"a": 1, "b": 2}),
        ("call_b", "add", {"a": 5, "b": 6}),
    ]


def test_tool_selections_unique_even_when_ids_missing_or_repeated() -> None:
    calls = [core.ToolCall(id="", name="add", arguments={"a": 1}), core.ToolCall(id="", name="add", arguments={"a": 1}),
             core.ToolCall(id="dup", name="add", arguments={}), core.ToolCall(id="dup", name="add", arguments={})]
    resp = cv.from_core_result(_result(message=core.Message(role="assistant", tool_calls=calls)))
    ids = [s.tool_id for s in cv.tool_selections(resp)]
    assert len(set(ids)) == 4 and "add" not in ids


def test_keep_first_tool_call() -> None:
    resp = cv.keep_first_tool_call(cv.from_core_result(_result()))
    assert [s.tool_id for s in cv.tool_selections(resp)] == ["call_a"]
    assert resp.message.content == "sum is 3"


def test_stream_accumulator_is_cumulative_with_deltas() -> None:
    acc = cv.StreamAccumulator()
    call = core.ToolCall(id="call_z", name="add", arguments={"a": 1, "b": 1})
    chunks = [
        core.ChatChunk(thinking="hm"),
        core.ChatChunk(content="Hel"),
        core.ChatChunk(content="lo", tool_calls=[call]),
        core.ChatChunk(tool_calls=[call]),  # a repeated complete call is not duplicated
        core.ChatChunk(finish_reason="stop", usage=core.Usage(input_tokens=5, output_tokens=2), model="m",
                       service="http://s"),
    ]
    out: list[ChatResponse] = [acc.feed(c) for c in chunks]
    assert [r.delta for r in out] == ["", "Hel", "lo", "", ""]
    assert [r.message.content for r in out] == ["", "Hel", "Hello", "Hello", "Hello"]
    assert out[0].additional_kwargs["thinking_delta"] == "hm"
    assert out[1].additional_kwargs["thinking_delta"] is None
    assert out[-1].message.blocks[0].content == "hm"
    assert [s.tool_id for s in cv.tool_selections(out[-1])] == ["call_z"]
    assert out[-1].raw["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert out[-1].additional_kwargs["finish_reason"] == "stop"
    assert out[1].raw is None


def test_usage_and_metrics_dicts_drop_unknowns() -> None:
    assert cv.usage_dict(None) == {} and cv.metrics_dict(None) == {}
    assert cv.usage_dict(core.Usage()) == {}
    assert cv.metrics_dict(core.Metrics(load_duration_s=2.5)) == {"load_duration_s": 2.5}


# --------------------------------------------------------------------------- requests and settings


def _req(call: dict, **defaults: object) -> core.ChatRequest:
    return cv.to_chat_request([ChatMessage(role="user", content="hi")], defaults=defaults, call=call)


def test_request_uses_field_defaults_and_call_overrides() -> None:
    req = _req({"temperature": 0.0, "stop": "END"}, model="m", temperature=0.7, max_tokens=9, seed=3)
    assert (req.model, req.temperature, req.max_tokens, req.seed, req.stop) == ("m", 0.0, 9, 3, ["END"])
    assert req.num_ctx is None and req.keep_alive is None and req.timeout is None


@pytest.mark.parametrize("key", ["think", "thinking", "reasoning"])
def test_per_call_think_false_beats_field_true(key: str) -> None:
    assert _req({key: False}, thinking=True).think is False
    assert _req({}, thinking=True).think is True
    assert _req({key: "high"}, thinking=None).think == "high"


def test_request_tools_choice_and_options() -> None:
    spec = cv.tool_specs([FunctionTool.from_defaults(fn=add)])
    req = _req({"tools": spec, "tool_required": True, "mirostat": 2, "options": {"num_thread": 4}},
               additional_kwargs={"repeat_penalty": 1.1})
    assert req.tools == spec and req.tool_choice == "required"
    assert req.options == {"repeat_penalty": 1.1, "num_thread": 4, "mirostat": 2}
    assert _req({"tool_choice": "add"}).tool_choice is None  # no tools, no choice


def test_request_drops_llamaindex_plumbing_kwargs() -> None:
    assert _req({"formatted": True, "verbose": True}).options == {}


def test_request_format_variants() -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    assert _req({}, format="json").response_format == "json"
    assert _req({"format": None}, format="json").response_format is None
    assert _req({"response_format": City}).response_format == City.model_json_schema()
    assert _req({"format": {"type": "json_object"}}).response_format == "json"
    with pytest.raises(ConfigurationError, match="format="):
        _req({"format": 3})


def test_module_doctests() -> None:
    import doctest

    assert doctest.testmod(cv).failed == 0


# --------------------------------------------------------------------------- metadata


def _info(**kw: object):
    from patinox_core.capabilities import Capabilities, ModelInfo, Source

    caps = kw.pop("capabilities", Capabilities(tools=True))
    source = kw.pop("source", {"tools": Source.SERVER, "chat": Source.SERVER})
    return ModelInfo(name="qwen3:4b", service="http://127.0.0.1:11434", kind=ProviderKind.OLLAMA,
                     capabilities=caps, source=source, **kw)  # type: ignore[arg-type]


def _meta(info: object, **kw: object):
    args = {"model": None, "context_window": None, "num_output": None, "is_function_calling_model": None, **kw}
    return cv.to_metadata(info, **args)  # type: ignore[arg-type]


def test_metadata_defaults_before_resolution() -> None:
    meta = _meta(None, model="m")
    assert (meta.context_window, meta.num_output, meta.model_name) == (3900, 256, "m")
    assert meta.is_chat_model and meta.is_function_calling_model


def test_metadata_uses_effective_context_never_the_trained_max() -> None:
    loaded = _info(context_length=262144, loaded=True, loaded_context_length=8192)
    assert _meta(loaded).context_window == 8192
    unloaded = _info(context_length=262144, default_context_length=4096)
    assert _meta(unloaded).context_window == 4096
    unknown_alloc = _info(context_length=262144)
    assert _meta(unknown_alloc).context_window == 3900
    assert _meta(_info(context_length=2048)).context_window == 2048


def test_metadata_capabilities_and_overrides() -> None:
    from patinox_core.capabilities import Capabilities

    no_tools = _info(capabilities=Capabilities(tools=False), loaded=True, loaded_context_length=4096)
    meta = _meta(no_tools)
    assert meta.is_function_calling_model is False and meta.model_name == "qwen3:4b"
    meta = _meta(no_tools, is_function_calling_model=True, context_window=1000, num_output=64, model="alias")
    assert (meta.is_function_calling_model, meta.context_window, meta.num_output, meta.model_name) == (
        True, 1000, 64, "alias")
    assert _meta(_info(capabilities=Capabilities(chat=False, embeddings=True))).is_chat_model is False


def test_metadata_unknown_capability_is_not_a_no() -> None:
    from patinox_core.capabilities import Capabilities

    unknown = _info(capabilities=Capabilities(tools=False), source={})  # a default, nobody said "no tools"
    assert _meta(unknown).is_function_calling_model is True


def test_request_accepts_llamaindex_tools_directly() -> None:
    tool = FunctionTool.from_defaults(fn=add)
    assert _req({"tools": [tool]}).tools == cv.tool_specs([tool])
