"""What a reply says about the server that gave it: the facts both framework adapters report.

``ChatPatinox`` puts them in ``response_metadata``, ``Patinox`` in ``additional_kwargs`` (and its
``raw``), under the same keys, each present only when known: the server's URL and kind, and what
the server measured (time to first token, tokens per second, model load time, total time, prompt
tokens read from its cache). Pure: from ``ChatResult``/``ChatChunk`` fields, no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .capabilities import ModelInfo
    from .types import ChatChunk, ChatResult, Metrics, Usage

#: the reply metadata keys, in order (documented in docs/observability.md)
KEYS = ("server", "server_kind", "time_to_first_token_s", "tokens_per_second", "load_duration_s",
        "total_duration_s", "cache_read_tokens")


def server_kind(info: ModelInfo | None, flavor: str | None) -> str | None:
    """The answering server's kind: its flavor (``llama_server``, ``vllm``, ...) or its family
    (``ollama``, ``lmstudio``, ``openai_compatible``); the same value as ``gen_ai.provider.name``."""
    return flavor or (info.kind.value if info is not None else None)


def reply_facts(*, service: str | None, info: ModelInfo | None, flavor: str | None, usage: Usage | None,
                metrics: Metrics | None) -> dict[str, Any]:
    """The facts of one reply, only those the server reported.

    >>> from patinox_core.types import Metrics, Usage
    >>> reply_facts(service="http://127.0.0.1:8080", info=None, flavor="llama_server",
    ...             usage=Usage(input_tokens=40, cached_input_tokens=32),
    ...             metrics=Metrics(time_to_first_token_s=0.05, tokens_per_second=41.5))
    ... # doctest: +NORMALIZE_WHITESPACE
    {'server': 'http://127.0.0.1:8080', 'server_kind': 'llama_server', 'time_to_first_token_s': 0.05,
     'tokens_per_second': 41.5, 'cache_read_tokens': 32}
    """
    values: tuple[Any, ...] = (service, server_kind(info, flavor))
    if metrics is not None:
        values += (metrics.time_to_first_token_s, metrics.tokens_per_second, metrics.load_duration_s,
                   metrics.total_duration_s)
    else:
        values += (None, None, None, None)
    values += (usage.cached_input_tokens if usage is not None else None,)
    return {key: value for key, value in zip(KEYS, values, strict=True) if value is not None}


def metrics_dict(metrics: Metrics | None) -> dict[str, float]:
    """The timings a server measured, only those it reported (both adapters' ``metrics`` entry).

    >>> from patinox_core.types import Metrics
    >>> metrics_dict(Metrics(tokens_per_second=41.5, load_duration_s=2.5)), metrics_dict(None)
    ({'tokens_per_second': 41.5, 'load_duration_s': 2.5}, {})
    """
    if metrics is None:
        return {}
    return reply_facts(service=None, info=None, flavor=None, usage=None, metrics=metrics)  # its timing keys only


def facts_of(reply: ChatResult | ChatChunk) -> dict[str, Any]:
    """``reply_facts`` of a complete reply or of a stream's last chunk."""
    return reply_facts(service=reply.service, info=reply.info, flavor=reply.flavor, usage=reply.usage,
                       metrics=reply.metrics)


__all__ = ["KEYS", "facts_of", "metrics_dict", "reply_facts", "server_kind"]
