"""The embedded server's pure parts: GGUF headers, recipes and aliases, declared facts, llama-server /props."""

from __future__ import annotations

from pathlib import Path

import pytest

from patinox_core.backends.openai_compat import props_facts, with_props
from patinox_core.capabilities import Source, model_info
from patinox_core.config import ProviderKind
from patinox_core.embedded.gguf import inspect
from patinox_core.embedded.recipes import RECIPES, served_file, served_recipe
from patinox_core.embedded.state import overlay
from patinox_core.errors import ConfigurationError

from .gguf_files import SMOL_META, write_gguf


def test_gguf_header_facts(tmp_path: Path) -> None:
    info = inspect(write_gguf(tmp_path / "Tiny Model.gguf", SMOL_META))
    assert (info.architecture, info.name, info.context_length, info.quantization) == ("llama", "Tiny", 8192, "Q4_1")
    assert info.has_chat_template and info.size_bytes > 0


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"GGUF\x09\x00\x00\x00", b"GGUF\x03\x00\x00\x00\x00"])
def test_not_a_gguf_is_a_configuration_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(content)
    with pytest.raises(ConfigurationError, match="not a GGUF model file") as err:
        inspect(bad)
    assert "built-in models" in str(err.value)


def test_truncated_header_is_refused(tmp_path: Path) -> None:
    good = write_gguf(tmp_path / "m.gguf", SMOL_META).read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ConfigurationError, match="not a GGUF"):
        inspect(cut)


def test_a_local_gguf_without_template_gets_chatml(tmp_path: Path) -> None:
    meta = {k: v for k, v in SMOL_META.items() if k != "tokenizer.chat_template"}
    served = served_file(inspect(write_gguf(tmp_path / "My Base.gguf", meta)))
    assert (served.name, served.chat_format, served.n_ctx) == ("my-base", "chatml", 4096)


def test_aliases_and_declared_facts(tmp_path: Path) -> None:
    gguf = tmp_path / "smol.gguf"
    gguf.write_bytes(b"x" * 100)
    served = served_recipe(RECIPES["smollm2"], gguf)
    chat, tools = served.config_entries(n_threads=2)
    assert chat["model_alias"] == "smollm2-135m" and "chat_format" not in chat  # the GGUF's own template
    assert chat["embedding"] is True and chat["kv_overrides"] == ["llama.pooling_type=int:1"]
    assert tools["model_alias"] == "smollm2-135m-tools" and tools["chat_format"] == "chatml-function-calling"
    facts = served.declared_facts()
    info = model_info(facts[0], service="http://127.0.0.1:1", kind=ProviderKind.OPENAI_COMPATIBLE)
    assert (info.context_length, info.effective_context_length, info.quantization) == (8192, 4096, "Q4_1")
    assert info.capabilities.embeddings and not info.capabilities.tools
    assert info.source["embeddings"] is Source.SERVER and info.source["context_length"] is Source.SERVER
    tools_info = model_info(facts[1], service="http://127.0.0.1:1", kind=ProviderKind.OPENAI_COMPATIBLE)
    assert tools_info.capabilities.tools and not tools_info.capabilities.embeddings


def test_gemma_context_is_capped_at_the_trained_length(tmp_path: Path) -> None:
    gguf = tmp_path / "g.gguf"
    gguf.write_bytes(b"x")
    assert served_recipe(RECIPES["gemma3-270m"], gguf, n_ctx=65536).n_ctx == 32768


def test_overlay_keeps_the_servers_list() -> None:
    assert overlay([{"name": "a", "loaded": True}], [{"name": "a", "loaded_context_length": 4096}, {"name": "b"}]) == [
        {"name": "a", "loaded": True, "loaded_context_length": 4096}]


def test_llama_server_props_reach_every_model() -> None:
    props = props_facts({"default_generation_settings": {"n_ctx": 8192}, "chat_template_caps": {"supports_tools": True},
                         "modalities": {"vision": True}})
    merged = with_props([{"name": "m", "capabilities": {"embeddings": False}}], props)
    assert merged == [{"name": "m", "loaded_context_length": 8192,
                       "capabilities": {"embeddings": False, "tools": True, "vision": True}}]
    assert props_facts({"default_generation_settings": {"n_ctx": True}}) == {}
