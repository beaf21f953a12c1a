"""Issue 15 items 1 and 2 for LlamaIndex, against a loopback llama-cpp-python fake: a tool selection
carries malformed arguments as they came, the output class's own validation rejects them, and a
structured reply cut off by ``max_tokens`` is an error that says so (streams included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_cpp_fake import LlamaCppPython, tool_call
from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.core.types import PydanticProgramMode
from pydantic import BaseModel, ValidationError

from patinox_core.errors import InvalidResponseError
from patinox_llamaindex import Patinox

PROMPT = PromptTemplate("Which city has the {thing}?")


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


def llm(srv: LlamaCppPython, **kw) -> Patinox:
    return Patinox(model="gemma3-270m", base_url=srv.url, provider="openai_compatible", max_retries=0, **kw)


def test_tool_selection_carries_the_raw_arguments(server: LlamaCppPython) -> None:
    server.message = {"role": "assistant", "content": None, "tool_calls": [tool_call("get_weather", '{ "city":')]}
    server.finish = "length"
    model = llm(server, max_tokens=4)
    tool = FunctionTool.from_defaults(get_weather)
    response = model.chat_with_tools([tool], "Weather in Paris?", tool_required=True)
    block = next(b for b in response.message.blocks if isinstance(b, ToolCallBlock))
    assert block.tool_kwargs == '{ "city":'
    [bad] = response.additional_kwargs["invalid_tool_calls"]
    assert bad["arguments"] == '{ "city":' and "raise max_tokens" in bad["error"]
    [selection] = model.get_tool_calls_from_response(response)
    assert selection.tool_name == "get_weather" and selection.tool_kwargs == {"input": '{ "city":'}
    streamed = list(model.stream_chat_with_tools([tool], "Weather in Paris?", tool_required=True))[-1]
    assert model.get_tool_calls_from_response(streamed)[0].tool_kwargs == {"input": '{ "city":'}
    with pytest.raises(ValidationError):  # the output class's own validation, as in LlamaIndex's programs
        City(**selection.tool_kwargs)


def test_truncated_structured_predict_is_an_error(server: LlamaCppPython) -> None:
    server.message = {"role": "assistant", "content": '{ "name": " Eiffel Tower", "country": "France'}
    server.finish = "length"
    model = llm(server, max_tokens=12)
    with pytest.raises(InvalidResponseError, match="max_tokens") as info:
        model.structured_predict(City, PROMPT, thing="Eiffel Tower")
    assert isinstance(info.value, ValueError) and "raise max_tokens" in (info.value.hint or "")
    with pytest.raises(InvalidResponseError, match="max_tokens"):
        list(model.stream_structured_predict(City, PROMPT, thing="Eiffel Tower"))


async def test_truncated_structured_predict_async(server: LlamaCppPython) -> None:
    server.message = {"role": "assistant", "content": '{ "name": " Eiffel Tower", "country": "France'}
    server.finish = "length"
    model = llm(server, max_tokens=12)
    with pytest.raises(InvalidResponseError, match="max_tokens"):
        await model.astructured_predict(City, PROMPT, thing="Eiffel Tower")
    with pytest.raises(InvalidResponseError, match="max_tokens"):
        [obj async for obj in await model.astream_structured_predict(City, PROMPT, thing="Eiffel Tower")]
    server.finish = "stop"
    server.message = {"role": "assistant", "content": '{"name": "Eiffel Tower", "country": "France"}'}
    assert await model.astructured_predict(City, PROMPT, thing="x") == City(name="Eiffel Tower", country="France")


def test_function_program_structured_predict_raises_llamaindex_validation_error(server: LlamaCppPython) -> None:
    server.message = {"role": "assistant", "content": None,
                      "tool_calls": [tool_call("City", '{ "name": "Eif', call_id="call_1")]}
    server.finish = "length"
    model = llm(server, max_tokens=4, pydantic_program_mode=PydanticProgramMode.FUNCTION)
    with pytest.raises(ValueError, match="could not be parsed into City") as info:
        model.structured_predict(City, PROMPT, thing="Eiffel Tower")
    assert '{ "name": "Eif' in str(info.value)  # the raw arguments, as the selection carried them
