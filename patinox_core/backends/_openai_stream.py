"""Pure parsing of ``/v1/chat/completions`` SSE streams: lines, tool-call fragments, the final chunk.

No I/O here; ``openai_compat.py`` feeds it the lines it reads. Lenient in what it reads: tool
calls with or without ``index``, an error object sent as plain JSON lines in place of events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidResponseError
from ..json_codec import loads
from ..limits import SSE_JUNK_LIMIT
from ..types import ChatChunk, InvalidToolCall, Metrics, ToolCall, Usage
from ._openai_wire import cached_from_timings, finish_from_wire, metrics_from_wire, usage_from_wire, with_cached
from .base import ErrorPayload, stream_stopped_error
from .forced_tools import ForcedTool, forced_call
from .logprobs import logprobs_from_wire
from .malformed import MalformedReply, as_mapping, optional_list, optional_mapping, optional_text, text_or_none
from .openai_errors import summarize_server_message
from .think import ThinkSplitter
from .tool_args import parse_tool_call, split_calls


def parse_sse_line(line: str) -> tuple[str, Any] | None:
    """One line of a ``text/event-stream`` body: ``("data", obj)``, ``("done", None)``,
    ``("event", name)``, ``("raw", text)`` for a non-SSE line, or ``None`` to skip.

    >>> parse_sse_line('data: {"choices": []}')
    ('data', {'choices': []})
    >>> parse_sse_line('data:{"a":1}'), parse_sse_line('data: [DONE]')
    (('data', {'a': 1}), ('done', None))
    >>> parse_sse_line(''), parse_sse_line(': keep-alive'), parse_sse_line('id: 7'), parse_sse_line('retry: 100')
    (None, None, None, None)
    >>> parse_sse_line('event: error')
    ('event', 'error')
    >>> parse_sse_line('{"error":"No models loaded."}')
    ('raw', '{"error":"No models loaded."}')
    >>> parse_sse_line('data: {"trunc')
    Traceback (most recent call last):
    patinox_core.backends.malformed.MalformedReply: unreadable SSE data: '{"trunc'
    """
    line = line.rstrip("\r\n")
    if not line or line.startswith(":"):
        return None
    field, sep, value = line.partition(":")
    if not sep or field not in ("data", "event", "id", "retry"):
        return ("raw", line)
    value = value[1:] if value.startswith(" ") else value
    if field == "event":
        return ("event", value.strip())
    if field != "data":
        return None
    if value.strip() == "[DONE]":
        return ("done", None)
    try:
        return ("data", loads(value))
    except ValueError:
        raise MalformedReply(f"unreadable SSE data: {value[:80]!r}") from None


def _not_sse(what: str) -> InvalidResponseError:
    return InvalidResponseError(f"the stream is not SSE: {what}",
                                hint="something other than the model server answered (a proxy page?); check the URL")


class _ToolCallAccumulator:
    """Streamed tool-call fragments, merged by ``index``; name and id come from the first delta."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, Any]] = {}

    def add(self, delta: Any) -> None:
        delta = as_mapping(delta, "a tool-call delta")
        index, call_id = delta.get("index"), text_or_none(delta.get("id"))
        if not isinstance(index, int) or isinstance(index, bool):  # old Ollama /v1: no index; a new id
            # starts a call, no id continues the last
            known = [i for i, c in self.calls.items() if c["id"] == call_id] if call_id else []
            index = known[0] if known else (len(self.calls) if call_id or not self.calls else max(self.calls))
        fn = optional_mapping(delta.get("function") or None, "a tool-call delta's function")
        name = text_or_none(fn.get("name")) or ""
        entry = self.calls.get(index)
        if entry is None:
            entry = self.calls[index] = {"id": call_id, "name": name, "args": []}
        else:  # repeated name/id on later deltas (llama-cpp-python) are ignored
            entry["name"] = entry["name"] or name
            entry["id"] = entry["id"] or call_id
        args = fn.get("arguments")
        if isinstance(args, Mapping):
            entry["args"] = [json.dumps(args)]
        elif args:
            entry["args"].append(optional_text(args, "tool-call arguments"))

    def finish(self, *, truncated: bool) -> tuple[list[ToolCall], list[InvalidToolCall]]:
        return split_calls([parse_tool_call("".join(c["args"]), c["name"], position, call_id=c["id"],
                                            truncated=truncated)
                            for position, (_, c) in enumerate(sorted(self.calls.items()))])


class OpenAIChatStream:
    """``StreamParser`` for ``/v1/chat/completions`` SSE: deltas out as they come, complete tool calls
    and the totals on the final chunk (at ``[DONE]``, or at end of body after a ``finish_reason``).
    ``usage`` on the final chunk is ``None`` when the server sent no usage chunk. With ``forced``
    (a call forced through JSON output) content is held back and becomes that call at the end."""

    def __init__(self, model: str | None, *, service: str | None = None, forced: ForcedTool | None = None,
                 think_open: bool = False, load_s: float | None = None) -> None:
        self.t0 = time.perf_counter()
        self.load_s = load_s  # a load the client made for this request (LM Studio num_ctx), in seconds
        self.forced = forced
        self.forced_text: list[str] = []
        self.model = model
        self.service = service
        self.finish_reason: Any = None
        self.usage: Usage | None = None
        self.metrics = Metrics()
        self.cached: int | None = None  # llama-server timings.cache_n
        self.first_token_at: float | None = None
        self.done = False
        self.seen_data = False
        self.ended_early = False  # the body ended cleanly, between events, before a finish reason
        self.stray: list[str] = []
        self.stray_size = 0
        self.tools = _ToolCallAccumulator()
        self.think = ThinkSplitter(maybe_open=think_open)  # think_open: reasoning was asked for
        self.logprobs: list[dict[str, Any]] | None = None  # not yet handed out with a chunk

    def feed(self, line: str) -> list[ChatChunk]:
        parsed = parse_sse_line(line)
        if parsed is None or self.done:
            return []
        kind, value = parsed
        if kind == "raw":
            return self._raw(value)
        if kind == "done":
            return self._final()
        if kind != "data":
            return []
        if isinstance(value, Mapping) and (value.get("error") or value.get("object") == "error"):
            raise ErrorPayload(dict(value))
        self.seen_data = True
        return self._data(as_mapping(value, "an SSE data event"))

    def _raw(self, text: str) -> list[ChatChunk]:
        """A non-SSE line: an error object sent as plain JSON (maybe pretty-printed over lines). Anything
        else (an HTML page from a proxy) fails at once; a JSON object fails past ``SSE_JUNK_LIMIT``."""
        if not self.stray and not text.lstrip().startswith(("{", "[")):
            raise _not_sse(f"got a non-SSE line {text[:80]!r}")
        self.stray.append(text)
        self.stray_size += len(text)
        if self.stray_size > SSE_JUNK_LIMIT:
            raise _not_sse(f"{self.stray_size} characters of non-SSE lines, starting {self.stray[0][:80]!r}")
        if not text.rstrip().endswith(("}", "]")):  # cannot close the object: no need to re-parse
            return []
        try:
            value = loads("\n".join(self.stray))
        except ValueError:
            return []
        self.stray.clear()
        self.stray_size = 0
        if isinstance(value, Mapping) and value.get("error"):
            raise ErrorPayload(dict(value))
        raise MalformedReply(f"unexpected non-SSE line in the stream: {text[:80]!r}")

    def _data(self, obj: Mapping[str, Any]) -> list[ChatChunk]:
        if obj.get("usage"):
            self.usage = usage_from_wire(obj["usage"])
        if obj.get("timings") or obj.get("stats"):
            self.metrics = metrics_from_wire(obj)
            self.cached = cached_from_timings(obj)
        self.model = text_or_none(obj.get("model")) or self.model
        content, thinking = [], []
        for raw in optional_list(obj.get("choices") or None, "choices"):
            choice = as_mapping(raw, "a choice")
            delta = optional_mapping(choice.get("delta") or None, "a choice's delta")
            piece = optional_text(delta.get("content") or choice.get("text") or None, "delta.content")
            if self.forced is not None and piece:
                self.forced_text.append(piece)
                self._mark_first()
                text, tagged = "", ""
            else:  # "text": a /v1/completions stream
                text, tagged = self.think.feed(piece)
            reasoning = optional_text(delta.get("reasoning_content") or delta.get("reasoning") or None,
                                      "delta.reasoning")
            if reasoning:  # the server splits the reasoning off: nothing held back is thinking
                held, held_thinking = self.think.decide()
                text, tagged = held + text, held_thinking + tagged
            content.append(text)
            if (entries := logprobs_from_wire(choice.get("logprobs"))) is not None:
                self.logprobs = [*(self.logprobs or []), *entries]
            thinking.append(reasoning + tagged)
            for call in optional_list(delta.get("tool_calls") or None, "delta.tool_calls"):
                self.tools.add(call)
                self._mark_first()
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        out = [c for c in (ChatChunk(content="".join(content), thinking="".join(thinking)),)
               if c.content or c.thinking]
        if out:
            self._mark_first()
            out[0].logprobs, self.logprobs = self.logprobs, None
        return out

    def _mark_first(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def _final(self) -> list[ChatChunk]:
        self.done = True
        now = time.perf_counter()
        truncated = self.finish_reason == "length"
        calls, invalid = self.tools.finish(truncated=truncated)
        content, thinking = self.think.flush()
        if self.forced is not None and not (calls or invalid):
            calls, invalid = split_calls([forced_call(self.forced, "".join(self.forced_text), truncated=truncated)])
        m = self.metrics
        if m.time_to_first_token_s is None and self.first_token_at is not None:
            m.time_to_first_token_s = self.first_token_at - self.t0
        if m.tokens_per_second is None and self.usage and self.usage.output_tokens and self.first_token_at:
            decode_s = now - self.first_token_at
            m.tokens_per_second = self.usage.output_tokens / decode_s if decode_s > 0 else None
        m.total_duration_s = m.total_duration_s if m.total_duration_s is not None else now - self.t0
        if m.load_duration_s is None:
            m.load_duration_s = self.load_s
        if self.cached is not None:
            self.usage = with_cached(self.usage or Usage(), self.cached)
        return [ChatChunk(content=content, thinking=thinking, tool_calls=calls, invalid_tool_calls=invalid,
                          finish_reason=finish_from_wire(self.finish_reason, bool(calls)), usage=self.usage, metrics=m,
                          model=self.model, service=self.service, logprobs=self.logprobs)]

    def close(self) -> list[ChatChunk]:
        if self.done:
            return []
        if self.stray:
            raise InvalidResponseError(f"the server sent a non-SSE body: {summarize_server_message(self.stray[0])}")
        if self.finish_reason is None:
            self.ended_early = True
            raise stream_stopped_error(self.model, self.service)
        return self._final()


__all__ = ["OpenAIChatStream", "parse_sse_line"]
