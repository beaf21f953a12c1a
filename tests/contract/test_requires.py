"""Choosing a model by requirement (``LocalProvider.select``, ``patinox models --explain``) over a
catalogue of ten models on three real loopback fakes: Ollama 0.30 (one cloud model), LM Studio and
llama-server in router mode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from patinox_core import ConfigurationError, LocalProvider, LocalSettings, ModelNotFoundError, Requirements
from patinox_core.cli import main
from patinox_core.errors import RecoveryStrategy
from patinox_core.fakes.llama_server import FakeLlamaRouter
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel

CLOUD = "https://ollama.com:443"


def ollama_models() -> list[OllamaModel]:
    return [
        OllamaModel("llama3.2", capabilities=["completion", "tools"], loaded=True, loaded_context_length=8192),
        OllamaModel("qwen3:8b", capabilities=["completion", "tools", "thinking"], family="qwen3",
                    parameter_size="8.2B", context_length=40960, size=5_225_376_047),
        OllamaModel("gemma3:12b", capabilities=["completion", "vision"], family="gemma3", parameter_size="12.2B",
                    size=8_149_190_253),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], family="nomic-bert", parameter_size="137M",
                    quantization="F16", context_length=2048, size=274_302_450),
        OllamaModel("gpt-oss:120b-cloud", capabilities=["completion", "tools", "thinking"], family="gptoss",
                    parameter_size="116.8B", quantization="MXFP4", size=384, remote_host=CLOUD),
    ]


def lmstudio_models() -> list[LMStudioModel]:
    return [
        LMStudioModel("mistralai/devstral-small-2507", tool_use=True, loaded=True, params_string="24B",
                      max_context_length=131072, loaded_context_length=32768, size_bytes=14_300_000_000),
        LMStudioModel("google/gemma-3-4b", type="vlm", loaded=False, params_string="4B", arch="gemma3",
                      max_context_length=131072, size_bytes=3_340_000_000),
        LMStudioModel("text-embedding-bge-m3", type="embeddings", loaded=False, max_context_length=8192,
                      params_string="568M", size_bytes=437_000_000),
    ]


ROUTER = {"qwen2.5-coder-14b-instruct": "loaded", "smollm2-360m-instruct": "unloaded"}


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[FakeOllamaServer, FakeLMStudioServer, FakeLlamaRouter]]:
    with ExitStack() as stack:
        ollama = stack.enter_context(FakeOllamaServer(ollama_models(), version="0.30.0"))
        lms = stack.enter_context(FakeLMStudioServer(lmstudio_models()))
        router = stack.enter_context(FakeLlamaRouter(dict(ROUTER)))
        yield ollama, lms, router


def settings_for(*urls: str) -> LocalSettings:
    # generous probe and connect timeouts: a fake that answers late under load must still be found
    return LocalSettings(endpoints=[{"url": u} for u in urls], discover_defaults=False, max_retries=0,
                         probe_timeout=10, connect_timeout=10)


@pytest.fixture
def provider(fleet) -> Iterator[LocalProvider]:
    with LocalProvider(settings_for(*(s.url for s in fleet))) as p:
        yield p


def test_the_catalogue_has_ten_models_on_three_servers(provider, fleet):
    models = provider.list_models()
    assert len(models) == 10 and len({m.service for m in models}) == 3


# What a person would pick from this catalogue, rule by rule.
PICKS = [
    # nothing asked: the best loaded chat model (devstral: loaded and the largest)
    ({}, "mistralai/devstral-small-2507"),
    ({"tools": True}, "mistralai/devstral-small-2507"),
    # 32k of context: devstral has 32768 allocated; llama3.2 only 8192 allocated
    ({"tools": True, "min_context": 32768}, "mistralai/devstral-small-2507"),
    # 64k: devstral's allocation is too small now; the router's loaded qwen2.5-coder (131072) qualifies
    ({"tools": True, "min_context": 65536}, "qwen2.5-coder-14b-instruct"),
    # only qwen3 thinks (gpt-oss is a cloud model)
    ({"thinking": True}, "qwen3:8b"),
    # images: two candidates, neither loaded: the better one (12B over 4B)
    ({"vision": True}, "gemma3:12b"),
    # images, and at most 4 GB on disk: the 4B one
    ({"vision": True, "max_size_bytes": 4_000_000_000}, "google/gemma-3-4b"),
    # embeddings: bge-m3 (8192 context) over nomic (2048)
    ({"embeddings": True}, "text-embedding-bge-m3"),
    ({"embeddings": True, "servers": ["ollama"]}, "nomic-embed-text:latest"),
    # small and loaded: llama3.2 (2 GB, loaded) over gemma-3-4b (3.3 GB, not loaded)
    ({"max_size_bytes": 4_000_000_000}, "llama3.2:latest"),
    # the best, loaded or not
    ({"prefer": "best"}, "mistralai/devstral-small-2507"),
    ({"prefer": "best", "tools": True, "allow_remote": True}, "gpt-oss:120b-cloud"),
    # the fastest: the 360M model, very fast by size
    ({"prefer": "fastest"}, "smollm2-360m-instruct"),
    ({"prefer": "fastest", "tools": True, "min_context": 16384}, "qwen3:8b"),
    # only the LM Studio server
    ({"tools": True, "servers": ["LMSTUDIO_URL"]}, "mistralai/devstral-small-2507"),
    ({"vision": True, "servers": ["LMSTUDIO_URL"]}, "google/gemma-3-4b"),
]


@pytest.mark.parametrize(("requires", "expected"), PICKS, ids=[json.dumps(r) for r, _ in PICKS])
def test_each_requirement_picks_what_a_person_would(provider, fleet, requires, expected):
    if "servers" in requires:
        requires = {**requires, "servers": [fleet[1].url if s == "LMSTUDIO_URL" else s for s in requires["servers"]]}
    chosen = provider.select(requires)
    assert chosen.name == expected, chosen.explanation
    assert chosen.model.name in chosen.explanation
    names = {i.name for i, _ in chosen.why_not()}
    assert expected not in names and len(names) == 9  # every other model has its reason


def test_the_same_choice_whatever_order_the_servers_are_listed(fleet):
    for order in (fleet, fleet[::-1], (fleet[1], fleet[2], fleet[0])):
        with LocalProvider(settings_for(*(s.url for s in order))) as p:
            assert [p.select(r).name for r, _ in PICKS[:9]] == [e for _, e in PICKS[:9]]


def test_the_async_select_agrees(provider):
    assert asyncio.run(provider.aselect({"thinking": True})).name == "qwen3:8b"


def test_the_grammar_and_the_dict_and_the_model_choose_alike(provider):
    grammar = provider.select("tools, ctx>=64k")
    typed = provider.select(Requirements(tools=True, min_context=65536))
    assert grammar.name == typed.name == "qwen2.5-coder-14b-instruct"
    assert grammar.requirements == typed.requirements


def test_a_cloud_model_is_never_chosen_unless_allowed(provider):
    cloud = next(m for m in provider.list_models() if m.name == "gpt-oss:120b-cloud")
    assert cloud.remote and not next(m for m in provider.list_models() if m.name == "qwen3:8b").remote
    for req in ({"prefer": "best"}, {"tools": True, "thinking": True, "prefer": "best"}):
        assert provider.select(req).name != cloud.name
    reasons = dict((i.name, why) for i, why in provider.select({"prefer": "best"}).why_not())
    assert "cloud" in reasons[cloud.name] and "allow_remote" in reasons[cloud.name]
    # nor as the router's default model
    assert provider.get_model(None).name != cloud.name


def test_nothing_qualifies_names_the_requirement_that_excluded_the_last_candidates(provider):
    with pytest.raises(ModelNotFoundError) as err:
        provider.select({"vision": True, "min_context": 200_000})
    message = str(err.value)
    assert "min_context=200000 excluded the last candidates" in message
    assert "gemma3:12b: context 131072 (trained) < 200000" in message
    assert err.value.recovery is RecoveryStrategy.FIX_CONFIG and "lower min_context" in message

    with pytest.raises(ModelNotFoundError) as err:
        provider.select({"thinking": True, "vision": True})
    assert "thinking=True excluded the last candidates" in str(err.value)
    assert "gemma3:12b" in str(err.value) and err.value.recovery is RecoveryStrategy.PULL_MODEL

    with pytest.raises(ModelNotFoundError) as err:
        provider.select({"thinking": True, "servers": ["lmstudio"]})
    assert "thinking=True" in str(err.value)

    with pytest.raises(ModelNotFoundError) as err:  # qwen3 is the one local thinker, and too big
        provider.select({"thinking": True, "max_size_bytes": 1_000_000_000})
    assert "max_size_bytes=1000000000 excluded the last candidates (qwen3:8b: size 5.23GB > 1GB)" in str(err.value)


@pytest.mark.parametrize(("bad", "nearest"), [({"tool": True}, "tools"), ({"min_ctx": 4096}, "min_context"),
                                              ({"allow_cloud": True}, "allow_remote"), ("toosl", "tools"),
                                              ("ctx>=32q", "ctx>=32k")])
def test_an_unknown_requirement_names_the_nearest_valid_one(provider, bad, nearest):
    with pytest.raises(ConfigurationError) as err:
        provider.select(bad)
    assert nearest in str(err.value)


def test_ollama_030_lists_everything_so_no_api_show(fleet):
    ollama = fleet[0]
    ollama.requests.clear()
    with LocalProvider(settings_for(ollama.url)) as p:
        models = {m.name: m for m in p.list_models()}
    paths = [r.path for r in ollama.requests]
    assert "/api/tags" in paths and "/api/show" not in paths
    qwen = models["qwen3:8b"]
    assert (qwen.context_length, qwen.capabilities.thinking, qwen.source["thinking"].name) == (40960, True, "SERVER")
    assert models["nomic-embed-text:latest"].capabilities.embeddings


def test_an_older_ollama_still_asks_api_show_per_model():
    with FakeOllamaServer(ollama_models()[:2], version="0.12.10") as old, LocalProvider(settings_for(old.url)) as p:
        assert {m.name: m.context_length for m in p.list_models()}["qwen3:8b"] == 40960
        assert sum(r.path == "/api/show" for r in old.requests) == 2


# -- patinox models --explain ---------------------------------------------------------------------

def explain(provider: LocalProvider, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["models", "--explain", *argv], provider=provider)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(out: str) -> dict[str, str]:
    table = out.split("Not picked\n", 1)[1].splitlines()[1:]
    return {line.split()[0]: line.split(None, 2)[2] for line in table}


def test_explain_prints_the_pick_and_why_not_each_other(provider, fleet, capsys):
    code, out, err = explain(provider, capsys, "tools, ctx>=32k")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "Requirements: tools, ctx>=32k (prefer=loaded)"
    assert lines[1].startswith(f"Picked: mistralai/devstral-small-2507 on {fleet[1].url}: loaded, quality large")
    why = rows(out)
    assert len(why) == 9
    assert why["qwen2.5-coder-14b-instruct"] == "qualifies, ranks #2: quality medium < large"
    assert why["qwen3:8b"] == "qualifies, ranks #3: not loaded"
    assert why["llama3.2:latest"] == "context 8192 (allocated) < 32768"
    assert why["gemma3:12b"] == "no tool calling (per server facts)"
    assert why["nomic-embed-text:latest"] == "no chat (per server facts)"
    assert why["gpt-oss:120b-cloud"] == "a cloud model (allow_remote=True allows it)"
    assert why["smollm2-360m-instruct"] == "context length unknown"


def test_explain_when_nothing_qualifies_exits_1_with_the_reason(provider, capsys):
    code, out, err = explain(provider, capsys, "vision, ctx>=200k")
    assert code == 1 and "Picked: nothing" in out
    assert "min_context=204800 excluded the last candidates" in err
    assert rows(out)["gemma3:12b"] == "context 131072 (trained) < 204800"


def test_explain_json(provider, capsys):
    code, out, _ = explain(provider, capsys, "vision, size<=4GB", "--json")
    data = json.loads(out)
    assert code == 0 and data["picked"]["name"] == "google/gemma-3-4b"
    assert data["requirements"]["max_size_bytes"] == 4_000_000_000
    assert {r["name"]: r["why"] for r in data["not_picked"]}["gemma3:12b"] == "size 8.15GB > 4GB"


def test_explain_bad_grammar_is_an_error_before_any_request(provider, fleet, capsys):
    before = sum(len(s.requests) for s in fleet)
    code, out, err = explain(provider, capsys, "tools, ctx<=32k")
    assert code == 1 and out == "" and "write it like 'ctx>=32k'" in err
    assert sum(len(s.requests) for s in fleet) == before
