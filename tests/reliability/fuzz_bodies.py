"""Hypothesis strategies for what a model server might send: JSON values, near-valid reply shapes
of both server families, NDJSON / SSE stream bodies, and a mock server that serves them.

"Near-valid" matters: random JSON rarely gets past a parser's first key lookup, so each shape is
the real reply with every key optional and every value either well-typed or junk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import strategies as st

__test__: dict[str, object] = {}

KEYS = ("model", "message", "role", "content", "thinking", "tool_calls", "function", "name", "arguments", "index",
        "id", "done", "done_reason", "error", "eval_count", "eval_duration", "prompt_eval_count", "embeddings",
        "models", "details", "capabilities", "data", "choices", "delta", "finish_reason", "usage", "object",
        "timings", "stats", "type", "key", "loaded_instances", "state", "meta", "version", "detail", "code")
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SCALARS = st.one_of(st.none(), st.booleans(), INT64, st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20), st.sampled_from(["stop", "length", "load", "llm", "embedding", "loaded",
                                                           "[DONE]", "<think>", "</think>", ""]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5)), max_leaves=12)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-typed value, sometimes any JSON value."""
    return st.one_of(valid, valid, valid, JSON)


def shaped(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object whose keys are all optional and whose values may be junk."""
    return st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()})


WORD = st.text(max_size=12)
COUNT = st.integers(min_value=0, max_value=10**9)
NS = st.integers(min_value=0, max_value=10**12)
ARGS = st.one_of(st.dictionaries(WORD, SCALARS, max_size=3), st.text(max_size=30))

# --------------------------------------------------------------------------- Ollama

O_CALL = shaped(id=WORD, function=shaped(index=COUNT, name=WORD, arguments=ARGS))
O_MESSAGE = shaped(role=st.just("assistant"), content=WORD, thinking=WORD, tool_calls=st.lists(O_CALL, max_size=2))
O_CHAT = shaped(model=WORD, message=O_MESSAGE, done=st.booleans(), done_reason=st.sampled_from(["stop", "length",
                "load", "unload"]), total_duration=NS, load_duration=NS, prompt_eval_count=COUNT,
                prompt_eval_duration=NS, eval_count=COUNT, eval_duration=NS, prompt_eval_cached_count=COUNT,
                error=WORD)
O_EMBED = shaped(model=WORD, embeddings=st.lists(st.lists(st.floats(-1, 1), max_size=3), min_size=0, max_size=3),
                 prompt_eval_count=COUNT)
O_DETAILS = shaped(family=WORD, families=st.lists(WORD, max_size=2), parameter_size=st.sampled_from(["3.2B", "137M",
                   "8x7B", "?"]), quantization_level=st.sampled_from(["Q4_K_M", "F16", "weird"]),
                   context_length=COUNT)
O_TAG = shaped(name=st.sampled_from(["llama3.2:latest", "nomic-embed-text:latest", ""]), model=WORD, digest=WORD,
               size=COUNT, details=O_DETAILS, capabilities=st.lists(st.sampled_from(["completion", "tools",
               "embedding", "vision", "thinking", "?"]), max_size=3))
O_TAGS = shaped(models=st.lists(O_TAG, max_size=3))
O_PS = shaped(models=st.lists(shaped(name=st.just("llama3.2:latest"), model=WORD, context_length=COUNT), max_size=2))
O_SHOW = shaped(parameters=st.sampled_from(["num_ctx 8192", "num_ctx    x", ""]), details=O_DETAILS,
                model_info=shaped(**{"general.architecture": st.sampled_from(["llama", "qwen3"]),
                                     "general.parameter_count": COUNT, "llama.context_length": COUNT}),
                capabilities=st.lists(st.sampled_from(["completion", "tools", "embedding"]), max_size=3),
                projector_info=JSON)

# --------------------------------------------------------------------------- OpenAI-compatible / LM Studio

A_CALL = shaped(index=COUNT, id=WORD, type=st.just("function"), function=shaped(name=WORD, arguments=ARGS))
A_MESSAGE = shaped(role=st.just("assistant"), content=WORD, reasoning_content=WORD, reasoning=WORD,
                   tool_calls=st.lists(A_CALL, max_size=2))
A_USAGE = shaped(prompt_tokens=COUNT, completion_tokens=COUNT, total_tokens=COUNT,
                 prompt_tokens_details=shaped(cached_tokens=COUNT))
A_TIMINGS = shaped(prompt_ms=st.floats(0, 1e6), predicted_ms=st.floats(0, 1e6), predicted_per_second=st.floats(0, 1e4))
A_STATS = shaped(tokens_per_second=st.floats(0, 1e4), time_to_first_token=st.floats(0, 100))
A_CHAT = shaped(id=WORD, object=st.sampled_from(["chat.completion", "error"]), model=WORD,
                choices=st.lists(shaped(index=COUNT, message=A_MESSAGE, finish_reason=st.sampled_from(
                    ["stop", "length", "tool_calls", None])), max_size=2), usage=A_USAGE, timings=A_TIMINGS,
                stats=A_STATS, error=JSON)
A_CHUNK = shaped(id=WORD, model=WORD, choices=st.lists(shaped(index=COUNT, delta=shaped(
                 content=WORD, reasoning_content=WORD, tool_calls=st.lists(A_CALL, max_size=2)),
                 finish_reason=st.sampled_from(["stop", "length", "tool_calls", None])), max_size=2),
                 usage=A_USAGE, timings=A_TIMINGS, error=JSON)
A_EMBED = shaped(data=st.lists(shaped(index=COUNT, embedding=st.lists(st.floats(-1, 1), max_size=3)), max_size=3),
                 model=WORD, usage=A_USAGE)
A_MODELS = shaped(data=st.lists(shaped(id=WORD, owned_by=WORD, meta=shaped(n_ctx_train=COUNT, n_params=COUNT),
                                       max_model_len=COUNT), max_size=3), object=st.just("list"))
L_V0 = shaped(data=st.lists(shaped(id=st.just("qwen/qwen3-8b"), type=st.sampled_from(["llm", "vlm", "embeddings"]),
              state=st.sampled_from(["loaded", "not-loaded"]), arch=WORD, quantization=WORD,
              max_context_length=COUNT, loaded_context_length=COUNT,
              capabilities=st.lists(st.just("tool_use"), max_size=1)), max_size=2))
L_V1 = shaped(models=st.lists(shaped(key=st.just("qwen/qwen3-8b"), type=st.sampled_from(["llm", "embedding"]),
              architecture=WORD, quantization=shaped(name=WORD), size_bytes=COUNT, params_string=WORD,
              max_context_length=COUNT, loaded_instances=st.lists(shaped(config=shaped(context_length=COUNT)),
                                                                  max_size=1),
              capabilities=shaped(vision=st.booleans(), trained_for_tool_use=st.booleans(), reasoning=JSON)),
              max_size=2))

# --------------------------------------------------------------------------- stream bodies

#: numbers the stdlib json module accepts but orjson and IEEE doubles do not
NASTY_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "9" * 400, "-0", "1e-999"])


@st.composite
def nasty_json_text(draw: st.DrawFn, shape: st.SearchStrategy[Any]) -> str:
    """JSON text of ``shape`` with one number replaced by a value only lenient decoders accept."""
    text = json.dumps(draw(shape))
    number = draw(NASTY_NUMBERS)
    for key in ('"completion_tokens": ', '"prompt_tokens": ', '"eval_count": ', '"predicted_ms": '):
        if key in text:
            head, _, tail = text.partition(key)
            rest = tail.lstrip("-0123456789.eE+")
            return f"{head}{key}{number}{rest}"
    return text


def line_of(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """One stream line: the shape as JSON, junk text, or the shape with a nasty number."""
    return st.one_of(shape.map(json.dumps), shape.map(json.dumps), nasty_json_text(shape), st.text(max_size=40))


NDJSON_BODY = st.lists(line_of(O_CHAT), max_size=6).map(lambda lines: "\n".join(lines) + "\n")
SSE_LINE = st.one_of(line_of(A_CHUNK).map(lambda t: f"data: {t}"), st.just("data: [DONE]"),
                     st.sampled_from([": keep-alive", "event: error", "id: 1", "retry: 10", ""]), st.text(max_size=40))
SSE_BODY = st.lists(SSE_LINE, max_size=8).map(lambda lines: "\n\n".join(lines) + "\n\n")
STATUS = st.sampled_from([200, 200, 200, 400, 404, 429, 500, 503])


def body_text(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """A complete reply body: JSON of the shape (maybe with a nasty number), any JSON, or junk text."""
    return st.one_of(shape.map(json.dumps), shape.map(json.dumps), nasty_json_text(shape), JSON.map(json.dumps),
                     st.text(max_size=60))


class FuzzServer:
    """An ``httpx.MockTransport`` handler: ``routes`` maps a path to ``(status, body text)``;
    records every request URL. Unknown paths answer 404."""

    def __init__(self, routes: dict[str, tuple[int, str]] | None = None,
                 fallback: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.routes = dict(routes or {})
        self.fallback = fallback
        self.seen: list[httpx.URL] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url)
        hit = self.routes.get(request.url.path)
        if hit is not None:
            status, text = hit
            return httpx.Response(status, content=text.encode("utf-8", "surrogatepass"))
        if self.fallback is not None:
            return self.fallback(request)
        return httpx.Response(404, text="404 page not found")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)
