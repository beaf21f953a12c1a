"""One test per defect recorded for ChatOllama / ChatOpenAI, showing ChatPatinox
gets it right against the same fake server.

Where the anchor package is installed at the version studied (langchain-ollama 1.1.0,
langchain-openai 1.7.4: the ``bench`` extra), each test also pins the anchor's defect down, so the
comparison stays honest; without it, only ChatPatinox's side runs.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from patinox_core.backends.base import tool_call_id
from patinox_core.errors import RequestTimeoutError
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel
from patinox_langchain import ChatPatinox

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                       "AAAABJRU5ErkJggg==")


def anchor(module: str, distribution: str, version: str) -> Any:
    """The anchor module when installed at the version the defects were recorded on, else None."""
    try:
        if metadata.version(distribution) != version:
            return None
    except metadata.PackageNotFoundError:
        return None
    return pytest.importorskip(module)


@tool
def magic_function(input: int) -> int:
    """Applies a magic function to an input."""
    return input + 2


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    models = [
        OllamaModel("llama3.2", reply="The sky is blue today.", capabilities=["completion", "tools"],
                    tool_calls=[{"name": "magic_function", "arguments": {"input": 3}}]),
        OllamaModel("deepseek-r1", reply="Paris.", capabilities=["completion"], thinking="Capital of France.",
                    inline_think=True),
        OllamaModel("llava", reply="A tiny image.", capabilities=["completion", "vision"]),
    ]
    with FakeOllamaServer(models, version="0.9.0") as srv:  # 0.9: no server-side tool-call ids yet
        yield srv


def patinox(server: FakeOllamaServer, model: str = "llama3.2", **kw: Any) -> ChatPatinox:
    return ChatPatinox(model=model, base_url=server.url, provider="ollama", **kw)


def last_chat(server: FakeOllamaServer) -> dict:
    return [r.json for r in server.requests if r.path == "/api/chat"][-1]


def test_max_tokens_is_honoured(server: FakeOllamaServer) -> None:
    """ChatOllama: `max_tokens` is accepted and silently discarded (extra="ignore")."""
    msg = patinox(server, max_tokens=2).invoke("Hello")
    assert last_chat(server)["options"]["num_predict"] == 2
    assert msg.content == "The sky " and msg.response_metadata["finish_reason"] == "length"
    if lco := anchor("langchain_ollama", "langchain-ollama", "1.1.0"):
        assert lco.ChatOllama(model="llama3.2", base_url=server.url, max_tokens=2).invoke("Hello").content == (
            "The sky is blue today.")
        assert "num_predict" not in (last_chat(server).get("options") or {})


def test_timeout_is_honoured_and_never_unbounded(server: FakeOllamaServer) -> None:
    """ChatOllama: `timeout=` is silently ignored and the client waits forever (Timeout(None))."""
    fast = patinox(server, timeout=0.3, max_retries=0)
    fast.invoke("warm up")
    server.delay_first_byte(1.5, path="/api/chat")
    with pytest.raises(RequestTimeoutError):
        fast.invoke("Hello")
    default = patinox(server)
    default.invoke("Hello")
    transport = default._get_provider()._transport
    assert all(v is not None for v in transport.timeout().as_dict().values())
    if lco := anchor("langchain_ollama", "langchain-ollama", "1.1.0"):
        ignored = lco.ChatOllama(model="llama3.2", base_url=server.url, timeout=0.3)
        assert ignored._client._client.timeout.read is None


def test_think_tags_never_leak_into_content(server: FakeOllamaServer) -> None:
    """ChatOllama with reasoning=None (the default) leaves `<think>…</think>` in `content`."""
    msg = patinox(server, model="deepseek-r1").invoke("Capital of France?")
    assert msg.content == "Paris."
    assert msg.additional_kwargs["reasoning_content"] == "Capital of France."
    if lco := anchor("langchain_ollama", "langchain-ollama", "1.1.0"):
        leaked = lco.ChatOllama(model="deepseek-r1", base_url=server.url).invoke("Capital of France?")
        assert "<think>" in leaked.content


def test_tool_call_ids_are_deterministic(server: FakeOllamaServer) -> None:
    """ChatOllama mints a fresh uuid4 per parse, so a recorded multi-turn conversation never replays."""
    model = patinox(server).bind_tools([magic_function])
    ids = {model.invoke("magic_function(3)?").tool_calls[0]["id"] for _ in range(2)}
    ids.add(next(c for c in model.stream("magic_function(3)?") if c.tool_call_chunks).tool_call_chunks[0]["id"])
    assert ids == {tool_call_id("magic_function", '{"input":3}', 0)}
    if lco := anchor("langchain_ollama", "langchain-ollama", "1.1.0"):
        theirs = lco.ChatOllama(model="llama3.2", base_url=server.url).bind_tools([magic_function])
        assert len({theirs.invoke("magic_function(3)?").tool_calls[0]["id"] for _ in range(2)}) == 2


def test_usage_is_reported_when_the_prompt_was_cached(server: FakeOllamaServer) -> None:
    """ChatOllama returns no usage at all when Ollama omits `prompt_eval_count` (cached prompt)."""
    server.omit_prompt_eval_count(cached=5)
    usage = patinox(server).invoke("Hello").usage_metadata
    assert usage is not None and usage["output_tokens"] == 5
    assert usage["input_token_details"] == {"cache_read": 5} and usage["input_tokens"] >= 5
    if lco := anchor("langchain_ollama", "langchain-ollama", "1.1.0"):
        server.omit_prompt_eval_count(cached=5)
        assert lco.ChatOllama(model="llama3.2", base_url=server.url).invoke("Hello").usage_metadata is None


def test_http_image_urls_work(server: FakeOllamaServer) -> None:
    """ChatOllama passes http(s) image URLs on as if they were base64, and the request fails."""
    url = server.serve_file("/cat.png", PNG)
    message = HumanMessage([{"type": "text", "text": "Describe it."}, {"type": "image", "url": url}])
    assert patinox(server, model="llava").invoke([message]).content == "A tiny image."
    assert last_chat(server)["messages"][0]["images"] == [base64.b64encode(PNG).decode()]
    if lco := anchor("langchain_ollama", "langchain-ollama", "1.1.0"):
        with pytest.raises(ValueError):
            lco.ChatOllama(model="llava", base_url=server.url).invoke([message])


class Joke(BaseModel):
    """Joke to tell user."""

    setup: str
    punchline: str


@pytest.fixture
def lmstudio() -> Iterator[FakeLMStudioServer]:
    model = LMStudioModel("qwen/qwen3-8b", reply="Paris is the capital.", reasoning="Capital of France.",
                          json_reply={"setup": "Why?", "punchline": "Because."}, tool_use=True, reasoning_capable=True)
    with FakeLMStudioServer([model]) as srv:
        yield srv


def test_json_mode_works_on_lm_studio(lmstudio: FakeLMStudioServer) -> None:
    """ChatOpenAI's json_mode sends `response_format: json_object`, which LM Studio rejects (400)."""
    model = ChatPatinox(model="qwen/qwen3-8b", base_url=lmstudio.url, provider="lmstudio")
    joke = model.with_structured_output(Joke, method="json_mode").invoke("Tell me a joke. Answer in JSON.")
    assert joke == Joke(setup="Why?", punchline="Because.")
    sent = [r.json for r in lmstudio.requests if r.path.endswith("/chat/completions")][-1]
    assert sent["response_format"]["type"] == "json_schema"
    if lco := anchor("langchain_openai", "langchain-openai", "1.7.4"):
        theirs = lco.ChatOpenAI(model="qwen/qwen3-8b", base_url=f"{lmstudio.url}/v1", api_key="lm-studio")
        with pytest.raises(Exception, match="400"):
            theirs.with_structured_output(Joke, method="json_mode").invoke("Tell me a joke. Answer in JSON.")


def test_lm_studio_reasoning_and_stream_usage_are_kept(lmstudio: FakeLMStudioServer) -> None:
    """ChatOpenAI drops `reasoning_content` by design and streams no usage unless `stream_usage=True`."""
    model = ChatPatinox(model="qwen/qwen3-8b", base_url=lmstudio.url, provider="lmstudio")
    msg = model.invoke("Capital of France?")
    assert msg.content == "Paris is the capital."
    assert msg.additional_kwargs == {"reasoning_content": "Capital of France."}
    full = None
    for chunk in model.stream("Capital of France?"):
        full = chunk if full is None else full + chunk
    assert full is not None and full.usage_metadata is not None and full.usage_metadata["output_tokens"] > 0
    assert full.additional_kwargs["reasoning_content"] == "Capital of France."
    if lco := anchor("langchain_openai", "langchain-openai", "1.7.4"):
        theirs = lco.ChatOpenAI(model="qwen/qwen3-8b", base_url=f"{lmstudio.url}/v1", api_key="lm-studio")
        assert "reasoning_content" not in theirs.invoke("Capital of France?").additional_kwargs
        streamed = None
        for chunk in theirs.stream("Capital of France?"):
            streamed = chunk if streamed is None else streamed + chunk
        assert streamed is not None and streamed.usage_metadata is None
