"""Issue 15 items 1, 2 and 7 for LangChain, against a loopback llama-cpp-python fake:
malformed tool-call arguments are data (``invalid_tool_calls``, ``parsing_error``), a reply cut off
by ``max_tokens`` is never accepted as structured output, and ChatOpenAI's ``stream_usage`` carries over."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call
from llama_cpp_fake import LlamaCppPython, tool_call
from pydantic import BaseModel

from patinox_core.errors import InvalidResponseError, LocalProviderError
from patinox_langchain import ChatPatinox


class City(BaseModel):
    name: str
    country: str


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
def server() -> Iterator[LlamaCppPython]:
    with LlamaCppPython() as srv:
        yield srv


def chat(srv: LlamaCppPython, **kw) -> ChatPatinox:
    return ChatPatinox(model="gemma3-270m", base_url=srv.url, provider="openai_compatible", max_retries=0, **kw)


def test_malformed_arguments_go_to_invalid_tool_calls(server: LlamaCppPython) -> None:
    server.message = {"role": "assistant", "content": None, "tool_calls": [tool_call("get_weather", '{ "city":')]}
    server.finish = "length"
    llm = chat(server, max_tokens=4).bind_tools([get_weather], tool_choice="get_weather")
    message = llm.invoke("Weather in Paris?")
    assert message.tool_calls == []
    [bad] = message.invalid_tool_calls
    assert (bad["name"], bad["args"], bad["id"]) == ("get_weather", '{ "city":', "call__0_get_weather_cmpl-1")
    assert "raise max_tokens" in bad["error"] and "weak" not in bad["error"]
    assert message.response_metadata["finish_reason"] == "length"


async def test_malformed_arguments_async_and_streamed(server: LlamaCppPython) -> None:
    server.message = {"role": "assistant", "content": None, "tool_calls": [tool_call("get_weather", "{city: Par")]}
    server.finish = "tool_calls"
    llm = chat(server).bind_tools([get_weather], tool_choice="get_weather")
    message = await llm.ainvoke("Weather in Paris?")
    assert message.tool_calls == [] and "malformed" in message.invalid_tool_calls[0]["error"]
    chunks = list(llm.stream("Weather in Paris?"))
    raw = "".join(c["args"] for chunk in chunks for c in chunk.tool_call_chunks)
    assert raw == "{city: Par"  # the argument text as it came, in tool_call_chunks (LangChain parses them)
    assert chunks[-1].response_metadata["finish_reason"] == "tool_calls"


def test_function_calling_structured_output_reports_parsing_error(server: LlamaCppPython) -> None:
    server.message = {"role": "assistant", "content": None,
                      "tool_calls": [tool_call("City", '{ "name": "Eiffel', call_id="call_1")]}
    server.finish = "length"
    llm = chat(server, max_tokens=4)
    out = llm.with_structured_output(City, method="function_calling", include_raw=True).invoke("Where?")
    assert out["parsed"] is None and out["raw"].invalid_tool_calls
    assert isinstance(out["parsing_error"], InvalidResponseError)
    assert "max_tokens" in str(out["parsing_error"])
    with pytest.raises(OutputParserException, match="max_tokens"):
        llm.with_structured_output(City, method="function_calling").invoke("Where?")
    server.finish = "tool_calls"  # not cut off, just malformed: still an error, not a silent None
    with pytest.raises(LocalProviderError, match="not structured output"):
        llm.with_structured_output(City, method="function_calling").invoke("Where?")


@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_truncated_structured_output_is_never_repaired(server: LlamaCppPython, method: str) -> None:
    server.message = {"role": "assistant", "content": '{ "name": " Eiffel Tower", "country": "France'}
    server.finish = "length"
    llm = chat(server, max_tokens=12)
    out = llm.with_structured_output(City, method=method, include_raw=True).invoke("Where?")
    assert out["parsed"] is None and out["raw"].response_metadata["finish_reason"] == "length"
    err = out["parsing_error"]
    assert isinstance(err, OutputParserException) and isinstance(err, LocalProviderError)
    assert err.hint is not None and "raise max_tokens" in err.hint
    with pytest.raises(InvalidResponseError, match="max_tokens"):
        llm.with_structured_output(City, method=method).invoke("Where?")
    with pytest.raises(InvalidResponseError, match="max_tokens"):
        list(llm.with_structured_output(City, method=method).stream("Where?"))


async def test_complete_structured_output_still_parses_and_streams(server: LlamaCppPython) -> None:
    server.message = {"role": "assistant", "content": '{"name": "Eiffel Tower", "country": "France"}'}
    llm = chat(server).with_structured_output(City)
    assert llm.invoke("Where?") == City(name="Eiffel Tower", country="France")
    assert await llm.ainvoke("Where?") == City(name="Eiffel Tower", country="France")
    streamed = [part async for part in llm.astream("Where?")]
    assert streamed[-1] == City(name="Eiffel Tower", country="France")


def test_stream_usage_is_accepted_as_chatopenai_users_pass_it(server: LlamaCppPython) -> None:
    llm = chat(server, stream_usage=True)
    assert llm.stream_usage is True
    assert "".join(str(c.content) for c in llm.stream("hi")) == "Hello."
    assert "".join(str(c.content) for c in chat(server).stream("hi", stream_usage=False)) == "Hello."


def test_invalid_calls_in_the_history_are_sent_back_as_chatopenai_sends_them(server: LlamaCppPython) -> None:
    bad = invalid_tool_call(name="get_weather", args='{ "city":', id="call_uuid_1", error="cut off")
    history = [HumanMessage("Weather?"), AIMessage("", invalid_tool_calls=[bad]),
               ToolMessage("error: arguments were cut off", tool_call_id="call_uuid_1"), HumanMessage("Try again")]
    chat(server).invoke(history)
    sent = server.requests[-1].json["messages"]
    [call] = sent[1]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{ "city":'}
    assert sent[2]["tool_call_id"] == call["id"] != "call_uuid_1"  # made deterministic, still paired
