"""Reasoning through both adapters, over real loopback HTTP against the fakes.

LangChain: ``additional_kwargs["reasoning_content"]``, ``content_blocks`` and ``output_version="v1"``
``reasoning`` blocks, ``usage_metadata.output_token_details.reasoning``, the model profile's effort
levels, typed errors for values the model does not take, and a conversation whose earlier reasoning
goes back to the server. LlamaIndex: ``ThinkingBlock``s, ``thinking_delta`` and the same round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from llama_index.core.base.llms.types import ChatMessage, TextBlock, ThinkingBlock
from pydantic import BaseModel

from patinox_core.errors import CapabilityError
from patinox_core.testing import (
    FakeLlamaServer,
    FakeLMStudioServer,
    FakeOllamaServer,
    FakeOpenAIServer,
    LMStudioModel,
    OllamaModel,
    OpenAIModel,
)
from patinox_langchain import ChatPatinox
from patinox_llamaindex import Patinox

REASONING = "Two plus two is four."


@pytest.fixture
def llama() -> Iterator[FakeLlamaServer]:
    with FakeLlamaServer("qwen3-8b", reply="4", service_s=0) as server:
        server.model.reasoning = REASONING
        yield server


def _bodies(server: FakeLlamaServer) -> list[dict]:
    return [r.json for r in server.requests if r.path.endswith("/chat/completions")]


def _merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    return full


# --------------------------------------------------------------------------- LangChain


def test_langchain_reasoning_kwargs_blocks_and_usage(llama: FakeLlamaServer) -> None:
    model = ChatPatinox(model="qwen3-8b", base_url=llama.url, reasoning=True)
    msg = model.invoke("2+2?")
    assert msg.content == "4" and msg.additional_kwargs["reasoning_content"] == REASONING
    assert [b["type"] for b in msg.content_blocks] == ["reasoning", "text"]
    assert msg.usage_metadata is not None and "output_token_details" not in msg.usage_metadata  # not counted
    full = _merged(list(model.stream("2+2?")))
    assert full.content == "4" and full.additional_kwargs["reasoning_content"] == REASONING
    v1 = ChatPatinox(model="qwen3-8b", base_url=llama.url, reasoning=True, output_version="v1")
    blocks = v1.invoke("2+2?").content
    assert [(b["type"], b.get("reasoning") or b.get("text")) for b in blocks] == [  # type: ignore[union-attr]
        ("reasoning", REASONING), ("text", "4")]
    streamed = _merged(list(v1.stream("2+2?")))
    assert [b["type"] for b in streamed.content] == ["reasoning", "text"]  # type: ignore[index]


def test_reasoning_tokens_reach_usage_metadata_and_llamaindex_usage() -> None:
    """Where the server counts them (``completion_tokens_details.reasoning_tokens``)."""
    served = OpenAIModel("reasoner", reply="4", reasoning=REASONING, reasoning_tokens=True)
    with FakeOpenAIServer([served]) as server:
        model = ChatPatinox(model="reasoner", base_url=server.url, reasoning=True)
        for msg in (model.invoke("2+2?"), _merged(list(model.stream("2+2?")))):
            assert msg.usage_metadata is not None and msg.usage_metadata["output_token_details"] == {"reasoning": 5}
        resp = Patinox(model="reasoner", base_url=server.url, thinking=True).chat([ChatMessage(role="user",
                                                                                                content="2+2?")])
        assert resp.raw["usage"]["reasoning_tokens"] == 5 and resp.additional_kwargs["reasoning_tokens"] == 5


def test_langchain_multi_turn_sends_earlier_reasoning_back(llama: FakeLlamaServer) -> None:
    model = ChatPatinox(model="qwen3-8b", base_url=llama.url, reasoning=True)
    first = model.invoke("2+2?")
    asyncio.run(model.ainvoke([HumanMessage("2+2?"), first, HumanMessage("and 3+3?")]))
    v1_turn = AIMessage(content=[{"type": "reasoning", "reasoning": "by counting"}, {"type": "text", "text": "4"}])
    list(model.stream([HumanMessage("2+2?"), v1_turn, HumanMessage("and 3+3?")]))
    sent = [b["messages"][1] for b in _bodies(llama)[1:]]
    assert sent == [{"role": "assistant", "content": "4", "reasoning_content": REASONING},
                    {"role": "assistant", "content": "4", "reasoning_content": "by counting"}]


def test_langchain_levels_are_checked_against_the_model() -> None:
    models = [OllamaModel("qwen3", reply="4", thinking=REASONING, capabilities=["completion", "thinking"]),
              OllamaModel("gpt-oss:20b", reply="4", thinking=REASONING, capabilities=["completion", "thinking"])]
    with FakeOllamaServer(models) as server:
        qwen = ChatPatinox(model="qwen3", base_url=server.url, provider="ollama")
        with pytest.raises(CapabilityError, match="it allows True, False"):
            qwen.invoke("2+2?", reasoning="high")
        gpt = ChatPatinox(model="gpt-oss:20b", base_url=server.url, provider="ollama", reasoning="max")
        with pytest.raises(CapabilityError, match="it allows 'low', 'medium', 'high'"):
            gpt.invoke("2+2?")
        assert gpt.invoke("2+2?", reasoning=True).additional_kwargs["reasoning_content"] == REASONING
        assert server.requests[-1].json["think"] == "medium"
        assert gpt.profile is not None and gpt.profile.get("reasoning_effort_levels") == ["low", "medium", "high"]


def test_langchain_profile_and_structured_output_on_lmstudio() -> None:
    served = LMStudioModel("openai/gpt-oss-20b", reply="4", reasoning=REASONING, reasoning_capable=True,
                           reasoning_options=["low", "medium", "high"], reasoning_default="medium",
                           schema_in_reasoning=True, json_reply={"total": 4})
    with FakeLMStudioServer([served]) as server:
        model = ChatPatinox(model="openai/gpt-oss-20b", base_url=server.url)
        model.invoke("warm up")  # the profile is read from the catalogue, no I/O in the property

        class Sum(BaseModel):
            total: int

        assert model.with_structured_output(Sum).invoke("2+2?") == Sum(total=4)
        assert model.profile is not None
        assert model.profile.get("reasoning_effort_levels") == ["low", "medium", "high"]
        assert model.profile.get("reasoning_effort_default") == "medium"


# --------------------------------------------------------------------------- LlamaIndex


def test_llamaindex_thinking_blocks_deltas_and_round_trip(llama: FakeLlamaServer) -> None:
    llm = Patinox(model="qwen3-8b", base_url=llama.url, thinking=True)
    resp = llm.chat([ChatMessage(role="user", content="2+2?")])
    assert isinstance(resp.message.blocks[0], ThinkingBlock) and resp.message.blocks[0].content == REASONING
    assert resp.message.content == "4"
    deltas = [p.additional_kwargs.get("thinking_delta") or "" for p in llm.stream_chat(
        [ChatMessage(role="user", content="2+2?")])]
    assert "".join(deltas) == REASONING
    history = [ChatMessage(role="user", content="2+2?"), resp.message, ChatMessage(role="user", content="3+3?")]
    asyncio.run(llm.achat(history))
    handmade = ChatMessage(role="assistant", blocks=[ThinkingBlock(content="by counting"), TextBlock(text="4")])
    llm.chat([history[0], handmade, history[2]])
    sent = [b["messages"][1] for b in _bodies(llama)[-2:]]
    assert sent == [{"role": "assistant", "content": "4", "reasoning_content": REASONING},
                    {"role": "assistant", "content": "4", "reasoning_content": "by counting"}]


def test_llamaindex_refuses_a_level_the_model_does_not_take() -> None:
    with FakeOllamaServer([OllamaModel("qwen3", reply="4", thinking=REASONING,
                                       capabilities=["completion", "thinking"])]) as server:
        llm = Patinox(model="qwen3", base_url=server.url, provider="ollama", thinking="low")
        with pytest.raises(CapabilityError, match="takes no effort level"):
            llm.chat([ChatMessage(role="user", content="hi")])
        assert llm.chat([ChatMessage(role="user", content="hi")], think=True).message.blocks[0].content == REASONING
