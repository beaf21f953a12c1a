"""Read a GGUF file's header (the key/value metadata), no tensors, no third-party code.

Used to refuse a ``--model`` that is not a GGUF before a server is started, and to know a local
model's facts (architecture, trained context, chat template, quantization) without loading it.
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (little-endian; v2 and v3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ConfigurationError

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_STRING = 64 * 1024 * 1024  # a chat template is kilobytes; anything this big is corrupt
#: ``general.file_type`` (llama_ftype) to the quantization name people use.
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
              11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
              17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}


@dataclass(frozen=True)
class GGUFInfo:
    """The facts patinox uses from a GGUF header."""

    path: Path
    architecture: str | None
    name: str | None
    context_length: int | None
    has_chat_template: bool
    quantization: str | None
    size_bytes: int


class _Reader:
    def __init__(self, fh: BinaryIO, version: int) -> None:
        self.fh, self.version = fh, version

    def read(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        data = self.fh.read(size)
        if len(data) != size:
            raise EOFError("truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def count(self) -> int:
        return int(self.read("<Q" if self.version >= 2 else "<I"))

    def string(self, keep: bool = True) -> str | None:
        n = self.count()
        if n > _MAX_STRING:
            raise ValueError(f"string of {n} bytes")
        if not keep:
            self.fh.seek(n, 1)
            return None
        return self.fh.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True) -> Any:
        if vtype in _SCALARS:
            return self.read(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string(keep)
        if vtype == _ARRAY:
            itype, n = self.read("<I"), self.count()
            if itype in _SCALARS:  # skip fixed-size arrays in one seek
                self.fh.seek(struct.calcsize(_SCALARS[itype]) * n, 1)
            else:
                for _ in range(n):
                    self.value(itype, keep=False)
            return None
        raise ValueError(f"unknown GGUF value type {vtype}")


def read_metadata(path: Path) -> dict[str, Any]:
    """Every scalar/string key of the header (arrays are skipped: token lists are huge)."""
    with path.open("rb") as fh:
        if fh.read(4) != MAGIC:
            raise ValueError("no GGUF magic")
        version = struct.unpack("<I", fh.read(4))[0]
        if version not in (2, 3):
            raise ValueError(f"unsupported GGUF version {version}")
        reader = _Reader(fh, version)
        reader.count()  # tensors
        out: dict[str, Any] = {}
        for _ in range(reader.count()):
            key = reader.string() or ""
            vtype = reader.read("<I")
            value = reader.value(vtype, keep=key.startswith(("general.", "tokenizer.chat_template")) or "." in key)
            if value is not None:
                out[key] = value
        return out


def inspect(path: str | Path) -> GGUFInfo:
    """The facts of a GGUF file; ``ConfigurationError`` when it is missing or not a GGUF.

    >>> inspect("/nonexistent.gguf")
    Traceback (most recent call last):
    ...
    patinox_core.errors.ConfigurationError: --model /nonexistent.gguf: no such file. give the path of a .gguf model \
file, or one of the built-in models (patinox serve --list-models)
    """
    p = Path(path).expanduser()
    hint = "give the path of a .gguf model file, or one of the built-in models (patinox serve --list-models)"
    if not p.is_file():
        raise ConfigurationError(f"--model {path}: no such file", hint=hint)
    try:
        meta = read_metadata(p)
    except (OSError, ValueError, EOFError, struct.error) as exc:
        raise ConfigurationError(f"--model {path}: not a GGUF model file ({exc})", hint=hint) from None
    arch = meta.get("general.architecture")
    ctx = meta.get(f"{arch}.context_length") if arch else None
    ftype = meta.get("general.file_type")
    return GGUFInfo(path=p, architecture=arch, name=meta.get("general.name"),
                    context_length=int(ctx) if isinstance(ctx, int) else None,
                    has_chat_template=bool(meta.get("tokenizer.chat_template")),
                    quantization=FILE_TYPES.get(ftype) if isinstance(ftype, int) else None,
                    size_bytes=p.stat().st_size)


__all__ = ["GGUFInfo", "inspect", "read_metadata"]
