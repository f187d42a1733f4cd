"""The table of algorithms the local engine implements, keyed by Earth Engine's algorithm names.

An implementation is a plain function taking Earth Engine's argument names as keyword arguments (already evaluated)
and returning a value. Register it with ``@algorithm("Image.add")``; several names may share one function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from aef_ee.local.errors import Unimplemented

__all__ = ["algorithm", "lookup", "implemented", "load_all"]

_ALGORITHMS: dict[str, Callable[..., Any]] = {}
_FAMILIES = (
    "image",
    "image_ops",
    "collection",
    "geometry",
    "feature",
    "filter",
    "reducer",
    "reduce_region",
    "primitives",
    "classifier",
    "clusterer",
    "confusion",
    "vectors",
    "visualize",
)
_loaded = False


def algorithm(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers the decorated function under each Earth Engine algorithm name."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for name in names:
            old = _ALGORITHMS.get(name)
            # A module re-imported after a failed import registers the same functions again; that is fine.
            if old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
                raise RuntimeError(
                    f"algorithm {name!r} registered twice: {old.__module__}.{old.__qualname__} and "
                    f"{fn.__module__}.{fn.__qualname__}")
            _ALGORITHMS[name] = fn
        return fn

    return register


def load_all() -> None:
    """Imports every algorithm family module present (each registers its algorithms on import)."""
    global _loaded
    if _loaded:
        return
    for family in _FAMILIES:
        try:
            importlib.import_module(f"aef_ee.local.algorithms.{family}")
        except ModuleNotFoundError as exc:
            if exc.name != f"aef_ee.local.algorithms.{family}":
                raise
    _loaded = True


def lookup(name: str) -> Callable[..., Any]:
    load_all()
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise Unimplemented(f"Algorithm '{name}' is not implemented by the local Earth Engine.") from None


def implemented() -> list[str]:
    load_all()
    return sorted(_ALGORITHMS)
