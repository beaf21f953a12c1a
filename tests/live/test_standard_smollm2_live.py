"""LangChain's standard integration suites (langchain-tests) on ``patinox serve``'s default model,
SmolLM2-135M-Instruct, live (no cassettes): the chat alias (the GGUF's own ChatML template) and the
tools alias (chatml-function-calling), plus embeddings. The Gemma 3 270M twins replay from cassettes
in ``tests/lc_adapter/test_standard_integration.py``. Expected failures carry their reason; strict.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from lc_adapter.standard_limits import limited_suite  # tests/ is on sys.path (rootdir conftest)
from lc_adapter.standard_limits import params as standard_params

from patinox_langchain import PatinoxEmbeddings

pytestmark = pytest.mark.live
SERVER: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _server(live_server: Any) -> None:
    SERVER["url"] = live_server.base_url


def params(model: str) -> dict[str, Any]:
    return standard_params(SERVER["url"], model)


WRONG_ARGUMENT = "model weakness: SmolLM2-135M fills the forced magic_function call with input=10 instead of 3"
NEVER_CALLS_TOOLS = "model weakness: the 135M model does not call a tool on its own (tool_choice='auto')"
JSON_MODE_KEYS = ("model weakness: JSON mode constrains the reply to JSON but not to keys; the model writes other "
                  "keys than setup/punchline")


_SmolBase = limited_suite(wrong_argument=WRONG_ARGUMENT, json_mode_keys=JSON_MODE_KEYS,
                          never_calls_tools=NEVER_CALLS_TOOLS)


class TestChatPatinoxSmolLM2(_SmolBase):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return params("smollm2-135m")

    @property
    def model_override_value(self) -> str:
        return "smollm2-135m-tools"

    @pytest.mark.xfail(reason="model weakness: the 135M model writes its own katakana instead of copying the "
                       "Japanese company name into the forced call", strict=True)
    def test_unicode_tool_call_integration(self, model: BaseChatModel, *, tool_choice: str | None = None,
                                           force_tool_call: bool = True) -> None:
        super().test_unicode_tool_call_integration(model, tool_choice=tool_choice, force_tool_call=force_tool_call)


class TestChatPatinoxSmolLM2Tools(_SmolBase):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return params("smollm2-135m-tools")

    @property
    def model_override_value(self) -> str:
        return "smollm2-135m"

    @pytest.mark.xfail(reason="model weakness: the forced answer_style string runs past max_tokens=64 (Python code "
                       "inside the string), so the call's arguments are cut mid-JSON", strict=True)
    def test_bind_runnables_as_tools(self, model: BaseChatModel) -> None:
        super().test_bind_runnables_as_tools(model)

    @pytest.mark.xfail(reason="model weakness: for the Chinese prompt the forced call's string comes back empty",
                       strict=True)
    def test_unicode_tool_call_integration(self, model: BaseChatModel, *, tool_choice: str | None = None,
                                           force_tool_call: bool = True) -> None:
        super().test_unicode_tool_call_integration(model, tool_choice=tool_choice, force_tool_call=force_tool_call)


class TestPatinoxEmbeddingsSmolLM2(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[PatinoxEmbeddings]:
        return PatinoxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "smollm2-135m", "base_url": SERVER["url"], "provider": "openai_compatible", "batch_size": 2}
