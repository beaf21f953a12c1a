"""Pure classification of OpenAI-compatible error replies: the message of every error envelope these
servers use, summarised to one line without file paths, and mapped to the error tree. Total: any
status and any body give a ``LocalProviderError``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import (
    CapabilityError,
    ConfigurationError,
    ContextOverflowError,
    LocalProviderError,
    ModelNotFoundError,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)

_TRACEBACK = "Traceback (most recent call last)"
_POSIX_PATH = re.compile(r"(?<![\w:/.])(?:/[\w.@+-]+){2,}")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s\"']+")


def summarize_server_message(text: Any, limit: int = 200) -> str:
    """One line of a server's error message: the exception line of a traceback, else the first line;
    file paths hidden; at most ``limit`` characters.

    >>> summarize_server_message('Traceback (most recent call last):\\n  File "/srv/x.py", line 3\\nValueError: bad')
    'ValueError: bad'
    >>> summarize_server_message("Failed to load /home/me/models/x.gguf\\nmore")
    'Failed to load <path>'
    >>> len(summarize_server_message("x" * 500))
    200
    """
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    if not lines:
        return ""
    line = lines[-1] if any(ln.startswith(_TRACEBACK) for ln in lines) else lines[0]
    line = _WINDOWS_PATH.sub("<path>", _POSIX_PATH.sub("<path>", line))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def error_fields(body: Any) -> tuple[str, str, str]:
    """(message, type, code) from every error envelope OpenAI-compatible servers use.

    >>> error_fields({"error": {"message": "m", "type": "t", "code": 404}}), error_fields({"error": "s"})
    (('m', 't', '404'), ('s', '', ''))
    >>> error_fields({"detail": [{"loc": ["body", "messages"], "msg": "field required"}]})
    ('body.messages: field required', '', '')
    >>> error_fields({"object": "error", "message": "bad", "type": "BadRequestError", "code": 400})
    ('bad', 'BadRequestError', '400')
    """
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            message = err.get("message") or err.get("msg") or ""
            return str(message), str(err.get("type") or ""), str(err.get("code") or "")
        if err:
            return str(err), "", ""
        detail = body.get("detail")
        if isinstance(detail, list):
            parts = [f"{'.'.join(str(p) for p in d.get('loc', ()))}: {d.get('msg', '')}" if isinstance(d, Mapping)
                     else str(d) for d in detail[:3]]
            return "; ".join(parts), "", ""
        if detail:
            return str(detail), "", ""
        return str(body.get("message") or ""), str(body.get("type") or ""), str(body.get("code") or "")
    return str(body or ""), "", ""


_CONTEXT = re.compile(r"context.length|maximum context|context window|exceeds the context|too many tokens|"
                      r"longer than the model|context size|"
                      r"tokens \+ `?max_new_tokens`? must be <=|`?inputs`? must have less than \d+ tokens", re.I)  # TGI
_NOT_FOUND = re.compile(r"model .*(not found|does not exist)|invalid model|unknown model|no such model", re.I)
_CAPABILITY = re.compile(r"does not support|not supported|embedding=True|not embedding|embeddings? (are|is) not", re.I)


def classify_error(status: int | None, body: Any) -> LocalProviderError:
    """An error reply (any status, or an in-stream error with ``status=None``) to the error tree.

    >>> classify_error(400, {"error": {"message": "too long", "code": "context_length_exceeded"}}).recovery.value
    'reduce_input'
    >>> type(classify_error(200, {"error": "Unexpected endpoint or method. (GET /)"})).__name__
    'CapabilityError'
    >>> type(classify_error(422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
    ...                                    "4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`",
    ...                           "error_type": "validation"})).__name__
    'ContextOverflowError'
    >>> classify_error(500, {"detail": "Traceback (most recent call last):\\n  File \\"/a/b.py\\"\\nKeyError: 'x'"}
    ...                ).message
    "server error (HTTP 500): KeyError: 'x'"
    """
    message, etype, code = error_fields(body)
    summary = summarize_server_message(message) or f"HTTP {status}"
    where = f"HTTP {status}" if status is not None else "in stream"
    missing = CapabilityError(f"the server does not offer this endpoint ({where}): {summary}",
                              hint="this server lacks that API; use another server",
                              recovery=RecoveryStrategy.FALLBACK)
    if "Unexpected endpoint" in message:
        return missing
    if code == "context_length_exceeded" or _CONTEXT.search(message):
        return ContextOverflowError(f"the input does not fit the model's context: {summary}",
                                    hint="shorten the prompt or load the model with a larger context")
    if _CAPABILITY.search(message) or status == 501 or etype == "not_supported_error":
        return CapabilityError(f"the model or server cannot do this: {summary}",
                               hint="use a model that supports it (for embeddings: an embedding model, or start "
                                    "the server with embeddings enabled)")
    if code == "model_not_found" or _NOT_FOUND.search(message):
        return ModelNotFoundError(f"model not found: {summary}", hint="check the model name against /v1/models")
    if status == 404:
        return missing
    if status in (401, 403):
        return ConfigurationError(f"the server refused the credentials ({where}): {summary}",
                                  hint="set api_key (PATINOX_API_KEY) or put user:pass@ in the URL")
    if status in (408, 504):
        return RequestTimeoutError(f"the server timed out ({where}): {summary}", hint="retry, or raise read_timeout")
    if status == 503:
        return ServiceUnavailableError(f"the server is busy or loading ({where}): {summary}",
                                       hint="retry shortly or use another server")
    if status in (400, 422):
        return ConfigurationError(f"the server rejected the request ({where}): {summary}",
                                  hint="check the request's parameters against this server's API")
    return ServerError(f"server error ({where}): {summary}", hint="retry; if it persists, check the server's logs")


__all__ = ["classify_error", "error_fields", "summarize_server_message"]
