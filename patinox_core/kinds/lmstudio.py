"""LM Studio (``backends/lmstudio.py``: ``/v1`` plus its native model lists): found on
127.0.0.1:1234 without configuration, ``LM_STUDIO_API_BASE`` / ``LMSTUDIO_BASE_URL`` name another.
Its Express server answers unknown routes with "Unexpected endpoint or method" and
``X-Powered-By: Express``; ``/v1/models`` entries are ``owned_by: "organization_owner"``."""

from __future__ import annotations

from collections.abc import Mapping

from .spec import KindSpec, Listing, ProviderKind, Quirks


def _root(status: int, text: str, headers: Mapping[str, str]) -> bool:
    return "Unexpected endpoint or method" in text or headers.get("x-powered-by", "").lower() == "express"


def _listing(listing: Listing) -> bool:
    return ("express" in listing.headers.get("x-powered-by", "").lower()
            or bool(listing.owners & {"organization_owner", "organization-owner"}))


SPEC = KindSpec(
    flavor="lmstudio",
    title="LM Studio",
    family=ProviderKind.LMSTUDIO,
    aliases=("lmstudio", "lm_studio", "lm-studio"),
    default_port=1234,
    default_url="http://127.0.0.1:1234",
    settings_field="lmstudio_url",
    env_vars=("LM_STUDIO_API_BASE", "LMSTUDIO_BASE_URL"),
    env_var="LM_STUDIO_API_BASE",
    env_example="http://host:1234/v1",
    root_rule=_root,
    listing_rule=_listing,
    native_lists=("/api/v0/models", "/api/v1/models"),
    openai_flavor="lmstudio",
    unrecognised_ok=True,  # behind a proxy it may fingerprint as nothing in particular
    backend="patinox_core.backends.lmstudio:LMStudioBackend",
    quirks=Quirks("lmstudio", json_mode_as_schema=True, think_off_unsupported=True,
                  schema_before_reasoning=True),
    structured_output_default=True,
    reports_allocation=True,
    context_default=lambda version: 4096,
    context_per_request=True,  # num_ctx: an instance with that context (backends/lmstudio_context.py)
    unreachable_hint="start LM Studio's server: `lms server start`",
    start_command="lms server start",
    install_note="or the Developer tab of the app",
    pull_hint="`lms get {name}`",
    example_model="qwen3-8b",
)
