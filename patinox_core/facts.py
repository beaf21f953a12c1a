"""``ServerFacts``: what one server says about one model, before ``capabilities`` turns it into ``ModelInfo``."""

from __future__ import annotations

from typing import TypedDict


class ServerFacts(TypedDict, total=False):
    """What one server says about one model; every key optional (absent = the server did not say).

    ``capabilities`` holds only the flags the server reported, e.g. ``{"tools": True}``.
    Context figures are token counts: ``context_length`` is the trained maximum,
    ``loaded_context_length`` what is allocated now, ``default_context_length`` what a load
    would allocate (Ollama Modelfile ``num_ctx``). ``parallel_slots`` is how many requests the
    server runs at once (llama-server ``total_slots``, SGLang's running-request cap, TGI's
    ``max_concurrent_requests``): a server-wide figure, laid over each of its models; LM Studio's
    is per model (its loaded instance's ``parallel``). ``instance_count``: loaded copies (LM Studio).
    ``reasoning_options`` are the reasoning values the model takes (LM Studio ``allowed_options``,
    Ollama ``/api/show`` ``thinking.values``), in ``patinox_core.reasoning``'s vocabulary.
    """

    name: str
    model_type: str  # "llm" | "vlm" | "embeddings"
    family: str
    parameter_size: str  # display string, e.g. "7.6B"
    parameter_count: int
    quantization: str  # e.g. "Q4_K_M"
    size_bytes: int
    context_length: int
    loaded: bool
    loaded_context_length: int
    default_context_length: int
    parallel_slots: int
    instance_count: int
    capabilities: dict[str, bool]  # keys among Capabilities' fields
    remote: bool  # served by a cloud host the server forwards to (Ollama remote_host)
    reasoning_options: tuple[str, ...]  # allowed reasoning values: "off", "on", "low", "medium", "high", "max"
    reasoning_default: str  # the value a request without one gets
