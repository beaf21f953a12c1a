"""Live tier: ChatPatinox in a real LCEL chain and a tool-calling agent loop on the real model server
(llama-cpp-python + Gemma 3 270M base, ``pytest -m live``). The fake-server twins of these
programs are in ``tests/lc_adapter/test_chains.py``.

The model is a tiny base model: these tests check plumbing and shapes, never meaning. It never
calls a tool on its own, so the agent loop's first turn names the tool (``tool_choice``), the way
an agent forces its first step; the second turn is free.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool

from patinox_langchain import ChatPatinox, PatinoxEmbeddings

pytestmark = pytest.mark.live


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It's sunny in {city}."


def chat(live_server: Any, model: str | None = None, **kw: Any) -> ChatPatinox:
    return ChatPatinox(model=model or live_server.chat_model, base_url=live_server.base_url,
                       provider="openai_compatible", temperature=0, max_tokens=24, timeout=60, **kw)


def test_lcel_chain(live_server: Any) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "You are a concise assistant."), ("human", "{question}")])
    chain = prompt | chat(live_server) | StrOutputParser()
    answer = chain.invoke({"question": "What is the capital of France?"})
    assert isinstance(answer, str) and answer.strip()
    pieces = list(chain.stream({"question": "What is the capital of France?"}))
    assert len(pieces) > 1 and "".join(pieces) == answer  # temperature 0: the same text


async def test_lcel_chain_async(live_server: Any) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | chat(live_server) | StrOutputParser()
    answers = await chain.abatch([{"question": "Hello"}, {"question": "Bonjour"}])
    assert all(isinstance(a, str) and a for a in answers)


def test_agent_loop(live_server: Any) -> None:
    model = chat(live_server, live_server.tools_model)
    messages: list[BaseMessage] = [HumanMessage("What is the weather in Paris?")]
    first = model.bind_tools([get_weather], tool_choice="get_weather").invoke(messages)
    assert isinstance(first, AIMessage) and [c["name"] for c in first.tool_calls] == ["get_weather"]
    assert isinstance(first.tool_calls[0]["args"].get("city"), str)
    messages += [first, *(get_weather.invoke(c) for c in first.tool_calls)]
    assert isinstance(messages[-1], ToolMessage) and messages[-1].tool_call_id == first.tool_calls[0]["id"]
    final = model.bind_tools([get_weather]).invoke(messages)
    assert isinstance(final, AIMessage)
    assert final.response_metadata["model_provider"] == "openai_compatible"
    assert final.usage_metadata is not None and final.usage_metadata["input_tokens"] > 0


def test_metadata_profile_and_embeddings(live_server: Any) -> None:
    model = chat(live_server)
    reply = model.invoke("Hello")
    assert reply.response_metadata["model_name"] == live_server.chat_model
    assert reply.response_metadata["service"] == live_server.base_url
    assert model.profile is not None and model.profile["text_inputs"] is True
    embeddings = PatinoxEmbeddings(model=live_server.chat_model, base_url=live_server.base_url,
                                   provider="openai_compatible", batch_size=2)
    vectors = embeddings.embed_documents(["cats", "dogs", "birds"])
    assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1 and len(vectors[0]) == 640
    assert vectors[0] == pytest.approx(embeddings.embed_query("cats"), rel=1e-3, abs=1e-3)  # batching: float noise
