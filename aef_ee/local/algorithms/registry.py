"""The table of algorithms the local engine implements, keyed by Earth Engine's algorithm names.

An implementation is a plain function taking Earth Engine's argument names as keyword arguments (already evaluated)
and returning a value. A family module (one of :data:`FAMILIES`) registers its functions on import with
``@algorithm("Image.add")``. Several names may share one function: a family passes them together when they are
distinct Earth Engine algorithms it implements alike (``List.get`` and ``List.getNumber``); a second *spelling* of one
Earth Engine algorithm (``Image.left_shift`` for ``Image.leftShift``, ``Image.toByte`` for ``Image.uint8``) is listed
in :data:`ALIASES` instead and bound to the canonical name's very function by :func:`load_all`, so the two can never
drift apart.

:func:`load_all` imports every listed family and fails loudly (:class:`~aef_ee.local.errors.EngineStartupError`,
naming the module) when one is missing or broken, or when an alias names an algorithm no family registers, rather
than leaving its algorithms unimplemented at request time; the server calls it when it is constructed. A name no
family registers is :class:`~aef_ee.local.errors.Unimplemented`: HTTP 400 with status ``UNIMPLEMENTED`` ("Algorithm
'X' is not implemented by the local Earth Engine."), not 501, which the client would retry five times.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from aef_ee.local.errors import EngineStartupError, Unimplemented

__all__ = ["FAMILIES", "ALIASES", "algorithm", "lookup", "implemented", "load_all"]

_PACKAGE = "aef_ee.local.algorithms"
# The modules of aef_ee.local.algorithms that register algorithms, imported in this order by load_all().
FAMILIES: tuple[str, ...] = (
    "image",
    "image_ops",
    "image_grids",
    "image_expression",
    "kernel",
    "neighborhood",
    "terrain",
    "terrain_shadow",
    "terrain_fill",
    "texture",
    "resolution",
    "sample_rectangle",
    "arrays",
    "array_images",
    "array_image_ops",
    "collection",
    "composite",
    "geometry",
    "geometry_ops",
    "projections",
    "feature",
    "filter",
    "join",
    "reducer",
    "reduce_region",
    "primitives",
    "containers",
    "dates",
    "classifier",
    "clusterer",
    "confusion",
    "vectors",
    "visualize",
)

# camelCase name -> the snake_case spelling Earth Engine also accepts (hidden in its algorithm list), for both the
# Image and the Number versions of each operation.
_SNAKE_CASE = {
    "bitwiseAnd": "bitwise_and",
    "bitwiseOr": "bitwise_or",
    "bitwiseXor": "bitwise_xor",
    "bitwiseNot": "bitwise_not",
    "leftShift": "left_shift",
    "rightShift": "right_shift",
    "firstNonZero": "first_nonzero",
}
# Image-only snake_case twins (the focal filters).
_IMAGE_SNAKE_CASE = {f"focal{kind}": f"focal_{kind.lower()}" for kind in ("Mean", "Max", "Min", "Median", "Mode")}
# Canonical cast name -> its other spellings, for Image.<cast> and Number.<cast> alike.
_CAST_SPELLINGS = {
    "float": ("toFloat",),
    "double": ("toDouble",),
    "int8": ("toInt8",),
    "uint8": ("toUint8", "byte", "toByte"),
    "int16": ("toInt16", "short", "toShort"),
    "uint16": ("toUint16",),
    "int32": ("toInt32", "int", "toInt"),
    "uint32": ("toUint32",),
    "int64": ("toInt64", "long", "toLong"),
}
# Alias -> canonical name: the second names Earth Engine gives one algorithm (identical description and arguments in
# its algorithm list). Families register only the canonical names.
ALIASES: Mapping[str, str] = {
    **{f"{kind}.{snake}": f"{kind}.{camel}"
       for kind in ("Image", "Number", "Array") for camel, snake in _SNAKE_CASE.items()},
    **{f"{kind}.{alias}": f"{kind}.{cast}"
       for kind in ("Image", "Number", "Array") for cast, spellings in _CAST_SPELLINGS.items() for alias in spellings},
    "Array.matrixTranspose": "Array.transpose",
    "Filter.eq": "Filter.equals",
    "Filter.neq": "Filter.notEquals",
    "Filter.lt": "Filter.lessThan",
    "Filter.lte": "Filter.lessThanOrEquals",
    "Filter.gt": "Filter.greaterThan",
    "Filter.gte": "Filter.greaterThanOrEquals",
    "List.length": "List.size",
    "Proj": "Projection",  # deprecated in Earth Engine
    "Element.geometry": "Feature.geometry",
    "Image.copyProperties": "Element.copyProperties",
    "ProjectionTransform": "Feature.transform",
    **{f"Image.{snake}": f"Image.{camel}" for camel, snake in _IMAGE_SNAKE_CASE.items()},
    "Terrain": "Terrain.products",
    "HillShadow": "Terrain.hillShadow",
    "FMask.fillMinima": "Terrain.fillMinima",
}

_ALGORITHMS: dict[str, Callable[..., Any]] = {}
_loaded = False


def algorithm(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers the decorated function under each Earth Engine algorithm name.

    Raises:
      RuntimeError: a name is an alias (register its canonical name instead) or is already taken by another
        function.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for name in names:
            if name in ALIASES:
                raise RuntimeError(
                    f"{fn.__module__}.{fn.__qualname__}: {name!r} is an alias of {ALIASES[name]!r}; register the "
                    f"canonical name only (the registry binds the alias).")
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
    """Imports every module in :data:`FAMILIES` (each registers its algorithms) and binds :data:`ALIASES`.

    Raises:
      EngineStartupError: a family module is missing or fails to import (the message names it), or an alias
        names a canonical algorithm that no family registers.
    """
    global _loaded
    if _loaded:
        return
    for family in FAMILIES:
        module = f"{_PACKAGE}.{family}"
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise EngineStartupError(
                f"algorithm family {module!r} (listed in {__name__}.FAMILIES) failed to import: "
                f"{type(exc).__name__}: {exc}", name=module) from exc
    for alias, canonical in ALIASES.items():
        if canonical not in _ALGORITHMS:
            raise EngineStartupError(f"alias {alias!r} names {canonical!r}, which no algorithm family registers.")
        _ALGORITHMS[alias] = _ALGORITHMS[canonical]
    _loaded = True


def lookup(name: str) -> Callable[..., Any]:
    """The function registered under ``name``.

    Raises:
      Unimplemented: no family implements ``name`` (HTTP 400, status ``UNIMPLEMENTED``).
    """
    load_all()
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise Unimplemented(f"Algorithm '{name}' is not implemented by the local Earth Engine.") from None


def implemented() -> list[str]:
    """Every registered name, aliases included, sorted."""
    load_all()
    return sorted(_ALGORITHMS)
