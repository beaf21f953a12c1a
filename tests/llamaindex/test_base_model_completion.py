"""Issue 15 item 6: LlamaIndex completions on a base model (no chat template) use ``/v1/completions``,
as ``OpenAILike(is_chat_model=False)`` does, against a loopback llama-cpp-python fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_cpp_fake import LlamaCppPython
from llama_index.core.llms import ChatMessage

from patinox_core.config import LocalSettings
from patinox_core.errors import CapabilityError, ConfigurationError
from patinox_core.router import LocalProvider
from patinox_core.types import ChatRequest, Message
from patinox_llamaindex import Patinox

CONTINUATION = " there lived a small cat"


@pytest.fixture
def server() -> Iterator[LlamaCppPython]:
    with LlamaCppPython() as srv:
        srv.completion = CONTINUATION
        yield srv


def paths(srv: LlamaCppPython) -> list[str]:
    return [r.path for r in srv.requests if r.method == "POST"]


async def test_a_model_that_is_no_chat_model_completes_raw_prompts(server: LlamaCppPython) -> None:
    llm = Patinox(model="gemma3-270m", base_url=server.url, is_chat_model=False, max_tokens=8, max_retries=0)
    assert llm.metadata.is_chat_model is False
    assert llm.complete("Once upon a time").text == CONTINUATION
    assert (await llm.acomplete("Once upon a time")).text == CONTINUATION
    assert "".join(r.delta or "" for r in llm.stream_complete("Once upon a time")) == CONTINUATION
    assert "".join([r.delta or "" async for r in await llm.astream_complete("Once")]) == CONTINUATION
    assert paths(server) == ["/v1/completions"] * 4
    body = server.requests[-1].json
    assert (body["prompt"], body["max_tokens"], "messages" in body) == ("Once", 8, False)


def test_the_catalogue_can_say_a_model_has_no_chat_template(server: LlamaCppPython) -> None:
    settings = LocalSettings(endpoints=[{"url": server.url, "kind": "openai_compatible"}], discover_defaults=False,
                             overrides={"gemma3-270m": {"chat": False}}, max_retries=0)
    with LocalProvider(settings) as local:
        llm = Patinox(model="gemma3-270m", local_provider=local)
        assert llm.complete("Once upon a time").text == CONTINUATION  # resolved first, then /v1/completions
        assert llm.metadata.is_chat_model is False
        with pytest.raises(CapabilityError, match="does not support chat"):
            llm.chat([ChatMessage(role="user", content="hi")])
    assert paths(server) == ["/v1/completions"]


def test_chat_models_keep_completing_through_chat(server: LlamaCppPython) -> None:
    llm = Patinox(model="gemma3-270m", base_url=server.url, max_retries=0)
    assert llm.complete("hi").text == "Hello."
    assert paths(server) == ["/v1/chat/completions"]


def test_a_completion_request_is_one_user_prompt() -> None:
    with pytest.raises(ConfigurationError, match="one user message"):
        ChatRequest(model="m", messages=[Message("system", "s"), Message("user", "u")], completion=True)
