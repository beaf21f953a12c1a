"""A gateway gets each conversation's key in its affinity header (``affinity_header``, default
``x-session-id``): the explicit ``session_id``, else the stable prefix hash. Sync, async and streams
against the fakes; a server that is not a gateway gets no such header unless configured."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from patinox_core import ChatRequest, ConfigurationError, LocalProvider, LocalSettings, Message
from patinox_core.routing.affinity import affinity_key
from patinox_core.testing import FakeLiteLLMProxy, FakeLlamaServer, FakeOllamaServer

MODEL = "gemma-3-4b-it"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions", "/api/chat")


def _settings(*endpoints: dict[str, Any], **extra: Any) -> LocalSettings:
    return LocalSettings(endpoints=list(endpoints), discover_defaults=False, max_retries=0, **extra)


def _turn(*texts: str, session_id: str | None = None, model: str = MODEL) -> ChatRequest:
    """A conversation so far: a system prompt, then user and assistant turns alternating."""
    messages = [Message(role="system", content="be brief")]
    for i, text in enumerate(texts):
        messages.append(Message(role="user" if i % 2 == 0 else "assistant", content=text))
    return ChatRequest(model=model, messages=messages, session_id=session_id)


def _sent(server: Any, name: str = "x-session-id") -> list[str | None]:
    """The header ``name`` (None when absent) of every chat request ``server`` received, in order."""
    return [r.headers.get(name.lower()) for r in server.requests if r.path in CHAT_PATHS]


def _all_ways(provider: LocalProvider, request: ChatRequest) -> None:
    """``request`` once each: chat, achat, stream_chat, astream_chat."""
    provider.chat(request)

    async def run_async() -> None:
        await provider.achat(request)
        async for _ in provider.astream_chat(request):
            pass

    list(provider.stream_chat(request))
    asyncio.run(run_async())


@pytest.fixture
def proxy() -> Iterator[FakeLiteLLMProxy]:
    with FakeLiteLLMProxy() as server:
        yield server


@pytest.mark.timeout(60)
def test_a_litellm_proxy_gets_the_prefix_hash_on_every_path(proxy: FakeLiteLLMProxy) -> None:
    turn1, turn2 = _turn("hi"), _turn("hi", "hello", "more")
    with LocalProvider(_settings({"url": proxy.url})) as provider:
        _all_ways(provider, turn1)
        provider.chat(turn2)
    key = affinity_key(turn1)
    assert key is not None and len(key) == 32
    assert _sent(proxy) == [key] * 5  # chat, stream, achat, astream, then turn 2: one conversation, one key


@pytest.mark.timeout(60)
def test_an_explicit_session_id_is_sent_as_is(proxy: FakeLiteLLMProxy) -> None:
    with LocalProvider(_settings({"url": proxy.url})) as provider:
        _all_ways(provider, _turn("hi", session_id="user-42"))
        provider.chat(_turn("another topic", session_id="user-42"))
        provider.chat(_turn("hi", session_id="Zoë's chat"))  # not header-safe: sent as a stable hash
    sent = _sent(proxy)
    assert sent[:5] == ["user-42"] * 5
    assert sent[5] is not None and len(sent[5]) == 32 and sent[5].isalnum() and sent[5] != "user-42"


@pytest.mark.timeout(60)
def test_different_conversations_get_different_keys(proxy: FakeLiteLLMProxy) -> None:
    with LocalProvider(_settings({"url": proxy.url})) as provider:
        provider.chat(_turn("first conversation"))
        provider.chat(_turn("second conversation"))
    first, second = _sent(proxy)
    assert first and second and first != second


@pytest.mark.timeout(60)
def test_a_configured_gateway_gets_the_header_on_every_path() -> None:
    with FakeLlamaServer(MODEL, slots=4, service_s=0.0) as gw, \
            LocalProvider(_settings({"url": gw.url, "gateway": True})) as provider:
        _all_ways(provider, _turn("hi"))
    assert _sent(gw) == [affinity_key(_turn("hi"))] * 4


@pytest.mark.timeout(60)
def test_an_ollama_kind_gateway_gets_the_header_too() -> None:
    with FakeOllamaServer() as gw, \
            LocalProvider(_settings({"url": gw.url, "kind": "ollama", "gateway": True})) as provider:
        model = provider.list_models()[0].name
        _all_ways(provider, _turn("hi", model=model, session_id="s-1"))
    assert _sent(gw) == ["s-1"] * 4


@pytest.mark.timeout(60)
def test_a_server_that_is_not_a_gateway_gets_no_header() -> None:
    with FakeLlamaServer(MODEL, slots=4, service_s=0.0) as engine, FakeOllamaServer() as ollama, \
            LocalProvider(_settings({"url": engine.url}, {"url": ollama.url, "kind": "ollama"})) as provider:
        _all_ways(provider, _turn("hi", session_id="s-1"))
        model = next(i.name for i in provider.list_models() if i.service == ollama.url)
        _all_ways(provider, _turn("hi", model=model, session_id="s-1"))
    assert _sent(engine) == [None] * 4 and _sent(ollama) == [None] * 4
    assert not any(k.startswith("x-") for r in engine.requests for k in r.headers)


@pytest.mark.timeout(60)
def test_an_endpoint_names_its_own_header_gateway_or_not() -> None:
    # SGLang's gateway (SMG) reads x-smg-routing-key; a plain engine may be given a header too
    with FakeLlamaServer(MODEL, slots=4, service_s=0.0) as smg, FakeLlamaServer(MODEL, slots=4, service_s=0.0) as box:
        for endpoint in ({"url": smg.url, "gateway": True, "affinity_header": "x-smg-routing-key"},
                         {"url": box.url, "affinity_header": "X-User-Id"}):
            with LocalProvider(_settings(endpoint)) as provider:
                _all_ways(provider, _turn("hi", session_id="s-1"))
    assert _sent(smg, "x-smg-routing-key") == ["s-1"] * 4 and _sent(smg) == [None] * 4
    assert _sent(box, "x-user-id") == ["s-1"] * 4 and _sent(box) == [None] * 4


@pytest.mark.timeout(60)
def test_two_gateways_of_one_model_both_get_the_key_and_affinity_still_holds() -> None:
    with FakeLiteLLMProxy() as a, FakeLiteLLMProxy() as b, \
            LocalProvider(_settings({"url": a.url}, {"url": b.url})) as provider:
        for i in range(6):
            provider.chat(_turn(f"conversation {i}"))
            provider.chat(_turn(f"conversation {i}", "ok", "more"))
    sent = [*_sent(a), *_sent(b)]
    assert len(sent) == 12 and None not in sent and len(set(sent)) == 6
    for proxy in (a, b):  # both turns of a conversation went to one gateway, with one key
        keys = _sent(proxy)
        assert all(keys.count(k) == 2 for k in keys)


@pytest.mark.timeout(60)
def test_the_global_name_applies_to_every_gateway_and_empty_turns_it_off(proxy: FakeLiteLLMProxy) -> None:
    with LocalProvider(_settings({"url": proxy.url}, affinity_header="x-smg-routing-key")) as provider:
        provider.chat(_turn("hi", session_id="s-1"))
    with LocalProvider(_settings({"url": proxy.url}, affinity_header="")) as provider:
        provider.chat(_turn("hi", session_id="s-1"))
    with LocalProvider(_settings({"url": proxy.url, "affinity_header": ""})) as provider:
        provider.chat(_turn("hi", session_id="s-1"))
    assert _sent(proxy, "x-smg-routing-key") == ["s-1", None, None]
    assert _sent(proxy) == [None, None, None]


@pytest.mark.timeout(60)
def test_a_request_without_user_message_and_session_sends_no_header(proxy: FakeLiteLLMProxy) -> None:
    with LocalProvider(_settings({"url": proxy.url})) as provider:
        provider.chat(ChatRequest(model=MODEL, messages=[Message(role="system", content="be brief")]))
    assert _sent(proxy) == [None]


@pytest.mark.timeout(60)
def test_a_requests_own_headers_are_sent_and_cannot_replace_auth(proxy: FakeLiteLLMProxy) -> None:
    with LocalProvider(_settings({"url": proxy.url})) as provider:
        provider.chat(ChatRequest(model=MODEL, messages=[Message(role="user", content="hi")],
                                  headers={"x-team": "search", "x-session-id": "mine"}, session_id="routed"))
    [request] = [r for r in proxy.requests if r.path in CHAT_PATHS]
    assert request.headers["x-team"] == "search"
    assert request.headers["x-session-id"] == "routed"  # the router's key wins over a stale copy
    for bad in ({"Authorization": "Bearer x"}, {"x-a": "line\r\nX-Evil: 1"}, {"x a": "b"}, {"": "b"}):
        with pytest.raises(ConfigurationError):
            ChatRequest(model=MODEL, messages=[], headers=bad)


@pytest.mark.parametrize("value", ["x session", "Content-Type", "authorization", "x-é"])
def test_a_bad_header_name_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="affinity_header"):
        LocalSettings(affinity_header=value)
    with pytest.raises(ConfigurationError, match="endpoints"):
        LocalSettings(endpoints=[{"url": "http://gw:4000", "affinity_header": value}])


def test_the_header_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATINOX_AFFINITY_HEADER", "X-SMG-Routing-Key")
    assert LocalSettings().affinity_header == "X-SMG-Routing-Key"
    assert LocalSettings().affinity_header_for("http://gw:4000", True) == "X-SMG-Routing-Key"
