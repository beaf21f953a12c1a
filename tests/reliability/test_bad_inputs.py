"""Issue 14, item 9: inputs that cannot be sent fail with a clear ``ConfigurationError`` (an
``ArgumentError``, also a ``ValueError``, for adapter arguments) naming the argument and the fix,
before anything is sent; hostile nesting in a reply is an ``InvalidResponseError``, not a
``RecursionError``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from patinox_core import ChatRequest, LocalProvider, LocalSettings, Message
from patinox_core.cli import main
from patinox_core.errors import ConfigurationError, InvalidResponseError, LocalProviderError
from patinox_core.router import create_default_provider
from patinox_core.testing import FakeOllamaServer, Fault, Reply

from .hostile import HostileServer, complete

LONE = "caf\ud800e"
NESTED = "[" * 100_000


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as server:
        yield server


def _chat_posts(server: FakeOllamaServer) -> list[Any]:
    return [r for r in server.requests if r.path in ("/api/chat", "/api/embed", "/api/embeddings")]


def _lone_surrogate_calls(url: str) -> dict[str, Callable[[], Any]]:
    from patinox_langchain import ChatPatinox, PatinoxEmbeddings
    from patinox_llamaindex import Patinox, PatinoxEmbedding

    lc = ChatPatinox(model="llama3.2", base_url=url, provider="ollama")
    li = Patinox(model="llama3.2", base_url=url, provider="ollama")
    lce = PatinoxEmbeddings(model="nomic-embed-text", base_url=url, provider="ollama")
    lie = PatinoxEmbedding(model_name="nomic-embed-text", base_url=url, provider="ollama")
    return {
        "invoke": lambda: lc.invoke(LONE), "ainvoke": lambda: asyncio.run(lc.ainvoke(LONE)),
        "stream": lambda: list(lc.stream(LONE)), "li.complete": lambda: li.complete(LONE),
        "li.astream": lambda: asyncio.run(_drain(li.astream_complete(LONE))),
        "embed_query": lambda: lce.embed_query(LONE),
        "aembed_documents": lambda: asyncio.run(lce.aembed_documents([LONE])),
        "li.embedding": lambda: lie.get_text_embedding(LONE),
    }


async def _drain(gen: Any) -> list[Any]:
    return [c async for c in await gen]


@pytest.mark.parametrize("call", ["invoke", "ainvoke", "stream", "li.complete", "li.astream", "embed_query",
                                  "aembed_documents", "li.embedding"])
def test_a_lone_surrogate_is_a_configuration_error(call: str, ollama: FakeOllamaServer) -> None:
    with pytest.raises(ConfigurationError, match="surrogate"):
        _lone_surrogate_calls(ollama.url)[call]()
    assert not _chat_posts(ollama), "nothing is sent"


BAD_TOOLS: dict[str, tuple[list[Any], dict[str, Any], str]] = {
    "string_parameters": ([{"type": "function", "function": {"name": "f", "parameters": "object"}}], {}, "parameters"),
    "int_parameters_required": ([{"type": "function", "function": {"name": "f", "parameters": 42}}],
                                {"tool_choice": "required"}, "parameters"),
    "no_name": ([{"type": "function", "function": {"parameters": {"type": "object"}}}], {}, "no name"),
    "python_set": ([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"enum": {1, 2}}}}}}], {}, "set"),
}


@pytest.mark.parametrize("case", list(BAD_TOOLS))
def test_tool_schemas_that_are_not_json_schema_objects(case: str, ollama: FakeOllamaServer) -> None:
    from patinox_langchain import ChatPatinox

    tools, kw, needle = BAD_TOOLS[case]
    lc = ChatPatinox(model="llama3.2", base_url=ollama.url, provider="ollama")
    with pytest.raises(ConfigurationError, match=needle):
        lc.bind_tools(tools, **kw).invoke("hi")
    with LocalProvider(LocalSettings(ollama_url=ollama.url, discover_defaults=False)) as provider, \
            pytest.raises(ConfigurationError, match=needle):
        provider.chat(ChatRequest(model="llama3.2", messages=[Message("user", "hi")], tools=tools,
                                  tool_choice=kw.get("tool_choice")))
    assert not _chat_posts(ollama)


def test_nan_temperature_is_refused_not_sent_as_null(ollama: FakeOllamaServer) -> None:
    from patinox_langchain import ChatPatinox
    from patinox_llamaindex import Patinox

    with pytest.raises(ConfigurationError, match="temperature"):
        ChatPatinox(model="llama3.2", base_url=ollama.url, provider="ollama", temperature=float("nan")).invoke("hi")
    with pytest.raises(ConfigurationError, match="temperature"):
        Patinox(model="llama3.2", base_url=ollama.url, provider="ollama", temperature=float("nan")).complete("hi")
    assert not _chat_posts(ollama)


@pytest.mark.parametrize("op", ["chat", "achat", "stream", "astream"])
@pytest.mark.parametrize("where", ["sse_data", "tool_arguments"])
def test_deep_nesting_in_a_reply_is_an_invalid_response(where: str, op: str) -> None:
    """100,000 nested '[' never raises a RecursionError: in an SSE data line it is an InvalidResponseError;
    as tool-call arguments it is an invalid tool call (arguments that are not a JSON object are data)."""
    from patinox_core.backends.openai_compat import OpenAICompatBackend
    from patinox_core.transport import Transport

    call = '{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"' + NESTED + '"}}'
    if "stream" in op:
        line = ("data: " + NESTED if where == "sse_data" else
                'data: {"choices":[{"index":0,"delta":{"tool_calls":[' + call + ']},"finish_reason":"tool_calls"}]}')
        body = (line + "\n\ndata: [DONE]\n\n").encode()
        ctype = "text/event-stream"
    else:
        body = (NESTED if where == "sse_data" else '{"choices":[{"index":0,"message":{"role":"assistant",'
                '"content":"","tool_calls":[' + call + ']},"finish_reason":"tool_calls"}]}').encode()
        ctype = "application/json"
    with HostileServer({"/v1/chat/completions": complete(body, content_type=ctype)}) as server:
        backend = OpenAICompatBackend(server.url, Transport(LocalSettings(discover_defaults=False, max_retries=0)))
        request = ChatRequest(model="m", messages=[Message("user", "hi")])

        async def astream() -> list[Any]:
            return [c async for c in backend.astream_chat(request)]

        run = {"chat": lambda: backend.chat(request), "achat": lambda: asyncio.run(backend.achat(request)),
               "stream": lambda: list(backend.stream_chat(request)), "astream": lambda: asyncio.run(astream())}[op]
        if where == "sse_data":
            with pytest.raises(InvalidResponseError):
                run()
            return
        result = run()  # arguments that are no JSON object are data (issue 15): an invalid tool call, no crash
        invalid = result.message.invalid_tool_calls if hasattr(result, "message") else [
            c for chunk in result for c in chunk.invalid_tool_calls]
        assert [c.name for c in invalid] == ["f"] and invalid[0].arguments.startswith("[[[")


@pytest.mark.parametrize("variable", ["PATINOX_OVERRIDES", "PATINOX_CREDENTIALS"])
def test_bad_json_in_the_environment_is_one_clear_line(variable: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv(variable, "{bad")
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert variable in err and "JSON" in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    with pytest.raises(ConfigurationError, match=variable):
        LocalSettings()


def test_adapter_arguments_of_the_wrong_name_or_type(ollama: FakeOllamaServer) -> None:
    from patinox_langchain import ChatPatinox
    from patinox_llamaindex import Patinox

    for make, needle in ((lambda: ChatPatinox(model="m", num_predict=5), "max_tokens"),
                         (lambda: ChatPatinox(model="m", temperature="hot"), "temperature"),
                         (lambda: ChatPatinox(model="m", temprature=0.5), "did you mean 'temperature'"),
                         (lambda: Patinox(model="m", num_predict=5), "max_tokens"),
                         (lambda: Patinox(model="m", temprature=0.5), "did you mean 'temperature'")):
        with pytest.raises(ConfigurationError, match=needle) as caught:
            make()
        assert isinstance(caught.value, ValueError), "frameworks expect a ValueError for a bad argument"
    li = Patinox(model="llama3.2", base_url=ollama.url, provider="ollama")
    with pytest.raises(ConfigurationError, match="max_tokens"):
        li.complete("hi", num_predict=3)
    assert not _chat_posts(ollama)


def test_misspelled_settings_are_errors_that_suggest_the_name(monkeypatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'read_timeout'"):
        LocalSettings(read_timout=5)
    with pytest.raises(ConfigurationError, match="did you mean 'endpoints'"):
        create_default_provider(endpoint="http://127.0.0.1:9")
    (tmp_path / "patinox.toml").write_text('endpoint = ["http://127.0.0.1:9"]\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=r"patinox.toml.*did you mean 'endpoints'"):
        LocalSettings()


def test_every_error_here_is_a_patinox_error() -> None:
    assert issubclass(ConfigurationError, LocalProviderError)
    ollama_reply = Reply(200, {"message": {"role": "assistant", "content": "",
                                           "tool_calls": [{"function": {"name": "f", "arguments": NESTED}}]},
                               "done": True})
    with FakeOllamaServer() as server, LocalProvider(LocalSettings(ollama_url=server.url,
                                                                   discover_defaults=False)) as provider:
        server.inject(Fault(path="/api/chat", times=None, reply=ollama_reply))
        reply = provider.chat(ChatRequest(model="llama3.2", messages=[Message("user", "hi")]))  # no RecursionError
    assert [c.name for c in reply.message.invalid_tool_calls] == ["f"]  # Ollama's deep arguments: data, as on /v1
