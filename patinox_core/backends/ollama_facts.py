"""Pure converters of Ollama's model metadata (``/api/tags``, ``/api/show``, ``/api/ps``) to
``ServerFacts``; ``backends/ollama.py`` plans the requests. Unknown or mistyped optional fields are
left out; a reply without its model list, or with entries that are not objects, is a ``MalformedReply``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..facts import ServerFacts
from ..reasoning_options import options_from_wire
from .malformed import as_list, as_mapping, count_or_none, field, optional_mapping

#: /api/show capability -> Capabilities fields it sets.
CAPABILITY_FIELDS = {
    "completion": ("chat", "completion"),
    "embedding": ("embeddings",),
    "tools": ("tools",),
    "vision": ("vision",),
    "thinking": ("thinking",),
}
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)


class TagEntry(NamedTuple):
    """One ``/api/tags`` model: name, digest (the ``/api/show`` cache key) and its facts."""

    name: str
    digest: str
    facts: ServerFacts


def _capability_facts(caps: Sequence[Any]) -> ServerFacts:
    flags = dict.fromkeys(("chat", "completion", "embeddings", "tools", "vision", "thinking"), False)
    for cap in caps:
        for key in CAPABILITY_FIELDS.get(cap, ()) if isinstance(cap, str) else ():
            flags[key] = True
    kind = "embeddings" if flags["embeddings"] and not flags["chat"] else "vlm" if flags["vision"] else "llm"
    return {"capabilities": flags, "model_type": kind}


def _details(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    return optional_mapping(entry.get("details") or None, "a model's details")


def _entry_facts(entry: Mapping[str, Any]) -> ServerFacts:
    details = _details(entry)
    facts: ServerFacts = {}
    if details.get("family"):
        facts["family"] = str(details["family"])
    if details.get("parameter_size"):
        facts["parameter_size"] = str(details["parameter_size"])
    if details.get("quantization_level"):
        facts["quantization"] = str(details["quantization_level"])
    if context := count_or_none(details.get("context_length")):
        facts["context_length"] = context
    if isinstance(entry.get("capabilities"), list):
        facts.update(_capability_facts(entry["capabilities"]))
    if entry.get("remote_host"):  # a cloud model: the server forwards it (>= 0.12)
        facts["remote"] = True
    return facts


def _name(entry: Mapping[str, Any]) -> str:
    return str(entry.get("name") or field(entry, "model", "a model entry"))


def _entries(data: Any, what: str) -> list[Mapping[str, Any]]:
    models = field(data, "models", what)
    return [as_mapping(e, "a model entry") for e in as_list(models or [], f"{what}'s models")]


def facts_from_tags(data: Any) -> list[TagEntry]:
    """``/api/tags`` -> one entry per installed model, in server order.

    >>> facts_from_tags({"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189,
    ...     "digest": "a80c", "details": {"family": "llama", "parameter_size": "3.2B",
    ...     "quantization_level": "Q4_K_M"}}]})[0].facts["quantization"]
    'Q4_K_M'
    """
    out = []
    for entry in _entries(data, "the /api/tags reply"):
        facts = _entry_facts(entry)
        if size := count_or_none(entry.get("size")):
            facts["size_bytes"] = size
        out.append(TagEntry(_name(entry), str(entry.get("digest") or ""), facts))
    return out


def listing_complete(tag: TagEntry) -> bool:
    """Whether ``/api/tags`` already said what ``/api/show`` would (Ollama >= 0.30 lists each model's
    ``capabilities`` and ``details.context_length``; a cloud model's show has no ``model_info``).
    Only the Modelfile ``num_ctx`` is then unknown: such a model is taken at the server's default.

    >>> tags = facts_from_tags({"models": [{"name": "a", "capabilities": ["completion"],
    ...     "details": {"context_length": 8192}}, {"name": "b", "details": {}}]})
    >>> [listing_complete(t) for t in tags]
    [True, False]
    """
    facts = tag.facts
    return "capabilities" in facts and ("context_length" in facts or facts.get("remote") is True)


def facts_from_show(data: Any) -> ServerFacts:
    """``/api/show`` -> trained context, parameter count, capabilities, Modelfile ``num_ctx``, and the
    reasoning values the model takes (``thinking.values``/``default``, on servers that report them)."""
    data = as_mapping(data, "the /api/show reply")
    facts = _entry_facts(data)
    info = optional_mapping(data.get("model_info") or None, "model_info")
    arch = info.get("general.architecture")
    if isinstance(arch, str) and arch:
        facts.setdefault("family", arch)
        if context := count_or_none(info.get(f"{arch}.context_length")):
            facts["context_length"] = context
    if parameters := count_or_none(info.get("general.parameter_count")):
        facts["parameter_count"] = parameters
    if m := _NUM_CTX.search(str(data.get("parameters") or "")):
        facts["default_context_length"] = int(m.group(1))
    thinking = data.get("thinking")  # {"values": [...], "default": ...} where the server has the metadata
    if isinstance(thinking, Mapping):
        if options := options_from_wire(thinking.get("values")):
            facts["reasoning_options"] = options
        if default := options_from_wire([thinking.get("default")]):
            facts["reasoning_default"] = default[0]
    families = _details(data).get("families")
    if "capabilities" not in facts and (data.get("projector_info") or
                                        (isinstance(families, list) and "clip" in families)):
        facts["capabilities"] = {"vision": True}  # pre-0.6.4 server: only the projector says so
    return facts


def facts_from_ps(data: Any) -> dict[str, ServerFacts]:
    """``/api/ps`` -> loaded models by name, with the allocated context when the server says."""
    out: dict[str, ServerFacts] = {}
    for entry in _entries(data, "the /api/ps reply"):
        facts: ServerFacts = {"loaded": True}
        if context := count_or_none(entry.get("context_length")):
            facts["loaded_context_length"] = context
        out[_name(entry)] = facts
    return out


def merge_facts(tag: TagEntry, show: ServerFacts | None, ps: ServerFacts | None) -> ServerFacts:
    """One model's facts: tags < show; loaded state from ps."""
    facts: ServerFacts = {**tag.facts, **(show or {})}
    facts.update(ps or {"loaded": False})
    facts["name"] = tag.name
    return facts


__all__ = ["CAPABILITY_FIELDS", "TagEntry", "facts_from_ps", "facts_from_show", "facts_from_tags",
           "listing_complete", "merge_facts"]
