"""Any other OpenAI-compatible server (flavor ``None``): plain ``/v1/*``, no quirks. It is also
the ``OPENAI_COMPATIBLE`` family's own spec: the one used for a server given with that kind."""

from __future__ import annotations

from .spec import KindSpec, ProviderKind

SPEC = KindSpec(
    flavor=None,
    title="an OpenAI-compatible server",
    family=ProviderKind.OPENAI_COMPATIBLE,
    aliases=("openai", "openai_compatible", "openai-compatible"),
    env_var="PATINOX_ENDPOINTS",
    env_example="http://host:8080",
    unreachable_hint="start the server (llama-server / vllm serve / LM Studio) or fix the URL",
)
