"""``CallContext``: what one HTTP call needs besides its request: the server and model to name in an
error, how to classify an error reply, the split timeout, headers, retries and the size and time caps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from .backends.base import ErrorClassifier
from .deadline import Deadline
from .errors import LocalProviderError

DEFAULT_UNREACHABLE_HINT = "check that the server is running and the URL is right"


@dataclass(slots=True)
class CallContext:
    """Everything the funnel needs to name a failure, and the exchange to bound the call."""

    service: str
    classify: ErrorClassifier
    timeout: httpx.Timeout
    model: str | None = None
    unreachable_hint: str = DEFAULT_UNREACHABLE_HINT
    headers: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    deadline_s: float = 900.0  # the whole exchange (per stream line after the headers)
    max_body: int = 128 << 20  # bytes of a complete reply (decoded)
    #: the request headers with a JSON body: the server's (auth) plus the content type
    json_headers: dict[str, str] = field(init=False, repr=False, compare=False)

    @property
    def fields(self) -> dict[str, Any]:
        return {"service": self.service, "model": self.model}

    def error_from(self, status: int | None, body: Any) -> LocalProviderError:
        """The classified error of an error reply, naming this server and model."""
        err = self.classify(status, body)
        err.service = err.service or self.service
        err.model = err.model or self.model
        if err.status_code is None:
            err.status_code = status
        err.body = body  # the server's whole reply, for debugging (the message shows it escaped, capped)
        err.args = (err._render(),)
        return err

    def deadline(self) -> Deadline:
        return Deadline(self.deadline_s)

    def __post_init__(self) -> None:
        self.json_headers = {**self.headers, "Content-Type": "application/json"}


__all__ = ["DEFAULT_UNREACHABLE_HINT", "CallContext"]
