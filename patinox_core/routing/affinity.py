"""Prompt-cache affinity: the turns of one conversation go back to the server that served its
earlier turns (its KV cache holds the prefix), unless that server is saturated (``routing.load``).

A conversation is named by the caller's ``session_id`` when given, else by a stable hash of its
prefix: the system messages, the tools and the first user message, serialised deterministically
(sorted keys, no whitespace), so every turn of it hashes alike. ``Affinity`` is a bounded LRU map
from that key to the (server, model) that last served it; ``Session`` is one request's view of it.
A gateway balances its own replicas: it gets the key in a header instead (``header_value``; which
header is ``LocalSettings.affinity_header_for``'s answer).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from typing import Any

from ..types import ChatRequest, Message

#: Conversations remembered per provider (least recently used forgotten first).
AFFINITY_SIZE = 4096


def _message(m: Message) -> dict[str, Any]:
    return {"role": m.role, "content": m.content, "name": m.name, "images": list(m.images)}


def prefix(request: ChatRequest) -> dict[str, Any] | None:
    """What names a conversation: its leading system messages, tools and first user message (None
    when there is no user message yet).

    >>> req = ChatRequest(model="m", messages=[Message(role="system", content="be brief"),
    ...                   Message(role="user", content="hi"), Message(role="assistant", content="hello")])
    >>> prefix(req)["first"]["content"], [m["content"] for m in prefix(req)["system"]]
    ('hi', ['be brief'])
    """
    first = next((m for m in request.messages if m.role == "user"), None)
    if first is None:
        return None
    head = request.messages[:request.messages.index(first)]
    system = [_message(m) for m in head if m.role in ("system", "developer")]
    return {"system": system, "tools": request.tools or [], "first": _message(first)}


def affinity_key(request: ChatRequest) -> str | None:
    """The request's ``session_id``, else a hash of its conversation's prefix; every turn of one
    conversation gets the same key.

    >>> turn1 = ChatRequest(model="m", messages=[Message(role="user", content="hi")])
    >>> turn2 = ChatRequest(model="m", messages=[Message(role="user", content="hi"),
    ...                     Message(role="assistant", content="hello"), Message(role="user", content="more")])
    >>> affinity_key(turn1) == affinity_key(turn2), len(affinity_key(turn1))
    (True, 32)
    >>> affinity_key(ChatRequest(model="m", messages=[], session_id="user-42"))
    'user-42'
    """
    if request.session_id:
        return request.session_id
    head = prefix(request)
    if head is None:
        return None
    text = json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


_PLAIN = re.compile(r"[\x21-\x7e]{1,128}")


def header_value(key: str) -> str:
    """A conversation key as an affinity header's value: the key itself when it is 1-128 visible
    ASCII characters (a prefix hash always is), else a stable hash of it.

    >>> header_value("user-42"), header_value("Zoë's chat") == header_value("Zoë's chat"), len(header_value("a b"))
    ('user-42', True, 32)
    """
    if _PLAIN.fullmatch(key):
        return key
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Affinity:
    """Conversation key -> the (server, model) that served it last; bounded, thread-safe."""

    def __init__(self, size: int = AFFINITY_SIZE) -> None:
        self.size = size
        self._map: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> tuple[str, str] | None:
        if key is None:
            return None
        with self._lock:
            lane = self._map.get(key)
            if lane is not None:
                self._map.move_to_end(key)
            return lane

    def remember(self, key: str | None, lane: tuple[str, str]) -> None:
        if key is None:
            return
        with self._lock:
            self._map[key] = lane
            self._map.move_to_end(key)
            while len(self._map) > self.size:
                self._map.popitem(last=False)

    def __len__(self) -> int:
        return len(self._map)


class Session:
    """One request's conversation: its key and the map it is remembered in."""

    def __init__(self, key: str, affinity: Affinity) -> None:
        self.key = key
        self.affinity = affinity

    def prefer(self) -> tuple[str, str] | None:
        """The (server, model) that served this conversation last, if any."""
        return self.affinity.get(self.key)

    def remember(self, lane: tuple[str, str]) -> None:
        self.affinity.remember(self.key, lane)


__all__ = ["AFFINITY_SIZE", "Affinity", "Session", "affinity_key", "header_value", "prefix"]
