"""What a model's name says about it: size, quantization, and the capability tables.

The ``Source.HEURISTIC`` layer of ``capabilities.model_info``: parsers for sizes and quantization
labels written in names and tags, and regex tables of model families known to embed, see, think
or call tools. Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

# --------------------------------------------------------------------------- parsers

_SIZE_RE = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d+(?:\.\d+)?)\s*([kmbt])?\s*$", re.IGNORECASE)
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12, None: 1.0}


def parse_parameter_size(text: str | None) -> int | None:
    """A display size such as Ollama's ``parameter_size`` to a parameter count.

    >>> parse_parameter_size("7.6B"), parse_parameter_size("270M"), parse_parameter_size("8x7B")
    (7600000000, 270000000, 56000000000)
    >>> parse_parameter_size("3.21b"), parse_parameter_size(""), parse_parameter_size("unknown")
    (3210000000, None, None)
    """
    if not text:
        return None
    m = _SIZE_RE.match(str(text))
    if m is None:
        return None
    experts = int(m.group(1)) if m.group(1) else 1
    scale = _SCALE[m.group(3).lower() if m.group(3) else None]
    return round(experts * float(m.group(2)) * scale)


_NAME_SIZE_RE = re.compile(r"(?<![a-z0-9.])(?:(\d+)x)?e?(\d+(?:\.\d+)?)([bm])(?![a-z0-9])")


def parameter_count_from_name(name: str) -> int | None:
    """The size written in a model name or tag, if any.

    >>> parameter_count_from_name("qwen2.5:7b"), parameter_count_from_name("gemma3:270m")
    (7000000000, 270000000)
    >>> parameter_count_from_name("Meta-Llama-3.1-8B-Instruct"), parameter_count_from_name("mixtral:8x7b")
    (8000000000, 56000000000)
    >>> parameter_count_from_name("gemma3n:e4b"), parameter_count_from_name("qwen3-30b-a3b")
    (4000000000, 30000000000)
    >>> parameter_count_from_name("nomic-embed-text:latest") is None
    True
    """
    m = _NAME_SIZE_RE.search(name.lower())
    if m is None:
        return None
    experts = int(m.group(1)) if m.group(1) else 1
    return round(experts * float(m.group(2)) * _SCALE[m.group(3)])


_QUANT_BITS = {"bf16": 16, "f16": 16, "fp16": 16, "f32": 32, "fp32": 32, "fp8": 8, "mxfp4": 4,
               "awq": 4, "gptq": 4, "int4": 4, "int8": 8}
_QUANT_RE = re.compile(r"^(?:i?q(\d+)(?:_[a-z0-9]+)*|(\d+)[-_ ]?bits?|int(\d+))$")


def quantization_bits(text: str | None) -> int | None:
    """Nominal bits per weight of a quantization label (GGUF, MLX, HF).

    >>> [quantization_bits(q) for q in ("Q4_K_M", "Q8_0", "F16", "BF16", "4bit", "IQ2_XXS", "MXFP4")]
    [4, 8, 16, 16, 4, 2, 4]
    >>> quantization_bits("8-bit"), quantization_bits(""), quantization_bits("unknown")
    (8, None, None)
    """
    if not text:
        return None
    key = str(text).strip().lower()
    if key in _QUANT_BITS:
        return _QUANT_BITS[key]
    m = _QUANT_RE.match(key)
    if m is None:
        return None
    return int(next(g for g in m.groups() if g))


_NAME_QUANT_RE = re.compile(r"(?<![a-z0-9])(i?q\d(?:_[a-z0-9]+)*|bf16|fp16|f16|f32|fp8|mxfp4|\d+bit)(?![a-z0-9])")


def quantization_from_name(name: str) -> str | None:
    """A quantization label in a tag or LM Studio variant, upper-cased.

    >>> quantization_from_name("hf.co/bartowski/Qwen2.5-7B-GGUF:Q4_K_M"), quantization_from_name("gemma-3@q8_0")
    ('Q4_K_M', 'Q8_0')
    >>> quantization_from_name("llama3.2:3b") is None
    True
    """
    m = _NAME_QUANT_RE.search(name.lower())
    return m.group(1).upper() if m else None


_SQUASH_RE = re.compile(r"([a-z])[-_ ](\d+(?:\.\d+)*)(?![\d.]*[bmkx])")


def normalize_name(name: str) -> str:
    """The part of a model name the heuristics look at: no namespace, no tag, version glued on.

    >>> normalize_name("hf.co/lmstudio-community/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M")
    'meta-llama3.1-8b-instruct-gguf'
    >>> normalize_name("gemma-3-27b-it"), normalize_name("qwen2.5vl:7b"), normalize_name("mistral-7b")
    ('gemma3-27b-it', 'qwen2.5vl', 'mistral-7b')
    """
    base = name.strip().lower().rsplit("/", 1)[-1]
    base = base.split(":", 1)[0].split("@", 1)[0]
    return _SQUASH_RE.sub(r"\1\2", base)


# --------------------------------------------------------------------------- heuristics tables
# Each entry is a regex matched at a word start of ``normalize_name(name)`` (longer first in spirit:
# every match counts, and negative tables are applied after positive ones).

EMBEDDING_NAMES = (
    "nomic-embed", "mxbai-embed", "bge", "e5(?![0-9])", "multilingual-e5", "all-minilm", "snowflake-arctic-embed",
    "text-embedding", "embeddinggemma", "granite-embedding", "qwen3-embedding", "jina-embeddings", "gte-",
    "paraphrase-multilingual", "nomic-bert", "embed(?:ding)?(?![a-z])",
)
VISION_NAMES = (
    "llava", "bakllava", "vl(?![a-z])", "vlm", "qwen2.5vl", "qwen3vl", "vision", "minicpm-v",
    "moondream", "pixtral", "llama4", "mistral-small3.[12]", "gemma3(?![a-z])", "internvl", "granite3.2-vision",
)
#: Families whose small sizes are text-only: below this parameter count, no vision.
VISION_MIN_PARAMS = {"gemma3(?![a-z])": 4_000_000_000}
THINKING_NAMES = (
    "qwen3(?![a-z])", "deepseek-r1", "gpt-oss", "magistral", "phi4-reasoning", "phi4-mini-reasoning", "qwq",
    "exaone-deep", "cogito", "openthinker", "deepscaler", "smallthinker", "thinking",
)
NOT_THINKING_NAMES = ("qwen3-coder", "qwen3-embedding", "instruct-?2507")
#: Reasoning values a thinking family allows, and its default: gpt-oss takes only effort levels
#: (Ollama ignores a bool there), Qwen3 switches on and off, its 2507 "thinking" builds cannot switch off.
REASONING_NAMES = (
    ("gpt-oss", ("low", "medium", "high"), "medium"),
    ("qwen3.*thinking", ("on",), "on"),
    ("qwen3(?![a-z])", ("off", "on"), "on"),
)
TOOL_NAMES = (
    "llama3.1", "llama3.2(?!-vision)", "llama3.3", "llama4", "qwen2", "qwen3(?![a-z])", "qwq", "mistral-nemo",
    "mistral-small", "mistral-large", "mixtral", "command-r", "command-a", "granite3", "granite4", "gpt-oss",
    "hermes3", "firefunction", "nemotron", "devstral", "magistral", "cogito", "phi4-mini", "smollm2",
    "functionary", "athene-v2", "llama3-groq-tool-use", "deepseek-v3",
)

_BOUNDARY = r"(?<![a-z0-9])"


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"{_BOUNDARY}(?:{p})" for p in patterns))


class _Tables(NamedTuple):
    embed: re.Pattern[str]
    vision: re.Pattern[str]
    think: re.Pattern[str]
    not_think: re.Pattern[str]
    tools: re.Pattern[str]
    vision_min: list[tuple[re.Pattern[str], int]]
    reasoning: list[tuple[re.Pattern[str], tuple[str, ...], str]]


@functools.cache
def _tables() -> _Tables:
    """The tables compiled, once, when a name is first read (compiling them made importing patinox
    8 ms slower, for programs that may never list a model)."""
    return _Tables(_compile(EMBEDDING_NAMES), _compile(VISION_NAMES), _compile(THINKING_NAMES),
                   _compile(NOT_THINKING_NAMES), _compile(TOOL_NAMES),
                   [(_compile((p,)), n) for p, n in VISION_MIN_PARAMS.items()],
                   [(_compile((p,)), options, default) for p, options, default in REASONING_NAMES])


EMBEDDING_FACTS = {"embeddings": True, "chat": False, "completion": False, "tools": False, "vision": False,
                    "thinking": False, "structured_output": False}


_CLOUD_RE = re.compile(r"[:-]cloud(?::latest)?$")


def heuristic_facts(name: str, parameter_count: int | None = None) -> dict[str, Any]:
    """Facts guessed from a model name (``parameter_count``: the best known size, for size rules).

    >>> heuristic_facts("nomic-embed-text:latest")["embeddings"], heuristic_facts("qwen3:4b")["thinking"]
    (True, True)
    >>> sorted(k for k, v in heuristic_facts("llama3.2-vision:11b").items() if v is True)
    ['vision']
    >>> heuristic_facts("gemma3:1b")["vision"], heuristic_facts("gemma3:12b")["vision"]
    (False, True)
    >>> heuristic_facts("gpt-oss:120b-cloud")["remote"], "remote" in heuristic_facts("cloudy:7b")
    (True, False)
    >>> heuristic_facts("gpt-oss:20b")["reasoning_options"], heuristic_facts("qwen3:4b")["reasoning_options"]
    (('low', 'medium', 'high'), ('off', 'on'))
    """
    norm = normalize_name(name)
    count = parameter_count or parameter_count_from_name(name)
    facts: dict[str, Any] = {"parameter_count": count, "quantization": quantization_from_name(name)}
    if _CLOUD_RE.search(name.lower()):  # Ollama cloud models: gpt-oss:120b-cloud, kimi-k2.6:cloud
        facts["remote"] = True
    tables = _tables()
    if tables.embed.search(norm):
        facts.update(EMBEDDING_FACTS)
        return facts
    if tables.tools.search(norm):
        facts["tools"] = True
    if tables.think.search(norm) and not tables.not_think.search(norm):
        facts["thinking"] = True
        for pattern, options, default in tables.reasoning:
            if pattern.search(norm):
                facts["reasoning_options"], facts["reasoning_default"] = options, default
                break
    if tables.vision.search(norm):
        facts["vision"] = True
        for pattern, minimum in tables.vision_min:
            if pattern.search(norm) and count is not None and count < minimum:
                facts["vision"] = False
    return facts


__all__ = [
    "EMBEDDING_FACTS",
    "EMBEDDING_NAMES",
    "REASONING_NAMES",
    "THINKING_NAMES",
    "TOOL_NAMES",
    "VISION_NAMES",
    "heuristic_facts",
    "normalize_name",
    "parameter_count_from_name",
    "parse_parameter_size",
    "quantization_bits",
    "quantization_from_name",
]
