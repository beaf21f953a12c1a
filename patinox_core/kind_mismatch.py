"""A server given as one kind that fingerprints as another: say what it is and how to use it.

``OLLAMA_HOST`` / ``provider="ollama"`` pointed at llama-cpp-python would otherwise be shown as a
healthy Ollama with no models and ``ollama pull`` hints. Pure: discovery calls ``kind_mismatch``
with what the probes found and marks the service down with this text.
"""

from __future__ import annotations

from .errors import ConfigurationError
from .kinds import ProviderKind, names_by_flavor, spec_for_kind

#: How each fingerprinted flavor is named to a user (each ``KindSpec.title``).
FLAVOR_NAMES = names_by_flavor()
_MARK = "the server at "


def kind_mismatch(base_url: str, hint: ProviderKind | None, flavor: str | None) -> str | None:
    """Why the server at ``base_url``, expected to be ``hint``, is not; ``None`` when nothing contradicts.
    Only families whose own ``/v1`` has a flavor (``KindSpec.openai_flavor``: Ollama, LM Studio) are
    checked (any server may be used as plain OpenAI-compatible); Ollama's own ``/v1/models`` always
    fingerprints as ``ollama_v1``.

    >>> print(kind_mismatch("http://127.0.0.1:8080", ProviderKind.OLLAMA, "llama_cpp_python"))
    the server at http://127.0.0.1:8080 is not Ollama: it answers like llama-cpp-python, an OpenAI-compatible \
server; use it as one: PATINOX_ENDPOINTS=http://127.0.0.1:8080 (and unset OLLAMA_HOST), or base_url=... with \
provider='openai_compatible'
    >>> kind_mismatch("http://h:11434", ProviderKind.OLLAMA, "ollama_v1"), kind_mismatch("http://h", None, "vllm")
    (None, None)
    """
    own = spec_for_kind(hint) if hint is not None else None
    if own is None or own.openai_flavor is None or flavor == own.openai_flavor or (
            flavor is None and own.unrecognised_ok):
        return None
    what = f"{FLAVOR_NAMES.get(flavor or '', flavor)}, an OpenAI-compatible server" if flavor else \
        "an OpenAI-compatible server of unknown make"
    return (f"{_MARK}{base_url} is not {own.title}: it answers like {what}; use it as one: "
            f"PATINOX_ENDPOINTS={base_url} (and unset {own.env_var}), or base_url=... with "
            "provider='openai_compatible'")


def mismatch_error(errors: list[str | None]) -> ConfigurationError | None:
    """The first kind mismatch among down services' errors, as the error a request raises.

    >>> mismatch_error(["not answering", kind_mismatch("http://h:1", ProviderKind.OLLAMA, "vllm")]).recovery.value
    'fix_config'
    >>> mismatch_error(["not answering", None]) is None
    True
    """
    found = next((e for e in errors if e and e.startswith(_MARK) and " is not " in e), None)
    if found is None:
        return None
    message, _, hint = found.partition("; use it as one: ")
    return ConfigurationError(message, hint=f"use it as one: {hint}" if hint else None)


__all__ = ["FLAVOR_NAMES", "kind_mismatch", "mismatch_error"]
