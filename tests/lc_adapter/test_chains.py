"""ChatPatinox inside real LangChain programs, against a fake Ollama server: an LCEL chain
(prompt | model | parser) and a tool-calling agent loop (model -> tool -> model).
The same programs run on the real model server in ``tests/live/test_langchain_live.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool

from patinox_core.fakes._http import Reply, StreamReply
from patinox_core.testing import FakeOllamaServer, OllamaModel
from patinox_langchain import ChatPatinox


@tool
def get_weather(location: str) -> str:
    """Get the current weather at a location."""
    return f"It's sunny in {location}."


class AgentOllama(FakeOllamaServer):
    """A fake Ollama whose model calls a tool first and answers once it has seen the result."""

    def _answer(self, body: dict[str, Any], model: OllamaModel, stream: bool, thinks: bool) -> Reply | StreamReply:
        if body["messages"][-1]["role"] == "tool":
            body = {k: v for k, v in body.items() if k != "tools"}
        return super()._answer(body, model, stream, thinks)


def answer(messages: list[dict[str, Any]]) -> str:
    last = messages[-1]
    if last["role"] == "tool":
        return f"According to {last.get('tool_name', 'the tool')}: {last['content']}"
    return f"You asked: {last['content']}"


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    model = OllamaModel("llama3.2", reply=answer, capabilities=["completion", "tools"],
                        tool_calls=[{"name": "get_weather", "arguments": {"location": "Paris"}}])
    with AgentOllama([model]) as srv:
        yield srv


def make_chain(model: ChatPatinox) -> Runnable:
    prompt = ChatPromptTemplate.from_messages([("system", "Answer in one short sentence."), ("human", "{question}")])
    return prompt | model | StrOutputParser()


def agent_loop(model: ChatPatinox, tools: list[BaseTool], question: str, max_turns: int = 4) -> list[BaseMessage]:
    """The classic loop: call the model; run every tool it asks for; repeat until it answers."""
    bound = model.bind_tools(tools)
    by_name = {t.name: t for t in tools}
    messages: list[BaseMessage] = [HumanMessage(question)]
    for _ in range(max_turns):
        reply = bound.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return messages
        messages.extend(by_name[call["name"]].invoke(call) for call in reply.tool_calls)
    raise AssertionError(f"no final answer after {max_turns} turns")


def test_lcel_chain_invoke_stream_batch(server: FakeOllamaServer) -> None:
    chain = make_chain(ChatPatinox(model="llama3.2", base_url=server.url, provider="ollama"))
    assert chain.invoke({"question": "Is it raining?"}) == "You asked: Is it raining?"
    pieces = list(chain.stream({"question": "Why is the sky blue?"}))
    assert len(pieces) > 1 and "".join(pieces) == "You asked: Why is the sky blue?"
    assert chain.batch([{"question": "a"}, {"question": "b"}]) == ["You asked: a", "You asked: b"]
    sent = next(r.json for r in server.requests if r.path == "/api/chat")["messages"]
    assert sent == [{"role": "system", "content": "Answer in one short sentence."},
                    {"role": "user", "content": "Is it raining?"}]


async def test_lcel_chain_async(server: FakeOllamaServer) -> None:
    chain = make_chain(ChatPatinox(model="llama3.2", base_url=server.url, provider="ollama"))
    assert await chain.ainvoke({"question": "hi"}) == "You asked: hi"
    assert "".join([p async for p in chain.astream({"question": "hi"})]) == "You asked: hi"


def test_agent_loop_model_tool_model(server: FakeOllamaServer) -> None:
    messages = agent_loop(ChatPatinox(model="llama3.2", base_url=server.url, provider="ollama"), [get_weather],
                          "What is the weather in Paris?")
    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    call, result, final = messages[1], messages[2], messages[3]
    assert isinstance(call, AIMessage) and call.tool_calls[0]["args"] == {"location": "Paris"}
    assert isinstance(result, ToolMessage) and result.tool_call_id == call.tool_calls[0]["id"]
    assert final.content == "According to get_weather: It's sunny in Paris."
    second = [r.json for r in server.requests if r.path == "/api/chat"][-1]["messages"]
    assert second[-1] == {"role": "tool", "content": "It's sunny in Paris.", "tool_name": "get_weather",
                          "tool_call_id": second[-2]["tool_calls"][0]["id"]}
