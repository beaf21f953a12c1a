"""Ollama's native API (``/api/*``): ``OllamaBackend`` plans each operation (``exchange.py``) and hands
the same plan to the sync or async driver; the pure embedding converters live here, chat conversion
in ``ollama_wire.py``, model-facts conversion in ``ollama_facts.py``.

The read timeout of a call depends on whether its model is loaded: ``timeout_kind(model)`` is
``"normal"`` for a model the catalogue knows to be resident (``load_state``, from /api/ps and
replies), ``"cold"`` (``cold_load_timeout``) for any other.
"""

from __future__ import annotations

import base64
import functools
import math
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from ..call_context import CallContext
from ..config import LocalSettings, ProviderKind, redact
from ..errors import ConfigurationError, LocalProviderError, ModelNotFoundError
from ..exchange import Operation, call, download, stream
from ..facts import ServerFacts
from ..provisioning.events import ProgressEvent, PullTally
from ..reasoning import wants_thinking
from ..timeouts import TimeoutKind, read_timeout
from ..transport import Transport
from ..types import ChatRequest, ChatResult, EmbeddingResult, Usage
from .base import LoadState, token_count
from .driven import DrivenBackend
from .malformed import MalformedReply, as_mapping, field, number_or_none, text_or_none
from .ollama_facts import TagEntry, facts_from_ps, facts_from_show, facts_from_tags, listing_complete, merge_facts
from .ollama_pull import classify_pull, left_on_ollama, pull
from .ollama_wire import (
    UNREACHABLE_HINT,
    EndpointNotFoundError,
    ModelLoadedReply,
    OllamaChatStream,
    classify_error,
    forced_tool,
    from_wire,
    image_urls,
    to_wire,
)

EMBED_OPTIONS = ("dimensions", "truncate", "keep_alive", "options", "timeout", "max_retries")


# --------------------------------------------------------------------------- embeddings


def embed_to_wire(texts: Sequence[str], model: str, *, dimensions: int | None = None, truncate: bool | None = None,
                  keep_alive: str | int | None = None, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``/api/embed`` body (batch).

    >>> embed_to_wire(["a", "b"], "nomic-embed-text", dimensions=64)
    {'model': 'nomic-embed-text', 'input': ['a', 'b'], 'dimensions': 64}
    """
    body: dict[str, Any] = {"model": model, "input": list(texts)}
    extra = {"dimensions": dimensions, "truncate": truncate, "keep_alive": keep_alive, "options": options or None}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and (not value or number_or_none(value[0]) is not None)


def embed_from_wire(data: Any, *, expected: int, model: str | None = None,
                    service: str | None = None) -> EmbeddingResult:
    """An ``/api/embed`` reply; one list of numbers per input, in input order."""
    vectors = field(data, "embeddings", "the /api/embed reply")
    if not isinstance(vectors, list) or len(vectors) != expected or not all(_is_vector(v) for v in vectors):
        raise MalformedReply(f"expected {expected} embedding vectors, got {type(vectors).__name__} "
                             f"of {len(vectors) if isinstance(vectors, list) else '?'}")
    usage = Usage(input_tokens=token_count(data.get("prompt_eval_count")))
    return EmbeddingResult(vectors=vectors, model=text_or_none(data.get("model")) or model, usage=usage,
                           service=service)


def legacy_embed_to_wire(text: str, model: str, *, keep_alive: str | int | None = None,
                         options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The legacy ``/api/embeddings`` body: one ``prompt`` per request."""
    body: dict[str, Any] = {"model": model, "prompt": text}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    if options:
        body["options"] = dict(options)
    return body


def legacy_embed_from_wire(data: Any, dimensions: int | None = None) -> list[float]:
    """A legacy reply's vector, truncated to ``dimensions`` and L2-normalised like ``/api/embed``.

    >>> legacy_embed_from_wire({"embedding": [3.0, 4.0, 12.0]}, dimensions=2)
    [0.6, 0.8]
    """
    vector = field(data, "embedding", "the /api/embeddings reply")
    if not isinstance(vector, list) or any(number_or_none(x) is None for x in vector):
        raise MalformedReply("the legacy embedding is not a list of numbers")
    vector = vector[:dimensions] if dimensions else vector
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


# --------------------------------------------------------------------------- helpers


def _version(data: Any) -> str:
    return str(field(data, "version", "the /api/version reply"))


def _done_reason(data: Any) -> Any:
    return as_mapping(data, "the load reply").get("done_reason")


def _image_error(url: str, err: LocalProviderError) -> ConfigurationError:
    return ConfigurationError(f"cannot fetch image {redact(url)[:120]}: {err.message}",
                              hint="check the image URL or pass base64 image data", model=err.model)


def _classify_fetch(status: int | None, body: Any) -> LocalProviderError:
    return ConfigurationError(f"the image URL answered HTTP {status}", status_code=status)


@functools.lru_cache(maxsize=1024)
def _classifier(model: str | None) -> partial[LocalProviderError]:
    """``classify_error`` for ``model``: one object per model (call contexts are kept by it)."""
    return partial(classify_error, model=model)


class OllamaBackend(DrivenBackend):
    """One Ollama server (``Backend`` protocol of ``backends/base.py``).

    Beyond chat/stream/embed/facts: ``version()``, ``load(model)``/``unload(model)`` (empty-message
    chat requests with ``keep_alive``), all with ``a``-prefixed async twins. No I/O in ``__init__``.
    Each public method hands one plan (``*_plan``) to the transport's sync or async driver
    (``DrivenBackend``).
    """

    kind = ProviderKind.OLLAMA

    def __init__(self, base_url: str, transport: Transport, settings: LocalSettings | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.settings = settings or transport.settings
        self.load_state: LoadState | None = None  # the catalogue's, set by the provider
        self.legacy_embeddings = False  # set once /api/embed answered 404 page not found
        self._shows: dict[str, ServerFacts] = {}  # /api/show facts by digest

    def __repr__(self) -> str:
        return f"OllamaBackend({redact(self.base_url)!r})"

    # -- load state and contexts -----------------------------------------------------------
    def is_loaded(self, model: str | None) -> bool:
        """Whether the catalogue knows ``model`` to be resident (unknown: no)."""
        return self.load_state is not None and self.load_state.is_loaded(model) is True

    def timeout_kind(self, model: str | None) -> TimeoutKind:
        """``"normal"`` for a model known to be loaded, else ``"cold"`` (it may have to load first)."""
        return "normal" if self.load_state is not None and self.load_state.is_loaded(model) is True else "cold"

    def _mark(self, model: str, loaded: bool, context: int | None = None) -> None:
        if self.load_state is not None:
            self.load_state.mark(model, loaded, context)

    def _ctx(self, model: str | None, kind: TimeoutKind = "normal", read: float | None = None,
             retries: int | None = None, headers: dict[str, str] | None = None) -> CallContext:
        return self.transport.context(self.base_url, _classifier(model), model=model, kind=kind,
                                      read=read_timeout(self.transport.settings, kind, read),
                                      unreachable_hint=UNREACHABLE_HINT, retries=retries, headers=headers)

    def _model_ctx(self, model: str | None, read: float | None = None, retries: int | None = None) -> CallContext:
        return self._ctx(model, self.timeout_kind(model), read, retries)

    def _chat_ctx(self, request: ChatRequest) -> CallContext:
        return self._ctx(request.model, self.timeout_kind(request.model), request.timeout, request.max_retries,
                         request.headers)

    def _url(self, path: str) -> str:
        return self.base_url + path

    # -- plans -----------------------------------------------------------------------------
    def _images_plan(self, request: ChatRequest) -> Operation[dict[str, str]]:
        """http(s) image URLs fetched client-side, as base64 by URL."""
        out = {}
        for url in image_urls(request):
            parts = urlsplit(url)
            ctx = self.transport.context(f"{parts.scheme}://{parts.netloc}", _classify_fetch, model=request.model,
                                         read=request.timeout, unreachable_hint="check the image URL", retries=0)
            try:
                out[url] = base64.b64encode((yield from download(ctx, url))).decode()
            except LocalProviderError as err:
                raise _image_error(url, err) from err
        return out

    def chat_plan(self, request: ChatRequest) -> Operation[ChatResult]:
        """One reply; an empty ``done_reason:"load"`` reply is resent once."""
        images = (yield from self._images_plan(request)) if request.has_images else {}
        body = to_wire(request, False, keep_alive=self.settings.keep_alive, images=images)
        ctx = self._chat_ctx(request)
        parse = partial(from_wire, model=request.model, service=self.base_url, forced=forced_tool(request))
        try:
            return (yield from call(ctx, "POST", self.base_url + "/api/chat", body, parse))
        except ModelLoadedReply:
            return (yield from call(ctx, "POST", self.base_url + "/api/chat", body, parse))

    def stream_plan(self, request: ChatRequest) -> Operation[None]:
        """NDJSON deltas; the last chunk carries finish_reason, usage and metrics. A ``"load"`` reply
        comes before any chunk, so it is resent once."""
        images = (yield from self._images_plan(request)) if request.has_images else {}
        body = to_wire(request, True, keep_alive=self.settings.keep_alive, images=images)
        ctx, forced = self._chat_ctx(request), forced_tool(request)
        for attempt in range(2):
            try:
                return (yield from stream(ctx, self._url("/api/chat"), body,
                                          OllamaChatStream(request.model, self.base_url, forced,
                                                           think_open=wants_thinking(request))))
            except ModelLoadedReply:
                if attempt:
                    raise

    def embed_plan(self, texts: Sequence[str], model: str, opts: Mapping[str, Any]) -> Operation[EmbeddingResult]:
        """One ``/api/embed`` request with every text (batching is the caller's, ``patinox_core.embedding``);
        on a server without it, one legacy ``/api/embeddings`` request per text from then on."""
        texts = list(texts)
        if not texts:
            return EmbeddingResult([], model=model, service=self.base_url)
        if unknown := sorted(set(opts) - set(EMBED_OPTIONS)):
            raise ConfigurationError(f"unknown embedding option(s) {unknown}", hint=f"use {', '.join(EMBED_OPTIONS)}")
        ctx = self._model_ctx(model, opts.get("timeout"), opts.get("max_retries"))
        alive = opts.get("keep_alive", self.settings.keep_alive)
        if not self.legacy_embeddings:
            body = embed_to_wire(texts, model, dimensions=opts.get("dimensions"), truncate=opts.get("truncate"),
                                 keep_alive=alive, options=opts.get("options"))
            parse = partial(embed_from_wire, expected=len(texts), model=model, service=self.base_url)
            try:
                return (yield from call(ctx, "POST", self._url("/api/embed"), body, parse))
            except EndpointNotFoundError:
                self.legacy_embeddings = True
        vectors = []
        for text in texts:
            body = legacy_embed_to_wire(text, model, keep_alive=alive, options=opts.get("options"))
            vectors.append((yield from call(ctx, "POST", self._url("/api/embeddings"), body,
                                            partial(legacy_embed_from_wire, dimensions=opts.get("dimensions")))))
        return EmbeddingResult(vectors, model=model, service=self.base_url)

    def facts_plan(self, probed: Mapping[str, Any] | None = None) -> Operation[list[ServerFacts]]:
        """/api/tags, /api/ps, then /api/show per model not seen before (cached by digest) whose
        listing lacks capabilities or context (before Ollama 0.30), in that order (load state from
        /api/ps goes to the catalogue with the facts). (Discovery fetches none of these: ``probed``
        holds nothing for Ollama.)"""
        ctx = self._ctx(None)
        tags = yield from call(ctx, "GET", self._url("/api/tags"), parse=facts_from_tags)
        ps = yield from call(ctx, "GET", self._url("/api/ps"), parse=facts_from_ps)
        for t in tags:
            if (t.digest or t.name) in self._shows or listing_complete(t):
                continue
            try:
                self._shows[t.digest or t.name] = yield from call(self._ctx(t.name), "POST", self._url("/api/show"),
                                                                  {"model": t.name}, facts_from_show)
            except ModelNotFoundError:
                continue  # deleted between the two calls
        return self._facts(tags, ps)

    def _facts(self, tags: list[TagEntry], ps: dict[str, ServerFacts]) -> list[ServerFacts]:
        self._shows = {k: v for k, v in self._shows.items() if k in {t.digest or t.name for t in tags}}
        facts = [merge_facts(t, self._shows.get(t.digest or t.name), ps.get(t.name)) for t in tags]
        listed = {t.name for t in tags}
        return facts + [ServerFacts(**f, name=n) for n, f in ps.items() if n not in listed]

    def version_plan(self) -> Operation[str]:
        """The server's version string (``GET /api/version``)."""
        return (yield from call(self._ctx(None), "GET", self._url("/api/version"), parse=_version))

    def load_plan(self, model: str, keep_alive: str | int | None = None, *, loaded: bool = True,
                  context: int | None = None) -> Operation[ProgressEvent]:
        """Load ``model`` (cold-load timeout; ``context`` tokens as ``num_ctx``) or unload it now
        (``keep_alive: 0``): an empty chat request. After a load, ``/api/ps`` says the allocated
        context; the catalogue learns both."""
        body: dict[str, Any] = {"model": model, "messages": [], "stream": False}
        alive = 0 if not loaded else keep_alive if keep_alive is not None else self.settings.keep_alive
        if alive is not None:
            body["keep_alive"] = alive
        if loaded and context:
            body["options"] = {"num_ctx": context}
        t0 = time.perf_counter()
        yield from call(self._ctx(model, "cold" if loaded else "normal"), "POST", self._url("/api/chat"), body,
                        _done_reason)
        seconds = time.perf_counter() - t0
        allocated = None
        if loaded:
            ps = yield from call(self._ctx(None), "GET", self._url("/api/ps"), parse=facts_from_ps)
            mine = ps.get(model) or ps.get(f"{model}:latest") or {}
            allocated = mine.get("loaded_context_length")
        self._mark(model, loaded, allocated)
        return ProgressEvent(model, self.base_url, "loaded" if loaded else "unloaded", seconds=seconds,
                             total=allocated)

    def pull_plan(self, model: str, tally: PullTally) -> Operation[None]:
        """``/api/pull``'s progress as events (``ollama_pull.py``); the read timeout is the cold-load one."""
        ctx = self.transport.context(self.base_url, partial(classify_pull, model=model), model=model, kind="cold",
                                     unreachable_hint=UNREACHABLE_HINT)
        yield from pull(ctx, self._url("/api/pull"), model, tally)

    def pull_left(self, model: str, tally: PullTally) -> str:
        """What a pull stopped now leaves on this server."""
        return left_on_ollama(tally)

    # -- the rest of the server's API: each a plan handed to a driver ----------------------
    def version(self) -> str:
        return self.transport.run(self.version_plan())

    async def aversion(self) -> str:
        return await self.transport.arun(self.version_plan())

    def load(self, model: str, keep_alive: str | int | None = None, context: int | None = None) -> ProgressEvent:
        return self.transport.run(self.load_plan(model, keep_alive, loaded=True, context=context))

    async def aload(self, model: str, keep_alive: str | int | None = None,
                    context: int | None = None) -> ProgressEvent:
        return await self.transport.arun(self.load_plan(model, keep_alive, loaded=True, context=context))

    def unload(self, model: str) -> ProgressEvent:
        return self.transport.run(self.load_plan(model, 0, loaded=False))

    async def aunload(self, model: str) -> ProgressEvent:
        return await self.transport.arun(self.load_plan(model, 0, loaded=False))


__all__ = [
    "OllamaBackend",
    "TagEntry",
    "embed_from_wire",
    "embed_to_wire",
    "facts_from_ps",
    "facts_from_show",
    "facts_from_tags",
    "legacy_embed_from_wire",
    "legacy_embed_to_wire",
    "merge_facts",
]
