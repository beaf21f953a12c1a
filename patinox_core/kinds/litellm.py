"""A LiteLLM proxy, a gateway: one server to patinox however many deployments it balances, whose
facts come from its own metadata, never from the engines behind it. Known by ``x-litellm-*``
headers (or ``Server: litellm``) on ``/v1/models``; an older proxy only by ``owned_by: "openai"``
served by uvicorn (a weak rule). ``GET /model/info`` gives each deployment's ``model_name`` with
``model_info`` (``max_input_tokens``, ``mode``, ``supports_function_calling``, ``supports_vision``,
...); ``GET /health/readiness`` the ``litellm_version``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..facts import ServerFacts
from .spec import KindSpec, Listing, ProviderKind, Quirks, positive_int, text_field

_MODES = {"chat": "llm", "completion": "llm", "responses": "llm", "embedding": "embeddings"}
_FLAGS = {"supports_function_calling": "tools", "supports_vision": "vision", "supports_reasoning": "thinking",
          "supports_response_schema": "structured_output"}
_NOT_TEXT = {"chat": False, "completion": False, "embeddings": False}  # image generation, audio, rerank, ...


def deployment_facts(entry: Any) -> ServerFacts:
    """One ``/model/info`` entry to the facts of its ``model_name``: the context
    (``max_input_tokens``), the type (``mode``) and the ``supports_*`` flags LiteLLM reports.

    >>> deployment_facts({"model_name": "qwen", "litellm_params": {"model": "openai/qwen"},
    ...                   "model_info": {"max_input_tokens": 32768, "mode": "chat", "supports_vision": True,
    ...                                  "supports_function_calling": None}})
    {'name': 'qwen', 'context_length': 32768, 'model_type': 'vlm', 'capabilities': {'vision': True}}
    >>> deployment_facts({"model_name": "flux", "model_info": {"mode": "image_generation"}})["capabilities"]
    {'chat': False, 'completion': False, 'embeddings': False}
    >>> deployment_facts({"model_info": {}}), deployment_facts("junk")
    ({}, {})
    """
    name = entry.get("model_name") if isinstance(entry, Mapping) else None
    if not isinstance(name, str) or not name:
        return {}
    info = entry.get("model_info")
    info = info if isinstance(info, Mapping) else {}
    out: ServerFacts = {"name": name}
    if (context := positive_int(info.get("max_input_tokens"))) is not None:
        out["context_length"] = context
    caps = {flag: info[key] for key, flag in _FLAGS.items() if isinstance(info.get(key), bool)}
    mode = info.get("mode")
    if isinstance(mode, str) and mode in _MODES:
        out["model_type"] = "vlm" if _MODES[mode] == "llm" and caps.get("vision") else _MODES[mode]
    elif isinstance(mode, str):
        caps.update(_NOT_TEXT)
    if caps:
        out["capabilities"] = caps
    return out


def _merge(one: ServerFacts, other: ServerFacts) -> ServerFacts:
    """Two deployments of one ``model_name``: what both can do (the proxy may send a call to either)."""
    out: ServerFacts = {**other, **one}
    contexts = [c for c in (one.get("context_length"), other.get("context_length")) if c]
    if contexts:
        out["context_length"] = min(contexts)
    a, b = one.get("capabilities") or {}, other.get("capabilities") or {}
    caps = {k: a.get(k, True) and b.get(k, True) for k in a.keys() | b.keys()}
    if caps:
        out["capabilities"] = dict(sorted(caps.items()))
    if one.get("model_type") != other.get("model_type"):
        out.pop("model_type", None)
    return out


def model_info_facts(data: Any) -> list[ServerFacts]:
    """``GET /model/info`` to facts per ``model_name`` (several deployments of one name merged:
    the smallest context, a flag only when every deployment has it). Junk entries are skipped.

    >>> model_info_facts({"data": [
    ...     {"model_name": "m", "model_info": {"max_input_tokens": 8192, "supports_function_calling": True}},
    ...     {"model_name": "m", "model_info": {"max_input_tokens": 4096, "supports_function_calling": False}},
    ...     "junk", {"model_name": "e", "model_info": {"mode": "embedding"}}]})
    [{'name': 'm', 'context_length': 4096, 'capabilities': {'tools': False}}, {'name': 'e', 'model_type': 'embeddings'}]
    >>> model_info_facts({"data": "junk"}), model_info_facts(None)
    ([], [])
    """
    entries = data.get("data") if isinstance(data, Mapping) else None
    merged: dict[str, ServerFacts] = {}
    for entry in entries if isinstance(entries, list) else ():
        facts = deployment_facts(entry)
        if facts:
            name = facts["name"]
            merged[name] = _merge(merged[name], facts) if name in merged else facts
    return list(merged.values())


def _listing(listing: Listing) -> bool:
    return any(k.startswith("x-litellm") for k in listing.headers) or "litellm" in listing.headers.get(
        "server", "").lower()


SPEC = KindSpec(
    flavor="litellm",
    default_slots=64,
    title="a LiteLLM proxy",
    family=ProviderKind.OPENAI_COMPATIBLE,
    aliases=("litellm",),
    default_port=4000,
    listing_rule=_listing,
    weak_listing_rule=lambda listing: listing.owners == {"openai"} and "uvicorn" in listing.headers.get("server", ""),
    version_probe=("/health/readiness", lambda data: text_field(data, "litellm_version")),
    quirks=Quirks("litellm"),
    models_probes=(("/model/info", model_info_facts),),
    gateway=True,
    unreachable_hint="start the proxy (`litellm --config litellm.yaml`) or fix the URL",
)
