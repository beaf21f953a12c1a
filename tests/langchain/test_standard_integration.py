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
from langchain_tests.integration_tests import ChatModelIntegrationTests, EmbeddingsIntegrationTests

from patinox_langchain import ChatPatinox, PatinoxEmbeddings

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]

CHAT_ALIAS = "gemma3-270m"
TOOLS_ALIAS = "gemma3-270m-tools"
SERVER: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _server(lc_server_url: str) -> None:
    SERVER["url"] = lc_server_url


def params(model: str) -> dict[str, Any]:
    return {"model": model, "base_url": SERVER["url"], "provider": "openai_compatible", "temperature": 0,
            "max_tokens": 64, "timeout": 60, "max_retries": 0}


class _GemmaBase(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatPatinox]:
        return ChatPatinox

    @property
    def enable_vcr_tests(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True


class TestChatPatinoxGemma(_GemmaBase):
    """The plain alias: gemma chat format, no native tool template (named tools are still forced)."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return params(CHAT_ALIAS)

    @property
    def model_override_value(self) -> str:
        return TOOLS_ALIAS


class TestChatPatinoxGemmaTools(_GemmaBase):
    """The tools alias: chatml-function-calling, grammar-forced tool calls."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return params(TOOLS_ALIAS)

    @property
    def model_override_value(self) -> str:
        return CHAT_ALIAS


class TestPatinoxEmbeddingsGemma(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[PatinoxEmbeddings]:
        return PatinoxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": CHAT_ALIAS, "base_url": SERVER["url"], "provider": "openai_compatible", "batch_size": 2}
