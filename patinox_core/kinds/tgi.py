"""Hugging Face text-generation-inference (TGI, ``text-generation-launcher --model-id MODEL``): one
model per server, OpenAI-style ``/v1/chat/completions`` and ``/v1/models`` (whose entry is
``owned_by`` the model id itself, so nothing to recognise), known by ``GET /info``: ``model_id``,
``max_input_tokens``, ``max_total_tokens`` (the context), ``max_concurrent_requests``,
``model_pipeline_tag``, ``router``, ``version``. Its ``response_format`` is ``{"type": "json",
"value": <schema>}``; no embeddings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..facts import ServerFacts
from .spec import KindSpec, ProviderKind, Quirks, positive_int, text_field

_PIPELINE_TYPES = {"text-generation": "llm", "image-text-to-text": "vlm"}


def is_tgi(info: Any) -> bool:
    """``GET /info`` came from TGI's router.

    >>> is_tgi({"model_id": "m", "max_total_tokens": 4096, "router": "text-generation-router"}), is_tgi({})
    (True, False)
    """
    return isinstance(info, Mapping) and isinstance(info.get("model_id"), str) and "max_total_tokens" in info


def info_facts(info: Any) -> ServerFacts:
    """``GET /info`` to the served model's facts: ``max_total_tokens`` (prompt plus reply) is its
    context, the pipeline tag its type, ``max_concurrent_requests`` (past which the router answers
    429) its parallel slots; it embeds nothing.

    >>> info_facts({"model_id": "m", "max_input_tokens": 4095, "max_total_tokens": 4096,
    ...             "model_pipeline_tag": "image-text-to-text", "max_concurrent_requests": 128})
    {'loaded_context_length': 4096, 'model_type': 'vlm', 'parallel_slots': 128}
    >>> info_facts({"model_id": "m", "max_total_tokens": None, "model_pipeline_tag": None})
    {'model_type': 'llm'}
    """
    if not is_tgi(info):
        return {}
    out: ServerFacts = {}
    total = positive_int(info.get("max_total_tokens"))
    if total is not None:
        out["loaded_context_length"] = total
    out["model_type"] = _PIPELINE_TYPES.get(str(info.get("model_pipeline_tag")), "llm")
    if (slots := positive_int(info.get("max_concurrent_requests"))) is not None:
        out["parallel_slots"] = slots
    return out


def json_value_format(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI ``response_format`` in TGI's grammar form, ``{"type": "json", "value": <schema>}``.

    >>> json_value_format({"response_format": {"type": "json_schema", "json_schema": {"name": "C",
    ...                    "schema": {"type": "object"}, "strict": True}}})["response_format"]
    {'type': 'json', 'value': {'type': 'object'}}
    >>> json_value_format({"response_format": {"type": "json_object"}})["response_format"]
    {'type': 'json', 'value': {'type': 'object'}}
    >>> json_value_format({"model": "m"})
    {'model': 'm'}
    """
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping) or "value" in fmt:
        return body
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), Mapping):
        schema = fmt["json_schema"].get("schema")
    elif fmt.get("type") == "json_object":
        schema = fmt.get("schema")
    else:
        return body
    return {**body, "response_format": {"type": "json", "value": schema or {"type": "object"}}}


SPEC = KindSpec(
    flavor="tgi",
    default_slots=128,
    title="text-generation-inference (TGI)",
    family=ProviderKind.OPENAI_COMPATIBLE,
    aliases=("tgi",),
    default_port=3000,
    identify=("/info", is_tgi),
    version_probe=("/info", lambda data: text_field(data, "version")),
    quirks=Quirks("tgi", listing_is_loaded=True, rewrite_body=json_value_format),
    facts_probes=(("/info", info_facts),),
    unreachable_hint="start TGI (`text-generation-launcher --model-id MODEL`, or its Docker image) or fix the URL",
)
