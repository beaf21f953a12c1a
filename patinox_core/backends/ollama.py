"""Ollama's native API (``/api/*``): ``OllamaBackend`` (the I/O, a few lines per endpoint) and the
pure converters for embeddings and model facts. Chat conversion lives in ``ollama_wire.py``.

Every call goes through ``Transport`` with a ``CallContext`` naming this server, the model and the
timeout: a model the catalogue knows to be loaded (``load_state``, from /api/ps and replies) gets the
normal read timeout, any other the cold-load one. Sync and async twins share every parse.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..config import LocalSettings, ProviderKind, redact
from ..errors import ConfigurationError, LocalProviderError, ModelNotFoundError
from ..facts import ServerFacts
from ..timeouts import read_timeout
from ..transport import CallContext, TimeoutKind, Transport
from ..types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, Usage
from .base import LoadState
from .ollama_wire import (
    UNREACHABLE_HINT,
    EndpointNotFoundError,
    ForcedTool,
    ModelLoadedReply,
    OllamaChatStream,
    classify_error,
    forced_tool,
    from_wire,
    image_urls,
    to_wire,
)

#: /api/show capability -> Capabilities fields it sets.
CAPABILITY_FIELDS = {
    "completion": ("chat", "completion"),
    "embedding": ("embeddings",),
    "tools": ("tools",),
    "vision": ("vision",),
    "thinking": ("thinking",),
}
EMBED_OPTIONS = ("dimensions", "truncate", "keep_alive", "options", "timeout", "max_retries")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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


def embed_from_wire(data: Mapping[str, Any], *, expected: int, model: str | None = None,
                    service: str | None = None) -> EmbeddingResult:
    """An ``/api/embed`` reply; the vector count must match the inputs."""
    vectors = data["embeddings"]
    if not isinstance(vectors, list) or len(vectors) != expected or not all(isinstance(v, list) for v in vectors):
        raise ValueError(f"expected {expected} embedding vectors, got {type(vectors).__name__} "
                         f"of {len(vectors) if isinstance(vectors, list) else '?'}")
    usage = Usage(input_tokens=_int(data.get("prompt_eval_count")))
    return EmbeddingResult(vectors=vectors, model=data.get("model") or model, usage=usage, service=service)


def legacy_embed_to_wire(text: str, model: str, *, keep_alive: str | int | None = None,
                         options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The legacy ``/api/embeddings`` body: one ``prompt`` per request."""
    body: dict[str, Any] = {"model": model, "prompt": text}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    if options:
        body["options"] = dict(options)
    return body


def legacy_embed_from_wire(data: Mapping[str, Any], dimensions: int | None = None) -> list[float]:
    """A legacy reply's vector, truncated to ``dimensions`` and L2-normalised like ``/api/embed``.

    >>> legacy_embed_from_wire({"embedding": [3.0, 4.0, 12.0]}, dimensions=2)
    [0.6, 0.8]
    """
    vector = data["embedding"]
    if not isinstance(vector, list):
        raise ValueError("legacy embedding is not a list")
    vector = vector[:dimensions] if dimensions else vector
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


# --------------------------------------------------------------------------- model facts


class TagEntry(NamedTuple):
    """One ``/api/tags`` model: name, digest (the ``/api/show`` cache key) and its facts."""

    name: str
    digest: str
    facts: ServerFacts


def _capability_facts(caps: Sequence[str]) -> ServerFacts:
    flags = dict.fromkeys(("chat", "completion", "embeddings", "tools", "vision", "thinking"), False)
    for cap in caps:
        for key in CAPABILITY_FIELDS.get(cap, ()):
            flags[key] = True
    kind = "embeddings" if flags["embeddings"] and not flags["chat"] else "vlm" if flags["vision"] else "llm"
    return {"capabilities": flags, "model_type": kind}


def _entry_facts(entry: Mapping[str, Any]) -> ServerFacts:
    details = entry.get("details") or {}
    facts: ServerFacts = {}
    if details.get("family"):
        facts["family"] = str(details["family"])
    if details.get("parameter_size"):
        facts["parameter_size"] = str(details["parameter_size"])
    if details.get("quantization_level"):
        facts["quantization"] = str(details["quantization_level"])
    if _int(details.get("context_length")):
        facts["context_length"] = details["context_length"]
    if isinstance(entry.get("capabilities"), list):
        facts.update(_capability_facts(entry["capabilities"]))
    return facts


def _name(entry: Mapping[str, Any]) -> str:
    return str(entry.get("name") or entry["model"])


def facts_from_tags(data: Mapping[str, Any]) -> list[TagEntry]:
    """``/api/tags`` -> one entry per installed model, in server order.

    >>> facts_from_tags({"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189,
    ...     "digest": "a80c", "details": {"family": "llama", "parameter_size": "3.2B",
    ...     "quantization_level": "Q4_K_M"}}]})[0].facts["quantization"]
    'Q4_K_M'
    """
    out = []
    for entry in data["models"] or ():
        facts = _entry_facts(entry)
        if _int(entry.get("size")):
            facts["size_bytes"] = entry["size"]
        out.append(TagEntry(_name(entry), str(entry.get("digest") or ""), facts))
    return out


_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)


def facts_from_show(data: Mapping[str, Any]) -> ServerFacts:
    """``/api/show`` -> trained context, parameter count, capabilities, Modelfile ``num_ctx``."""
    facts = _entry_facts(data)
    info = data.get("model_info") or {}
    arch = info.get("general.architecture")
    if arch:
        facts.setdefault("family", str(arch))
        if _int(info.get(f"{arch}.context_length")):
            facts["context_length"] = info[f"{arch}.context_length"]
    if _int(info.get("general.parameter_count")):
        facts["parameter_count"] = info["general.parameter_count"]
    if m := _NUM_CTX.search(str(data.get("parameters") or "")):
        facts["default_context_length"] = int(m.group(1))
    if "capabilities" not in facts and (data.get("projector_info") or
                                        "clip" in ((data.get("details") or {}).get("families") or ())):
        facts["capabilities"] = {"vision": True}  # pre-0.6.4 server: only the projector says so
    return facts


def facts_from_ps(data: Mapping[str, Any]) -> dict[str, ServerFacts]:
    """``/api/ps`` -> loaded models by name, with the allocated context when the server says."""
    out: dict[str, ServerFacts] = {}
    for entry in data["models"] or ():
        facts: ServerFacts = {"loaded": True}
        if _int(entry.get("context_length")):
            facts["loaded_context_length"] = entry["context_length"]
        out[_name(entry)] = facts
    return out


def merge_facts(tag: TagEntry, show: ServerFacts | None, ps: ServerFacts | None) -> ServerFacts:
    """One model's facts: tags < show; loaded state from ps."""
    facts: ServerFacts = {**tag.facts, **(show or {})}
    facts.update(ps or {"loaded": False})
    facts["name"] = tag.name
    return facts


def _version(data: Mapping[str, Any]) -> str:
    return str(data["version"])


def _done_reason(data: Mapping[str, Any]) -> str | None:
    return data.get("done_reason")


def _image_error(url: str, err: LocalProviderError) -> ConfigurationError:
    return ConfigurationError(f"cannot fetch image {redact(url)[:120]}: {err.message}",
                              hint="check the image URL or pass base64 image data", model=err.model)


def _classify_fetch(status: int | None, body: Any) -> LocalProviderError:
    return ConfigurationError(f"the image URL answered HTTP {status}", status_code=status)


class OllamaBackend:
    """One Ollama server (``Backend`` protocol of ``backends/base.py``).

    Beyond chat/stream/embed/facts: ``version()``, ``load(model)``/``unload(model)`` (empty-message
    chat requests with ``keep_alive``), all with ``a``-prefixed async twins. No I/O in ``__init__``.
    """

    kind = ProviderKind.OLLAMA

    def __init__(self, base_url: str, transport: Transport, settings: LocalSettings | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.settings = settings or transport.settings
        self.load_state: LoadState | None = None  # the catalogue's, set by the provider
        self.legacy_embeddings = False  # set once /api/embed answered 404 page not found
        self._shows: dict[str, ServerFacts] = {}  # /api/show facts by digest
        self._contexts: dict[tuple[Any, ...], CallContext] = {}  # see _ctx

    def __repr__(self) -> str:
        return f"OllamaBackend({redact(self.base_url)!r})"

    # -- contexts ------------------------------------------------------------------------
    def is_loaded(self, model: str | None) -> bool:
        """Whether the catalogue knows ``model`` to be resident (unknown: no)."""
        return self.load_state is not None and self.load_state.is_loaded(model) is True

    def _ctx(self, model: str | None, kind: TimeoutKind = "normal", read: float | None = None,
             retries: int | None = None) -> CallContext:
        """The call context, reused while the settings it is built from are unchanged (building one
        costs a few µs per call: timeouts, auth headers). Nothing mutates a ``CallContext``."""
        s = self.transport.settings
        read = read_timeout(s, kind, read)
        key = (model, kind, read, retries, s.connect_timeout, s.read_timeout, s.cold_load_timeout, s.probe_timeout,
               s.max_retries, s.api_key, s.credentials.get(self.base_url))
        ctx = self._contexts.get(key)
        if ctx is None:
            if len(self._contexts) >= 256:
                self._contexts.clear()
            ctx = self._contexts[key] = self.transport.context(
                self.base_url, partial(classify_error, model=model), model=model, kind=kind, read=read,
                unreachable_hint=UNREACHABLE_HINT, retries=retries)
        return ctx

    def _model_ctx(self, model: str | None, read: float | None = None, retries: int | None = None) -> CallContext:
        return self._ctx(model, "normal" if self.is_loaded(model) else "cold", read, retries)

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _mark(self, model: str, loaded: bool) -> None:
        if self.load_state is not None:
            self.load_state.mark(model, loaded)

    # -- images (http(s) URLs fetched client-side through the transport) -------------------
    def _image_ctx(self, url: str, request: ChatRequest) -> CallContext:
        parts = urlsplit(url)
        return self.transport.context(f"{parts.scheme}://{parts.netloc}", _classify_fetch, model=request.model,
                                      read=request.timeout, unreachable_hint="check the image URL", retries=0)

    def _fetch_images(self, request: ChatRequest) -> dict[str, str]:
        out = {}
        for url in image_urls(request):
            try:
                out[url] = base64.b64encode(self.transport.get_bytes(self._image_ctx(url, request), url)).decode()
            except LocalProviderError as err:
                raise _image_error(url, err) from err
        return out

    async def _afetch_images(self, request: ChatRequest) -> dict[str, str]:
        out = {}
        for url in image_urls(request):
            try:
                data = await self.transport.aget_bytes(self._image_ctx(url, request), url)
            except LocalProviderError as err:
                raise _image_error(url, err) from err
            out[url] = base64.b64encode(data).decode()
        return out

    # -- chat ----------------------------------------------------------------------------
    def _prepare(self, request: ChatRequest, stream: bool,
                 images: dict[str, str]) -> tuple[CallContext, dict[str, Any], ForcedTool | None]:
        body = to_wire(request, stream, keep_alive=self.settings.keep_alive, images=images)
        return self._model_ctx(request.model, request.timeout, request.max_retries), body, forced_tool(request)

    def _parse(self, request: ChatRequest, forced: ForcedTool | None) -> Callable[[Any], ChatResult]:
        return partial(from_wire, model=request.model, service=self.base_url, forced=forced)

    def chat(self, request: ChatRequest) -> ChatResult:
        """One reply; an empty ``done_reason:"load"`` reply is resent once."""
        ctx, body, forced = self._prepare(request, False, self._fetch_images(request))
        try:
            return self.transport.request(ctx, "POST", self._url("/api/chat"), body, self._parse(request, forced))
        except ModelLoadedReply:
            return self.transport.request(ctx, "POST", self._url("/api/chat"), body, self._parse(request, forced))

    async def achat(self, request: ChatRequest) -> ChatResult:
        ctx, body, forced = self._prepare(request, False, await self._afetch_images(request))
        try:
            return await self.transport.arequest(ctx, "POST", self._url("/api/chat"), body,
                                                 self._parse(request, forced))
        except ModelLoadedReply:
            return await self.transport.arequest(ctx, "POST", self._url("/api/chat"), body,
                                                 self._parse(request, forced))

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """NDJSON deltas; the last chunk carries finish_reason, usage and metrics."""
        ctx, body, forced = self._prepare(request, True, self._fetch_images(request))
        for attempt in range(2):  # a "load" reply comes before any chunk, so resending is safe
            parser = OllamaChatStream(request.model, self.base_url, forced)
            try:
                yield from self.transport.stream(ctx, self._url("/api/chat"), body, parser)
                return
            except ModelLoadedReply:
                if attempt:
                    raise

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        ctx, body, forced = self._prepare(request, True, await self._afetch_images(request))
        for attempt in range(2):
            parser = OllamaChatStream(request.model, self.base_url, forced)
            try:
                async for chunk in self.transport.astream(ctx, self._url("/api/chat"), body, parser):
                    yield chunk
                return
            except ModelLoadedReply:
                if attempt:
                    raise

    # -- embeddings ----------------------------------------------------------------------
    def _embed_plan(self, texts: list[str], model: str, opts: dict[str, Any]
                    ) -> tuple[CallContext, list[tuple[str, dict[str, Any], Callable[[Any], Any]]]]:
        """The requests of one embed call: one /api/embed request with every text (batching is the
        caller's, ``patinox_core.embedding``), or one legacy request per text."""
        unknown = sorted(set(opts) - set(EMBED_OPTIONS))
        if unknown:
            raise ConfigurationError(f"unknown embedding option(s) {unknown}", hint=f"use {', '.join(EMBED_OPTIONS)}")
        ctx = self._model_ctx(model, opts.get("timeout"), opts.get("max_retries"))
        alive = opts.get("keep_alive", self.settings.keep_alive)
        if self.legacy_embeddings:
            parse = partial(legacy_embed_from_wire, dimensions=opts.get("dimensions"))
            return ctx, [(self._url("/api/embeddings"),
                          legacy_embed_to_wire(t, model, keep_alive=alive, options=opts.get("options")), parse)
                         for t in texts]
        return ctx, [(self._url("/api/embed"),
                      embed_to_wire(texts, model, dimensions=opts.get("dimensions"), truncate=opts.get("truncate"),
                                    keep_alive=alive, options=opts.get("options")),
                      partial(embed_from_wire, expected=len(texts), model=model, service=self.base_url))]

    def _embed_result(self, replies: list[Any], model: str) -> EmbeddingResult:
        if self.legacy_embeddings:
            return EmbeddingResult(replies, model=model, service=self.base_url)
        return replies[0]

    def embed(self, texts: Sequence[str], model: str, **opts: Any) -> EmbeddingResult:
        """Vectors in input order (L2-normalised). Options: dimensions, truncate, keep_alive, options,
        timeout, max_retries. Falls back to legacy ``/api/embeddings`` on servers without ``/api/embed``."""
        texts = list(texts)
        if not texts:
            return EmbeddingResult([], model=model, service=self.base_url)
        for _ in range(2):
            ctx, plan = self._embed_plan(texts, model, opts)
            try:
                return self._embed_result([self.transport.request(ctx, "POST", u, b, p) for u, b, p in plan], model)
            except EndpointNotFoundError:
                if self.legacy_embeddings:
                    raise
                self.legacy_embeddings = True
        raise AssertionError("unreachable")  # pragma: no cover

    async def aembed(self, texts: Sequence[str], model: str, **opts: Any) -> EmbeddingResult:
        texts = list(texts)
        if not texts:
            return EmbeddingResult([], model=model, service=self.base_url)
        for _ in range(2):
            ctx, plan = self._embed_plan(texts, model, opts)
            try:
                return self._embed_result([await self.transport.arequest(ctx, "POST", u, b, p) for u, b, p in plan],
                                          model)
            except EndpointNotFoundError:
                if self.legacy_embeddings:
                    raise
                self.legacy_embeddings = True
        raise AssertionError("unreachable")  # pragma: no cover

    # -- model facts ---------------------------------------------------------------------
    def _facts(self, tags: list[TagEntry], ps: dict[str, ServerFacts]) -> list[ServerFacts]:
        self._shows = {k: v for k, v in self._shows.items() if k in {t.digest or t.name for t in tags}}
        facts = [merge_facts(t, self._shows.get(t.digest or t.name), ps.get(t.name)) for t in tags]
        listed = {t.name for t in tags}
        return facts + [ServerFacts(**f, name=n) for n, f in ps.items() if n not in listed]

    def _missing_shows(self, tags: list[TagEntry]) -> list[TagEntry]:
        return [t for t in tags if (t.digest or t.name) not in self._shows]

    def list_model_facts(self) -> list[ServerFacts]:
        """/api/tags, /api/ps, then /api/show per model not seen before (cached by digest), in that
        order (load state from /api/ps goes to the catalogue with the facts)."""
        ctx = self._ctx(None)
        tags = self.transport.request(ctx, "GET", self._url("/api/tags"), parse=facts_from_tags)
        ps = self.transport.request(ctx, "GET", self._url("/api/ps"), parse=facts_from_ps)
        for t in self._missing_shows(tags):
            try:
                self._shows[t.digest or t.name] = self.transport.request(
                    self._ctx(t.name), "POST", self._url("/api/show"), {"model": t.name}, facts_from_show)
            except ModelNotFoundError:
                continue  # deleted between the two calls
        return self._facts(tags, ps)

    async def alist_model_facts(self) -> list[ServerFacts]:
        ctx = self._ctx(None)
        tags = await self.transport.arequest(ctx, "GET", self._url("/api/tags"), parse=facts_from_tags)
        ps = await self.transport.arequest(ctx, "GET", self._url("/api/ps"), parse=facts_from_ps)
        for t in self._missing_shows(tags):
            try:
                self._shows[t.digest or t.name] = await self.transport.arequest(
                    self._ctx(t.name), "POST", self._url("/api/show"), {"model": t.name}, facts_from_show)
            except ModelNotFoundError:
                continue
        return self._facts(tags, ps)

    # -- server --------------------------------------------------------------------------
    def version(self) -> str:
        """The server's version string (``GET /api/version``)."""
        return self.transport.request(self._ctx(None), "GET", self._url("/api/version"), parse=_version)

    async def aversion(self) -> str:
        return await self.transport.arequest(self._ctx(None), "GET", self._url("/api/version"), parse=_version)

    def _load_body(self, model: str, keep_alive: str | int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": [], "stream": False}
        alive = keep_alive if keep_alive is not None else self.settings.keep_alive
        if alive is not None:
            body["keep_alive"] = alive
        return body

    def load(self, model: str, keep_alive: str | int | None = None) -> None:
        """Load ``model`` into memory (empty chat request; cold-load timeout)."""
        self.transport.request(self._ctx(model, "cold"), "POST", self._url("/api/chat"),
                               self._load_body(model, keep_alive), _done_reason)
        self._mark(model, True)

    async def aload(self, model: str, keep_alive: str | int | None = None) -> None:
        await self.transport.arequest(self._ctx(model, "cold"), "POST", self._url("/api/chat"),
                                      self._load_body(model, keep_alive), _done_reason)
        self._mark(model, True)

    def unload(self, model: str) -> None:
        """Unload ``model`` now (empty chat request with ``keep_alive: 0``)."""
        self.transport.request(self._ctx(model), "POST", self._url("/api/chat"), self._load_body(model, 0),
                               _done_reason)
        self._mark(model, False)

    async def aunload(self, model: str) -> None:
        await self.transport.arequest(self._ctx(model), "POST", self._url("/api/chat"), self._load_body(model, 0),
                                      _done_reason)
        self._mark(model, False)


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
