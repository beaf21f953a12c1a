"""SGLang (``python -m sglang.launch_server --model-path MODEL``, port 30000): ``/v1/models``
entries are ``owned_by: "sglang"`` with ``max_model_len`` (the context it serves);
``GET /get_model_info`` says whether the model generates or embeds (``is_generation``) and sees
images (``has_image_understanding``, newer servers); ``GET /get_server_info`` holds the server's
arguments (``context_length`` when one was given, ``max_running_requests``), the scheduler's
running-request cap per data-parallel rank (``internal_states[*].effective_max_running_requests_per_dp``)
and ``version``. Only those fields are read:
that reply also carries the server's own arguments, keys included, and is never logged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..facts import ServerFacts
from .load import LoadProbe, metrics_reader
from .spec import KindSpec, Listing, ProviderKind, Quirks, positive_int, text_field


def model_info_facts(info: Any) -> ServerFacts:
    """``GET /get_model_info`` to the served model's type.

    >>> model_info_facts({"model_path": "Qwen/Qwen2.5-VL-7B", "is_generation": True, "has_image_understanding": True})
    {'model_type': 'vlm'}
    >>> model_info_facts({"model_path": "BAAI/bge-m3", "is_generation": False}), model_info_facts([])
    ({'model_type': 'embeddings'}, {})
    """
    generates = info.get("is_generation") if isinstance(info, Mapping) else None
    if not isinstance(generates, bool):
        return {}
    sees = info.get("has_image_understanding") is True
    return {"model_type": "vlm" if generates and sees else "llm" if generates else "embeddings"}


def running_cap(info: Mapping[str, Any]) -> int | None:
    """How many requests SGLang runs at once: the sum over its data-parallel ranks of
    ``internal_states[*].effective_max_running_requests_per_dp`` (what the scheduler settled on),
    else the ``--max-running-requests`` argument (null unless given).

    >>> running_cap({"internal_states": [{"effective_max_running_requests_per_dp": 48}] * 2})
    96
    >>> running_cap({"max_running_requests": 32, "internal_states": [{}]}), running_cap({"internal_states": "junk"})
    (32, None)
    """
    states = info.get("internal_states")
    caps = [positive_int(s.get("effective_max_running_requests_per_dp")) if isinstance(s, Mapping) else None
            for s in (states if isinstance(states, list) else ())]
    if caps and all(c is not None for c in caps):
        return sum(c for c in caps if c is not None)
    return positive_int(info.get("max_running_requests"))


def server_info_facts(info: Any) -> ServerFacts:
    """``GET /get_server_info`` to the context the server was started with (``--context-length``;
    null when it serves the model's own) and how many requests it runs at once.

    >>> server_info_facts({"context_length": 8192, "api_key": "sk-x", "version": "0.5.4",
    ...                    "internal_states": [{"effective_max_running_requests_per_dp": 128}]})
    {'loaded_context_length': 8192, 'parallel_slots': 128}
    >>> server_info_facts({}), server_info_facts(["junk"])
    ({}, {})
    """
    if not isinstance(info, Mapping):
        return {}
    out: ServerFacts = {}
    if (context := positive_int(info.get("context_length"))) is not None:
        out["loaded_context_length"] = context
    if (cap := running_cap(info)) is not None:
        out["parallel_slots"] = cap
    return out


def _listing(listing: Listing) -> bool:
    return "sglang" in listing.owners


SPEC = KindSpec(
    flavor="sglang",
    default_slots=256,
    title="SGLang",
    family=ProviderKind.OPENAI_COMPATIBLE,
    aliases=("sglang",),
    default_port=30000,
    listing_rule=_listing,
    version_probe=("/get_server_info", lambda data: text_field(data, "version")),
    quirks=Quirks("sglang", think_via_template_kwargs=True, listing_is_loaded=True),
    facts_probes=(("/get_model_info", model_info_facts), ("/get_server_info", server_info_facts)),
    unreachable_hint="start SGLang (`python -m sglang.launch_server --model-path MODEL`) or fix the URL",
    load_probe=LoadProbe("/metrics", metrics_reader("sglang:num_running_reqs", "sglang:num_queue_reqs"),
                         "SGLang serves /metrics only when started with --enable-metrics"),
)
