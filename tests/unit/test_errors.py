"""errors.py: the tree, recovery strategies, messages, pickling, fallback policy; public exports."""

from __future__ import annotations

import pickle

import pytest

import patinox_core
from patinox_core import (
    CapabilityError,
    ConfigurationError,
    ContextOverflowError,
    InvalidResponseError,
    LocalProviderError,
    ModelNotFoundError,
    ModelNotLoadedError,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from patinox_core.errors import most_actionable, should_fall_back
from patinox_core.kinds import no_server_hint
from patinox_core.routing.fallback import exhausted_error

DEFAULTS = {
    ServiceUnavailableError: RecoveryStrategy.FALLBACK,
    ModelNotFoundError: RecoveryStrategy.PULL_MODEL,
    ModelNotLoadedError: RecoveryStrategy.LOAD_MODEL,
    CapabilityError: RecoveryStrategy.NONE,
    ContextOverflowError: RecoveryStrategy.REDUCE_INPUT,
    RequestTimeoutError: RecoveryStrategy.RETRY,
    ServerError: RecoveryStrategy.RETRY,
    InvalidResponseError: RecoveryStrategy.RETRY,
    ConfigurationError: RecoveryStrategy.FIX_CONFIG,
}

# The public API: the names of config, errors and types importable from patinox_core.
PUBLIC = ["LocalSettings", "ProviderKind", "Message", "ToolCall", "ChatRequest", "ChatResult", "ChatChunk", "Usage",
          "Metrics", "EmbeddingResult", "LocalProviderError", "ServiceUnavailableError", "ModelNotFoundError",
          "ModelNotLoadedError", "CapabilityError", "ContextOverflowError", "RequestTimeoutError", "ServerError",
          "InvalidResponseError", "ConfigurationError", "RecoveryStrategy"]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_import_from_patinox_core(name: str) -> None:
    assert getattr(patinox_core, name) is not None and name in patinox_core.__all__


@pytest.mark.parametrize(("cls", "recovery"), list(DEFAULTS.items()))
def test_tree_and_default_recovery(cls: type[LocalProviderError], recovery: RecoveryStrategy) -> None:
    err = cls("boom")
    assert isinstance(err, LocalProviderError) and err.recovery is recovery
    assert (err.service, err.model, err.status_code, err.attempts) == (None, None, None, ())
    assert cls("boom", recovery=RecoveryStrategy.NONE).recovery is RecoveryStrategy.NONE


def test_message_carries_service_and_hint() -> None:
    err = ModelNotFoundError("model 'llama3.2' is not installed", hint="run `ollama pull llama3.2`",
                             service="http://127.0.0.1:11434", model="llama3.2", status_code=404)
    assert str(err) == ("model 'llama3.2' is not installed (service http://127.0.0.1:11434). "
                        "run `ollama pull llama3.2`")
    assert str(ServiceUnavailableError("cannot connect to http://h:1", service="http://h:1")) == (
        "cannot connect to http://h:1")  # the service is not repeated
    assert repr(err) == ("ModelNotFoundError(\"model 'llama3.2' is not installed\", recovery=pull_model, "
                         "service='http://127.0.0.1:11434', model='llama3.2', status_code=404)")


@pytest.mark.parametrize("cls", list(DEFAULTS))
def test_errors_pickle_with_their_fields(cls: type[LocalProviderError]) -> None:
    err = cls("boom", hint="do x", service="http://h:1", model="m", status_code=500,
              attempts=[ServerError("first")])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and str(back) == str(err)
    assert (back.recovery, back.service, back.model, back.status_code, back.hint) == (
        err.recovery, "http://h:1", "m", 500, "do x")
    assert [a.message for a in back.attempts] == ["first"]


def test_should_fall_back() -> None:
    assert should_fall_back(ServiceUnavailableError("x")) and should_fall_back(ServerError("x"))
    assert should_fall_back(RequestTimeoutError("x")) and should_fall_back(InvalidResponseError("x"))
    for cls in (ModelNotFoundError, CapabilityError, ContextOverflowError, ConfigurationError, ModelNotLoadedError):
        assert not should_fall_back(cls("x"))
    assert should_fall_back(CapabilityError("x", recovery=RecoveryStrategy.FALLBACK))


def test_most_actionable_carries_every_attempt() -> None:
    attempts = [ServiceUnavailableError("down"), ModelNotFoundError("missing"), ServerError("500")]
    best = most_actionable(attempts)
    assert best is attempts[1] and best.attempts == tuple(attempts)
    assert most_actionable([RequestTimeoutError("t"), ServiceUnavailableError("d")]).message == "t"


def test_a_fallback_with_no_candidate_says_what_to_start() -> None:
    err = exhausted_error([])
    assert isinstance(err, ServiceUnavailableError) and err.hint == no_server_hint()
    assert "start Ollama with `ollama serve`" in str(err) and "`patinox serve`" in str(err)
    attempts = [ServiceUnavailableError("down"), ModelNotFoundError("missing")]
    assert exhausted_error(attempts) is attempts[1]
    with pytest.raises(ValueError):
        most_actionable([])
