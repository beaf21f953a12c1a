"""Ollama's own OpenAI-compatible ``/v1`` (a server configured as OpenAI-compatible that is Ollama):
its ``/v1/models`` lists tags (``llama3.2:latest``) ``owned_by: "library"``; ``reasoning_effort:
"none"`` turns thinking off."""

from __future__ import annotations

from .spec import KindSpec, Listing, ProviderKind, Quirks


def _listing(listing: Listing) -> bool:
    return "library" in listing.owners or any(":" in str(e.get("id", "")) and "created" in e for e in listing.entries)


SPEC = KindSpec(
    flavor="ollama_v1",
    title="Ollama",
    family=ProviderKind.OLLAMA,
    default_port=11434,
    listing_rule=_listing,
    quirks=Quirks("ollama_v1", think_off_effort="none", reasoning_history="reasoning"),
    unreachable_hint="start Ollama with `ollama serve`",
)
