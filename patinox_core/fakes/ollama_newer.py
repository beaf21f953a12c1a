"""What ``FakeOllamaServer`` adds for newer Ollama servers, kept apart from the core routes:

* ``truncate`` / ``shift`` on ``/api/chat`` (>= 0.12.6): when the prompt does not fit the context
  (``options.num_ctx``, else the model's allocated context), ``truncate`` (default on) drops
  messages from the front, keeping system messages and the last message; what still does not fit
  is shifted silently (default) or, with ``shift: false``, refused with Ollama's 400 text.
* ``logprobs`` / ``top_logprobs`` (>= 0.12.11): one entry per generated token, ``{token, logprob,
  bytes, top_logprobs}``, top-level in the reply and on each streamed line; ``top_logprobs`` outside
  0..20 is Ollama's 400.
* ``/v1/responses`` (>= 0.13.3) and ``/v1/messages`` (>= 0.14.0), non-streaming (``compat_api.py``).

Semantics from Ollama's ``api/types.go`` (field comments), ``server/prompt.go`` (front truncation,
system messages kept, last message always kept) and ``llm/llama_server.go`` (the error text).
"""

from __future__ import annotations

import re
from typing import Any

from ._http import FakeRequest, Reply
from .compat_api import (
    MESSAGES_PATH,
    RESPONSES_PATH,
    STREAM_UNSUPPORTED,
    anthropic_error,
    messages_reply,
    responses_reply,
    token_logprobs,
)

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

PROMPT_TOO_LONG = ("the prompt is longer than the context length currently available to the model; shorten the "
                   "prompt, adjust the context length in settings, or use a model with a longer context length")
_TOKEN = re.compile(r"\S+\s*|\s+")


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The fake's prompt size: words of each message's content plus 4 per message.

    >>> prompt_tokens([{"role": "user", "content": "The sky is blue."}])
    8
    """
    return sum(len(_TOKEN.findall(str(m.get("content") or ""))) + 4 for m in messages)


def fit_messages(messages: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Ollama's chat truncation: drop the oldest non-system messages until the prompt fits ``limit``;
    system messages and the last message always stay.

    >>> msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one two three four"},
    ...         {"role": "assistant", "content": "five"}, {"role": "user", "content": "six"}]
    >>> [m["content"] for m in fit_messages(msgs, 16)]
    ['Be brief.', 'five', 'six']
    """
    kept = list(messages)
    while prompt_tokens(kept) > limit:
        drop = next((i for i, m in enumerate(kept[:-1]) if m.get("role") != "system"), None)
        if drop is None:
            break
        del kept[drop]
    return kept


class NewerOllamaRoutes:
    """Mixed into ``FakeOllamaServer``; relies on its ``has``, ``find``, ``_body`` and ``_model_or_404``."""

    def has(self, min_version: str) -> bool:  # provided by FakeOllamaServer
        raise NotImplementedError

    def _body(self, request: FakeRequest) -> tuple[dict[str, Any], Reply | None]:
        raise NotImplementedError

    def _model_or_404(self, body: dict[str, Any], legacy: bool = False) -> tuple[Any, Reply | None]:
        raise NotImplementedError

    def newer_routes(self) -> dict[tuple[str, str], Any]:
        routes: dict[tuple[str, str], Any] = {}
        if self.has("0.13.3"):
            routes[("POST", RESPONSES_PATH)] = self._compat
        if self.has("0.14.0"):
            routes[("POST", MESSAGES_PATH)] = self._compat
        return routes

    def _compat(self, request: FakeRequest) -> Reply:
        body, err = self._body(request)
        model, err = (None, err) if err else self._model_or_404(body)
        anthropic = request.path == MESSAGES_PATH
        if model is None or body.get("stream"):
            status, text = (err.status, str(err.body["error"])) if err is not None else (400, STREAM_UNSUPPORTED)
            return Reply(status=status, body=anthropic_error(text) if anthropic else {
                "error": {"message": text, "type": "invalid_request_error", "param": None, "code": None}})
        text = model.reply([]) if callable(model.reply) else model.reply
        if anthropic:
            return Reply(body=messages_reply(model.name, text, body))
        return Reply(body=responses_reply(model.name, text, body, 1750505643))

    def fit_context(self, body: dict[str, Any], model: Any) -> tuple[dict[str, Any], Reply | None]:
        """``body`` with its messages truncated as Ollama would, or the 400 of ``shift: false``."""
        if not self.has("0.12.6"):
            return body, None
        limit = ((body.get("options") or {}).get("num_ctx") or model.loaded_context_length) - 1
        messages = body.get("messages") or []
        if body.get("truncate") is not False:
            messages = fit_messages(messages, limit)
        if prompt_tokens(messages) > limit and body.get("shift") is False:
            return body, Reply(status=400, body={"error": PROMPT_TOO_LONG})
        return {**body, "messages": messages}, None

    def logprobs_check(self, body: dict[str, Any]) -> Reply | None:
        top = body.get("top_logprobs")
        if self.has("0.12.11") and top is not None and not (isinstance(top, int) and 0 <= top <= 20):
            return Reply(status=400, body={"error": "top_logprobs must be between 0 and 20"})
        return None

    def add_logprobs(self, body: dict[str, Any], reply: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        """Logprob entries on the final non-stream ``reply``, or on each streamed content line."""
        if not (self.has("0.12.11") and body.get("logprobs")):
            return
        top = body.get("top_logprobs") or 0
        if not lines:
            reply["logprobs"] = token_logprobs(str(reply.get("message", {}).get("content") or ""), top)
            return
        seen = 0
        for line in lines:
            content = str(line.get("message", {}).get("content") or "")
            if content:
                line["logprobs"] = token_logprobs(content, top, seen)
                seen += len(line["logprobs"])


__all__ = ["NewerOllamaRoutes", "PROMPT_TOO_LONG", "fit_messages", "prompt_tokens"]
