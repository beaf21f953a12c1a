"""Inline ``<think>…</think>`` moved out of a reply's content, whole or chunk by chunk.

Models that reason in their content (DeepSeek-R1, QwQ, Qwen3 on servers without a reasoning
parser) wrap the reasoning in ``<think>`` tags. One splitter serves every backend's replies and
streams; a tag split across chunks is still found.
"""

from __future__ import annotations


class ThinkSplitter:
    """Moves inline ``<think>…</think>`` out of content, chunk by chunk.

    Holds back a tail that may start a tag, so a tag split across chunks is still found. Leading
    whitespace right after ``</think>`` is dropped; an unclosed ``<think>`` makes the rest thinking.

    >>> s = ThinkSplitter()
    >>> [s.feed(t) for t in ("<thi", "nk>plan</th", "ink>\\n\\nAnswer <t")] + [s.flush()]
    [('', ''), ('', 'plan'), ('Answer ', ''), ('<t', '')]

    ``maybe_open``: the reply may start inside a think block the chat template opened (only
    ``</think>`` comes). Text is then held back until it shows which: a leading ``<think>``, a
    ``</think>`` (what came before it was thinking), ``decide()`` (the server sent its reasoning in a
    field of its own) or the end of the reply (no tag at all: it was content).

    >>> s = ThinkSplitter(maybe_open=True)
    >>> [s.feed(t) for t in ("Count the r", "s.</think>", "\\n3")] + [s.flush()]
    [('', ''), ('', 'Count the rs.'), ('3', ''), ('', '')]
    """

    __slots__ = ("_held", "_in_think", "_pending", "_strip", "_undecided")
    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self, *, maybe_open: bool = False) -> None:
        self._in_think = False
        self._pending = ""
        self._strip = False
        self._undecided = maybe_open
        self._held = ""

    def decide(self) -> tuple[str, str]:
        """The reply does not start inside a think block: what was held back, as content."""
        if not self._undecided:
            return "", ""
        self._undecided = False
        held, self._held = self._held, ""
        return self.feed(held)

    def _settle(self, text: str) -> tuple[str, str] | None:
        """While undecided: hold ``text`` back, or decide and return what can be emitted."""
        self._held += text
        lead = self._held.lstrip()
        if lead.startswith(self.OPEN):
            self._held = lead  # whitespace before the block is not an answer
            return self.decide()
        close = self._held.find(self.CLOSE)
        if close >= 0:
            self._undecided = False
            thinking, rest = self._held[:close], self._held[close + len(self.CLOSE):]
            self._held, self._strip = "", True
            content, more = self.feed(rest)
            return content, thinking + more
        return None

    def feed(self, text: str) -> tuple[str, str]:
        """(content, thinking) that can be emitted after ``text``."""
        if self._undecided:
            return self._settle(text) or ("", "")
        if not self._pending and not self._in_think and not self._strip and "<" not in text:
            return text, ""  # fast path: plain content
        text = self._pending + text
        self._pending = ""
        content: list[str] = []
        thinking: list[str] = []
        while text:
            tag = self.CLOSE if self._in_think else self.OPEN
            i = text.find(tag)
            if i < 0:
                keep = _partial_tail(text, tag)
                self._pending = text[len(text) - keep:] if keep else ""
                self._emit(text[: len(text) - keep], content, thinking)
                break
            self._emit(text[:i], content, thinking)
            text = text[i + len(tag):]
            self._in_think = not self._in_think
            self._strip = self._strip or not self._in_think
        return "".join(content), "".join(thinking)

    def flush(self) -> tuple[str, str]:
        """Whatever was held back, at end of reply."""
        if self._undecided:
            held_content, held_thinking = self.decide()
            tail_content, tail_thinking = self.flush()
            return held_content + tail_content, held_thinking + tail_thinking
        content: list[str] = []
        thinking: list[str] = []
        self._emit(self._pending, content, thinking)
        self._pending = ""
        return "".join(content), "".join(thinking)

    def _emit(self, text: str, content: list[str], thinking: list[str]) -> None:
        if self._in_think:
            thinking.append(text)
            return
        if self._strip:
            text = text.lstrip()
            self._strip = not text
        content.append(text)


def _partial_tail(text: str, tag: str) -> int:
    for k in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:k]):
            return k
    return 0


def split_think(content: str) -> tuple[str, str]:
    """(content, thinking) of a complete text. A ``</think>`` with no ``<think>`` before it closes a
    block the chat template opened: what precedes it is thinking.

    >>> split_think("<think>hmm</think>\\n\\nParis."), split_think("hmm</think>Paris.")
    (('Paris.', 'hmm'), ('Paris.', 'hmm'))
    """
    if "<" not in content:  # no tag can start here (the splitter's own fast path, without the object)
        return content, ""
    close, opening = content.find(ThinkSplitter.CLOSE), content.find(ThinkSplitter.OPEN)
    s = ThinkSplitter(maybe_open=close >= 0 and (opening < 0 or close < opening))
    c1, t1 = s.feed(content)
    c2, t2 = s.flush()
    return c1 + c2, t1 + t2


__all__ = ["ThinkSplitter", "split_think"]
