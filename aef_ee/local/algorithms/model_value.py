"""The value mechanism shared by ``ee.Classifier`` and ``ee.Clusterer``: an algorithm name with its parameters and,
once trained, the training table.

Model values are immutable: ``train`` (and ``setOutputMode``) return a copy with ``dataclasses.replace``. The fitted
scikit-learn model is not part of the value; each family fits it on first use and caches it under
:meth:`ModelValue.fit_key` (see :class:`~aef_ee.local.algorithms.training_table.FitCache`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from aef_ee.local.errors import InvalidArgument

__all__ = ["ModelValue", "Training"]


class Training(Protocol):
    """What a training table offers the shared mechanism: its input names (column order) and a content digest."""

    names: tuple[str, ...]

    @property
    def key(self) -> str: ...


TrainingT = TypeVar("TrainingT", bound=Training)


@dataclasses.dataclass(frozen=True, eq=False)
class ModelValue(Generic[TrainingT]):
    """An Earth Engine model value (untrained when ``training`` is None).

    Subclasses set :attr:`KIND`, Earth Engine's type name ('Classifier' or 'Clusterer').

    Attributes:
      name: the constructor's algorithm name (``Classifier.smileRandomForest``).
      params: its arguments as sorted (name, value) pairs, so equal settings give equal values and cache keys.
      training: the training table, or None before ``train``.
    """

    KIND: ClassVar[str]

    name: str
    params: tuple[tuple[str, Any], ...]
    training: TrainingT | None = None

    @classmethod
    def create(cls, name: str, **params: Any) -> Self:
        """An untrained value of the constructor ``name`` with its arguments."""
        return cls(name, tuple(sorted(params.items())))

    @classmethod
    def of(cls, value: Any, where: str) -> Self:
        """``value`` itself when it is one of these.

        Raises:
          InvalidArgument: it is not (the message names ``where`` and the type received).
        """
        if not isinstance(value, cls):
            raise InvalidArgument(f"{where}: expected a {cls.KIND}; got {type(value).__name__}.")
        return value

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def short_name(self) -> str:
        """The constructor's name without the type prefix (``smileRandomForest``)."""
        return self.name.split(".", 1)[-1]

    def to_info(self) -> dict[str, Any]:
        """What ``getInfo`` shows: the type, the constructor, its non-null parameters and, once trained, the schema."""
        info: dict[str, Any] = {"type": self.KIND, self.KIND.lower(): self.short_name,
                                "parameters": {k: v for k, v in self.params if v is not None}}
        if self.training is not None:
            info["schema"] = list(self.training.names)
        return info

    def require_training(self, where: str) -> TrainingT:
        """The training table.

        Raises:
          InvalidArgument: the value has not been trained.
        """
        if self.training is None:
            raise InvalidArgument(f"{where}: the {self.KIND.lower()} has not been trained; call train() first.")
        return self.training

    def fit_key(self, *settings: Any) -> str:
        """The fit-cache key: constructor, parameters, further fit ``settings`` and the training data's digest."""
        training = self.require_training("fit")
        return "|".join([self.name, repr(self.params), *map(str, settings), training.key])
