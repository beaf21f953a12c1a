"""``FakeSGLangServer``: a real loopback HTTP server that answers like SGLang (public API).

One model per server, as ``python -m sglang.launch_server --model-path MODEL`` serves it::

    with FakeSGLangServer("Qwen/Qwen2.5-7B-Instruct", context_length=32768) as srv:
        ...  # discovery fingerprints it as "sglang"; the catalogue reads its facts

Shaped from SGLang's OpenAI protocol and HTTP server: ``/v1/models`` entries ``owned_by: "sglang"``
with ``root`` and ``max_model_len``; ``GET /get_model_info`` (and ``/model_info``) with
``model_path``, ``tokenizer_path``, ``is_generation``, ``has_image_understanding``, ``model_type``;
``GET /get_server_info`` (and ``/server_info``) with the server arguments (``context_length``,
``max_running_requests``: null unless given), scheduler figures (``max_total_num_tokens``,
``max_req_input_len``), one ``internal_states`` entry per data-parallel rank (with
``effective_max_running_requests_per_dp``) and ``version``; ``/health`` answering an empty 200;
``GET /metrics`` only with ``enable_metrics`` (``--enable-metrics``; else 404): Prometheus text
with ``sglang:num_running_reqs`` and ``sglang:num_queue_reqs`` (the ``running`` and ``queued``
attributes, which a test sets: this fake runs requests at once, without a scheduler);
errors as ``{"object": "error", "message", "type", "param", "code"}``; FastAPI's ``{"detail":
"Not Found"}`` elsewhere. ``is_embedding=True`` serves an embedding model (``--is-embedding``):
embeddings, no chat.
"""

from __future__ import annotations

from typing import Any

from ._http import FakeRequest, Reply, StreamReply
from .openai_compat import FakeOpenAIServer, OpenAIModel, Route

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires


class FakeSGLangServer(FakeOpenAIServer):
    """SGLang on 127.0.0.1 serving ``model_path`` (see the module docstring).

    ``context_length``: the model's own context; ``configured_context``: ``--context-length``
    (narrower, reported by ``/get_server_info``); ``vision``: ``has_image_understanding``;
    ``running_cap``: the scheduler's running-request cap per data-parallel rank (``None``: an
    older server that does not report it), ``max_running_requests`` the argument, ``dp_size`` the ranks.
    """

    owned_by = "sglang"

    def __init__(self, model_path: str = "Qwen/Qwen2.5-0.5B-Instruct", *, reply: str = "Hello from SGLang.",
                 is_embedding: bool = False, context_length: int = 32768, configured_context: int | None = None,
                 vision: bool = False, embedding_dim: int = 8, tool_calls: list[dict[str, Any]] | None = None,
                 json_reply: Any = None, version: str = "0.5.4", running_cap: int | None = 128,
                 max_running_requests: int | None = None, dp_size: int = 1, enable_metrics: bool = False,
                 port: int = 0) -> None:
        served = configured_context or context_length
        model = OpenAIModel(model_path, reply=reply, tool_calls=list(tool_calls or []), json_reply=json_reply,
                            embedding_dim=embedding_dim if is_embedding else None, context_length=served)
        super().__init__([model], port=port)
        self.model_path = model_path
        self.is_embedding = is_embedding
        self.configured_context = configured_context
        self.vision = vision
        self.version = version
        self.running_cap = running_cap
        self.max_running_requests = max_running_requests
        self.dp_size = dp_size
        self.enable_metrics = enable_metrics
        self.running = 0  # what /metrics reports: requests running and queued in the scheduler
        self.queued = 0

    def routes(self) -> dict[tuple[str, str], Route]:
        return {**super().routes(),
                ("GET", "/get_model_info"): self._model_info, ("GET", "/model_info"): self._model_info,
                ("GET", "/get_server_info"): self._server_info, ("GET", "/server_info"): self._server_info,
                ("GET", "/health"): lambda r: Reply(body=b"", content_type="text/plain"),
                ("GET", "/metrics"): self._metrics}

    def _metrics(self, request: FakeRequest) -> Reply | StreamReply:
        if not self.enable_metrics:
            return Reply(status=404, body={"detail": "Not Found"})
        labels = f'model_name="{self.model_path}",engine_type="unified",tp_rank="0",pp_rank="0"'
        return Reply(content_type="text/plain; version=0.0.4; charset=utf-8", body="".join([
            "# HELP sglang:num_running_reqs The number of running requests.\n",
            "# TYPE sglang:num_running_reqs gauge\n",
            f"sglang:num_running_reqs{{{labels}}} {float(self.running)}\n",
            "# HELP sglang:num_queue_reqs The number of requests in the waiting queue.\n",
            "# TYPE sglang:num_queue_reqs gauge\n",
            f"sglang:num_queue_reqs{{{labels}}} {float(self.queued)}\n",
            "# HELP sglang:token_usage The token usage.\n",
            "# TYPE sglang:token_usage gauge\n",
            f"sglang:token_usage{{{labels}}} 0.0\n"]))

    def model_entry(self, model: OpenAIModel) -> dict[str, Any]:
        return {**super().model_entry(model), "root": model.id, "max_model_len": model.context_length}

    def _model_info(self, request: FakeRequest) -> Reply | StreamReply:
        return Reply(body={"model_path": self.model_path, "tokenizer_path": self.model_path,
                           "is_generation": not self.is_embedding, "preferred_sampling_params": None,
                           "weight_version": "default", "has_image_understanding": self.vision,
                           "has_audio_understanding": False, "model_type": "qwen2",
                           "architectures": ["Qwen2ForCausalLM"]})

    def _server_info(self, request: FakeRequest) -> Reply | StreamReply:
        return Reply(body={"model_path": self.model_path, "tokenizer_path": self.model_path,
                           "served_model_name": self.model_path, "context_length": self.configured_context,
                           "host": self.host, "port": self.port, "api_key": None, "is_embedding": self.is_embedding,
                           "max_running_requests": self.max_running_requests, "dp_size": self.dp_size,
                           "max_total_num_tokens": 441_000, "max_req_input_len": 32_762,
                           "internal_states": [self._internal_state() for _ in range(self.dp_size)],
                           "version": self.version})

    def _internal_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"last_gen_throughput": 0.0,
                                 "memory_usage": {"weight": 0.98, "kvcache": 0.23, "token_capacity": 20480, "graph": 0}}
        if self.running_cap is not None:
            state["effective_max_running_requests_per_dp"] = self.running_cap
        return state


__all__ = ["FakeSGLangServer"]
