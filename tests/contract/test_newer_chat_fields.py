"""Newer chat fields against the fakes: Ollama's tool-call ids (>= 0.12.10) through both adapters and
back, ``truncate``/``shift`` on ``/api/chat`` (>= 0.12.6), and logprobs (Ollama >= 0.12.11 native,
any OpenAI-compatible server) as ``ChatResult.logprobs``, LangChain ``response_metadata["logprobs"]``
and LlamaIndex ``ChatResponse.logprobs``."""

from __future__ import annotations

import hashlib

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool

from patinox_core import ChatRequest, ConfigurationError, ContextOverflowError, LocalProvider, LocalSettings, Message
from patinox_core.fakes.openai_compat import FakeOpenAIServer, OpenAIModel
from patinox_core.routing.context import ContextWindowWarning
from patinox_core.testing import FakeOllamaServer, OllamaModel
from patinox_core.types import merge_chunks
from patinox_langchain import ChatPatinox
from patinox_llamaindex import Patinox

REPLY = "The sky is blue today."
LONG = " ".join(f"word{i}" for i in range(60))  # 60 fake tokens


@tool
def magic_function(input: int) -> int:
    """Applies a magic function to an input."""
    return input + 2


def model(**kw: object) -> OllamaModel:
    return OllamaModel("llama3.2", reply=REPLY, capabilities=["completion", "tools"], loaded=True,
                       tool_calls=[{"name": "magic_function", "arguments": {"input": 3}}], **kw)  # type: ignore[arg-type]


def provider(srv: object, **kw: object) -> LocalProvider:
    return LocalProvider(LocalSettings(ollama_url=srv.url, provider="ollama", discover_defaults=False,  # type: ignore[attr-defined]
                                       max_retries=0, context_guard="off", **kw))


def chat_bodies(srv: FakeOllamaServer) -> list[dict]:
    return [r.json for r in srv.requests if r.path == "/api/chat"]


def server_id(index: int, name: str) -> str:
    """The id FakeOllamaServer gives a call, as Ollama does: ``call_`` + 8 characters."""
    return "call_" + hashlib.sha256(f"{index}{name}".encode()).hexdigest()[:8]


# --------------------------------------------------------------------------- tool-call ids


def test_ollama_tool_call_ids_reach_langchain_and_go_back_with_the_result() -> None:
    with FakeOllamaServer([model()], version="0.12.10") as srv:
        llm = ChatPatinox(model="llama3.2", base_url=srv.url, provider="ollama").bind_tools([magic_function])
        call = llm.invoke("magic_function(3)?")
        streamed = sum(llm.stream("magic_function(3)?"), AIMessageChunk(content=""))
        assert call.tool_calls[0]["id"] == streamed.tool_calls[0]["id"] == server_id(0, "magic_function")
        llm.invoke([HumanMessage("magic_function(3)?"), call, ToolMessage("5", tool_call_id=call.tool_calls[0]["id"])])
        sent = chat_bodies(srv)[-1]["messages"]
        assert sent[1]["tool_calls"][0]["id"] == sent[2]["tool_call_id"]  # the result names its call
        assert sent[2] == {"role": "tool", "content": "5", "tool_name": "magic_function",
                           "tool_call_id": sent[1]["tool_calls"][0]["id"]}


def test_ollama_tool_call_ids_reach_llamaindex_tool_selections() -> None:
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    with FakeOllamaServer([OllamaModel("llama3.2", capabilities=["completion", "tools"], loaded=True,
                                       tool_calls=[{"name": "multiply", "arguments": {"a": 6, "b": 7}}])],
                          version="0.12.10") as srv:
        llm = Patinox(model="llama3.2", base_url=srv.url, provider="ollama")
        tools = [FunctionTool.from_defaults(fn=multiply)]
        first = llm.chat_with_tools(tools, user_msg="6*7?")
        (sel,) = llm.get_tool_calls_from_response(first)
        assert sel.tool_id == server_id(0, "multiply")
        history = [ChatMessage(role="user", content="6*7?"), first.message,
                   ChatMessage(role="tool", content="42", additional_kwargs={"tool_call_id": sel.tool_id})]
        llm.chat_with_tools(tools, chat_history=history)
        sent = chat_bodies(srv)[-1]["messages"]
        assert sent[-1]["tool_call_id"] == sel.tool_id == sent[-2]["tool_calls"][0]["id"]


# --------------------------------------------------------------------------- truncate / shift


def test_truncate_and_shift_are_sent_top_level_and_only_when_set() -> None:
    with FakeOllamaServer([model()], version="0.12.11") as srv, provider(srv) as p:
        p.chat(ChatRequest(model="llama3.2", messages=[Message("user", "hi")]))
        p.chat(ChatRequest(model="llama3.2", messages=[Message("user", "hi")], truncate=False, shift=False))
        plain, strict = chat_bodies(srv)
        assert "truncate" not in plain and "shift" not in plain
        assert (strict["truncate"], strict["shift"]) == (False, False) and "truncate" not in strict.get("options", {})


def test_by_default_ollama_drops_old_turns_and_shift_false_refuses_instead() -> None:
    history = [Message("system", "Be brief."), Message("user", LONG), Message("assistant", "ok"),
               Message("user", "And now?")]
    with FakeOllamaServer([model(loaded_context_length=40)], version="0.12.11") as srv, provider(srv) as p:
        kept = p.chat(ChatRequest(model="llama3.2", messages=history))
        assert kept.message.content == REPLY and kept.usage.input_tokens == 6 + 5 + 6  # the long turn is gone
        with pytest.raises(ContextOverflowError) as info:
            p.chat(ChatRequest(model="llama3.2", messages=history, truncate=False, shift=False))
        assert "prompt is longer than the context length" in info.value.message and "num_ctx" in info.value.hint
        huge = [Message("user", LONG)]  # one message: truncation cannot help
        assert p.chat(ChatRequest(model="llama3.2", messages=huge)).message.content == REPLY  # shifted silently
        with pytest.raises(ContextOverflowError):
            p.chat(ChatRequest(model="llama3.2", messages=huge, shift=False))


def test_langchain_truncate_and_shift_fields_and_per_call() -> None:
    with FakeOllamaServer([model(loaded_context_length=40)], version="0.12.11") as srv:
        strict = ChatPatinox(model="llama3.2", base_url=srv.url, provider="ollama", shift=False, max_retries=0)
        with pytest.raises(ContextOverflowError):
            strict.invoke(LONG)
        lenient = ChatPatinox(model="llama3.2", base_url=srv.url, provider="ollama", max_retries=0)
        assert lenient.invoke(LONG).content == REPLY
        with pytest.raises(ContextOverflowError):
            lenient.invoke(LONG, shift=False)
        assert chat_bodies(srv)[-1]["shift"] is False


# --------------------------------------------------------------------------- logprobs


def _tokens(entries: list[dict]) -> str:
    return "".join(e["token"] for e in entries)


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_native_logprobs(stream: bool) -> None:
    with FakeOllamaServer([model()], version="0.12.11") as srv, provider(srv) as p:
        request = ChatRequest(model="llama3.2", messages=[Message("user", "hi")], top_logprobs=2)
        result = merge_chunks(list(p.stream_chat(request))) if stream else p.chat(request)
        body = chat_bodies(srv)[-1]
        assert (body["logprobs"], body["top_logprobs"]) == (True, 2)  # top_logprobs implies logprobs
        assert result.logprobs is not None and _tokens(result.logprobs) == result.message.content == REPLY
        first = result.logprobs[0]
        assert set(first) == {"token", "logprob", "bytes", "top_logprobs"} and first["logprob"] < 0
        assert first["bytes"] == list(first["token"].encode()) and len(first["top_logprobs"]) == 2
        assert p.chat(ChatRequest(model="llama3.2", messages=[Message("user", "hi")])).logprobs is None


def test_ollama_rejects_top_logprobs_out_of_range() -> None:
    with pytest.raises(ConfigurationError, match="top_logprobs"):
        ChatRequest(model="m", messages=[], top_logprobs=21)
    with FakeOllamaServer([model()], version="0.12.11") as srv, provider(srv) as p:
        request = ChatRequest(model="llama3.2", messages=[Message("user", "hi")], options={"top_logprobs": 1})
        request.top_logprobs, request.logprobs = 25, True  # as if validation were bypassed: the server says no
        with pytest.raises(ConfigurationError, match="top_logprobs must be between 0 and 20"):
            p.chat(request)


@pytest.mark.parametrize("stream", [False, True])
def test_langchain_logprobs_like_chatopenai(stream: bool) -> None:
    with FakeOllamaServer([model()], version="0.12.11") as srv:
        llm = ChatPatinox(model="llama3.2", base_url=srv.url, provider="ollama", logprobs=True)
        msg = sum(llm.stream("hi"), AIMessageChunk(content="")) if stream else llm.invoke("hi")
        content = msg.response_metadata["logprobs"]["content"]
        assert _tokens(content) == msg.content == REPLY and content[0]["top_logprobs"] == []  # none asked
        per_call = ChatPatinox(model="llama3.2", base_url=srv.url, provider="ollama").invoke("hi", top_logprobs=3)
        assert len(per_call.response_metadata["logprobs"]["content"][0]["top_logprobs"]) == 3
        assert "logprobs" not in ChatPatinox(model="llama3.2", base_url=srv.url, provider="ollama").invoke(
            "hi").response_metadata


def test_llamaindex_logprobs_per_call() -> None:
    with FakeOllamaServer([model()], version="0.12.11") as srv:
        llm = Patinox(model="llama3.2", base_url=srv.url, provider="ollama")
        resp = llm.chat([ChatMessage(role="user", content="hi")], logprobs=True, top_logprobs=2)
        assert resp.logprobs is not None and len(resp.logprobs) == len(REPLY.split())
        assert [p.token for p in resp.logprobs[0]] == ["The ", "alt1"]
        assert llm.chat([ChatMessage(role="user", content="hi")]).logprobs is None


@pytest.mark.parametrize("stream", [False, True])
def test_openai_compatible_logprobs(stream: bool) -> None:
    with FakeOpenAIServer([OpenAIModel("m", reply=REPLY)]) as srv:
        settings = LocalSettings(endpoints=srv.url, discover_defaults=False, max_retries=0)
        with LocalProvider(settings) as p:
            request = ChatRequest(model="m", messages=[Message("user", "hi")], logprobs=True, top_logprobs=1)
            result = merge_chunks(list(p.stream_chat(request))) if stream else p.chat(request)
        sent = next(r.json for r in srv.requests if r.path == "/v1/chat/completions")
        assert (sent["logprobs"], sent["top_logprobs"]) == (True, 1)
        assert result.logprobs is not None and _tokens(result.logprobs) == REPLY
        assert all(len(e["top_logprobs"]) == 1 for e in result.logprobs)


def test_the_context_guard_says_what_ollama_will_do() -> None:
    """A prompt over the window: Ollama drops its start by default; with shift=False it refuses (HTTP 400)."""
    with FakeOllamaServer([model(loaded_context_length=40)], version="0.12.11") as srv, \
            LocalProvider(LocalSettings(ollama_url=srv.url, provider="ollama", discover_defaults=False,
                                        max_retries=0)) as p:
        huge = [Message("user", LONG)]
        with pytest.warns(ContextWindowWarning, match="drop the start of the prompt"):
            p.chat(ChatRequest(model="llama3.2", messages=huge))
        with pytest.warns(ContextWindowWarning, match=r"reject the request \(HTTP 400\)"), \
                pytest.raises(ContextOverflowError):
            p.chat(ChatRequest(model="llama3.2", messages=huge, shift=False))
