"""Neutral request/response types shared by every backend and both framework adapters.

Plain slotted dataclasses: cheap to build per stream chunk (the hot path), easy to compare in
tests. Nothing here knows about HTTP, LangChain or LlamaIndex.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigurationError
from .request_checks import check_headers, check_number, check_tools

if TYPE_CHECKING:
    from .capabilities import ModelInfo

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]
ThinkLevel = Literal["low", "medium", "high", "max"]
Think = bool | ThinkLevel | None
ResponseFormat = Literal["json"] | Mapping[str, Any] | None

_THINK_LEVELS = ("low", "medium", "high", "max")


@dataclass(slots=True)
class ToolCall:
    """A complete tool call: ``arguments`` is always a parsed dict."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class InvalidToolCall:
    """A tool call whose arguments are not a JSON object (malformed, or cut off by ``max_tokens``).

    Data, not an exception, as LangChain's ``AIMessage.invalid_tool_calls``: ``arguments`` is the
    raw text the server sent, ``error`` says what is wrong with it and what to do.
    """

    id: str
    name: str
    arguments: str
    error: str


@dataclass(slots=True)
class Message:
    """One chat turn. ``images`` holds base64 strings or http(s)/data URLs."""

    role: Role
    content: str = ""
    images: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    invalid_tool_calls: list[InvalidToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None  # tool name on role="tool" messages, or a participant name
    thinking: str | None = None


@dataclass(slots=True)
class Usage:
    """Token counts; ``None`` means the server did not say (never silently 0). ``reasoning_tokens``
    is the part of ``output_tokens`` spent reasoning, where the server counts it."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.total_tokens is None and self.input_tokens is not None and self.output_tokens is not None:
            self.total_tokens = self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Metrics:
    """Timings in seconds; ``None`` when unknown."""

    time_to_first_token_s: float | None = None
    tokens_per_second: float | None = None
    load_duration_s: float | None = None
    total_duration_s: float | None = None


@dataclass(kw_only=True)  # no slots: ``renamed`` copies the instance dict in one step
class ChatRequest:
    """Everything a chat call can ask for; backends send what their server reads."""

    model: str | None
    messages: list[Message]
    tools: list[dict[str, Any]] | None = None  # OpenAI function specs {"type":"function","function":{...}}
    tool_choice: str | None = None  # "auto" | "none" | "required" | a tool name
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: list[str] | None = None
    response_format: ResponseFormat = None  # None | "json" | a JSON schema dict
    think: Think = None  # None: the model's default; True/False; or an effort level
    keep_alive: str | int | None = None
    num_ctx: int | None = None
    truncate: bool | None = None  # Ollama: drop the oldest turns when the prompt does not fit (server default: on)
    shift: bool | None = None  # Ollama: shift the context when it fills (default: on); False: refuse instead
    logprobs: bool | None = None  # return each output token's log probability
    top_logprobs: int | None = None  # and its 0-20 most likely alternatives (implies logprobs)
    timeout: float | None = None  # per-request read timeout override (seconds)
    max_retries: int | None = None  # per-request override of settings.max_retries
    options: dict[str, Any] = field(default_factory=dict)  # server-specific extras
    completion: bool = False  # the one user message is a raw prompt: /v1/completions (base models)
    session_id: str | None = None  # one conversation's turns go to one server (its prompt cache)
    headers: dict[str, str] | None = None  # extra HTTP headers; the router adds a gateway's affinity header

    def __post_init__(self) -> None:
        if self.think is not None and not isinstance(self.think, bool) and self.think not in _THINK_LEVELS:
            raise ConfigurationError(
                f"think={self.think!r} is not valid", hint='use True, False, "low", "medium", "high" or "max"'
            )
        if self.response_format is not None and self.response_format != "json" and not isinstance(
            self.response_format, Mapping
        ):
            raise ConfigurationError(
                f"response_format={self.response_format!r} is not valid",
                hint='use None, "json" or a JSON schema dict',
            )
        if self.completion and (len(self.messages) != 1 or self.messages[0].role != "user" or self.tools):
            raise ConfigurationError("a completion request is one user message (the prompt) and no tools",
                                     hint="send chat turns or tools as a chat request (completion=False)")
        if self.max_tokens is not None and self.max_tokens <= 0:
            raise ConfigurationError(f"max_tokens={self.max_tokens} must be positive", hint="pass max_tokens >= 1")
        if self.top_logprobs is not None:
            if isinstance(self.top_logprobs, bool) or not isinstance(self.top_logprobs, int) or not (
                    0 <= self.top_logprobs <= 20):
                raise ConfigurationError(f"top_logprobs={self.top_logprobs!r} is not valid",
                                         hint="use a whole number from 0 to 20")
            if self.logprobs is None:
                self.logprobs = True
        check_number("temperature", self.temperature)
        check_number("top_p", self.top_p)
        if self.tools:
            check_tools(self.tools)
        if self.headers:
            check_headers(self.headers)

    def renamed(self, model: str) -> ChatRequest:
        """A shallow copy for the model name ``model`` (the request was checked already: no
        re-validation; ``copy.copy`` costs ten times more).

        >>> req = ChatRequest(model="llama3.2", messages=[], temperature=0.2)
        >>> clone = req.renamed("llama3.2:latest")
        >>> (clone.model, clone.temperature, clone.messages is req.messages, req.model)
        ('llama3.2:latest', 0.2, True, 'llama3.2')
        """
        clone = object.__new__(ChatRequest)
        clone.__dict__ = self.__dict__.copy()
        clone.model = model
        return clone

    @property
    def tool_names(self) -> list[str]:
        return [t.get("function", t).get("name", "") for t in self.tools or ()]

    @property
    def has_images(self) -> bool:
        return any(m.images for m in self.messages)


@dataclass(slots=True)
class ChatResult:
    """A complete reply."""

    message: Message
    finish_reason: FinishReason | None = "stop"
    usage: Usage = field(default_factory=Usage)
    metrics: Metrics = field(default_factory=Metrics)
    model: str | None = None
    service: str | None = None
    raw: dict[str, Any] | None = None  # the server's final JSON object, for debugging
    info: ModelInfo | None = None  # the catalogue entry that answered (kind, context window, capabilities)
    flavor: str | None = None  # the answering server's flavor (an OpenAI-compatible server's family)
    logprobs: list[dict[str, Any]] | None = None  # per output token: token, logprob, bytes, top_logprobs


@dataclass(slots=True)
class ChatChunk:
    """A stream delta. ``tool_calls`` are complete calls (``invalid_tool_calls`` the unparsable
    ones); the last chunk carries the totals."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    invalid_tool_calls: list[InvalidToolCall] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    metrics: Metrics | None = None
    model: str | None = None
    service: str | None = None
    info: ModelInfo | None = None  # on the last chunk: the catalogue entry that answered
    flavor: str | None = None  # on the last chunk: the answering server's flavor
    logprobs: list[dict[str, Any]] | None = None  # this chunk's output tokens (when asked)

    @property
    def is_final(self) -> bool:
        return self.finish_reason is not None


@dataclass(slots=True)
class EmbeddingResult:
    """Vectors in input order."""

    vectors: list[list[float]]
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    dimensions: int | None = None
    service: str | None = None

    def __post_init__(self) -> None:
        if self.dimensions is None and self.vectors:
            self.dimensions = len(self.vectors[0])


def merge_chunks(chunks: list[ChatChunk]) -> ChatResult:
    """Concatenate a stream into the ChatResult a non-stream call would have returned."""
    content, thinking, calls, invalid = [], [], [], []
    logprobs: list[dict[str, Any]] | None = None
    last = ChatChunk()
    for c in chunks:
        content.append(c.content)
        thinking.append(c.thinking)
        calls.extend(c.tool_calls)
        invalid.extend(c.invalid_tool_calls)
        if c.logprobs is not None:
            logprobs = logprobs if logprobs is not None else []
            logprobs.extend(c.logprobs)
        last = c
    msg = Message(role="assistant", content="".join(content), tool_calls=calls, invalid_tool_calls=invalid,
                  thinking="".join(thinking) or None)
    return ChatResult(
        message=msg,
        finish_reason=last.finish_reason,
        usage=last.usage or Usage(),
        metrics=last.metrics or Metrics(),
        model=last.model,
        service=last.service,
        info=last.info,
        flavor=last.flavor,
        logprobs=logprobs,
    )


__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "EmbeddingResult",
    "FinishReason",
    "InvalidToolCall",
    "Message",
    "Metrics",
    "Think",
    "ToolCall",
    "Usage",
    "merge_chunks",
]
