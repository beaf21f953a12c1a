"""LangChain's standard unit suites (langchain-tests 1.1.9) for ChatPatinox and PatinoxEmbeddings.

All of them run and pass, including ``test_init_from_env``, ``test_serdes`` (snapshot in
``__snapshots__/``) and ``test_standard_params_model_override`` (which ChatOllama fails).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.load import dumpd, load
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests

from patinox_langchain import ChatPatinox, PatinoxEmbeddings

lc_load = importlib.import_module("langchain_core.load.load")  # the module, not the function
CLASS_PATH = ("patinox_langchain", "chat_models", "ChatPatinox")


@pytest.fixture(autouse=True)
def _allow_patinox_for_load_all(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``test_serdes`` loads with ``allowed_objects="all"``, which admits only the classes listed in
    langchain-core's own ``load/mapping.py`` (partners are added there upstream). Add ChatPatinox to
    that list for the duration of a test, as an upstream entry would; users pass
    ``allowed_objects=[ChatPatinox]`` instead (``test_load_with_explicit_allowlist``)."""
    monkeypatch.setitem(lc_load.ALL_SERIALIZABLE_MAPPINGS, CLASS_PATH, CLASS_PATH)
    monkeypatch.setattr(lc_load, "_default_class_paths_cache", {})
    yield


def test_load_with_explicit_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lc_load, "_default_class_paths_cache", {})
    monkeypatch.delitem(lc_load.ALL_SERIALIZABLE_MAPPINGS, CLASS_PATH)
    monkeypatch.setenv("PATINOX_API_KEY", "s3cret-zq")
    chat = ChatPatinox(model="llama3.2", temperature=0.2, reasoning="low", num_ctx=8192, api_key="s3cret-zq")
    data = dumpd(chat)
    assert "s3cret-zq" not in str(data)  # the secret is serialized as a reference to PATINOX_API_KEY
    again = load(data, allowed_objects=[ChatPatinox], valid_namespaces=["patinox_langchain"], secrets_from_env=True)
    assert isinstance(again, ChatPatinox)
    assert again.dict() == chat.dict() and again.api_key is not None and again.api_key.get_secret_value() == "s3cret-zq"


class TestChatPatinoxUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatPatinox]:
        return ChatPatinox

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "llama3.2", "base_url": "http://127.0.0.1:11434", "provider": "ollama"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"PATINOX_API_KEY": "secret-from-env"}, {"model": "llama3.2"}, {"api_key": "secret-from-env"}

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True


class TestPatinoxEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[PatinoxEmbeddings]:
        return PatinoxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "nomic-embed-text", "batch_size": 16, "query_prefix": "search_query: "}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"PATINOX_API_KEY": "secret-from-env"}, {"model": "nomic-embed-text"}, {"api_key": "secret-from-env"}
