"""Tiny GGUF files for tests: a real header (key/values, no tensors), written byte by byte."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _kv(key: str, value: Any) -> bytes:
    out = _string(key)
    if isinstance(value, str):
        return out + struct.pack("<I", 8) + _string(value)
    if isinstance(value, list):  # array of strings (like tokenizer.ggml.tokens)
        return out + struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
    return out + struct.pack("<II", 4, value)  # uint32


def write_gguf(path: Path, meta: dict[str, Any], version: int = 3) -> Path:
    body = b"".join(_kv(k, v) for k, v in meta.items())
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, 0, len(meta)) + body)
    return path


SMOL_META = {"general.architecture": "llama", "general.name": "Tiny", "tokenizer.ggml.tokens": ["a", "b", "<s>"],
             "llama.context_length": 8192, "general.file_type": 3, "tokenizer.chat_template": "{{ messages }}"}
