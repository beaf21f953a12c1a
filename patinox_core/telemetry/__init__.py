"""OpenTelemetry GenAI instrumentation (the ``otel`` extra): spans and metrics per operation.

Turned on by ``patinox_core.instrument()`` or ``PATINOX_OTEL=true`` (``instrumentation.py``); nothing
here is imported while it is off. ``attributes`` is pure (no OpenTelemetry import).
"""
