"""``requires=`` for ``ChatPatinox`` and ``PatinoxEmbeddings``: the model chosen by requirement
(``LocalProvider.select``), once, at the first call or ``resolve()``; never in ``__init__``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, PrivateAttr, field_validator, model_validator

from patinox_core.errors import ConfigurationError
from patinox_core.requirements import Requirements, as_requirements

if TYPE_CHECKING:
    from patinox_core.capabilities import ModelInfo


class RequiresMixin(BaseModel):
    """The ``requires`` field and the choice it makes (``_chosen``)."""

    requires: Requirements | None = None
    """Choose the model by what it must do instead of naming it: a ``Requirements``, a dict of its
    keys (``{"tools": True, "min_context": 32768}``) or its text (``"tools, ctx>=32k"``). The choice
    is made once, at the first call (or ``resolve()``). See docs/choosing.md."""

    _chosen: ModelInfo | None = PrivateAttr(default=None)
    _wants_embeddings: ClassVar[bool] = False  # PatinoxEmbeddings: the choice is an embedding model

    @field_validator("requires", mode="before")
    @classmethod
    def _requires(cls, v: Any) -> Any:
        return as_requirements(v)  # a ConfigurationError naming the nearest key, not a ValidationError

    @model_validator(mode="after")
    def _model_or_requires(self) -> RequiresMixin:
        if self.requires is not None and getattr(self, "model", None):
            raise ConfigurationError(f"{type(self).__name__} got both model= and requires=",
                                     hint="name the model, or say what it must do with requires=, not both")
        return self

    def _requirements(self) -> Requirements:
        assert self.requires is not None
        return self.requires.model_copy(update={"embeddings": True}) if self._wants_embeddings else self.requires

    def _pending(self, kwargs: dict[str, Any] | None = None) -> bool:
        """A choice is due: ``requires`` set, not made yet, and no per-call ``model=``."""
        return self.requires is not None and self._chosen is None and not (kwargs or {}).get("model")

    def _adopt_choice(self, info: ModelInfo) -> ModelInfo:
        self._chosen = info
        return info

    def _choose(self) -> ModelInfo:
        """Select now (network I/O) and keep the choice."""
        return self._adopt_choice(self._get_provider().select(self._requirements()).model)  # type: ignore[attr-defined]

    async def _achoose(self) -> ModelInfo:
        selection = await self._get_provider().aselect(self._requirements())  # type: ignore[attr-defined]
        return self._adopt_choice(selection.model)

    def _chosen_name(self) -> str | None:
        return self._chosen.name if self._chosen is not None else None


__all__ = ["RequiresMixin"]
