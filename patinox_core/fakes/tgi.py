"""``FakeTGIServer``: a real loopback HTTP server that answers like text-generation-inference (public API).

One model per server, as ``text-generation-launcher --model-id MODEL`` serves it::

    with FakeTGIServer("meta-llama/Llama-3.1-8B-Instruct", max_total_tokens=8192) as srv:
        ...  # discovery fingerprints it as "tgi" by GET /info; the catalogue reads its facts

Shaped from TGI's router (``router/src/server.rs``, ``lib.rs``): ``GET /`` and ``/health`` answer an
empty 200; ``GET /info`` holds ``model_id``, ``model_sha``, ``model_pipeline_tag``,
``max_input_tokens``, ``max_total_tokens``, ``max_concurrent_requests``, ``router``, ``version``,
...; ``/v1/models`` lists the one model with ``created: 0`` and ``owned_by`` its own id; chat
replies carry ``system_fingerprint`` ``<version>-native``; the model name of a request is not
checked; ``response_format`` must be ``{"type": "json" | "json_object" | "json_schema", "value":
...}`` (an OpenAI envelope without ``value`` fails JSON extraction with a plain-text 422, as axum
answers); errors are
``{"error": ..., "error_type": ...}``; there is no ``/v1/embeddings`` (axum's empty 404).
"""

from __future__ import annotations

from typing import Any

from ._http import FakeRequest, Reply, StreamReply
from .openai_compat import FakeOpenAIServer, OpenAIModel, Route

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires


class FakeTGIServer(FakeOpenAIServer):
    """TGI on 127.0.0.1 serving ``model_id`` (see the module docstring)."""

    def __init__(self, model_id: str = "meta-llama/Llama-3.1-8B-Instruct", *, reply: str = "Hello from TGI.",
                 max_input_tokens: int = 4095, max_total_tokens: int = 4096,
                 pipeline_tag: str | None = "text-generation", tool_calls: list[dict[str, Any]] | None = None,
                 json_reply: Any = None, version: str = "3.3.6", max_concurrent_requests: int = 128,
                 port: int = 0) -> None:
        super().__init__([OpenAIModel(model_id, reply=reply, tool_calls=list(tool_calls or []),
                                      json_reply=json_reply, context_length=max_total_tokens)], port=port)
        self.model_id = model_id
        self.max_input_tokens = max_input_tokens
        self.pipeline_tag = pipeline_tag
        self.version = version
        self.max_concurrent_requests = max_concurrent_requests
        self.fingerprint = f"{version}-native"

    def routes(self) -> dict[tuple[str, str], Route]:
        routes = {**super().routes(), ("GET", "/"): self._health, ("GET", "/health"): self._health,
                  ("GET", "/info"): self._info}
        del routes[("POST", "/v1/embeddings")]
        return routes

    def model_entry(self, model: OpenAIModel) -> dict[str, Any]:
        return {"id": model.id, "object": "model", "created": 0, "owned_by": model.id}

    def error(self, status: int, message: str, kind: str = "validation") -> Reply:
        return Reply(status=status, body={"error": message, "error_type": kind})

    def not_found(self, request: FakeRequest) -> Reply:
        return Reply(status=404, body=b"", content_type="text/plain")

    def resolve(self, name: Any) -> OpenAIModel | Reply:
        return self.models[self.model_id]  # TGI serves its one model whatever the request names

    def refuse_chat(self, body: dict[str, Any]) -> Reply | None:
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and "value" not in fmt:
            return Reply(status=422, content_type="text/plain; charset=utf-8",
                         body="Failed to deserialize the JSON body into the target type: response_format: "
                              "missing field `value`")
        return None

    def _health(self, request: FakeRequest) -> Reply | StreamReply:
        return Reply(body=b"", content_type="text/plain")

    def _info(self, request: FakeRequest) -> Reply | StreamReply:
        return Reply(body={"model_id": self.model_id, "model_sha": "0e9e39f249a16976918f6564b8830bc894c89659",
                           "model_pipeline_tag": self.pipeline_tag,
                           "max_concurrent_requests": self.max_concurrent_requests, "max_best_of": 2,
                           "max_stop_sequences": 4, "max_input_tokens": self.max_input_tokens,
                           "max_total_tokens": self.models[self.model_id].context_length, "validation_workers": 2,
                           "max_client_batch_size": 4, "router": "text-generation-router", "version": self.version,
                           "sha": "4d28897b4e345f4dfdd93d3434e50ac8afcdf9e1", "docker_label": "sha-4d28897"})


__all__ = ["FakeTGIServer"]
