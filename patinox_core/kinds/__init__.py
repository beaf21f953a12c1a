"""One spec per server kind (``spec.py``: ``KindSpec``), one module per kind, one ordered registry
(``registry.py``) that config, discovery, capabilities, the catalogue's hints, the backends, the
router's backend factory and the CLI ask instead of knowing each server themselves."""

from __future__ import annotations

from .registry import (
    KINDS,
    backend_for,
    default_targets,
    find_spec,
    fingerprint_openai,
    flavors,
    found_by_default,
    install_example,
    install_examples,
    names_by_flavor,
    no_server_hint,
    openai_flavors,
    parse_kind,
    port_kind,
    pull_hints,
    quirks_for,
    root_match,
    served_flavor,
    spec_for,
    spec_for_kind,
)
from .spec import KindSpec, Listing, ProviderKind, Quirks, with_props

__all__ = [
    "KINDS",
    "KindSpec",
    "Listing",
    "ProviderKind",
    "Quirks",
    "backend_for",
    "default_targets",
    "find_spec",
    "fingerprint_openai",
    "flavors",
    "found_by_default",
    "install_example",
    "install_examples",
    "names_by_flavor",
    "no_server_hint",
    "openai_flavors",
    "parse_kind",
    "port_kind",
    "pull_hints",
    "quirks_for",
    "root_match",
    "served_flavor",
    "spec_for",
    "spec_for_kind",
    "with_props",
]
