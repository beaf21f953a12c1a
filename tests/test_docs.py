"""Every code block of README.md and docs/*.md runs, or is explicitly marked as shell/config.

* A block tagged ``python`` is executed, in its own namespace, in an empty working directory, with
  the environment pointing at a fake Ollama and a fake LM Studio server
  (``OLLAMA_HOST``, ``LM_STUDIO_API_BASE``, ``PATINOX_DISCOVER_DEFAULTS=false``). The servers'
  default addresses spelled with ``localhost`` in examples (``http://localhost:11434``,
  ``http://localhost:1234/v1``) are rewritten to the fake servers' addresses, so an example never
  reaches a real server; ``127.0.0.1`` spellings are left alone (examples print or assert them).
  A block that defines ``test_*`` functions is run as a test module by pytest in a subprocess
  (fixtures and all), and must pass. When a ``text`` block titled "Output" follows, the block's
  printed output must equal it, with the fake servers' addresses shown as the default ones
  (``http://127.0.0.1:11434`` and ``:1234``).
* Blocks tagged with a language of ``NOT_RUN`` (shell, config, output) are not executed.
* A block without a language, or with any other language, fails.

``docs/langchain.md`` and ``docs/llamaindex.md`` have their own tests (the adapter work).

The settings table of docs/configuration.md is generated from ``LocalSettings.model_fields``:
``python tests/test_docs.py --write`` rewrites it; a test fails when it is stale or when a field
has no section. ``mkdocs build --strict`` runs into a temporary directory.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OWN_TESTS = {"langchain.md", "llamaindex.md"}  # tested by the adapters' own docs tests

RUN = {"python"}
NOT_RUN = {"bash", "shell", "toml", "text", "console", "dockerfile", "ini", "yaml", "json"}

#: Pages whose examples wait for code that has not landed yet: {page: reason}. Must be empty at
#: release; each entry marks that page's blocks xfail(strict=False).
PENDING: dict[str, str] = {}

#: Packages the "before" side of docs/migration.md uses; a block needing one that is not
#: installed is skipped with that reason (they are not dependencies of patinox).
THIRD_PARTY = {
    "langchain_ollama": "langchain-ollama",
    "langchain_openai": "langchain-openai",
    "litellm": "litellm",
    "llama_index.llms.ollama": "llama-index-llms-ollama",
    "llama_index.llms.lmstudio": "llama-index-llms-lmstudio",
    "llama_index.embeddings.ollama": "llama-index-embeddings-ollama",
    "openai": "openai",
}


# --------------------------------------------------------------------------- extraction

@dataclass(frozen=True)
class Block:
    """One fenced code block: file (relative to the repository), first code line, language, code."""

    path: str
    line: int
    lang: str
    info: str
    code: str
    end: int = 0  # 1-based line of the closing fence
    output: str | None = None  # the ```text title="Output"``` block right after it, if any

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def extract_blocks(text: str, path: str) -> list[Block]:
    """Fenced blocks of a Markdown file, including those indented inside tabs and admonitions.

    >>> b = extract_blocks("x\\n    ```python title='a'\\n    print(1)\\n    ```\\n", "f.md")
    >>> (b[0].lang, b[0].line, b[0].code)
    ('python', 3, 'print(1)\\n')
    >>> extract_blocks("```\\nplain\\n```\\n", "f.md")[0].lang
    ''
    >>> extract_blocks('```python\\nprint(2)\\n```\\n\\n```text title="Output"\\n2\\n```\\n', "f.md")[0].output
    '2\\n'
    """
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, info = m["indent"], m["fence"], m["info"].strip()
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            close = _FENCE.match(lines[j])
            if close and close["fence"].startswith(fence[0]) and len(close["fence"]) >= len(fence) \
                    and not close["info"].strip():
                break
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            j += 1
        lang = info.split()[0].lstrip("{.").rstrip("}").lower() if info else ""
        block = Block(path, i + 2, lang, info, "\n".join(body) + "\n", end=j + 1)
        prev = blocks[-1] if blocks else None
        if (prev is not None and prev.lang in RUN and lang == "text" and 'title="Output"' in info
                and not "".join(lines[prev.end : i]).strip()):
            blocks[-1] = replace(prev, output=block.code)
        blocks.append(block)
        i = j + 1
    return blocks


def doc_files() -> list[Path]:
    files = [ROOT / "README.md"] if (ROOT / "README.md").is_file() else []
    files += sorted(p for p in DOCS.glob("*.md") if p.name not in OWN_TESTS)
    return files


def all_blocks() -> list[Block]:
    out: list[Block] = []
    for f in doc_files():
        out += extract_blocks(f.read_text(encoding="utf-8"), f.relative_to(ROOT).as_posix())
    return out


BLOCKS = all_blocks()
PY_BLOCKS = [b for b in BLOCKS if b.lang in RUN]


def _params(blocks: list[Block]) -> list[Any]:
    params = []
    for b in blocks:
        page = b.path.removeprefix("docs/")
        marks = [pytest.mark.xfail(reason=PENDING[page], strict=False)] if page in PENDING else []
        params.append(pytest.param(b, id=b.id, marks=marks))
    return params


# --------------------------------------------------------------------------- fake servers

@pytest.fixture
def fake_servers() -> Iterator[dict[str, str]]:
    """A fake Ollama and a fake LM Studio server holding the models the examples name; fresh for
    every example, so no example sees another's state (loaded models, faults)."""
    from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel

    ollama = FakeOllamaServer([
        OllamaModel("llama3.2", reply="The sky is blue because air scatters blue light most.",
                    capabilities=["completion", "tools"], loaded=True,
                    tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        OllamaModel("qwen3:8b", reply="Yes, 97 is prime.", thinking="97 is not divisible by 2, 3, 5 or 7.",
                    capabilities=["completion", "tools", "thinking"], family="qwen3", parameter_size="8.2B",
                    context_length=40960),
        OllamaModel("gemma3:1b", capabilities=["completion"], family="gemma3", parameter_size="1.0B",
                    context_length=32768),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], embedding_dim=768, family="nomic-bert",
                    parameter_size="137M", quantization="F16", context_length=2048, loaded_context_length=2048),
    ])
    lmstudio = FakeLMStudioServer([
        LMStudioModel("qwen/qwen3-8b", reply="The sky is blue because of Rayleigh scattering.", tool_use=True,
                      reasoning="Short question, short answer.", reasoning_capable=True, arch="qwen3",
                      json_reply={"city": "Paris"}),
        LMStudioModel("text-embedding-nomic-embed-text-v1.5", type="embeddings", loaded=False, arch="nomic-bert",
                      embedding_dim=768, max_context_length=2048, loaded_context_length=2048,
                      params_string="137M", quantization="Q8_0", size_bytes=146_000_000),
    ])
    with ollama, lmstudio:
        yield {"ollama": ollama.url, "lmstudio": lmstudio.url}


_REWRITES = (
    (re.compile(r"http://localhost:11434"), "ollama"),
    (re.compile(r"http://localhost:1234"), "lmstudio"),
)


def rewrite_urls(code: str, urls: dict[str, str]) -> str:
    """Point the default loopback addresses written in an example at the fake servers.

    >>> urls = {"ollama": "http://127.0.0.1:5", "lmstudio": "http://127.0.0.1:6"}
    >>> rewrite_urls('u = "http://localhost:1234/v1"; v = "http://127.0.0.1:11434"', urls)
    'u = "http://127.0.0.1:6/v1"; v = "http://127.0.0.1:11434"'
    """
    for pattern, key in _REWRITES:
        code = pattern.sub(urls[key], code)
    return code


def normalize_output(text: str, urls: dict[str, str]) -> str:
    """Printed output as a user with the servers on their default ports would see it.

    >>> normalize_output("on http://127.0.0.1:5/x", {"ollama": "http://127.0.0.1:5", "lmstudio": "http://127.0.0.1:6"})
    'on http://127.0.0.1:11434/x'
    """
    for key, default in (("ollama", "http://127.0.0.1:11434"), ("lmstudio", "http://127.0.0.1:1234")):
        text = re.sub(re.escape(urls[key]) + r"(?!\d)", default, text)
    return text


def _missing_third_party(exc: ModuleNotFoundError) -> str | None:
    name = exc.name or ""
    for module, dist in THIRD_PARTY.items():
        if name == module or name.startswith(module + ".") or module.startswith(name + "."):
            return dist
    return None


TEST_FUNCTION = re.compile(r"^(?:async )?def test_\w+\(", re.M)


def run_as_pytest(block: Block, code: str) -> None:
    """A block that defines tests is a test module: run it with pytest in a fresh interpreter, in the
    current (empty) working directory, and require that it collects tests and they all pass."""
    module = Path.cwd() / f"test_{Path(block.path).stem}_{block.line}.py"
    module.write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(Path.cwd()), str(module)],
        capture_output=True, text=True, timeout=240, cwd=Path.cwd(), env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, (
        f"{block.id}: the example's tests failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    )


def run_block(block: Block, urls: dict[str, str]) -> dict[str, Any]:
    """Execute one block as a script; errors point at the Markdown file and line."""
    code = "\n" * (block.line - 1) + rewrite_urls(block.code, urls)
    namespace: dict[str, Any] = {"__name__": "__docs_example__"}
    if TEST_FUNCTION.search(block.code):
        run_as_pytest(block, code)
        return namespace
    out = StringIO()
    try:
        with redirect_stdout(out):
            exec(compile(code, str(ROOT / block.path), "exec"), namespace)
    except ModuleNotFoundError as exc:
        dist = _missing_third_party(exc)
        if dist is None:
            raise
        pytest.skip(f"{dist} is not installed (only the 'before' side of a migration example needs it)")
    if block.output is not None:
        shown = normalize_output(out.getvalue(), urls)
        assert shown.rstrip() == block.output.rstrip(), (
            f"{block.id}: printed output differs from the Output block that follows it:\n{shown}"
        )
    return namespace


@pytest.fixture
def docs_env(fake_servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("OLLAMA_HOST", fake_servers["ollama"])
    monkeypatch.setenv("LM_STUDIO_API_BASE", fake_servers["lmstudio"])
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    monkeypatch.setenv("PATINOX_CONNECT_TIMEOUT", "2")
    # the fakes answer a probe in milliseconds, but a loaded machine can starve one past the default
    # 0.5 s (the fake would be reported down); a refused port still fails at once
    monkeypatch.setenv("PATINOX_PROBE_TIMEOUT", "10")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm (migration "before" side): no download
    monkeypatch.chdir(tmp_path)
    saved = dict(os.environ)
    yield fake_servers
    os.environ.clear()  # an example may set variables itself
    os.environ.update(saved)


# --------------------------------------------------------------------------- tests

@pytest.mark.parametrize("block", _params(PY_BLOCKS))
def test_python_example_runs(block: Block, docs_env: dict[str, str]) -> None:
    run_block(block, docs_env)


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in BLOCKS])
def test_block_is_tagged(block: Block) -> None:
    assert block.lang in RUN | NOT_RUN, (
        f"{block.id}: code block tagged {block.lang or '(nothing)'!r}; tag it python (executed) "
        f"or one of {sorted(NOT_RUN)} (shown, not executed)"
    )


def test_docs_have_examples() -> None:
    assert PY_BLOCKS, "no python examples found: is the extractor broken?"
    pages = {b.path for b in PY_BLOCKS}
    for page in ("docs/configuration.md", "docs/troubleshooting.md", "docs/testing.md", "docs/migration.md"):
        assert page in pages, f"{page} has no executed example"


def _section_blocks(path: Path, heading: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return [b.code for b in extract_blocks(text[start : end if end > 0 else None], path.name) if b.lang == "bash"]


def test_installation_has_the_readme_commands() -> None:
    readme = ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("no README.md")
    commands = _section_blocks(readme, "## The two commands")
    assert len(commands) == 2, "README.md should have exactly two command blocks under 'The two commands'"
    assert _section_blocks(DOCS / "installation.md", "## The two commands") == commands, (
        "docs/installation.md must show the two commands of README.md verbatim"
    )


# --------------------------------------------------------------------------- settings table

TABLE_START = "<!-- settings-table: generated by `python tests/test_docs.py --write`; do not edit -->"
TABLE_END = "<!-- /settings-table -->"
CONFIG_PAGE = DOCS / "configuration.md"


def _type_name(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    for prefix in ("typing.", "pydantic.types.", "patinox_core.config."):
        text = text.replace(prefix, "")
    text = text.removesuffix(" | None")  # optional: the default column says "unset"
    return text.replace(" | ", " or ").replace("Literal[", "one of [")


def _env_names(name: str, field: Any) -> list[str]:
    alias = field.validation_alias
    if alias is not None and hasattr(alias, "choices"):
        return [c for c in alias.choices if isinstance(c, str) and c.isupper()]
    return [f"PATINOX_{name.upper()}"]


def _default(field: Any) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default
    if hasattr(value, "value"):  # enums
        value = value.value
    return "unset" if value is None else f"`{value!r}`".replace("'", '"')


def _bounds(field: Any) -> str:
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    parts = [f"{symbols[k]} {getattr(m, k)}" for m in field.metadata for k in symbols if hasattr(m, k)]
    return ", ".join(parts)


def settings_table() -> str:
    """The Markdown table of every ``LocalSettings`` field, straight from ``model_fields``."""
    from patinox_core import LocalSettings

    rows = [
        "| setting (argument, config-file key) | environment variables, first found wins | type | default | bounds |",
        "|---|---|---|---|---|",
    ]
    for name, field in LocalSettings.model_fields.items():
        env = ", ".join(f"`{e}`" for e in _env_names(name, field))
        rows.append(
            f"| [`{name}`](#{name}) | {env} | `{_type_name(field.annotation)}` "
            f"| {_default(field)} | {_bounds(field)} |"
        )
    return "\n".join(rows)


def _replace_table(text: str, table: str) -> str:
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    return text[:start] + "\n" + table + "\n" + text[end:]


def test_settings_table_is_current() -> None:
    text = CONFIG_PAGE.read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text, "docs/configuration.md lost its settings-table markers"
    assert _replace_table(text, settings_table()) == text, (
        "the settings table in docs/configuration.md is stale: run `python tests/test_docs.py --write`"
    )


def test_every_setting_has_a_section() -> None:
    from patinox_core import LocalSettings

    text = CONFIG_PAGE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z_]+)`", text, flags=re.M))
    fields = set(LocalSettings.model_fields)
    assert not fields - documented, f"settings without a `### \\`name\\`` section: {sorted(fields - documented)}"
    assert not documented - fields, f"sections for settings that do not exist: {sorted(documented - fields)}"


# --------------------------------------------------------------------------- troubleshooting

def test_every_error_class_has_an_entry() -> None:
    from patinox_core import errors

    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,3} `?([A-Za-z]+Error)`?", text, flags=re.M))
    classes = {
        name for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.LocalProviderError)
    }
    assert not classes - headings, f"error classes without a troubleshooting entry: {sorted(classes - headings)}"


# --------------------------------------------------------------------------- API reference

#: The public API (docs/api.md).
PUBLIC_API = {
    "patinox_core": [
        "LocalProvider", "create_default_provider", "LocalSettings", "ProviderKind",
        "ServiceDiscovery", "Service", "ModelInfo", "Capabilities", "QualityTier", "SpeedTier",
        "Message", "ToolCall", "ChatRequest", "ChatResult", "ChatChunk", "Usage", "Metrics", "EmbeddingResult",
        "LocalProviderError", "ServiceUnavailableError", "ModelNotFoundError", "ModelNotLoadedError",
        "CapabilityError", "ContextOverflowError", "RequestTimeoutError", "ServerError",
        "InvalidResponseError", "ConfigurationError", "RecoveryStrategy",
    ],
    "patinox_langchain": ["ChatPatinox", "PatinoxEmbeddings"],
    "patinox_llamaindex": ["Patinox", "PatinoxEmbedding"],
}
PUBLIC_NAMES = [(mod, name) for mod, names in PUBLIC_API.items() for name in names]


def _own_doc(obj: Any) -> str:
    """The object's own docstring (not inherited, not the signature dataclasses generate)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    doc = (doc or "").strip()
    if isinstance(obj, type) and doc.startswith(f"{obj.__name__}("):
        return ""
    return doc


@pytest.mark.parametrize(("module", "name"), PUBLIC_NAMES, ids=[f"{m}.{n}" for m, n in PUBLIC_NAMES])
def test_public_name_in_api_reference(module: str, name: str) -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    assert re.search(rf"^::: {module}\.{name}\s*$", text, flags=re.M), f"docs/api.md lacks `::: {module}.{name}`"
    obj = getattr(importlib.import_module(module), name)
    assert _own_doc(obj), f"{module}.{name} has no docstring of its own"


# --------------------------------------------------------------------------- site

def _nav_pages(nav: Any) -> Iterator[str]:
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _nav_pages(value)


def test_every_page_is_in_the_nav() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs")
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    in_nav = set(_nav_pages(config["nav"]))
    pages = {p.name for p in DOCS.glob("*.md")}
    assert not pages - in_nav, f"pages missing from the nav of mkdocs.yml: {sorted(pages - in_nav)}"
    assert not in_nav - pages, f"nav entries without a page: {sorted(in_nav - pages)}"


@pytest.mark.timeout(300)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[test]' installs it)")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_docs.py --write   (regenerates the settings table)")
    sys.path.insert(0, str(ROOT))
    page = CONFIG_PAGE.read_text(encoding="utf-8")
    CONFIG_PAGE.write_text(_replace_table(page, settings_table()), encoding="utf-8")
    print(f"updated {CONFIG_PAGE.relative_to(ROOT)}")
