"""vLLM: ``/v1/models`` entries ``owned_by: "vllm"`` with ``max_model_len`` (the allocated
context); ``GET /version`` gives the version; thinking is switched by ``chat_template_kwargs``."""

from __future__ import annotations

from .load import LoadProbe, metrics_reader
from .spec import KindSpec, Listing, ProviderKind, Quirks, text_field


def _listing(listing: Listing) -> bool:
    return "vllm" in listing.owners or any("max_model_len" in e for e in listing.entries)


SPEC = KindSpec(
    flavor="vllm",
    default_slots=256,
    title="vLLM",
    family=ProviderKind.OPENAI_COMPATIBLE,
    aliases=("vllm",),
    default_port=8000,
    listing_rule=_listing,
    version_probe=("/version", lambda data: text_field(data, "version")),
    quirks=Quirks("vllm", think_via_template_kwargs=True, listing_is_loaded=True,
                  reasoning_history="reasoning"),
    unreachable_hint="start vLLM (`vllm serve MODEL`) or fix the URL",
    load_probe=LoadProbe("/metrics", metrics_reader("vllm:num_requests_running", "vllm:num_requests_waiting"),
                         "vLLM serves /metrics by default; a proxy in front may not pass it"),
)
