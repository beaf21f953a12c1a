"""LM Studio's pure converters on literal payloads."""

from __future__ import annotations

import json

import pytest

from patinox_core.backends.lmstudio import (
    LMStudioBackend,
    classify_lmstudio_error,
    facts_from_api_v0,
    facts_from_api_v1,
    ttl_seconds,
)
from patinox_core.backends.openai_compat import from_wire
from patinox_core.config import LocalSettings, ProviderKind
from patinox_core.errors import (
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ModelNotFoundError,
    ModelNotLoadedError,
    RecoveryStrategy,
    ServerError,
)
from patinox_core.types import ChatRequest, Message

V0_MODELS = json.loads("""{"data": [
  {"id": "qwen2-vl-7b-instruct", "object": "model", "type": "vlm", "publisher": "mlx-community", "arch": "qwen2_vl",
   "compatibility_type": "mlx", "quantization": "4bit", "state": "not-loaded", "max_context_length": 32768},
  {"id": "meta-llama-3.1-8b-instruct", "object": "model", "type": "llm", "publisher": "lmstudio-community",
   "arch": "llama", "compatibility_type": "gguf", "quantization": "Q4_K_M", "state": "loaded",
   "max_context_length": 131072, "loaded_context_length": 4096, "capabilities": ["tool_use"]},
  {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model", "type": "embeddings",
   "publisher": "nomic-ai", "arch": "nomic-bert", "compatibility_type": "gguf", "quantization": "Q4_0",
   "state": "not-loaded", "max_context_length": 2048}], "object": "list"}""")

V1_MODELS = json.loads("""{"models": [
  {"type": "llm", "publisher": "qwen", "key": "qwen/qwen3-8b", "display_name": "Qwen3 8B", "architecture": "qwen3",
   "quantization": {"name": "Q4_K_M", "bits_per_weight": 4}, "size_bytes": 5030000000, "params_string": "8B",
   "loaded_instances": [{"id": "qwen/qwen3-8b:2", "config": {"context_length": 4096, "parallel": 2}},
                        {"id": "qwen/qwen3-8b", "config": {"context_length": 8192, "eval_batch_size": 512,
                         "parallel": 4, "flash_attention": true, "offload_kv_cache_to_gpu": true}}],
   "max_context_length": 40960, "format": "gguf",
   "capabilities": {"vision": false, "trained_for_tool_use": true,
                    "reasoning": {"allowed_options": ["off", "on"], "default": "on"}}},
  {"type": "llm", "publisher": "google", "key": "google/gemma-3-4b", "display_name": "Gemma 3 4B",
   "architecture": "gemma3", "quantization": {"name": "Q4_K_M", "bits_per_weight": 4}, "size_bytes": 3340000000,
   "params_string": "4B", "loaded_instances": [], "max_context_length": 131072, "format": "gguf",
   "capabilities": {"vision": true, "trained_for_tool_use": false}},
  {"type": "embedding", "publisher": "nomic-ai", "key": "text-embedding-nomic-embed-text-v1.5",
   "display_name": "Nomic Embed", "quantization": {"name": "Q4_K_M", "bits_per_weight": 4}, "size_bytes": 84106624,
   "params_string": null, "loaded_instances": [], "max_context_length": 2048, "format": "gguf"}]}""")

V0_CHAT = json.loads("""{
  "id": "chatcmpl-p3a8v4e8w2", "object": "chat.completion", "created": 1757000000, "model": "phi-3.1-mini",
  "choices": [{"index": 0, "logprobs": null, "finish_reason": "stop",
               "message": {"role": "assistant", "content": "Hi!"}}],
  "usage": {"prompt_tokens": 24, "completion_tokens": 3, "total_tokens": 27},
  "stats": {"tokens_per_second": 63.72271083858157, "time_to_first_token": 0.073, "generation_time": 1.396,
            "stop_reason": "eosFound"},
  "model_info": {"arch": "phi3", "quant": "Q4_K_M", "format": "gguf", "context_length": 66856},
  "runtime": {"name": "llama.cpp-win-x86_64-nvidia-cuda12-avx2", "version": "1.51.0",
              "supported_formats": ["gguf"]}}""")


@pytest.mark.parametrize(("keep_alive", "ttl"), [
    (None, None), (0, 1), (1, 1), (300, 300), (2.5, 3), (-1, None), ("-1", None), ("0", 1), ("45", 45),
    ("30s", 30), ("5m", 300), ("1h", 3600), ("1.5h", 5400), ("750ms", 1), ("-5m", None),
])
def test_ttl_from_keep_alive(keep_alive: object, ttl: int | None) -> None:
    assert ttl_seconds(keep_alive) == ttl  # type: ignore[arg-type]


def test_bad_keep_alive_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not a duration"):
        ttl_seconds("for a while")


def test_facts_from_api_v0() -> None:
    vlm, llm, emb = facts_from_api_v0(V0_MODELS)
    assert vlm == {"name": "qwen2-vl-7b-instruct", "model_type": "vlm", "loaded": False, "family": "qwen2_vl",
                   "quantization": "4bit", "context_length": 32768,
                   "capabilities": {"chat": True, "completion": True, "embeddings": False, "vision": True}}
    assert llm["loaded"] and llm["loaded_context_length"] == 4096 and llm["capabilities"]["tools"] is True
    assert llm["capabilities"]["vision"] is False
    assert emb["model_type"] == "embeddings" and emb["capabilities"] == {"chat": False, "completion": False,
                                                                         "embeddings": True}


def test_facts_from_api_v1() -> None:
    qwen, gemma, emb = facts_from_api_v1(V1_MODELS)
    assert qwen == {"name": "qwen/qwen3-8b", "model_type": "llm", "family": "qwen3", "quantization": "Q4_K_M",
                    "size_bytes": 5030000000, "parameter_size": "8B", "context_length": 40960, "loaded": True,
                    "loaded_context_length": 8192, "parallel_slots": 4, "instance_count": 2,
                    "capabilities": {"chat": True, "completion": True, "embeddings": False, "vision": False,
                                     "tools": True, "thinking": True},
                    "reasoning_options": ("off", "on"), "reasoning_default": "on"}
    assert gemma["model_type"] == "vlm" and not gemma["loaded"] and "loaded_context_length" not in gemma
    assert gemma["capabilities"]["vision"] is True and "thinking" not in gemma["capabilities"]
    assert emb["model_type"] == "embeddings" and "parameter_size" not in emb and emb["context_length"] == 2048


def test_v1_slots_come_from_the_instance_a_request_reaches() -> None:
    """The instance whose id is the model key serves requests naming the key (``key:2`` is addressed by
    its own id); without one, the first instance; an embedding instance has no ``parallel``."""
    one = {"models": [{"type": "llm", "key": "m", "loaded_instances": [
        {"id": "m-copy", "config": {"context_length": 2048, "parallel": 3}}], "max_context_length": 8192}]}
    (fact,) = facts_from_api_v1(one)
    assert (fact["parallel_slots"], fact["loaded_context_length"], fact["instance_count"]) == (3, 2048, 1)
    emb = facts_from_api_v1({"models": [{"type": "embedding", "key": "e", "loaded_instances": [
        {"id": "e", "config": {"context_length": 2048}}]}]})[0]
    assert "parallel_slots" not in emb and emb["loaded_context_length"] == 2048


@pytest.mark.parametrize(("status", "body", "kind", "hint"), [
    (401, {"error": {"type": "invalid_request", "code": "invalid_api_key", "message": "An LM Studio API token is "
                     "required to make requests to this server, but none was provided using the Authorization "
                     "header using the 'Bearer' scheme (i.e., 'Authorization: Bearer $LM_API_TOKEN')."}},
     AuthenticationError, "LM_API_TOKEN"),
    (404, {"error": "No models loaded. Please load a model in the developer page or use the 'lms load' command."},
     ModelNotLoadedError, "lms load <model>"),
    (400, {"error": {"message": "No models loaded. Please load a model in the developer page or use the 'lms load' "
                                "command.", "type": "invalid_request_error", "param": "model", "code": None}},
     ModelNotLoadedError, "lms load <model>"),
    (400, {"error": {"message": 'Invalid model identifier "o4-mini". Please specify a valid downloaded model '
                                "(e.g., qwen/qwen3-8b, text-embedding-nomic-embed-text-v1.5).",
                     "type": "invalid_request_error", "param": "model", "code": "model_not_found"}},
     ModelNotFoundError, "lms get o4-mini"),
    (404, {"error": {"type": "model_not_found",
                     "message": "Model mistralai/mistral-small-3.2@q4_k_m not found in downloaded models"}},
     ModelNotFoundError, "lms get <model>"),
    (400, {"error": {"message": 'Failed to load model "e5-large@q8_0". Error: Model is not embedding.',
                     "type": "invalid_request_error", "param": "model", "code": "model_not_found"}},
     CapabilityError, "embeddings"),
    (400, {"error": "'response_format.type' must be 'json_schema'"}, CapabilityError, "JSON schema"),
    (200, {"error": "Unexpected endpoint or method. (GET /api/tags)"}, CapabilityError, "another server"),
    (400, {"error": "'input' field must be a string or an array of strings"}, ConfigurationError, "parameters"),
    (500, {"error": {"message": "Model crashed (exit code: 139)", "type": "server_error"}}, ServerError, "retry"),
])
def test_classify_lmstudio_error(status: int, body: object, kind: type, hint: str) -> None:
    err = classify_lmstudio_error(status, body)
    assert type(err) is kind
    assert hint in (err.hint or "")


def test_not_embedding_names_the_model_and_not_loaded_asks_to_load() -> None:
    err = classify_lmstudio_error(400, {"error": {"message": 'Failed to load model "e5@q8_0". Error: Model is not '
                                                             "embedding.", "code": "model_not_found"}})
    assert err.model == "e5@q8_0" and "e5@q8_0 is not an embedding model" in err.message
    assert classify_lmstudio_error(404, {"error": "No models loaded."}).recovery is RecoveryStrategy.LOAD_MODEL


def test_v0_chat_stats_become_metrics() -> None:
    r = from_wire(V0_CHAT)
    assert r.metrics.tokens_per_second == pytest.approx(63.7227, rel=1e-4)
    assert r.metrics.time_to_first_token_s == 0.073 and r.message.content == "Hi!"


def test_backend_request_side_is_pure() -> None:
    b = LMStudioBackend("http://127.0.0.1:1234/v1", settings=LocalSettings(keep_alive="10m"))
    assert b.kind is ProviderKind.LMSTUDIO and b.flavor == "lmstudio" and b.base_url == "http://127.0.0.1:1234"
    request = ChatRequest(model="qwen/qwen3-8b", messages=[Message("user", "hi")], response_format="json")
    body = b.chat_body(request, stream=False)
    assert body["ttl"] == 600
    assert body["response_format"]["type"] == "json_schema"  # LM Studio rejects json_object
    assert b.chat_body(ChatRequest(model="m", messages=[], keep_alive=-1), stream=True).get("ttl") is None
    assert b.chat_url(request, stream=False).endswith("/v1/chat/completions")  # native API not seen yet
    b.rest_api = "v1"
    assert b.chat_url(request, stream=False).endswith("/api/v0/chat/completions")
    assert b.chat_url(request, stream=True).endswith("/v1/chat/completions")
    assert "flavor='lmstudio'" in repr(b)
