"""One spec per server kind (``spec.py``: ``KindSpec``), one module per kind, one ordered registry
(``registry.py``) that config, discovery, capabilities, routing's hints and context guard, the
backends, the router's backend factory and the CLI ask instead of knowing each server themselves.

Adding a kind:

* OpenAI-compatible (served by ``OpenAICompatBackend``): a module here with its ``SPEC`` (flavor,
  title, aliases, the ``/v1/models`` rule or an ``identify`` probe, ``version_probe``, ``quirks``,
  ``facts_probes``, hints) and its line in ``registry.KINDS``, where the order is the fingerprint
  precedence. ``sglang.py`` and ``tgi.py`` are the examples; a fake for tests subclasses
  ``fakes.openai_compat.FakeOpenAIServer``.
* Native: the same, with ``backend="package.module:Class"`` naming its backend module (imported
  only when a service of that kind is used).
"""

from __future__ import annotations

from .registry import (
    EMBEDDED_FLAVOR,
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
from .spec import KindSpec, Listing, ProviderKind, Quirks, with_models, with_props

__all__ = [
    "EMBEDDED_FLAVOR",
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
    "with_models",
    "with_props",
]
