"""Wrappers over the provider protocol: a tiny recorder wrapped around ``LocalProvider`` (and, through
``wrap_server=``, around each server a request tries) sees every chat, stream and embedding call and
every fallback attempt's outcome, without any change to the fallback loops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest

from patinox_core import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    LocalProvider,
    LocalProviderError,
    LocalSettings,
    Message,
    ServiceUnavailableError,
)
from patinox_core.provider import Provider, WrapperProvider
from patinox_core.testing import ScriptedBackend

MODELS = [{"name": "llama3.2:latest", "loaded": True, "capabilities": {"chat": True, "completion": True}},
          {"name": "nomic-embed-text:latest", "loaded": True, "capabilities": {"embeddings": True}}]


class Recorder(WrapperProvider):
    """Appends ``(where, call, outcome)`` to ``log``: the answering server, or the error's type."""

    def __init__(self, wrapped: Provider, log: list[tuple[str, str, str]], where: str) -> None:
        super().__init__(wrapped)
        self.log, self.where = log, where

    def _note(self, call: str, outcome: str | None) -> None:
        self.log.append((self.where, call, outcome or "?"))

    def _failed(self, call: str, err: LocalProviderError) -> LocalProviderError:
        self._note(call, type(err).__name__)
        return err

    def chat(self, request: ChatRequest) -> ChatResult:
        try:
            result = super().chat(request)
        except LocalProviderError as err:
            raise self._failed("chat", err) from None
        self._note("chat", result.service)
        return result

    async def achat(self, request: ChatRequest) -> ChatResult:
        try:
            result = await super().achat(request)
        except LocalProviderError as err:
            raise self._failed("achat", err) from None
        self._note("achat", result.service)
        return result

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        try:
            chunks = list(super().stream_chat(request))
        except LocalProviderError as err:
            raise self._failed("stream_chat", err) from None
        self._note("stream_chat", chunks[-1].service)
        yield from chunks

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        try:
            chunks = [c async for c in super().astream_chat(request)]
        except LocalProviderError as err:
            raise self._failed("astream_chat", err) from None
        self._note("astream_chat", chunks[-1].service)
        for chunk in chunks:
            yield chunk

    def embed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        try:
            result = super().embed(texts, model, **opts)
        except LocalProviderError as err:
            raise self._failed("embed", err) from None
        self._note("embed", result.service)
        return result


def _provider(log: list[tuple[str, str, str]]) -> tuple[ScriptedBackend, Recorder]:
    a = ScriptedBackend(base_url="http://a.test", models=MODELS)
    b = ScriptedBackend("from b", "from b", "from b", "from b", base_url="http://b.test", models=MODELS)
    local = LocalProvider(LocalSettings(discover_defaults=False, cooldown=0), backends=[a, b],
                          wrap_server=lambda server: Recorder(server, log, "attempt"))
    local.list_models()
    a.kill()  # from now on every call to a is refused; no cooldown, so each request tries a first
    return a, Recorder(local, log, "call")


def _ask() -> ChatRequest:  # a new conversation each time (no affinity to the server of the last)
    _ASKED[0] += 1
    return ChatRequest(model="llama3.2", messages=[Message(role="user", content=f"hi {_ASKED[0]}")])


_ASKED = [0]


async def test_a_wrapper_sees_every_call_and_every_fallback_attempt() -> None:
    log: list[tuple[str, str, str]] = []
    _, provider = _provider(log)
    assert provider.chat(_ask()).message.content == "from b"
    assert "".join(c.content for c in provider.stream_chat(_ask())) == "from b"
    assert (await provider.achat(_ask())).service == "http://b.test"
    assert [c.content async for c in provider.astream_chat(_ask())]
    assert provider.embed(["x", "y"], "nomic-embed-text", batch_size=2).service == "http://b.test"
    calls = ("chat", "stream_chat", "achat", "astream_chat", "embed")
    expected = [row for call in calls for row in (("attempt", call, "ServiceUnavailableError"),
                                                  ("attempt", call, "http://b.test"),
                                                  ("call", call, "http://b.test"))]
    assert log == expected


def test_a_wrapper_sees_the_error_when_every_attempt_fails() -> None:
    log: list[tuple[str, str, str]] = []
    _, provider = _provider(log)
    b = next(backend for url, backend in provider.fleet.backends.items() if url == "http://b.test")
    b.kill()
    with pytest.raises(ServiceUnavailableError) as caught:
        provider.chat(_ask())
    assert len(caught.value.attempts) == 2
    assert log == [("attempt", "chat", "ServiceUnavailableError")] * 2 + [("call", "chat", "ServiceUnavailableError")]


def test_the_wrapper_forwards_what_it_does_not_override() -> None:
    _, provider = _provider([])
    assert [m.name for m in provider.list_models()] == ["llama3.2:latest", "nomic-embed-text:latest"] * 2
    assert provider.get_model("llama3.2").service == "http://a.test"  # not a protocol call: reaches the provider


class Closing(ScriptedBackend):
    """Streams three chunks and records when its stream is closed."""

    closed: list[str]

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        try:
            yield from (ChatChunk(content=w) for w in ("a", "b", "c"))
        finally:
            self.closed.append("sync")

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        try:
            for w in ("a", "b", "c"):
                yield ChatChunk(content=w)
        finally:
            self.closed.append("async")


async def test_stopping_a_stream_early_closes_the_servers_stream_at_once() -> None:
    backend = Closing(base_url="http://a.test", models=MODELS)
    backend.closed = []
    provider = LocalProvider(LocalSettings(discover_defaults=False), backends=[backend])
    chunks = provider.stream_chat(_ask())
    assert next(chunks).content == "a"
    chunks.close()  # type: ignore[attr-defined]
    achunks = provider.astream_chat(_ask())
    assert (await anext(achunks)).content == "a"
    await achunks.aclose()  # type: ignore[attr-defined]
    assert backend.closed == ["sync", "async"]
