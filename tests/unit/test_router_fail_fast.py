"""A refused connection falls over to the next server at once when that server is usable; the last
usable candidate (or a lone server) keeps every transport retry. Counted on httpx.MockTransport."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest

from patinox_core import ChatRequest, LocalProvider, LocalSettings, Message, ServiceUnavailableError
from patinox_core.backends.ollama import OllamaBackend
from patinox_core.transport import CONNECT_RETRIES, Transport

pytestmark = pytest.mark.timeout(20)
A, B = "http://a.test", "http://b.test"
MODEL = "llama3.2:latest"
CHAT = {"model": MODEL, "message": {"role": "assistant", "content": "hi"}, "done": True, "done_reason": "stop",
        "eval_count": 2, "eval_duration": 1_000_000}


class TwoServers:
    """Both list the model; ``refusing`` hosts refuse every chat connection; chats are counted."""

    def __init__(self, *refusing: str) -> None:
        self.refusing = set(refusing)
        self.chats: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host, path = f"http://{request.url.host}", request.url.path
        if path == "/api/tags":
            return httpx.Response(200, json={"models": [{"name": MODEL, "model": MODEL, "digest": "d1"}]})
        if path == "/api/ps":
            return httpx.Response(200, json={"models": [{"name": MODEL, "model": MODEL}]})
        if path == "/api/show":
            return httpx.Response(200, json={"capabilities": ["completion"]})
        self.chats[host] += 1
        if host in self.refusing:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if json.loads(request.content)["stream"]:
            lines = [{"model": MODEL, "message": {"role": "assistant", "content": "hi"}, "done": False}, CHAT]
            return httpx.Response(200, content="".join(json.dumps(x) + "\n" for x in lines).encode())
        return httpx.Response(200, json=CHAT)


def provider(servers: TwoServers, *urls: str, **settings: Any) -> LocalProvider:
    cfg = LocalSettings(discover_defaults=False, max_retries=2, **settings)
    transport = Transport(cfg, transport=httpx.MockTransport(servers))
    return LocalProvider(cfg, transport=transport, backends=[OllamaBackend(u, transport, cfg) for u in urls])


def ask() -> ChatRequest:
    return ChatRequest(model="llama3.2", messages=[Message(role="user", content="hello")])


@pytest.mark.parametrize("call", ["chat", "achat", "stream_chat", "astream_chat"])
async def test_refused_primary_is_left_without_retries(call: str) -> None:
    servers = TwoServers(A)
    p = provider(servers, A, B)
    if call == "chat":
        service = p.chat(ask()).service
    elif call == "achat":
        service = (await p.achat(ask())).service
    elif call == "stream_chat":
        service = list(p.stream_chat(ask()))[-1].service
    else:
        service = [c async for c in p.astream_chat(ask())][-1].service
    assert service == B
    assert servers.chats == {A: 1, B: 1}
    assert CONNECT_RETRIES.get() is None  # reset after the attempt


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_lone_server_keeps_its_retries(mode: str) -> None:
    servers = TwoServers(A)
    p = provider(servers, A)
    with pytest.raises(ServiceUnavailableError):
        p.chat(ask()) if mode == "sync" else await p.achat(ask())
    assert servers.chats == {A: 3}  # 1 + max_retries


def test_retries_stay_when_the_other_candidate_is_cooling_down() -> None:
    servers = TwoServers(A, B)
    p = provider(servers, A, B, cooldown=60)
    with pytest.raises(ServiceUnavailableError):
        p.chat(ask())
    assert servers.chats == {A: 1, B: 3}  # b usable at first: a left at once; b the last resort
    with pytest.raises(ServiceUnavailableError):
        p.chat(ask())
    assert servers.chats == {A: 4, B: 6}  # both cooling now: neither is left without its retries
