"""Live tier: reasoning split out of what a real llama-cpp-python server streams (``pytest -m live``).

What this proves, and what it does not. Gemma 3 270M is a base model that does not reason, and
llama-cpp-python has no reasoning parser. A GBNF grammar (llama-cpp-python's ``grammar`` request
field, passed through ``options``) forces the real model's completion into a think shape, so the
real server generates ``<think>…</think>`` text and streams it token by token with the real
tokenizer's boundaries (``</think>`` arrives in pieces such as ``<``, ``/``, ``t``, ``hi``, ``n``,
``k``, ``>``). These tests show that patinox splits such replies (tags the model opened,
a block a chat template opened, a block cut by ``max_tokens``) sync, async and streamed, and that
a conversation carrying earlier reasoning is accepted by a server that must not get it back. They do
not show that any model thinks well, nor test a server's own reasoning parser (the fakes do).
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from patinox_core import ChatRequest, LocalProvider, LocalSettings, Message
from patinox_core.backends.openai_compat import OpenAICompatBackend, fingerprint_openai
from patinox_core.types import ChatResult, merge_chunks

pytestmark = pytest.mark.live

MODEL = "gemma3-270m"
WORD = "[a-z]{2,8}"
TAGGED = f'root ::= "<think>" {WORD} " " {WORD} "</think>" {WORD}'  # the model opens the block
OPENED = f'root ::= {WORD} " " {WORD} "</think>" {WORD}'  # a chat template opened it: only the close comes
CUT = 'root ::= "<think>" [a-z ]{60,90}'  # never closed within max_tokens


@pytest.fixture(scope="module")
def provider(live_server) -> LocalProvider:  # type: ignore[no-untyped-def]
    url = live_server.base_url
    with httpx.Client(trust_env=False, timeout=10) as client:
        listing = client.get(f"{url}/v1/models")
    backend = OpenAICompatBackend(url, flavor=fingerprint_openai(listing.json(), listing.headers))
    settings = LocalSettings(discover_defaults=False, read_timeout=60, cold_load_timeout=120, max_retries=0)
    return LocalProvider(settings, backends=[backend])


def _ask(grammar: str, *, max_tokens: int = 32, **kw: object) -> ChatRequest:
    messages = kw.pop("messages", [Message("user", "Think, then answer: what is a cat?")])
    return ChatRequest(model=MODEL, messages=messages, max_tokens=max_tokens, temperature=0, seed=1,  # type: ignore[arg-type]
                       options={"grammar": grammar}, **kw)  # type: ignore[arg-type]


def _four_ways(provider: LocalProvider, request: ChatRequest) -> list[ChatResult]:
    async def both() -> tuple[ChatResult, ChatResult]:
        chunks = [c async for c in provider.astream_chat(request)]
        return await provider.achat(request), merge_chunks(chunks)

    done, streamed_async = asyncio.run(both())
    return [provider.chat(request), done, merge_chunks(list(provider.stream_chat(request))), streamed_async]


def test_tags_the_model_writes_are_split(provider: LocalProvider) -> None:
    for result in _four_ways(provider, _ask(TAGGED, think=True)):
        assert re.fullmatch(r"[a-z]{2,8} [a-z]{2,8}", result.message.thinking or ""), result.message
        assert re.fullmatch(r"[a-z]{2,8}", result.message.content), result.message
    plain = provider.chat(_ask(TAGGED))  # without asking for reasoning: split all the same
    assert plain.message.thinking and "think>" not in plain.message.content


def test_a_block_the_template_opened_is_split(provider: LocalProvider) -> None:
    results = _four_ways(provider, _ask(OPENED, think=True))
    for result in results:
        assert re.fullmatch(r"[a-z]{2,8} [a-z]{2,8}", result.message.thinking or ""), result.message
        assert re.fullmatch(r"[a-z]{2,8}", result.message.content), result.message
    assert len({(r.message.content, r.message.thinking) for r in results}) == 1  # temperature 0: one answer


def test_a_block_cut_by_max_tokens_is_all_reasoning(provider: LocalProvider) -> None:
    for result in _four_ways(provider, _ask(CUT, max_tokens=12, think=True)):  # "<think>" alone takes ~6 tokens
        assert result.finish_reason == "length"
        assert result.message.content == "" and re.fullmatch(r"[a-z ]+", result.message.thinking or ""), result


def test_earlier_reasoning_is_not_sent_back_to_this_server(provider: LocalProvider) -> None:
    first = provider.chat(_ask(TAGGED, think=True))
    history = [Message("user", "Think, then answer: what is a cat?"), first.message, Message("user", "And a dog?")]
    second = provider.chat(_ask(TAGGED, think=True, messages=history))
    assert second.message.thinking and second.message.content
