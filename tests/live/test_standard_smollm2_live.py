"""LangChain's standard integration suites (langchain-tests) on ``patinox serve``'s default model,
SmolLM2-135M-Instruct, live (no cassettes): the chat alias (the GGUF's own ChatML template) and the
tools alias (chatml-function-calling), plus embeddings. The Gemma 3 270M twins replay from cassettes
in ``tests/lc_adapter/test_standard_integration.py``. Expected failures carry their reason; strict.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests, EmbeddingsIntegrationTests

from patinox_langchain import ChatPatinox, PatinoxEmbeddings

pytestmark = pytest.mark.live
SERVER: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _server(live_server: Any) -> None:
    SERVER["url"] = live_server.base_url


def params(model: str) -> dict[str, Any]:
    return {"model": model, "base_url": SERVER["url"], "provider": "openai_compatible", "temperature": 0,
            "max_tokens": 64, "timeout": 120, "max_retries": 0}


class _SmolBase(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatPatinox]:
        return ChatPatinox

    @property
    def supports_json_mode(self) -> bool:
        return True


class TestChatPatinoxSmolLM2(_SmolBase):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return params("smollm2-135m")

    @property
    def model_override_value(self) -> str:
        return "smollm2-135m-tools"


class TestChatPatinoxSmolLM2Tools(_SmolBase):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return params("smollm2-135m-tools")

    @property
    def model_override_value(self) -> str:
        return "smollm2-135m"


class TestPatinoxEmbeddingsSmolLM2(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[PatinoxEmbeddings]:
        return PatinoxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "smollm2-135m", "base_url": SERVER["url"], "provider": "openai_compatible", "batch_size": 2}


def _unused(model: BaseChatModel) -> None:  # pragma: no cover - keeps the import for subclasses' xfails
    del model
