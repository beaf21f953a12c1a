"""Issue 15 item 8: statements in the docs that used to be untrue, each checked against the code or
its behaviour (on loopback fakes)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_cpp_fake import LlamaCppPython, tool_call

from patinox_core.backends.openai_compat import FLAVORS
from patinox_core.config import LocalSettings
from patinox_core.errors import ConfigurationError, ModelNotFoundError
from patinox_core.router import LocalProvider
from patinox_langchain import ChatPatinox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return " ".join((DOCS / name).read_text(encoding="utf-8").split())  # whitespace-normalised


@pytest.fixture
def server() -> Iterator[LlamaCppPython]:
    with LlamaCppPython() as srv:
        yield srv


def chat(srv: LlamaCppPython, **kw) -> ChatPatinox:
    return ChatPatinox(base_url=srv.url, max_retries=0, **kw)


def test_installation_names_every_core_dependency() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0] for d in deps}
    sentence = page("installation.md").split("The core (`patinox_core`) depends only on ")[1].split(".")[0]
    assert {"httpx", "pydantic", "pydantic-settings", "orjson", "aiohttp", "tomli"} <= names
    assert all(name in sentence for name in names), sentence


def test_discovery_flavor_names_are_the_ones_the_code_uses() -> None:
    text = page("discovery.md")
    listed = text.split("The verdict is the service's `flavor`")[1].split("Its `kind`")[0]
    named = set(re.findall(r'`"([a-z_0-9-]+)"`', listed))
    assert named == {"ollama", "lmstudio", *FLAVORS} and "`None`" in listed
    assert not re.search(r'`"(llama-server|llama-cpp-python|openai)"`', text)


def test_server_tool_call_ids_are_kept_as_the_docs_say(server: LlamaCppPython) -> None:
    for name in ("langchain.md", "llamaindex.md"):
        assert "make their own, random ones" in page(name)
    server.message = {"role": "assistant", "content": None,
                      "tool_calls": [tool_call("get_weather", '{"city": "Paris"}', call_id="call_random_7f3a")]}
    llm = chat(server, model="gemma3-270m").bind_tools([{"name": "get_weather", "parameters": {"type": "object"}}])
    assert llm.invoke("hi").tool_calls[0]["id"] == "call_random_7f3a"


def test_unknown_arguments_fail_at_call_time(server: LlamaCppPython) -> None:
    assert "raises a `ConfigurationError` when the call is made" in page("langchain.md")
    bound = chat(server, model="gemma3-270m").bind(num_predict=5)  # construction and bind() accept it
    with pytest.raises(ConfigurationError, match="unknown argument"):
        bound.invoke("hi")
    assert not any(r.path == "/v1/chat/completions" for r in server.requests)


def test_migration_says_stream_usage_is_accepted_and_a_no_op() -> None:
    row = next(line for line in (DOCS / "migration.md").read_text().splitlines() if "`stream_usage=True`" in line)
    assert "accepted, changes nothing" in row and "always on" not in row


def test_llama_cpp_python_typos_are_rejected_before_sending(server: LlamaCppPython) -> None:
    assert "patinox rejects a name its `/v1/models` does not list" in page("troubleshooting.md")
    with pytest.raises(ModelNotFoundError):
        chat(server, model="gemma3-270mm").invoke("hi")
    assert not any(r.path == "/v1/chat/completions" for r in server.requests)


def test_metrics_table_matches_llama_cpp_python(server: LlamaCppPython) -> None:
    text = page("langchain.md")
    assert "| `tokens_per_second` |" in text and "llama-cpp-python sends none" in text
    llm = chat(server, model="gemma3-270m")
    assert set(llm.invoke("hi").response_metadata["metrics"]) == {"total_duration_s"}
    last = list(llm.stream("hi"))[-1]
    assert set(last.response_metadata["metrics"]) == {"time_to_first_token_s", "total_duration_s"}


def test_each_provider_owns_its_pool() -> None:
    assert "each `LocalProvider` owns one pooled HTTP client" in page("performance.md")
    settings = LocalSettings(discover_defaults=False)
    with LocalProvider(settings) as one, LocalProvider(settings) as two:
        assert one._transport.client() is not two._transport.client()
        a, b = ChatPatinox(client=one), ChatPatinox(client=one)
        assert a._get_provider()._transport.client() is b._get_provider()._transport.client()


def test_progress_widget_promise_names_ipywidgets() -> None:
    for name in ("langchain.md", "llamaindex.md"):
        assert "a widget in Jupyter when ipywidgets is installed" in page(name)
    notebook = (ROOT / "notebooks" / "langchain_quickstart.ipynb").read_text()
    assert "when ipywidgets is installed" in notebook


def test_context_pages_describe_the_effective_window_and_the_400() -> None:
    text = page("configuration.md")
    assert "*is* the effective window where the server cannot tell what it allocated" in text
    assert "reject the request with HTTP 400" in text
