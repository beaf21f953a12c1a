"""LangChain's standard integration suites (langchain-tests 1.1.9) on the real model server.

Recorded from the live tier's llama-cpp-python server (Gemma 3 270M base, OpenAI-compatible path)
into ``cassettes/langchain/`` and replayed in the default run with the network blocked (see
``conftest.py``). One chat class per server alias: ``gemma3-270m`` (gemma chat format) and
``gemma3-270m-tools`` (chatml-function-calling). Discovery and catalogue calls are recorded too:
``base_url`` + ``provider`` pin the server, so they are the same on every run.

Expected failures are only those no client could pass on this server; each carries its reason.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from patinox_langchain import PatinoxEmbeddings

from .standard_limits import BOTH_OUTPUTS, limited_suite
from .standard_limits import params as standard_params

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]

CHAT_ALIAS = "gemma3-270m"
TOOLS_ALIAS = "gemma3-270m-tools"
SERVER: dict[str, str] = {}

# Why each expected failure cannot pass on this server, whatever the client (strict: an XPASS fails).
WRONG_ARGUMENT = ("model weakness: Gemma 3 270M (base) fills the forced magic_function call with "
                  "input=1000000000000000 instead of 3")
NEVER_CALLS_TOOLS = "model weakness: the tiny base model never calls a tool on its own (tool_choice='auto')"
JSON_MODE_KEYS = ("model weakness: JSON mode constrains the reply to JSON but not to keys; the base model writes "
                  "other keys than setup/punchline")
EMPTY_PLAIN_CHAT = ("server template + model: on the chatml-function-calling alias the base model ends every plain "
                    "prompt at once with '<|im_end|>', so the content is empty")

@pytest.fixture(autouse=True)
def _server(lc_server_url: str) -> None:
    SERVER["url"] = lc_server_url


def params(model: str) -> dict[str, Any]:
    return standard_params(SERVER["url"], model)


_GemmaBase = limited_suite(wrong_argument=WRONG_ARGUMENT, json_mode_keys=JSON_MODE_KEYS,
                           never_calls_tools=NEVER_CALLS_TOOLS, vcr=True)


class TestChatPatinoxGemma(_GemmaBase):
    """The plain alias: gemma chat format, no native tool template (named tools are still forced)."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return params(CHAT_ALIAS)

    @property
    def model_override_value(self) -> str:
        return TOOLS_ALIAS

    @pytest.mark.xfail(reason="model weakness: the forced answer_style string runs on until the server stops "
                       "generating mid-JSON, so the call's arguments are malformed", strict=True)
    def test_bind_runnables_as_tools(self, model: BaseChatModel) -> None:
        super().test_bind_runnables_as_tools(model)

    @pytest.mark.xfail(reason="model weakness: for the Chinese prompt the forced call stops mid-string "
                       "('…a Chinese technology '), so its arguments are malformed", strict=True)
    def test_unicode_tool_call_integration(self, model: BaseChatModel, *, tool_choice: str | None = None,
                                           force_tool_call: bool = True) -> None:
        super().test_unicode_tool_call_integration(model, tool_choice=tool_choice, force_tool_call=force_tool_call)


class TestChatPatinoxGemmaTools(_GemmaBase):
    """The tools alias: chatml-function-calling, grammar-forced tool calls."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return params(TOOLS_ALIAS)

    @property
    def model_override_value(self) -> str:
        return CHAT_ALIAS

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    def test_invoke(self, model: BaseChatModel) -> None:
        super().test_invoke(model)

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    async def test_ainvoke(self, model: BaseChatModel) -> None:
        await super().test_ainvoke(model)

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    @BOTH_OUTPUTS
    def test_stream(self, model: BaseChatModel) -> None:
        super().test_stream(model)

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    @BOTH_OUTPUTS
    async def test_astream(self, model: BaseChatModel) -> None:
        await super().test_astream(model)

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    def test_stream_events_v3(self, model: BaseChatModel) -> None:
        super().test_stream_events_v3(model)

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    async def test_astream_events_v3(self, model: BaseChatModel) -> None:
        await super().test_astream_events_v3(model)

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    def test_batch(self, model: BaseChatModel) -> None:
        super().test_batch(model)

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    async def test_abatch(self, model: BaseChatModel) -> None:
        await super().test_abatch(model)

    @pytest.mark.xfail(reason=EMPTY_PLAIN_CHAT, strict=True)
    def test_message_with_name(self, model: BaseChatModel) -> None:
        super().test_message_with_name(model)

    @pytest.mark.xfail(reason="model weakness: the tiny model writes 'Hello Corporation' instead of copying the "
                       "Japanese company name into the forced call", strict=True)
    def test_unicode_tool_call_integration(self, model: BaseChatModel, *, tool_choice: str | None = None,
                                           force_tool_call: bool = True) -> None:
        super().test_unicode_tool_call_integration(model, tool_choice=tool_choice, force_tool_call=force_tool_call)


class TestPatinoxEmbeddingsGemma(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[PatinoxEmbeddings]:
        return PatinoxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": CHAT_ALIAS, "base_url": SERVER["url"], "provider": "openai_compatible", "batch_size": 2}
