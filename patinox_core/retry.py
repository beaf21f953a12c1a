"""The one retry policy of every HTTP call, sync and async (openai-python's ``_should_retry`` /
``_calculate_retry_timeout`` pattern): which failures are retried, how long to wait, how often.

Retried: a refused or dropped connection (``httpx.ConnectError``, ``httpx.RemoteProtocolError``)
and the statuses of ``RETRY_STATUSES``, at most ``retries`` times, with exponential backoff or the
server's numeric ``Retry-After``. Never retried: timeouts, 500 (usually deterministic: a bad
option or schema), a stream that already delivered a byte (the caller decides nothing here then).
"""

from __future__ import annotations

import contextvars
import email.utils
import time
from collections.abc import Mapping

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: A server saying it is busy (full queue, rate limit, model loading): back-pressure, not failure.
BUSY_STATUSES = frozenset({429, 503})
BACKOFF_BASE_S = 0.02
BACKOFF_MAX_S = 2.0

#: When set, at most this many retries of a refused connection (``httpx.ConnectError``) in this
#: context: the router sets 0 while another usable server holds the model, so a dead server is
#: left at once instead of after ``max_retries`` backoffs. Other retries are unaffected.
CONNECT_RETRIES: contextvars.ContextVar[int | None] = contextvars.ContextVar("patinox_connect_retries",
                                                                            default=None)


#: When set to 0, a busy reply (``BUSY_STATUSES``) is not resent to the same server: the router's
#: scheduler (``routing/load.py``) takes it and waits for another slot or for the ``Retry-After``.
BUSY_RETRIES: contextvars.ContextVar[int | None] = contextvars.ContextVar("patinox_busy_retries", default=None)


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date; None when absent or unreadable.

    >>> retry_after_s("2"), retry_after_s("0.5"), retry_after_s(None), retry_after_s("soon")
    (2.0, 0.5, None, None)
    >>> retry_after_s("Wed, 21 Oct 2015 07:28:05 GMT", now=1445412480.0)
    5.0
    """
    if not value:
        return None
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_s(attempt: int, retry_after: str | None = None) -> float:
    """Delay before retry ``attempt`` (0-based); honours a numeric Retry-After, bounded.

    >>> backoff_s(0), backoff_s(3), backoff_s(0, "1"), backoff_s(0, "999")
    (0.02, 0.16, 1.0, 2.0)
    """
    if retry_after and retry_after.strip().replace(".", "", 1).isdigit():
        return min(float(retry_after), BACKOFF_MAX_S)
    return min(BACKOFF_BASE_S * 2.0**attempt, BACKOFF_MAX_S)


def error_delay(retries: int, attempt: int, error: BaseException) -> float | None:
    """Seconds to wait before resending after ``error`` (raised while sending), or None: give up.

    >>> error_delay(2, 0, httpx.ConnectError("refused")), error_delay(2, 2, httpx.ConnectError("refused"))
    (0.02, None)
    >>> error_delay(2, 0, httpx.ReadTimeout("slow")) is None
    True
    """
    if not isinstance(error, httpx.ConnectError | httpx.RemoteProtocolError):
        return None
    cap = CONNECT_RETRIES.get()
    allowed = retries if cap is None or not isinstance(error, httpx.ConnectError) else min(cap, retries)
    return backoff_s(attempt) if attempt < allowed else None


def status_delay(retries: int, attempt: int, status: int, headers: Mapping[str, str]) -> float | None:
    """Seconds to wait before resending after an HTTP ``status``, or None: this reply stands.

    >>> status_delay(2, 0, 503, {}), status_delay(2, 0, 429, {"retry-after": "0.5"}), status_delay(2, 0, 500, {})
    (0.02, 0.5, None)
    """
    if status not in RETRY_STATUSES or attempt >= retries:
        return None
    if status in BUSY_STATUSES and BUSY_RETRIES.get() == 0:
        return None
    return backoff_s(attempt, headers.get("retry-after"))


__all__ = ["BACKOFF_BASE_S", "BACKOFF_MAX_S", "BUSY_RETRIES", "BUSY_STATUSES", "CONNECT_RETRIES", "RETRY_STATUSES",
           "backoff_s", "error_delay", "retry_after_s", "status_delay"]
