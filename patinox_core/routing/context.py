"""The context guard: will the prompt fit the model's context window, and did the server cut it?

Before sending, ``guard`` estimates the prompt (``estimate_prompt_tokens``) against the model's
effective window (``context_limit``) and, per ``settings.context_guard``, warns
(``ContextWindowWarning``), raises ``ContextOverflowError`` or does nothing. After an Ollama
reply, ``truncation_warning`` says when the server evaluated far fewer tokens than were sent.
"""

from __future__ import annotations

import json
import logging
import math
import warnings

from ..capabilities import ModelInfo
from ..config import LocalSettings
from ..errors import ContextOverflowError
from ..kinds import spec_for_kind
from ..types import ChatRequest, Usage

log = logging.getLogger("patinox.router")

#: The context guard's estimate: about four characters per token (English prose and code; it
#: undercounts CJK text), plus a few tokens of chat-template overhead per message, plus a flat
#: allowance per image.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
IMAGE_TOKENS = 256


class ContextWindowWarning(UserWarning):
    """The prompt may not fit the model's context window, or the server truncated it."""


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """Rough prompt size in tokens: characters / 4 + per-message overhead + images + tool specs.

    >>> from patinox_core.types import Message
    >>> estimate_prompt_tokens(ChatRequest(model="m", messages=[Message(role="user", content="x" * 400)]))
    104
    """
    chars = 0
    images = 0
    for m in request.messages:
        chars += len(m.content)
        if m.thinking:
            chars += len(m.thinking)
        for tc in m.tool_calls:
            chars += len(tc.name) + len(json.dumps(tc.arguments))
        if m.images:
            images += len(m.images)
    if request.tools:
        chars += len(json.dumps(request.tools))
    return math.ceil(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS * len(request.messages) + IMAGE_TOKENS * images


def context_limit(info: ModelInfo, request: ChatRequest) -> int | None:
    """Tokens the prompt may use: an explicit ``num_ctx`` where a request sets its context (Ollama
    reallocates for it, LM Studio serves it from an instance with that context, up to the trained
    maximum), else the model's effective context."""
    if request.num_ctx and spec_for_kind(info.kind).context_per_request:
        return min(request.num_ctx, info.context_length) if info.context_length else request.num_ctx
    return info.effective_context_length


def overflow_message(info: ModelInfo, estimate: int, limit: int, request: ChatRequest | None = None) -> str:
    """What the server would do with a prompt that does not fit: a server that truncates silently
    (Ollama) refuses instead when the request says ``shift=False``.

    >>> from patinox_core.capabilities import model_info
    >>> from patinox_core.kinds import ProviderKind
    >>> info = model_info({"name": "m"}, service="http://h", kind=ProviderKind.OLLAMA)
    >>> overflow_message(info, 900, 512).split("; ")[1]
    'the server would drop the start of the prompt'
    >>> overflow_message(info, 900, 512, ChatRequest(model="m", messages=[], shift=False)).split("; ")[1]
    'the server would reject the request (HTTP 400)'
    """
    silent = spec_for_kind(info.kind).truncates_prompt and not (request is not None and request.shift is False)
    fate = "the server would drop the start of the prompt" if silent else \
        "the server would reject the request (HTTP 400)"
    return (f"the prompt (about {estimate} tokens, estimated as characters/4) may not fit {info.name}'s "
            f"context of {limit} tokens on {info.service}; {fate}")


def overflow_hint(info: ModelInfo) -> str:
    if spec_for_kind(info.kind).context_per_request:
        top = f" (the model allows up to {info.context_length})" if info.context_length else ""
        return f"shorten the input or raise num_ctx{top}"
    return "shorten the input or load the model with a larger context length"


def truncation_suspected(estimate: int, limit: int | None, input_tokens: int | None,
                         cached_tokens: int | None = None) -> bool:
    """After an Ollama reply: did the server evaluate far fewer prompt tokens than were sent?
    True when the estimate is at least 256 tokens, exceeds the limit (when known) and the server
    counted under half of it (cached tokens included).

    >>> truncation_suspected(20_000, 4096, 4000), truncation_suspected(900, 4096, 850)
    (True, False)
    """
    if input_tokens is None or estimate < 256:
        return False
    seen = input_tokens + (cached_tokens or 0)
    return seen < estimate / 2 and (limit is None or estimate > limit)


def guard(info: ModelInfo, request: ChatRequest, settings: LocalSettings, stacklevel: int = 2) -> int:
    """The prompt's estimated size; warns or raises (``settings.context_guard``) when it may not fit
    ``info``'s context window."""
    estimate = estimate_prompt_tokens(request)
    limit = context_limit(info, request)
    if settings.context_guard != "off" and limit and estimate > limit:
        message = overflow_message(info, estimate, limit, request)
        if settings.context_guard == "raise":
            raise ContextOverflowError(message, hint=overflow_hint(info), model=info.name, service=info.service)
        warnings.warn(f"{message}. {overflow_hint(info)}", ContextWindowWarning, stacklevel=stacklevel + 1)
        log.warning(message)
    return estimate


def truncation_warning(info: ModelInfo, request: ChatRequest, usage: Usage | None, settings: LocalSettings,
                       stacklevel: int = 2) -> None:
    """After a reply from a server that truncates silently (Ollama; the caller checks the kind): warn
    when it probably dropped the start of the prompt."""
    if (usage is None or usage.input_tokens is None or settings.context_guard == "off"  # the cheap tests first
            or request.shift is False):
        return
    estimate = estimate_prompt_tokens(request)
    if estimate < 256 or not truncation_suspected(estimate, context_limit(info, request), usage.input_tokens,
                                usage.cached_input_tokens):
        return
    message = (f"{info.name} on {info.service} evaluated only {usage.input_tokens} prompt tokens of "
               f"about {estimate} sent: the server probably truncated the prompt")
    warnings.warn(f"{message}. {overflow_hint(info)}", ContextWindowWarning, stacklevel=stacklevel + 1)
    log.warning(message)


__all__ = [
    "CHARS_PER_TOKEN",
    "ContextWindowWarning",
    "context_limit",
    "estimate_prompt_tokens",
    "guard",
    "overflow_hint",
    "overflow_message",
    "truncation_suspected",
    "truncation_warning",
]
