"""Reasoning settings against what one model allows, and thinking combined with structured output.

``ChatRequest.think`` is ``None`` (the model's default), ``True``/``False`` or an effort level
(``"low"``, ``"medium"``, ``"high"``, ``"max"``). What a model allows
(``ModelInfo.reasoning_options``) uses LM Studio's words: ``"on"``, ``"off"`` and the levels; it
comes from the server (LM Studio ``capabilities.reasoning.allowed_options``, Ollama ``/api/show``
``thinking.values``), else from the model's name (gpt-oss: levels only; Qwen3: on/off), else is
unknown and the server decides. Pure functions; ``routing/reasoning.py`` applies them per server.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import CapabilityError
from .json_codec import loads
from .reasoning_options import LEVELS, OPTIONS, allowed_text, options_from_wire
from .types import ChatRequest, ChatResult, Think

if TYPE_CHECKING:
    from .capabilities import ModelInfo
    from .kinds.spec import Quirks

def wants_thinking(request: ChatRequest) -> bool:
    """Reasoning was asked for (``True`` or a level): the reply may start inside a think block.

    >>> wants_thinking(ChatRequest(model="m", messages=[], think="low"))
    True
    """
    return request.think is not None and request.think is not False


def option_of(think: Think) -> str | None:
    """A ``think`` value in the allowed-options vocabulary.

    >>> option_of(True), option_of(False), option_of("high"), option_of(None)
    ('on', 'off', 'high', None)
    """
    if think is None:
        return None
    if isinstance(think, bool):
        return "on" if think else "off"
    return think


def resolve_think(think: Think, info: ModelInfo) -> Think:
    """The ``think`` value to send to ``info``'s model, checked against what it allows.

    Unknown options: ``think`` as given (the server decides). ``True`` on a model that takes only
    levels (gpt-oss) becomes its default level; anything else it does not allow raises
    ``CapabilityError`` naming the values it does allow.
    """
    options = info.reasoning_options
    wanted = option_of(think)
    if wanted is None or not options or wanted in options:
        return think
    levels = [o for o in options if o in LEVELS]
    if wanted == "on" and levels:
        default = info.reasoning_default
        return default if default in levels else ("medium" if "medium" in levels else levels[0])  # type: ignore[return-value]
    if wanted in LEVELS and not levels:
        what = f"takes no effort level (reasoning={think!r})"
    elif wanted == "off":
        what = "cannot turn reasoning off (reasoning=False)"
    else:
        what = f"does not take reasoning={think!r}"
    source = info.source.get("reasoning_options")
    said = f" (per {source.name.lower()} facts)" if source is not None else ""
    raise CapabilityError(f"{info.name} {what}{said}; it allows {allowed_text(options)}",
                          hint=f"use reasoning= one of {allowed_text(options)} (or leave it unset for the "
                               f"model's default); if the model does take it, set overrides="
                               f"{{{info.name!r}: {{'reasoning_options': [...]}}}}",
                          model=info.name, service=info.service)


def structured(request: ChatRequest) -> bool:
    """The request asks for JSON output (a schema or JSON mode)."""
    return request.response_format is not None


def guard_structured(request: ChatRequest, info: ModelInfo, quirks: Quirks) -> ChatRequest:
    """Thinking and structured output on a server that applies the JSON grammar from the first
    token (``Quirks.schema_before_reasoning``): the JSON lands in the reasoning and the answer is
    empty. With the model's default thinking, thinking is switched off where the server can do it;
    thinking asked for explicitly is refused before anything is sent."""
    if not quirks.schema_before_reasoning or not structured(request) or request.think is False:
        return request
    if info.known_lacks("thinking"):
        return request
    server = quirks.flavor or "this server"
    if request.think is not None:
        raise CapabilityError(
            f"{server} applies a JSON schema from the first token, so with reasoning={request.think!r} the "
            "JSON lands in the reasoning and the answer is empty",
            hint="leave reasoning unset for structured output (patinox then turns thinking off there), or use "
                 "a server that constrains only the answer (Ollama, vLLM or SGLang with a reasoning parser)",
            model=info.name, service=info.service)
    options = info.reasoning_options
    if quirks.can_switch_thinking and (not options or "off" in options):
        return replace(request, think=False)
    return request


def recover_json(result: ChatResult, request: ChatRequest) -> ChatResult:
    """A structured reply whose JSON the server put in the reasoning (empty answer): the JSON
    becomes the answer. Only when the whole reasoning is one JSON value.

    >>> from patinox_core.types import Message
    >>> req = ChatRequest(model="m", messages=[], response_format="json")
    >>> recover_json(ChatResult(Message("assistant", "", thinking=' {"a": 1}')), req).message.content
    '{"a": 1}'
    """
    msg = result.message
    if msg.content.strip() or not msg.thinking or msg.tool_calls or not structured(request):
        return result
    text = json_text(msg.thinking)
    if text is not None:
        msg.content, msg.thinking = text, None
    return result


def json_text(text: str) -> str | None:
    """``text`` stripped when it is one JSON object or array, else None.

    >>> json_text(' [1] '), json_text('I think {"a": 1}')
    ('[1]', None)
    """
    text = text.strip()
    if not text.startswith(("{", "[")):
        return None
    try:
        loads(text)
    except ValueError:
        return None
    return text


__all__ = ["LEVELS", "OPTIONS", "allowed_text", "guard_structured", "json_text", "option_of", "options_from_wire",
           "recover_json", "resolve_think", "structured", "wants_thinking"]
