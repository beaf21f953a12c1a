"""The reply check in front of ``with_structured_output``'s parser (``patinox_core.structured``'s rule).

A reply cut off by ``max_tokens``, or a forced call with unreadable arguments, raises
``StructuredOutputError``: a ``LocalProviderError`` (``InvalidResponseError``, with a hint) that is
also LangChain's ``OutputParserException``, so ``include_raw=True`` reports it as
``parsing_error`` instead of raising, as with ChatOpenAI. Streams pass through untouched; the check
runs on every chunk, and only the last one carries a finish reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableGenerator

import patinox_core.types as core
from patinox_core.errors import InvalidResponseError, RecoveryStrategy
from patinox_core.structured import structured_reply_problem


class StructuredOutputError(InvalidResponseError, OutputParserException):
    """A reply that cannot be structured output (cut off, or an unreadable forced call)."""

    default_recovery = RecoveryStrategy.FIX_CONFIG


def schema_parser(schema: Any, is_pydantic: bool, tool_name: str | None = None) -> Runnable[Any, Any]:
    """``with_structured_output``'s parser: of the forced call to ``tool_name``, else of the reply's JSON."""
    # deferred: LangChain's output parsers cost ~2 ms at import and only structured output needs them
    from langchain_core.output_parsers import (
        JsonOutputKeyToolsParser,
        JsonOutputParser,
        PydanticOutputParser,
        PydanticToolsParser,
    )

    if tool_name is not None:
        return (PydanticToolsParser(tools=[schema], first_tool_only=True) if is_pydantic
                else JsonOutputKeyToolsParser(key_name=tool_name, first_tool_only=True))
    return PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()


def check_reply(message: Any) -> Any:
    """``message`` unchanged, or ``StructuredOutputError`` when it cannot be parsed into the schema."""
    if not isinstance(message, BaseMessage):
        return message
    meta = message.response_metadata or {}
    invalid = [core.InvalidToolCall(str(c.get("id") or ""), str(c.get("name") or ""), str(c.get("args") or ""),
                                    str(c.get("error") or "")) for c in getattr(message, "invalid_tool_calls", ())]
    valid = len(message.tool_calls) if isinstance(message, AIMessage) else 0
    problem = structured_reply_problem(meta.get("finish_reason"), invalid, valid)
    if problem is not None:
        text, hint = problem
        raise StructuredOutputError(text, hint=hint, model=meta.get("model_name"), service=meta.get("service"))
    return message


def _guard(messages: Iterator[Any]) -> Iterator[Any]:
    for message in messages:
        yield check_reply(message)


async def _aguard(messages: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for message in messages:
        yield check_reply(message)


def reply_guard() -> RunnableGenerator[Any, Any]:
    """A streaming-transparent step: every message or chunk through ``check_reply``."""
    return RunnableGenerator(_guard, _aguard, name="patinox_structured_reply_check")


__all__ = ["StructuredOutputError", "check_reply", "reply_guard", "schema_parser"]
