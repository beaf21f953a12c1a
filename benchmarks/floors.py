"""The floors: raw httpx (+ ``json``) and the least a LangChain / LlamaIndex chat model can cost.

A framework floor is a minimal ``BaseChatModel`` (LangChain) or ``CustomLLM`` (LlamaIndex)
subclass whose only work is one raw httpx call and ``json.loads``: whatever an adapter on that
framework costs above it is the adapter's own doing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import httpx

CHAT_MODEL = "llama3.2"
EMBED_MODEL = "nomic-embed-text"
PROMPT = "Say hello in sixteen tokens."
STREAM_PROMPT = "Count to five hundred. [long stream]"  # the server's marker for its 500-chunk stream
STREAM_CHUNKS = 500  # content chunks per stream (the server adds one final `done` line)
CONCURRENCY = 200
_ASYNC_CLOSERS: list[Callable[[], Awaitable[Any]]] = []  # async clients the floors opened


async def aclose_all() -> None:
    """Close the async clients the floors opened (call before their event loop ends)."""
    while _ASYNC_CLOSERS:
        await _ASYNC_CLOSERS.pop()()


def chat_body(stream: bool) -> dict[str, Any]:
    prompt = STREAM_PROMPT if stream else PROMPT
    return {"model": CHAT_MODEL, "messages": [{"role": "user", "content": prompt}], "stream": stream}


# -- raw httpx ---------------------------------------------------------------------------------
def raw_invoke(base: str) -> Callable[[], Any]:
    client = httpx.Client(timeout=60)
    url, body = base + "/api/chat", chat_body(False)

    def op() -> Any:
        return json.loads(client.post(url, json=body).content)

    return op


def raw_stream(base: str) -> Callable[[], int]:
    client = httpx.Client(timeout=60)
    url, body = base + "/api/chat", chat_body(True)

    def op() -> int:
        n = 0
        with client.stream("POST", url, json=body) as resp:
            for line in resp.iter_lines():
                if line:
                    json.loads(line)
                    n += 1
        return n

    return op


def burst(one: Callable[[], Awaitable[Any]], n: int = CONCURRENCY) -> Callable[[], Awaitable[list[Any]]]:
    """``n`` concurrent calls of ``one`` as a single operation."""

    async def op() -> list[Any]:
        return await asyncio.gather(*(one() for _ in range(n)))

    return op


async def raw_async_httpx(base: str, n: int = CONCURRENCY) -> Callable[[], Awaitable[Any]]:
    client = httpx.AsyncClient(timeout=60)  # default pool limits, as a user would write it
    _ASYNC_CLOSERS.append(client.aclose)
    url, body = base + "/api/chat", chat_body(False)

    async def one() -> Any:
        return json.loads((await client.post(url, json=body)).content)

    return burst(one, n)


async def raw_async_aiohttp(base: str, n: int = CONCURRENCY) -> Callable[[], Awaitable[Any]]:
    import aiohttp

    session = aiohttp.ClientSession()
    _ASYNC_CLOSERS.append(session.close)
    url, body = base + "/api/chat", json.dumps(chat_body(False)).encode()
    headers = {"Content-Type": "application/json"}

    async def one() -> Any:
        async with session.post(url, data=body, headers=headers) as resp:
            return json.loads(await resp.read())

    return burst(one, n)


def raw_embed(base: str) -> Callable[[list[str]], list[list[float]]]:
    """One request carrying every text, decoded with the standard ``json`` module."""
    client = httpx.Client(timeout=600)

    def op(texts: list[str]) -> list[list[float]]:
        resp = client.post(base + "/api/embed", json={"model": EMBED_MODEL, "input": texts})
        return json.loads(resp.content)["embeddings"]

    return op


# -- LangChain floor ---------------------------------------------------------------------------
def langchain_floor(base: str) -> Any:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from pydantic import PrivateAttr

    roles = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}

    def wire(messages: list[BaseMessage], stream: bool) -> dict[str, Any]:
        msgs = [{"role": roles.get(m.type, m.type), "content": m.content} for m in messages]
        return {"model": CHAT_MODEL, "messages": msgs, "stream": stream}

    class FloorChatModel(BaseChatModel):
        """One httpx call and ``json.loads``; nothing else."""

        base_url: str
        _client: httpx.Client = PrivateAttr(default_factory=lambda: httpx.Client(timeout=60))
        _aclient: httpx.AsyncClient | None = PrivateAttr(default=None)

        @property
        def _llm_type(self) -> str:
            return "floor"

        def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            data = json.loads(self._client.post(self.base_url + "/api/chat", json=wire(messages, False)).content)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=data["message"]["content"]))])

        async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                             **kwargs: Any) -> ChatResult:
            if self._aclient is None:
                self._aclient = httpx.AsyncClient(timeout=60)
            resp = await self._aclient.post(self.base_url + "/api/chat", json=wire(messages, False))
            data = json.loads(resp.content)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=data["message"]["content"]))])

        def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                    **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            with self._client.stream("POST", self.base_url + "/api/chat", json=wire(messages, True)) as resp:
                for line in resp.iter_lines():
                    if line:
                        data = json.loads(line)
                        yield ChatGenerationChunk(message=AIMessageChunk(content=data["message"]["content"]))

    return FloorChatModel(base_url=base)


# -- LlamaIndex floor --------------------------------------------------------------------------
def llamaindex_floor(base: str) -> Any:
    from llama_index.core.base.llms.types import (
        ChatMessage,
        ChatResponse,
        ChatResponseGen,
        CompletionResponse,
        CompletionResponseGen,
        LLMMetadata,
    )
    from llama_index.core.llms import CustomLLM
    from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
    from pydantic import PrivateAttr

    def wire(messages: Sequence[ChatMessage], stream: bool) -> dict[str, Any]:
        msgs = [{"role": m.role.value, "content": m.content} for m in messages]
        return {"model": CHAT_MODEL, "messages": msgs, "stream": stream}

    class FloorLLM(CustomLLM):
        """One httpx call and ``json.loads`` per chat; nothing else."""

        base_url: str
        _client: httpx.Client = PrivateAttr(default_factory=lambda: httpx.Client(timeout=60))
        _aclient: httpx.AsyncClient | None = PrivateAttr(default=None)

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name=CHAT_MODEL, is_chat_model=True)

        @llm_chat_callback()
        def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            data = json.loads(self._client.post(self.base_url + "/api/chat", json=wire(messages, False)).content)
            return ChatResponse(message=ChatMessage(role="assistant", content=data["message"]["content"]))

        @llm_chat_callback()
        async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            if self._aclient is None:
                self._aclient = httpx.AsyncClient(timeout=60)
            resp = await self._aclient.post(self.base_url + "/api/chat", json=wire(messages, False))
            data = json.loads(resp.content)
            return ChatResponse(message=ChatMessage(role="assistant", content=data["message"]["content"]))

        @llm_chat_callback()
        def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
            def gen() -> Iterator[ChatResponse]:
                text = ""
                with self._client.stream("POST", self.base_url + "/api/chat", json=wire(messages, True)) as resp:
                    for line in resp.iter_lines():
                        if line:
                            delta = json.loads(line)["message"]["content"]
                            text += delta
                            yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=delta)

            return gen()

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            resp = self.chat([ChatMessage(role="user", content=prompt)])
            return CompletionResponse(text=resp.message.content or "")

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
            def gen() -> Iterator[CompletionResponse]:
                for r in self.stream_chat([ChatMessage(role="user", content=prompt)]):
                    yield CompletionResponse(text=r.message.content or "", delta=r.delta)

            return gen()

    return FloorLLM(base_url=base)


async def drain(agen: AsyncIterator[Any]) -> int:
    n = 0
    async for _ in agen:
        n += 1
    return n
