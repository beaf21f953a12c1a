"""Pure reasoning logic: the think splitter's held-back start, values against what a model allows,
and the structured-output guard."""

from __future__ import annotations

from dataclasses import replace

import pytest

from patinox_core.backends.think import ThinkSplitter, split_think
from patinox_core.capabilities import ModelInfo, Source, model_info
from patinox_core.config import ProviderKind
from patinox_core.errors import CapabilityError
from patinox_core.kinds import quirks_for
from patinox_core.reasoning import guard_structured, recover_json, resolve_think
from patinox_core.types import ChatRequest, ChatResult, Message


def _feed_all(splitter: ThinkSplitter, pieces: list[str]) -> tuple[str, str]:
    content, thinking = [], []
    for piece in pieces:
        c, t = splitter.feed(piece)
        content.append(c)
        thinking.append(t)
    c, t = splitter.flush()
    return "".join(content) + c, "".join(thinking) + t


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 100])
def test_a_template_opened_block_splits_at_any_chunk_size(size: int) -> None:
    text = "Count: r, r, r.</think>\n\nThree."
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    assert _feed_all(ThinkSplitter(maybe_open=True), pieces) == ("Three.", "Count: r, r, r.")


@pytest.mark.parametrize("text", ["<think>plan</think>Three.", "  <think>plan</think>Three."])
def test_a_block_the_model_opened_is_split_the_same_when_held(text: str) -> None:
    pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
    assert _feed_all(ThinkSplitter(maybe_open=True), pieces) == ("Three.", "plan")


def test_held_text_without_any_tag_is_content_at_the_end() -> None:
    splitter = ThinkSplitter(maybe_open=True)
    assert [splitter.feed(p) for p in ("Just ", "an answer.")] == [("", ""), ("", "")]
    assert splitter.flush() == ("Just an answer.", "")


def test_decide_releases_held_text_as_content() -> None:
    splitter = ThinkSplitter(maybe_open=True)
    assert splitter.feed("Hel") == ("", "")
    assert splitter.decide() == ("Hel", "")
    assert splitter.feed("lo </think>") == ("lo </think>", "")  # decided: a later close tag is text
    assert splitter.decide() == ("", "")


def test_split_think_handles_stray_close_only_before_any_open() -> None:
    assert split_think("a</think>b") == ("b", "a")
    assert split_think("<think>a</think>b</think>c") == ("b</think>c", "a")
    assert split_think("no tags") == ("no tags", "")


def _info(name: str, **facts: object) -> ModelInfo:
    return model_info({"name": name, **facts}, service="http://127.0.0.1:1", kind=ProviderKind.OLLAMA)  # type: ignore[typeddict-item]


@pytest.mark.parametrize(("name", "think", "sent"), [
    ("gpt-oss:20b", True, "medium"), ("gpt-oss:20b", "high", "high"), ("gpt-oss:20b", None, None),
    ("qwen3:8b", True, True), ("qwen3:8b", False, False), ("llama3.2", "max", "max"),
])
def test_resolve_think_maps_what_the_model_takes(name: str, think: object, sent: object) -> None:
    assert resolve_think(think, _info(name)) == sent  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "think", "words"), [
    ("gpt-oss:20b", False, "cannot turn reasoning off"), ("gpt-oss:20b", "max", "does not take reasoning='max'"),
    ("qwen3:8b", "low", "takes no effort level"), ("qwen3-30b-a3b-thinking-2507", False, "it allows True"),
])
def test_resolve_think_refuses_with_the_allowed_values(name: str, think: object, words: str) -> None:
    with pytest.raises(CapabilityError, match=words) as err:
        resolve_think(think, _info(name))  # type: ignore[arg-type]
    assert "(per heuristic facts)" in err.value.message and "overrides=" in (err.value.hint or "")


def test_server_facts_beat_the_name_and_an_override_beats_both() -> None:
    info = _info("gpt-oss:20b", reasoning_options=("low", "medium", "high", "max"), reasoning_default="high")
    assert info.source["reasoning_options"] is Source.SERVER and resolve_think(True, info) == "high"
    assert resolve_think("max", info) == "max"


def test_guard_turns_default_thinking_off_only_where_schema_and_thinking_clash() -> None:
    request = ChatRequest(model="qwen3:8b", messages=[], response_format={"type": "object"})
    info = _info("qwen3:8b")
    assert guard_structured(request, info, quirks_for("llama_server")).think is False
    assert guard_structured(request, info, quirks_for("vllm")) is request
    assert guard_structured(request, info, quirks_for("lmstudio")) is request  # no switch: recovered after
    assert guard_structured(replace(request, response_format=None), info, quirks_for("llama_server")).think is None
    off_only = replace(info, reasoning_options=("on",))
    assert guard_structured(request, off_only, quirks_for("llama_server")).think is None
    with pytest.raises(CapabilityError, match="JSON lands in the reasoning"):
        guard_structured(replace(request, think=True), info, quirks_for("llama_server"))


def test_recover_json_moves_only_a_whole_json_reasoning() -> None:
    request = ChatRequest(model="m", messages=[], response_format={"type": "object"})
    moved = recover_json(ChatResult(Message("assistant", " ", thinking='{"a": 1}')), request)
    assert (moved.message.content, moved.message.thinking) == ('{"a": 1}', None)
    kept = recover_json(ChatResult(Message("assistant", "", thinking='Let me see: {"a": 1}')), request)
    assert kept.message.content == ""
    plain = ChatRequest(model="m", messages=[])
    assert recover_json(ChatResult(Message("assistant", "", thinking="{}")), plain).message.content == ""
