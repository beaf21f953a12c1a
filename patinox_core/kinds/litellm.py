"""A LiteLLM proxy: ``x-litellm-*`` headers (or ``Server: litellm``) on ``/v1/models``; an older
proxy is known only by ``owned_by: "openai"`` served by uvicorn (a weak rule)."""

from __future__ import annotations

from .spec import KindSpec, Listing, ProviderKind, Quirks


def _listing(listing: Listing) -> bool:
    return any(k.startswith("x-litellm") for k in listing.headers) or "litellm" in listing.headers.get(
        "server", "").lower()


SPEC = KindSpec(
    flavor="litellm",
    title="a LiteLLM proxy",
    family=ProviderKind.OPENAI_COMPATIBLE,
    default_port=4000,
    listing_rule=_listing,
    weak_listing_rule=lambda listing: listing.owners == {"openai"} and "uvicorn" in listing.headers.get("server", ""),
    quirks=Quirks("litellm"),
    unreachable_hint="start the proxy (`litellm --config litellm.yaml`) or fix the URL",
)
