"""capabilities.py: parsers, heuristics tables, fact layering with sources, tiers, context figures."""

from __future__ import annotations

import pytest

from patinox_core import Capabilities, ConfigurationError, ModelInfo, ProviderKind, QualityTier, SpeedTier
from patinox_core.capabilities import (
    Source,
    heuristic_facts,
    model_info,
    normalize_name,
    override_layer,
    parameter_count_from_name,
    parse_parameter_size,
    quality_tier_for,
    quantization_bits,
    record_speed,
    resolve,
    server_context_default,
    speed_tier_for,
)

OLLAMA = ProviderKind.OLLAMA
URL = "http://127.0.0.1:11434"


def info(facts: dict, kind: ProviderKind = OLLAMA, **kw) -> ModelInfo:
    return model_info(facts, service=URL, kind=kind, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "count"), [
    ("7.6B", 7_600_000_000), ("270M", 270_000_000), ("8x7B", 56_000_000_000), ("1.5b", 1_500_000_000),
    ("22M", 22_000_000), ("3B", 3_000_000_000), ("", None), (None, None), ("n/a", None),
])
def test_parse_parameter_size(text, count):
    assert parse_parameter_size(text) == count


@pytest.mark.parametrize(("name", "count"), [
    ("qwen2.5:7b", 7e9), ("gemma3:270m", 270e6), ("deepseek-r1:1.5b", 1.5e9), ("snowflake-arctic-embed:22m", 22e6),
    ("lmstudio-community/Qwen2.5-14B-Instruct-GGUF", 14e9), ("gpt-oss:20b", 20e9), ("llama3.2:latest", None),
])
def test_parameter_count_from_name(name, count):
    assert parameter_count_from_name(name) == (None if count is None else round(count))


@pytest.mark.parametrize(("label", "bits"), [
    ("Q4_K_M", 4), ("Q5_K_S", 5), ("Q6_K", 6), ("Q8_0", 8), ("IQ3_XXS", 3), ("F16", 16), ("BF16", 16), ("F32", 32),
    ("4bit", 4), ("8bit", 8), ("MXFP4", 4), ("int4", 4), ("", None), ("weird", None),
])
def test_quantization_bits(label, bits):
    assert quantization_bits(label) == bits


@pytest.mark.parametrize("name", [
    "nomic-embed-text:latest", "mxbai-embed-large", "bge-m3", "multilingual-e5-large", "all-minilm:l6-v2",
    "snowflake-arctic-embed:22m", "text-embedding-nomic-embed-text-v1.5", "text-embedding-qwen3-embedding-0.6b",
    "hf.co/CompendiumLabs/bge-base-en-v1.5-gguf",
])
def test_embedding_names(name):
    facts = heuristic_facts(name)
    assert facts["embeddings"] is True and facts["chat"] is False and facts["tools"] is False


@pytest.mark.parametrize(("name", "vision"), [
    ("llava:7b", True), ("qwen2.5vl:7b", True), ("Qwen2.5-VL-7B-Instruct", True), ("llama3.2-vision:11b", True),
    ("minicpm-v:8b", True), ("gemma3:4b", True), ("gemma3:27b", True), ("gemma3:1b", False), ("gemma3:270m", False),
    ("google/gemma-3-12b", True), ("llama3.2:3b", None), ("gemma3n:e4b", None),
])
def test_vision_names(name, vision):
    assert heuristic_facts(name).get("vision") is vision


@pytest.mark.parametrize(("name", "thinking"), [
    ("qwen3:8b", True), ("deepseek-r1:7b", True), ("gpt-oss:20b", True), ("magistral:24b", True),
    ("phi4-reasoning:14b", True), ("qwen/qwen3-4b-thinking-2507", True), ("qwen3-coder:30b", None),
    ("qwen/qwen3-4b-instruct-2507", None), ("llama3.1:8b", None),
])
def test_thinking_names(name, thinking):
    assert heuristic_facts(name).get("thinking") is thinking


@pytest.mark.parametrize(("name", "tools"), [
    ("llama3.1:8b", True), ("llama3.2:3b", True), ("meta-llama-3.1-8b-instruct", True), ("qwen2.5:7b", True),
    ("qwen3:4b", True), ("mistral-nemo:12b", True), ("command-r:35b", True), ("granite3.3:8b", True),
    ("gpt-oss:20b", True), ("llama3:8b", None), ("gemma3:4b", None), ("llama3.2-vision:11b", None),
])
def test_tool_names(name, tools):
    assert heuristic_facts(name).get("tools") is tools


def test_normalize_name_glues_versions_but_not_sizes():
    assert normalize_name("lmstudio-community/Meta-Llama-3.1-8B-Instruct-GGUF") == "meta-llama3.1-8b-instruct-gguf"
    assert normalize_name("phi-4-reasoning") == "phi4-reasoning"
    assert normalize_name("mistral-7b-instruct-v0.3") == "mistral-7b-instruct-v0.3"


def test_resolve_records_the_winning_source_per_key():
    values, sources = resolve((Source.DEFAULT, {"a": 1, "b": 1, "c": 1}), (Source.HEURISTIC, {"b": 2}),
                              (Source.SERVER, {"c": 3, "b": None}), (Source.OVERRIDE, {"d": 4}))
    assert values == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert sources == {"a": Source.DEFAULT, "b": Source.HEURISTIC, "c": Source.SERVER, "d": Source.OVERRIDE}
    assert Source.DEFAULT < Source.HEURISTIC < Source.SERVER < Source.OVERRIDE


def test_server_facts_beat_heuristics():
    # the name says tools + thinking; /api/show says completion only
    m = info({"name": "qwen3:4b", "capabilities": {"completion": True, "tools": False, "thinking": False}})
    assert not m.capabilities.tools and not m.capabilities.thinking and m.capabilities.chat
    assert m.source["tools"] is Source.SERVER and m.known_lacks("tools")
    plain = info({"name": "qwen3:4b"})
    assert plain.capabilities.tools and plain.source["tools"] is Source.HEURISTIC


def test_overrides_beat_server_and_heuristics():
    facts = {"name": "qwen3:4b", "context_length": 40960, "capabilities": {"tools": False}}
    m = info(facts, overrides={"qwen3": {"tools": True, "vision": True}, "qwen3:4b": {"context_length": 8192}})
    assert m.capabilities.tools and m.capabilities.vision and m.context_length == 8192
    assert m.source["tools"] is m.source["context_length"] is Source.OVERRIDE
    exact_wins = override_layer("qwen3:4b", {"qwen3": {"tools": False}, "qwen3:4b": {"tools": True}})
    assert exact_wins == {"tools": True}
    assert override_layer("qwen3:latest", {"qwen3": {"num_ctx": 2048}}) == {"default_context_length": 2048}
    assert override_layer("qwen3:4b", {"qwen3": {"capabilities": ["vision"]}}) == {"vision": True}


@pytest.mark.parametrize("bad", [{"nonsense": 1}, {"tools": "yes"}, {"quality_tier": "huge"}])
def test_bad_override_is_a_configuration_error(bad):
    with pytest.raises(ConfigurationError) as err:
        info({"name": "m"}, overrides={"m": bad})
    assert "overrides['m']" in str(err.value)


def test_embedding_model_from_server_type():
    m = info({"name": "text-embedding-foo", "model_type": "embeddings"}, kind=ProviderKind.LMSTUDIO)
    assert m.capabilities.embeddings and not m.capabilities.chat and not m.capabilities.structured_output
    ollama = info({"name": "mystery", "capabilities": {"embeddings": True}})
    assert not ollama.capabilities.chat and ollama.source["chat"] is Source.SERVER


def test_defaults_block_nothing():
    m = info({"name": "mystery-model"}, kind=ProviderKind.OPENAI_COMPATIBLE)
    assert m.capabilities == Capabilities(chat=True, completion=True)
    assert not m.known_lacks("tools") and not m.known_lacks("vision") and not m.known_lacks("embeddings")
    assert m.source["tools"] is Source.DEFAULT


def test_context_trained_vs_effective():
    facts = {"name": "llama3.2:latest", "context_length": 131072}
    assert info(facts).effective_context_length == 4096  # Ollama's default allocation
    assert info(facts, version="0.6.2").effective_context_length == 2048
    assert info({**facts, "default_context_length": 8192}).effective_context_length == 8192  # Modelfile num_ctx
    loaded = info({**facts, "loaded": True, "loaded_context_length": 32768, "default_context_length": 8192})
    assert (loaded.context_length, loaded.effective_context_length) == (131072, 32768)
    small = info({"name": "tiny", "context_length": 2048})
    assert small.effective_context_length == 2048  # never above the trained maximum
    assert info({"name": "x"}, kind=ProviderKind.OPENAI_COMPATIBLE).effective_context_length is None
    assert info({"name": "x", "loaded": True, "loaded_context_length": 2048},
                kind=ProviderKind.OPENAI_COMPATIBLE).effective_context_length == 2048
    assert server_context_default(ProviderKind.LMSTUDIO) == 4096


def test_tiers_from_size_and_quantization():
    big = info({"name": "llama3.3:70b", "parameter_size": "70.6B", "quantization": "Q4_K_M"})
    small = info({"name": "gemma3:270m", "parameter_size": "268.10M", "quantization": "Q8_0"})
    assert big.quality_tier is QualityTier.XLARGE and small.quality_tier is QualityTier.TINY
    assert big.quality_tier > small.quality_tier and big.speed_tier < small.speed_tier
    assert small.speed_tier is SpeedTier.VERY_FAST and big.speed_tier is SpeedTier.SLOW
    assert big.source["quality_tier"] is Source.SERVER
    by_name = info({"name": "qwen2.5:7b"})
    assert by_name.quality_tier is QualityTier.MEDIUM and by_name.source["quality_tier"] is Source.HEURISTIC
    assert info({"name": "mystery"}).quality_tier is QualityTier.UNKNOWN
    assert quality_tier_for(70_000_000_000, 2) is QualityTier.LARGE
    assert speed_tier_for(size_bytes=2_000_000_000) is SpeedTier.FAST
    pinned = info({"name": "mystery"}, overrides={"mystery": {"quality_tier": "large", "speed_tier": 2}})
    assert (pinned.quality_tier, pinned.speed_tier) == (QualityTier.LARGE, SpeedTier.MEDIUM)


def test_record_speed_updates_speed_tier():
    m = info({"name": "llama3.3:70b", "parameter_size": "70B"})
    assert m.speed_tier is SpeedTier.SLOW
    fast = record_speed(m, 90.0)
    assert fast.speed_tier is SpeedTier.VERY_FAST and fast.tokens_per_second == 90.0 and m.tokens_per_second is None
    assert record_speed(fast, 10.0).tokens_per_second == pytest.approx(66.0)
    pinned = info({"name": "x"}, overrides={"x": {"speed_tier": "slow"}})
    assert record_speed(pinned, 100.0).speed_tier is SpeedTier.SLOW


def test_to_dict_is_json_ready():
    import json

    d = info({"name": "qwen3:4b", "context_length": 40960, "parameter_size": "4.0B"}).to_dict()
    json.dumps(d)
    assert d["kind"] == "ollama" and d["effective_context_length"] == 4096 and "tools" in d["capabilities"]
    assert d["source"]["tools"] == "heuristic" and d["quality_tier"] == "small"
