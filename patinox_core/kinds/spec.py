"""What one server kind is, as data: ``KindSpec``, its ``Quirks``, and the ``ProviderKind`` families.

A spec holds everything patinox knows about one kind of server (Ollama, LM Studio, llama-server,
vLLM, SGLang, TGI, ...): how it is named and configured, how discovery recognises it, which backend
serves it, what it needs beyond plain OpenAI, its capability defaults and what to tell a user about
it. The registry (``registry.py``) lists the specs; nothing here does I/O or imports a backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..facts import ServerFacts

if TYPE_CHECKING:
    from .load import LoadProbe


class ProviderKind(str, Enum):
    """Which server family to use. ``LOCAL`` means: whatever discovery finds."""

    LOCAL = "local"
    OLLAMA = "ollama"
    LMSTUDIO = "lmstudio"
    OPENAI_COMPATIBLE = "openai_compatible"


@dataclass(frozen=True, slots=True)
class Quirks:
    """What one server flavor needs beyond plain OpenAI ``/v1/*``."""

    flavor: str | None = None
    schema_as_json_object: bool = False  # json_schema rejected: {"type":"json_object","schema":…}
    json_mode_as_schema: bool = False  # json_object rejected: a permissive json_schema instead
    required_unsupported: bool = False  # tool_choice="required" answers 500
    think_via_template_kwargs: bool = False  # chat_template_kwargs.enable_thinking
    think_off_effort: str | None = None  # reasoning_effort value that turns thinking off
    think_off_unsupported: bool = False  # no documented request field turns thinking off
    reasoning_history: str | None = None  # field that carries earlier turns' reasoning back (None: dropped)
    schema_before_reasoning: bool = False  # a JSON schema constrains the reasoning too (the JSON lands there)
    listing_is_loaded: bool = False  # /v1/models lists only what is resident
    rewrite_body: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # last word on a chat body


    @property
    def can_switch_thinking(self) -> bool:
        """A request can turn thinking off here (``chat_template_kwargs`` or a ``reasoning_effort``)."""
        return self.think_via_template_kwargs or self.think_off_effort is not None


@dataclass(frozen=True, slots=True)
class Listing:
    """A ``GET /v1/models`` reply digested once for the fingerprint rules: the body, its model
    entries, their ``owned_by`` values and the reply's headers (names lower-cased).

    >>> Listing.of({"data": [{"id": "m", "owned_by": "vllm"}, "junk"]}, {"Server": "uvicorn"}).owners
    frozenset({'vllm'})
    """

    body: Any
    entries: tuple[Mapping[str, Any], ...]
    owners: frozenset[str]
    headers: Mapping[str, str]

    @classmethod
    def of(cls, body: Any, headers: Mapping[str, str] | None = None) -> Listing:
        data = body.get("data") if isinstance(body, Mapping) else None
        entries = tuple(e for e in data if isinstance(e, Mapping)) if isinstance(data, list) else ()
        return cls(body, entries, frozenset(str(e.get("owned_by", "")) for e in entries),
                   {k.lower(): str(v) for k, v in (headers or {}).items()})

    def has(self, key: str) -> bool:
        """The body is a mapping with ``key``."""
        return isinstance(self.body, Mapping) and key in self.body


#: ``(path, parse)``: a ``GET`` whose JSON reply ``parse`` turns into facts (or a verdict, a version).
Probe = tuple[str, Callable[[Any], Any]]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One server kind, declared in one place (one module per kind under ``patinox_core.kinds``).

    Naming: ``flavor`` is the string ``Service.flavor`` carries (``None``: a plain OpenAI-compatible
    server), ``title`` what users read, ``family`` the public ``ProviderKind`` it belongs to, and
    ``aliases`` the names ``provider=`` and an endpoint's ``kind`` accept for that family.
    Configuration: ``default_port`` for a URL without one, ``strip_v1`` drops a trailing ``/v1``,
    ``default_url`` is probed without configuration, ``settings_field`` is its ``LocalSettings`` URL
    field and ``env_vars`` the other tools' variables for it (in precedence order; ``env_var`` the
    one hints name, with ``env_example`` as its value).
    Discovery: ``root_rule(status, text, headers)`` recognises ``GET /``; ``listing_rule`` /
    ``weak_listing_rule`` recognise a ``/v1/models`` ``Listing`` (strong rules of every kind first,
    in registry order); ``native_lists`` are model-list paths that prove the kind when
    ``/v1/models`` is no OpenAI list; ``identify`` is a probe for an OpenAI list no rule knew;
    ``version_probe`` reads the version; ``openai_flavor`` is the flavor its own ``/v1`` fingerprints
    as (a family's own spec only), and ``unrecognised_ok`` accepts an unknown ``/v1`` as this kind.
    Serving: ``backend`` (``module:Class``, imported lazily), ``quirks``, ``facts_probes`` (extra
    ``GET`` endpoints laid over every model's facts), ``models_probes`` (``GET`` endpoints whose
    reply gives facts per model, merged into the listing's by name), ``gateway`` (the kind fronts
    other engines: one server to patinox, whose facts come only from its own metadata), ``structured_output_default``,
    ``reports_allocation`` (the server tells the allocated context), ``context_default`` (what
    it allocates, given its version), ``context_per_request`` (a request may set its context, as
    Ollama's ``num_ctx``) and ``truncates_prompt`` (a prompt over the context is cut silently).
    Hints: ``unreachable_hint``, ``start_command``, ``install_note``, ``pull_hint`` (with
    ``{name}``) and ``example_model``. ``default_port`` is the port the server listens on by
    default; for a family's own spec it is also the port a URL without one gets. ``default_slots``
    is the requests it serves at once when neither the server nor the endpoint's
    ``max_concurrency`` says (routing's capacity). ``load_probe``: where the server reports its own
    requests in flight (``load.py``; None: it does not).
    """

    flavor: str | None
    title: str
    family: ProviderKind
    aliases: tuple[str, ...] = ()
    default_port: int = 8080
    strip_v1: bool = True
    default_url: str | None = None
    settings_field: str | None = None
    env_vars: tuple[str, ...] = ()
    env_var: str | None = None
    env_example: str | None = None
    root_rule: Callable[[int, str, Mapping[str, str]], bool] | None = None
    listing_rule: Callable[[Listing], bool] | None = None
    weak_listing_rule: Callable[[Listing], bool] | None = None
    native_lists: tuple[str, ...] = ()
    identify: Probe | None = None
    version_probe: Probe | None = None
    openai_flavor: str | None = None
    unrecognised_ok: bool = False
    backend: str = "patinox_core.backends.openai_compat:OpenAICompatBackend"
    quirks: Quirks = Quirks()
    facts_probes: tuple[Probe, ...] = ()
    models_probes: tuple[Probe, ...] = ()
    gateway: bool = False
    structured_output_default: bool = False
    reports_allocation: bool = False
    default_slots: int = 4
    context_default: Callable[[str | None], int | None] | None = None
    context_per_request: bool = False
    truncates_prompt: bool = False
    unreachable_hint: str = "start the server or fix the URL"
    start_command: str | None = None
    install_note: str | None = None
    pull_hint: str | None = None
    example_model: str | None = None
    load_probe: LoadProbe | None = None


def with_props(facts: list[ServerFacts], props: ServerFacts) -> list[ServerFacts]:
    """Lay server-wide facts over every model (a model's own capability flags are kept beside them).

    >>> with_props([{"name": "m", "capabilities": {"tools": True}}], {"loaded_context_length": 8, "capabilities": {}})
    [{'name': 'm', 'capabilities': {'tools': True}, 'loaded_context_length': 8}]
    """
    return [{**f, **props, "capabilities": {**(f.get("capabilities") or {}), **(props.get("capabilities") or {})}}
            if props else f for f in facts]


def with_models(facts: list[ServerFacts], per_model: list[ServerFacts]) -> list[ServerFacts]:
    """Lay per-model facts over the listing's entries of the same name (names the listing lacks are
    ignored: it says what this server serves to this caller).

    >>> with_models([{"name": "a", "loaded": True}, {"name": "b"}], [{"name": "a", "context_length": 8}, {"name": "z"}])
    [{'name': 'a', 'loaded': True, 'context_length': 8}, {'name': 'b'}]
    """
    by_name = {f["name"]: f for f in per_model if f.get("name")}
    out: list[ServerFacts] = []
    for fact in facts:
        extra = by_name.get(fact.get("name", ""))
        if extra is None:
            out.append(fact)
            continue
        merged: ServerFacts = {**fact, **extra}
        if fact.get("capabilities") or extra.get("capabilities"):
            merged["capabilities"] = {**(fact.get("capabilities") or {}), **(extra.get("capabilities") or {})}
        out.append(merged)
    return out


def positive_int(value: Any) -> int | None:
    """``value`` when it is a positive int (not a bool), else None.

    >>> positive_int(4096), positive_int(True), positive_int("4096"), positive_int(0)
    (4096, None, None, None)
    """
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def text_field(data: Any, key: str) -> str | None:
    """``str(data[key])`` when ``data`` is a mapping holding a non-null ``key``, else None.

    >>> text_field({"version": 3}, "version"), text_field("junk", "version"), text_field({}, "version")
    ('3', None, None)
    """
    value = data.get(key) if isinstance(data, Mapping) else None
    return None if value is None else str(value)


__all__ = ["KindSpec", "Listing", "Probe", "ProviderKind", "Quirks", "positive_int", "text_field", "with_models",
           "with_props"]
