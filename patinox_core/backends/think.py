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
    """

    __slots__ = ("_in_think", "_pending", "_strip")
    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self._in_think = False
        self._pending = ""
        self._strip = False

    def feed(self, text: str) -> tuple[str, str]:
        """(content, thinking) that can be emitted after ``text``."""
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
    """(content, thinking) of a complete text.

    >>> split_think("<think>hmm</think>\\n\\nParis.")
    ('Paris.', 'hmm')
    """
    if "<" not in content:  # no tag can start here (the splitter's own fast path, without the object)
        return content, ""
    s = ThinkSplitter()
    c1, t1 = s.feed(content)
    c2, t2 = s.flush()
    return c1 + c2, t1 + t2


__all__ = ["ThinkSplitter", "split_think"]
