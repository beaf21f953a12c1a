"""``/v1/completions``: a raw prompt for a base model without a chat template (``ChatRequest.completion``).

llama-cpp-python's chat endpoint answers such a model through a fallback template, which yields an
empty reply; ``/v1/completions`` gives the model's real continuation (as LlamaIndex's ``OpenAILike``
with ``is_chat_model=False`` does). Only the request body is new: replies carry
``choices[].text`` instead of a message, which ``from_wire`` and ``OpenAIChatStream`` read as
content. Pure.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from ..types import ChatRequest

COMPLETIONS_PATH = "/v1/completions"


def completion_to_wire(request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    """The ``/v1/completions`` body: the one user message as ``prompt``, sampling as for chat.

    >>> from patinox_core.types import Message
    >>> completion_to_wire(ChatRequest(model="g", messages=[Message("user", "Once")], max_tokens=8, completion=True))
    {'model': 'g', 'prompt': 'Once', 'stream': False, 'max_tokens': 8}
    """
    if not request.model:
        raise ConfigurationError("no model given for a completion", hint="pass model=… or set default_model")
    if request.response_format is not None:
        raise ConfigurationError("structured output needs the chat endpoint, not a raw completion",
                                 hint="use a chat model (is_chat_model=True) for response_format")
    body: dict[str, Any] = {"model": request.model, "prompt": request.messages[0].content, "stream": stream}
    for key in ("max_tokens", "temperature", "top_p", "top_k", "seed"):  # max_tokens, never max_completion_tokens
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = list(request.stop)
    body.update(request.options)
    return body


__all__ = ["COMPLETIONS_PATH", "completion_to_wire"]
