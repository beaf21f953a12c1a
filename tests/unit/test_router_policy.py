"""The routing policy as pure functions (routing/policy.py, routing/context.py)."""

from __future__ import annotations

import pytest

from patinox_core import (
    CapabilityError,
    ChatRequest,
    ConfigurationError,
    Message,
    ModelNotFoundError,
    ProviderKind,
    RecoveryStrategy,
    ToolCall,
)
from patinox_core.capabilities import ModelInfo, model_info
from patinox_core.catalogue import Catalogue
from patinox_core.config import LocalSettings
from patinox_core.errors import (
    ServerError,
    ServiceUnavailableError,
    most_actionable,
    should_fall_back,
)
from patinox_core.routing.context import context_limit, estimate_prompt_tokens, truncation_suspected
from patinox_core.routing.policy import (
    check_capabilities,
    match_names,
    order_candidates,
    pick_default,
    request_needs,
    resolve_name,
)

A, B, C = "http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


def m(name: str, service: str = A, kind: ProviderKind = ProviderKind.OLLAMA, **facts) -> ModelInfo:
    return model_info({"name": name, **facts}, service=service, kind=kind)  # type: ignore[typeddict-item]


def caps(*names: str) -> dict[str, bool]:
    """Capability flags as the Ollama backend reports them from /api/show: every flag, true or false."""
    flags = dict.fromkeys(("chat", "completion", "embeddings", "tools", "vision", "thinking"), False)
    flags.update(dict.fromkeys(names, True))
    return flags


def user(text: str, **kw) -> Message:
    return Message(role="user", content=text, **kw)


CATALOGUE = [
    m("llama3.2:latest", parameter_size="3.2B", capabilities=caps("chat", "completion", "tools")),
    m("qwen3:4b", parameter_size="4.0B", capabilities=caps("chat", "completion", "tools", "thinking")),
    m("qwen3:8b", parameter_size="8.2B", capabilities=caps("chat", "completion", "tools", "thinking")),
    m("gemma3:4b", parameter_size="4.3B", capabilities=caps("chat", "completion", "vision")),
    m("nomic-embed-text:latest", parameter_size="137M", capabilities=caps("embeddings")),
    m("qwen/qwen3-8b", B, ProviderKind.LMSTUDIO, model_type="llm"),
    m("text-embedding-bge-m3", B, ProviderKind.LMSTUDIO, model_type="embeddings"),
]


# -- names ---------------------------------------------------------------------------------

def test_name_resolution_order():
    names = [i.name for i in CATALOGUE]
    assert match_names("llama3.2:latest", names) == ["llama3.2:latest"]  # exact
    assert match_names("llama3.2", names) == ["llama3.2:latest"]  # name:latest
    assert match_names("LLAMA3.2", names) == ["llama3.2:latest"]  # case-insensitive
    assert match_names("qwen3-8b", names) == ["qwen/qwen3-8b"]  # after the namespace
    assert match_names("nomic", names) == ["nomic-embed-text:latest"]  # unique prefix
    assert match_names("qwen3", names) == ["qwen3:4b", "qwen3:8b"]  # ambiguous prefix
    assert match_names("qwen3:8b", [*names, "qwen3:8b"]) == ["qwen3:8b"]  # duplicates across servers collapse


def test_ambiguous_name_lists_candidates():
    with pytest.raises(ConfigurationError) as err:
        resolve_name("qwen3", CATALOGUE)
    assert "qwen3:4b" in str(err.value) and "qwen3:8b" in str(err.value)


def test_unknown_name_says_how_to_install():
    with pytest.raises(ModelNotFoundError) as err:
        resolve_name("mistral-nemo", CATALOGUE, [ProviderKind.OLLAMA, ProviderKind.LMSTUDIO])
    text = str(err.value)
    assert "ollama pull mistral-nemo" in text and "lms get mistral-nemo" in text
    assert err.value.recovery is RecoveryStrategy.PULL_MODEL and err.value.model == "mistral-nemo"
    with pytest.raises(ModelNotFoundError, match="did you mean qwen3:8b"):
        resolve_name("qwen3:7b", CATALOGUE, [ProviderKind.OLLAMA])


# -- defaults ------------------------------------------------------------------------------

def test_pick_default_prefers_quality_then_loaded():
    assert pick_default(CATALOGUE, "chat").name == "qwen3:8b"
    assert pick_default(CATALOGUE, "embeddings").name == "nomic-embed-text:latest"
    assert pick_default(CATALOGUE, "chat", ["vision"]).name == "gemma3:4b"
    loaded = [m("a:1b", parameter_size="3B"), m("b:1b", parameter_size="3B", loaded=True)]
    assert pick_default(loaded, "chat").name == "b:1b"
    assert pick_default([CATALOGUE[4]], "chat") is None


def test_order_candidates_loaded_first_then_healthy_then_not_cooling():
    copies = [m("x", A), m("x", B, loaded=True), m("x", C)]
    assert [i.service for i in order_candidates(copies)] == [B, A, C]
    now = 100.0
    cooling = order_candidates(copies, cooldown_until={B: now + 5}, now=now)
    assert [i.service for i in cooling] == [A, C, B]  # cooling down: last resort only
    expired = order_candidates(copies, cooldown_until={B: now - 1}, now=now)
    assert expired[0].service == B
    unhealthy = order_candidates(copies, health={B: False}, now=now)
    assert [i.service for i in unhealthy] == [A, C, B]


def test_fallback_policy_comes_from_the_error_tree():
    assert should_fall_back(ServiceUnavailableError("down")) and should_fall_back(ServerError("500"))
    assert not should_fall_back(ModelNotFoundError("gone")) and not should_fall_back(CapabilityError("no"))
    worst = most_actionable([ServiceUnavailableError("a"), ModelNotFoundError("b")])
    assert isinstance(worst, ModelNotFoundError) and len(worst.attempts) == 2


# -- capabilities --------------------------------------------------------------------------

def req(*messages: Message, **kw) -> ChatRequest:
    return ChatRequest(model="x", messages=list(messages) or [user("hi")], **kw)


def test_request_needs():
    assert request_needs(req()) == []
    assert request_needs(req(tools=[TOOL], think=True)) == ["tools", "thinking"]
    assert request_needs(req(tools=[TOOL], tool_choice="none")) == []
    assert request_needs(req(user("look", images=["aGk="]))) == ["vision"]


@pytest.mark.parametrize(("model", "need", "extra", "suggested"), [
    ("gemma3:4b", "chat", ["tools"], "qwen3:8b"),  # tools to a model without tools
    ("qwen3:8b", "chat", ["vision"], "gemma3:4b"),  # images to a non-vision model
    ("qwen3:8b", "embeddings", [], "nomic-embed-text:latest"),  # embeddings on a chat-only model
    ("nomic-embed-text:latest", "chat", [], "qwen3:8b"),  # chat on an embedding model
    ("gemma3:4b", "chat", ["thinking"], "qwen3:8b"),  # thinking on a non-thinking model
])
def test_capability_refusals_name_an_alternative(model, need, extra, suggested):
    target = next(i for i in CATALOGUE if i.name == model)
    with pytest.raises(CapabilityError) as err:
        check_capabilities(target, need, extra, CATALOGUE)
    assert suggested in str(err.value) and err.value.model == model and err.value.service == A


def test_capability_refusal_without_alternative_says_what_to_install():
    only = [m("gemma3:4b", capabilities=caps("chat", "completion"))]
    with pytest.raises(CapabilityError, match="ollama pull qwen3"):
        check_capabilities(only[0], "chat", ["tools"], only)


def test_unknown_capabilities_are_left_to_the_server():
    generic = m("gemma3-270m", kind=ProviderKind.OPENAI_COMPATIBLE)
    check_capabilities(generic, "chat", ["tools", "thinking"], [generic])  # DEFAULT facts never refuse
    check_capabilities(generic, "embeddings", [], [generic])


# -- context guard -------------------------------------------------------------------------

def test_estimate_counts_text_tools_images_and_tool_calls():
    base = estimate_prompt_tokens(req(user("a" * 4000)))
    assert base == 1000 + 4
    assert estimate_prompt_tokens(req(user("a" * 4000), tools=[TOOL])) > base
    assert estimate_prompt_tokens(req(user("a" * 4000, images=["x"]))) == base + 256
    call = Message(role="assistant", tool_calls=[ToolCall(id="1", name="f", arguments={"q": "x" * 400})])
    assert estimate_prompt_tokens(req(user("a" * 4000), call)) > base + 100


def test_context_limit_uses_num_ctx_where_a_request_sets_its_context():
    ollama = m("llama3.2:latest", context_length=131072)
    assert context_limit(ollama, req()) == 4096
    assert context_limit(ollama, req(num_ctx=16384)) == 16384
    assert context_limit(ollama, req(num_ctx=10**6)) == 131072
    # LM Studio serves num_ctx from an instance loaded with it (backends/lmstudio_context.py)
    lms = m("qwen/qwen3-8b", B, ProviderKind.LMSTUDIO, context_length=32768, loaded=True, loaded_context_length=8192)
    assert context_limit(lms, req()) == 8192
    assert context_limit(lms, req(num_ctx=16384)) == 16384
    assert context_limit(lms, req(num_ctx=10**6)) == 32768
    vllm = m("qwen", B, ProviderKind.OPENAI_COMPATIBLE, context_length=32768, loaded=True, loaded_context_length=8192)
    assert context_limit(vllm, req(num_ctx=16384)) == 8192  # started with its context: num_ctx changes nothing


def test_truncation_suspected():
    assert truncation_suspected(20_000, 4096, 4000)
    assert not truncation_suspected(20_000, 4096, None)  # server did not say (cached prompt)
    assert not truncation_suspected(20_000, 32768, 4000)  # fits the limit: only a bad estimate
    assert not truncation_suspected(100, None, 10)  # too small to judge
    assert not truncation_suspected(20_000, 4096, 3000, cached_tokens=15_000)


# -- catalogue -----------------------------------------------------------------------------

def test_catalogue_store_speed_and_loaded():
    cat = Catalogue(LocalSettings(discover_defaults=False, discovery_ttl=60, overrides={"a": {"vision": True}}))
    assert cat.stale([A]) == [A]
    cat.store(A, ProviderKind.OLLAMA, "0.12.0", [{"name": "a", "loaded": False}, {"name": "b", "loaded": True},
                                                  {"model_type": "llm"}])  # type: ignore[list-item]
    assert cat.stale([A, B]) == [B]
    assert [i.name for i in cat.entries([A])] == ["a", "b"] and cat.entries([A])[0].capabilities.vision
    assert cat.loaded_names(A) == {"b"}
    cat.mark_loaded(A, "a")
    cat.record_speed(A, "a", 100.0)
    first = cat.entries([A])[0]
    assert first.loaded and first.tokens_per_second == 100.0
    cat.store(A, ProviderKind.OLLAMA, None, [{"name": "a"}])  # refresh keeps the measured speed
    assert cat.entries([A])[0].tokens_per_second == 100.0
    assert cat.loaded_names(A) is None  # the server no longer reports load state
