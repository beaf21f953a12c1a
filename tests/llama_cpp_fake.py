"""``LlamaCppPython``: a scriptable loopback fake of llama-cpp-python 0.3's server.

What it reproduces: ``/v1/models`` with ``owned_by: "me"``; chat replies scripted per test
(``self.message`` / ``self.finish``), streamed as llama-cpp-python streams them (role delta, one
delta per piece, tool-call deltas repeating name and id, no usage chunk); ``/v1/completions`` (a
base model's continuation); ``/v1/embeddings`` that ignore ``dimensions``; ``/api/*`` answering 404
``{"detail": "Not Found"}``; and a context overflow that is HTTP 400 ``context_length_exceeded``
for a plain request but, for a stream, a 200 whose body ends before the first event (the server's
generator fails after the headers went out).
"""

from __future__ import annotations

import json
from typing import Any

from patinox_core.testing import FakeHTTPServer, FakeRequest, Reply, StreamReply

__test__: dict[str, object] = {}  # doctest needs a dict; nothing here is a test

OVERFLOW = {"error": {"message": "Requested tokens (3000) exceed context window of 2048",
                      "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}


class LlamaCppPython(FakeHTTPServer):
    """llama-cpp-python on 127.0.0.1; script ``message``, ``finish``, ``completion``, ``embedding_dim``."""

    server_header = "uvicorn"

    def __init__(self, models: tuple[str, ...] = ("gemma3-270m",)) -> None:
        super().__init__()
        self.models = models
        self.message: dict[str, Any] = {"role": "assistant", "content": "Hello."}
        self.finish = "stop"
        self.completion = " and then the story goes on"
        self.embedding_dim = 640
        self.max_prompt_chars: int | None = None  # longer prompts overflow the context

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        body = request.json or {}
        if request.path == "/v1/models":
            return Reply(body={"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "me", "permissions": []} for m in self.models]})
        if request.path == "/v1/embeddings":
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return Reply(body={"object": "list", "model": body["model"], "data": [
                {"object": "embedding", "index": i, "embedding": [0.5] * self.embedding_dim}
                for i in range(len(texts))], "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        if request.path == "/v1/completions":
            return self._completion(body)
        if request.path != "/v1/chat/completions":
            return Reply(status=404, body={"detail": "Not Found"})
        prompt = "".join(str(m.get("content") or "") for m in body.get("messages") or ())
        if self.max_prompt_chars is not None and len(prompt) > self.max_prompt_chars:
            if body.get("stream"):  # headers sent, then the generator raises: an empty event stream
                return StreamReply(lines=[], content_type="text/event-stream")
            return Reply(status=400, body=OVERFLOW)
        head = {"id": "chatcmpl-1", "created": 1, "model": body["model"]}
        if not body.get("stream"):
            return Reply(body={**head, "object": "chat.completion", "choices": [
                {"index": 0, "message": self.message, "logprobs": None, "finish_reason": self.finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}})
        return StreamReply(lines=self._events(head), content_type="text/event-stream")

    def _events(self, head: dict[str, Any]) -> list[str]:
        deltas: list[dict[str, Any]] = [{"role": "assistant"}]
        text = self.message.get("content") or ""
        deltas += [{"content": text[i:i + 5]} for i in range(0, len(text), 5)]
        for index, call in enumerate(self.message.get("tool_calls") or ()):
            args = call["function"]["arguments"]
            for i in range(0, max(len(args), 1), 4):  # name and id repeated in every delta
                deltas.append({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                               "function": {"name": call["function"]["name"],
                                                            "arguments": args[i:i + 4]}}]})
        choices = [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None} for d in deltas]
        choices.append({"index": 0, "delta": {}, "logprobs": None, "finish_reason": self.finish})
        lines = ["data: " + json.dumps({**head, "object": "chat.completion.chunk", "choices": [c]}) + "\r\n\r\n"
                 for c in choices]
        return [*lines, "data: [DONE]\r\n\r\n"]

    def _completion(self, body: dict[str, Any]) -> Reply | StreamReply:
        head = {"id": "cmpl-1", "created": 1, "model": body["model"]}
        text = self.completion
        if not body.get("stream"):
            return Reply(body={**head, "object": "text_completion", "choices": [
                {"index": 0, "text": text, "logprobs": None, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}})
        pieces = [text[i:i + 6] for i in range(0, len(text), 6)]
        choices = [{"index": 0, "text": p, "logprobs": None, "finish_reason": None} for p in pieces]
        choices.append({"index": 0, "text": "", "logprobs": None, "finish_reason": "length"})
        lines = ["data: " + json.dumps({**head, "object": "text_completion", "choices": [c]}) + "\r\n\r\n"
                 for c in choices]
        return StreamReply(lines=[*lines, "data: [DONE]\r\n\r\n"], content_type="text/event-stream")


def tool_call(name: str, arguments: str, call_id: str = "call__0_get_weather_cmpl-1") -> dict[str, Any]:
    """One wire tool call with raw ``arguments`` text."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


__all__ = ["OVERFLOW", "LlamaCppPython", "tool_call"]
