"""``Telemetry``: the tracer, the meter's three GenAI histograms, and the two wrappers it applies.

Only imported once instrumentation is on (``instrumentation.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

from .labels import Servers
from .wrappers import AttemptEvents, OperationSpans

if TYPE_CHECKING:
    from ..capabilities import ModelInfo
    from ..provider import Provider

SCOPE = "patinox"
# The conventions' advised bucket boundaries (seconds; tokens).
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]


class Telemetry:
    """What one ``instrument()`` call set up: where spans and metrics go, and whether to record content."""

    def __init__(self, *, capture_content: bool, tracer_provider: Any = None, meter_provider: Any = None,
                 version: str | None = None) -> None:
        self.capture_content = capture_content
        self.servers = Servers()  # span attributes and metric labels per server, made once
        self.tracer = trace.get_tracer(SCOPE, version, tracer_provider)
        meter = metrics.get_meter(SCOPE, version or "", meter_provider)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streamed reply",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)

    def operations(self, provider: Provider) -> Provider:
        """``provider`` with one span per call (``wrappers.OperationSpans``)."""
        return OperationSpans(provider, self)

    def attempt(self, server: Provider, info: ModelInfo | None, flavor: str | None) -> Provider:
        """``server`` as a candidate of any operation: its failures become events on the span of the
        operation it runs under (built once per server, not per request)."""
        return AttemptEvents(server, info, flavor)


__all__ = ["Telemetry"]
