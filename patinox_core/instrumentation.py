"""Turn OpenTelemetry GenAI instrumentation on and off (the ``otel`` extra).

``instrument()`` (or ``PATINOX_OTEL=true`` in the environment, read when a ``LocalProvider`` is
made) makes every ``LocalProvider`` call one span with the GenAI semantic-convention attributes and
records ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and
``gen_ai.client.operation.time_to_first_chunk``; each failed fallback attempt is an event on the
span. Spans and metrics go to the global tracer and meter providers the application set, unless
providers are passed. Off (the default), the only cost is one ``is None`` test per call and
OpenTelemetry is never imported.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .telemetry.recorder import Telemetry

active: Telemetry | None = None  # read by LocalProvider on every call: None = off
_TRUE = ("1", "true", "yes", "on")
_env_checked = False


def _flag(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value is None else value.strip().lower() in _TRUE


def instrument(*, capture_content: bool | None = None, tracer_provider: Any = None,
               meter_provider: Any = None) -> None:
    """Record a span and GenAI metrics for every chat, stream and embedding call from now on.

    ``capture_content=True`` also records the messages (``gen_ai.input.messages``,
    ``gen_ai.output.messages``); off by default, as the conventions ask. When not given, the
    environment decides: ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
    ``tracer_provider`` / ``meter_provider``: where to send them (default: the global ones).
    Calling it again replaces the earlier set-up.
    """
    global active
    try:
        from .telemetry.recorder import Telemetry
    except ImportError as exc:
        raise ConfigurationError("OpenTelemetry is not installed",
                                 hint="pip install 'patinox[otel]' (it brings opentelemetry-api)") from exc
    if capture_content is None:
        capture_content = bool(_flag("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"))
    active = Telemetry(capture_content=capture_content, tracer_provider=tracer_provider,
                       meter_provider=meter_provider, version=_version())
    global _env_checked
    _env_checked = True


def uninstrument() -> None:
    """Stop recording (calls already running finish their spans)."""
    global active, _env_checked
    active, _env_checked = None, True


def is_instrumented() -> bool:
    return active is not None


def from_environment() -> None:
    """``PATINOX_OTEL=true``: instrument, once per process (later ``instrument()`` calls still win)."""
    global _env_checked
    if _env_checked:
        return
    _env_checked = True
    if _flag("PATINOX_OTEL"):
        instrument()


def _version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("patinox")
    except metadata.PackageNotFoundError:
        return None


__all__ = ["active", "from_environment", "instrument", "is_instrumented", "uninstrument"]
