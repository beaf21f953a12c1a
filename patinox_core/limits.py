"""Size limits applied while a reply is read: whole bodies, probe bodies, error bodies, stream lines.

Nothing a server sends is held in memory beyond these caps, decompressed size included (bodies
are counted after httpx/aiohttp decode gzip/deflate). ``BodyCollector`` and ``LineSplitter`` are
pure: the sync and async paths of ``transport.py`` feed them the same chunks. Each check is O(1)
per chunk (a length comparison) besides the copy the body needs anyway.
"""

from __future__ import annotations

from .errors import InvalidResponseError

#: A discovery probe reads at most this much (a model list of a few hundred models fits easily).
PROBE_BODY_LIMIT = 1 << 20
#: Of an error reply (4xx/5xx/3xx) only this much is read; the rest is never received.
ERROR_BODY_LIMIT = 4096
#: One NDJSON / SSE line may be at most this long (further capped by ``max_response_bytes``).
LINE_LIMIT = 16 << 20
#: Non-SSE text tolerated in an SSE stream (an error object pretty-printed over lines) before failing.
SSE_JUNK_LIMIT = 64 << 10
#: The setting that bounds complete replies (``LocalSettings.max_response_bytes``).
BODY_SETTING = "max_response_bytes (PATINOX_MAX_RESPONSE_BYTES)"


def too_large(what: str, limit: int, setting: str | None = BODY_SETTING) -> InvalidResponseError:
    """The error for a reply over its cap, naming the limit and the setting that raises it.

    >>> str(too_large("reply", 1000))  # doctest: +ELLIPSIS
    'reply is larger than the 1000-byte limit (max_response_bytes (PATINOX_MAX_RESPONSE_BYTES)). ...'
    """
    where = f" ({setting})" if setting else ""
    hint = (f"if the server is trusted and the reply legitimately this large, raise {setting.split(' ')[0]}"
            if setting else "the server sent far more than any model server does; check what listens there")
    return InvalidResponseError(f"{what} is larger than the {limit}-byte limit{where}", hint=hint)


def check_declared(length: str | None, limit: int, what: str, setting: str | None = BODY_SETTING) -> None:
    """Fail before reading when ``Content-Length`` already exceeds the cap.

    >>> check_declared("10", 100, "reply"); check_declared(None, 100, "reply"); check_declared("x", 1, "r")
    >>> check_declared("2000000000", 100, "reply")
    Traceback (most recent call last):
    patinox_core.errors.InvalidResponseError: reply is larger than the 100-byte limit ...
    """
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large(what, limit, setting)


class BodyCollector:
    """Collects a body up to ``limit`` bytes. Over the limit it raises (``truncate=False``) or keeps
    the first ``limit`` bytes and reports ``full`` so the reader stops (error bodies).

    >>> c = BodyCollector(4, "reply"); c.add(b"ab"); c.add(b"c"); c.result()
    bytearray(b'abc')
    >>> t = BodyCollector(4, "error", truncate=True); t.add(b"abcdef"); (t.full, bytes(t.result()))
    (True, b'abcd')
    """

    __slots__ = ("_body", "full", "limit", "setting", "truncate", "what")

    def __init__(self, limit: int, what: str, *, truncate: bool = False, setting: str | None = BODY_SETTING) -> None:
        self._body = bytearray()
        self.limit = limit
        self.what = what
        self.truncate = truncate
        self.setting = setting
        self.full = False

    def add(self, chunk: bytes) -> None:
        body = self._body
        body += chunk
        if len(body) > self.limit:
            if not self.truncate:
                raise too_large(self.what, self.limit, self.setting)
            del body[self.limit:]
            self.full = True

    def result(self) -> bytes:
        """The body (a ``bytearray``: no copy of a large reply; every JSON decoder takes it)."""
        return self._body  # type: ignore[return-value]


class LineSplitter:
    """Bytes in, complete lines out (``\\n``, ``\\r\\n`` or ``\\r``), a partial line capped at ``limit``.

    >>> s = LineSplitter(100); s.feed(b"a\\nb"), s.feed(b"c\\r\\n\\nd"), s.close()
    (['a'], ['bc', ''], 'd')
    >>> LineSplitter(3).feed(b"abcdef")
    Traceback (most recent call last):
    patinox_core.errors.InvalidResponseError: a line of the stream is larger than the 3-byte limit ...
    """

    __slots__ = ("_partial", "limit")

    def __init__(self, limit: int) -> None:
        self._partial = bytearray()
        self.limit = limit

    def feed(self, chunk: bytes) -> list[str]:
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        partial = self._partial
        if end < 0:
            partial += chunk
            if len(partial) > self.limit:
                raise too_large("a line of the stream", self.limit)
            return []
        head = bytes(partial) + chunk[: end + 1] if partial else chunk[: end + 1]
        partial.clear()
        partial += chunk[end + 1:]
        if len(partial) > self.limit:
            raise too_large("a line of the stream", self.limit)
        lines = head.splitlines()
        if len(head) > self.limit and any(len(line) > self.limit for line in lines):  # short: no line can be
            raise too_large("a line of the stream", self.limit)
        if len(lines) == 1:  # most reads of a token stream: one line
            return [lines[0].decode("utf-8", "replace")]
        return [line.decode("utf-8", "replace") for line in lines]

    def close(self) -> str:
        """The last line when the body did not end with a newline ('' if it did)."""
        rest = self._partial.decode("utf-8", "replace")
        self._partial.clear()
        return rest


__all__ = ["ERROR_BODY_LIMIT", "LINE_LIMIT", "PROBE_BODY_LIMIT", "SSE_JUNK_LIMIT", "BodyCollector", "LineSplitter",
           "check_declared", "too_large"]
