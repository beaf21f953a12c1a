"""llama-cpp-python's server (also ``patinox serve``): ``/v1/models`` entries ``owned_by: "me"``
with ``permissions``. It rejects ``json_schema`` output (takes ``json_object`` with a schema) and
answers ``tool_choice="required"`` over several tools with HTTP 500."""

from __future__ import annotations

from .spec import KindSpec, Listing, ProviderKind, Quirks


def _listing(listing: Listing) -> bool:
    return "me" in listing.owners or any("permissions" in e for e in listing.entries)


SPEC = KindSpec(
    flavor="llama_cpp_python",
    default_slots=1,
    title="llama-cpp-python",
    family=ProviderKind.OPENAI_COMPATIBLE,
    default_port=8000,
    listing_rule=_listing,
    quirks=Quirks("llama_cpp_python", schema_as_json_object=True, required_unsupported=True,
                  listing_is_loaded=True),
    unreachable_hint="start it (`python -m llama_cpp.server --model model.gguf`, or `patinox serve`) or fix the URL",
)
