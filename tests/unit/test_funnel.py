"""The narrow funnel: a malformed reply is an ``InvalidResponseError`` (with a hint) and the router
falls back on it; a bug in patinox's own parsing surfaces as itself and is never "fallen back" on."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
import pytest

from patinox_core import ChatRequest, InvalidResponseError, LocalProvider, LocalSettings, Message
from patinox_core.backends import ollama
from patinox_core.backends.ollama import OllamaBackend
from patinox_core.transport import Transport

pytestmark = pytest.mark.timeout(20)
A, B = "http://a.test", "http://b.test"
MODEL = "llama3.2:latest"
GOOD = {"model": MODEL, "message": {"role": "assistant", "content": "hi"}, "done": True, "done_reason": "stop"}
MALFORMED = {**GOOD, "message": {"role": "assistant", "content": 42}}  # decodes, but content is no string


class Servers:
    """Both list the model; ``bad`` hosts answer chats with ``MALFORMED``; chats are counted per host."""

    def __init__(self, *bad: str) -> None:
        self.bad = set(bad)
        self.chats: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host, path = f"http://{request.url.host}", request.url.path
        if path in ("/api/tags", "/api/ps"):
            return httpx.Response(200, json={"models": [{"name": MODEL, "model": MODEL, "digest": "d1"}]})
        if path == "/api/show":
            return httpx.Response(200, json={"capabilities": ["completion"]})
        self.chats[host] += 1
        reply = MALFORMED if host in self.bad else GOOD
        if json.loads(request.content)["stream"]:
            return httpx.Response(200, content=(json.dumps(reply) + "\n").encode())
        return httpx.Response(200, json=reply)


def provider(servers: Servers) -> LocalProvider:
    cfg = LocalSettings(discover_defaults=False, max_retries=0)
    transport = Transport(cfg, transport=httpx.MockTransport(servers))
    return LocalProvider(cfg, transport=transport, backends=[OllamaBackend(u, transport, cfg) for u in (A, B)])


def ask() -> ChatRequest:
    return ChatRequest(model="llama3.2", messages=[Message(role="user", content="hello")])


def call(p: LocalProvider, how: str) -> Any:
    if how == "chat":
        return p.chat(ask())
    if how == "stream_chat":
        return list(p.stream_chat(ask()))

    async def consume() -> Any:
        if how == "achat":
            return await p.achat(ask())
        return [c async for c in p.astream_chat(ask())]

    return asyncio.run(consume())


HOWS = ["chat", "achat", "stream_chat", "astream_chat"]


@pytest.mark.parametrize("how", HOWS)
def test_a_malformed_reply_is_invalid_response_with_a_hint(how: str) -> None:
    backend = OllamaBackend(A, Transport(LocalSettings(max_retries=0), transport=httpx.MockTransport(Servers(A))))
    p = LocalProvider(LocalSettings(discover_defaults=False), transport=backend.transport, backends=[backend])
    with pytest.raises(InvalidResponseError, match="content is int, not a string") as info:
        call(p, how)
    assert info.value.hint and "malformed" in info.value.hint and info.value.service == A


@pytest.mark.parametrize("how", HOWS)
def test_a_malformed_reply_falls_back_to_the_next_server(how: str) -> None:
    servers = Servers(A)
    call(provider(servers), how)
    assert servers.chats[A] == 1 and servers.chats[B] == 1


@pytest.mark.parametrize("how", HOWS)
def test_a_bug_in_a_parser_surfaces_and_is_not_fallen_back_on(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(data: Any, **kwargs: Any) -> Any:
        return data.no_such_attribute  # an AttributeError in patinox's own code, not in the server's reply

    class BuggyStream(ollama.OllamaChatStream):
        def feed(self, line: str) -> list[Any]:
            return buggy(line)

    monkeypatch.setattr(ollama, "from_wire", buggy)
    monkeypatch.setattr(ollama, "OllamaChatStream", BuggyStream)
    servers = Servers()
    with pytest.raises(AttributeError, match="no_such_attribute"):
        call(provider(servers), how)
    assert sum(servers.chats.values()) == 1  # one server asked: a bug is not the server's fault
