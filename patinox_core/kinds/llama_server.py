"""llama.cpp's ``llama-server``: ``Server: llama.cpp`` or ``owned_by: "llamacpp"`` on ``/v1/models``
(which lists only the loaded model, with ``meta``); ``GET /props`` gives the build, the allocated
context, the chat template's tool support and vision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..facts import ServerFacts
from ..name_heuristics import quantization_from_name
from .load import LoadProbe, slots_load
from .spec import KindSpec, Listing, ProviderKind, Quirks, positive_int, text_field


def props_facts(props: Any) -> ServerFacts:
    """``GET /props`` to facts shared by its model(s): parallel slots (``total_slots``), allocated
    context (``default_generation_settings.n_ctx``), the weights' quantization (from
    ``model_path``'s file name), not resident while ``is_sleeping``, tool support of the chat
    template, vision. A router's own ``/props`` (``role: "router"``, ``n_ctx: 0``) says none of these.

    >>> props_facts({"default_generation_settings": {"n_ctx": 4096}, "total_slots": 2,
    ...              "model_path": "/m/gemma-3-4b-it-Q4_K_M.gguf", "is_sleeping": False,
    ...              "chat_template_caps": {"supports_tools": True}, "modalities": {"vision": False}})
    {'parallel_slots': 2, 'loaded_context_length': 4096, 'quantization': 'Q4_K_M', \
'capabilities': {'tools': True, 'vision': False}}
    >>> props_facts({"role": "router", "model_path": "none", "default_generation_settings": {"n_ctx": 0}})
    {}
    >>> props_facts("not json"), props_facts({"total_slots": "4", "is_sleeping": True})
    ({}, {'loaded': False})
    """
    if not isinstance(props, Mapping):
        return {}
    out: ServerFacts = {}
    if (slots := positive_int(props.get("total_slots"))) is not None:
        out["parallel_slots"] = slots
    settings = props.get("default_generation_settings")
    n_ctx = positive_int(settings.get("n_ctx") if isinstance(settings, Mapping) else None)
    if n_ctx is not None:
        out["loaded_context_length"] = n_ctx
    path = props.get("model_path")
    if isinstance(path, str) and (quant := quantization_from_name(path.replace("\\", "/").rsplit("/", 1)[-1])):
        out["quantization"] = quant
    if props.get("is_sleeping") is True:  # --sleep-idle-seconds: weights and KV cache freed until a request
        out["loaded"] = False
    caps: dict[str, bool] = {}
    template = props.get("chat_template_caps")
    if isinstance(template, Mapping) and isinstance(template.get("supports_tools"), bool):
        caps["tools"] = template["supports_tools"]
    modalities = props.get("modalities")
    if isinstance(modalities, Mapping) and isinstance(modalities.get("vision"), bool):
        caps["vision"] = modalities["vision"]
    if caps:
        out["capabilities"] = caps
    return out


def _listing(listing: Listing) -> bool:
    return ("llama.cpp" in listing.headers.get("server", "").lower() or "llamacpp" in listing.owners
            or (listing.has("models") and bool(listing.entries) and "meta" in listing.entries[0]))


SPEC = KindSpec(
    flavor="llama_server",
    title="llama.cpp's llama-server",
    family=ProviderKind.OPENAI_COMPATIBLE,
    aliases=("llamacpp",),
    listing_rule=_listing,
    weak_listing_rule=lambda listing: listing.has("models") and listing.has("data"),
    version_probe=("/props", lambda data: text_field(data, "build_info")),
    quirks=Quirks("llama_server", think_via_template_kwargs=True, listing_is_loaded=True,
                  reasoning_history="reasoning_content", schema_before_reasoning=True),
    facts_probes=(("/props", props_facts),),
    unreachable_hint="start llama-server (`llama-server -m model.gguf --port 8080`) or fix the URL",
    load_probe=LoadProbe("/slots", slots_load, "llama-server reports its slots unless started with --no-slots"),
)
