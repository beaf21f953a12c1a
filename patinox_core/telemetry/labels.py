"""Server identities and metric label sets, built once and reused by every operation.

The OpenTelemetry SDK cleans and hashes every attribute dict it is given, so patinox gives it as
few and as small dicts as it can, and never rebuilds one per call: a server's span attributes
(``gen_ai.provider.name``, ``server.address``, ``server.port``) are made once per (kind, flavor,
URL), and the three label sets of one (operation, model asked, model answered, error) on that
server (the duration's, and the token histogram's input and output ones) once each. The dicts are
shared: nothing may change them after they are made (the SDK copies what it keeps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import attributes as attrs

if TYPE_CHECKING:
    from ..capabilities import ModelInfo

#: entries kept per cache before it starts over (model names are the caller's: keep them bounded)
CACHE_SIZE = 256

#: (duration and time-to-first-chunk labels, input-token labels, output-token labels)
LabelSets = tuple[attrs.Attributes, attrs.Attributes, attrs.Attributes]


class Server:
    """One server as the telemetry names it: its span attributes, and its metric label sets."""

    __slots__ = ("attributes", "label_sets")

    def __init__(self, attributes: attrs.Attributes) -> None:
        self.attributes = attributes
        self.label_sets: dict[tuple[str, str | None, str | None, str | None], LabelSets] = {}

    def labels(self, operation: str, request_model: str | None, response_model: str | None,
               error_type: str | None) -> LabelSets:
        key = (operation, request_model, response_model, error_type)
        found = self.label_sets.get(key)
        if found is None:
            base = attrs.metric_labels(operation, request_model, response_model, error_type, self.attributes)
            found = (base, {**base, "gen_ai.token.type": "input"}, {**base, "gen_ai.token.type": "output"})
            if len(self.label_sets) >= CACHE_SIZE:
                self.label_sets.clear()
            self.label_sets[key] = found
        return found


#: no server was reached (the request failed in routing)
NO_SERVER = Server({"gen_ai.provider.name": attrs.NO_SERVER})


class Servers:
    """The ``Server`` of each (kind, flavor, URL) an operation reached."""

    __slots__ = ("known",)

    def __init__(self) -> None:
        self.known: dict[tuple[Any, str | None, str | None], Server] = {}

    def get(self, info: ModelInfo | None, flavor: str | None, service: str | None = None) -> Server:
        """``info``'s server (``service`` names its URL when ``info`` does not)."""
        kind = info.kind if info is not None else None
        url = service or (info.service if info is not None else None)
        key = (kind, flavor, url)
        found = self.known.get(key)
        if found is None:
            values = {"gen_ai.provider.name": attrs.provider_name(kind.value if kind is not None else None, flavor)}
            values.update(attrs.server_attributes(url))
            found = Server(values)
            if len(self.known) >= CACHE_SIZE:
                self.known.clear()
            self.known[key] = found
        return found


__all__ = ["CACHE_SIZE", "NO_SERVER", "LabelSets", "Server", "Servers"]
