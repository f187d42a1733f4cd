"""How Earth Engine reads plain values: number coercion, truthiness, type names, deep equality and string form.

Shared by the evaluator (``If`` reads its condition with :func:`truthy`) and by the algorithm families, so that
neither has to import the other. Numbers are Python ints and floats; Earth Engine's booleans-as-numbers are 1 or 0;
dates are :class:`aef_ee.local.values.Date` (ms since the epoch, UTC).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from aef_ee.local.encoding import to_json
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Projection
from aef_ee.local.raster import Image
from aef_ee.local.values import Date, DateRange, Feature, FeatureCollection, Filter, Geometry, ImageCollection

__all__ = [
    "as_number",
    "number_arg",
    "is_int",
    "truthy",
    "object_type",
    "describe_type",
    "deep_equal",
    "number_string",
    "to_string",
]


def as_number(value: Any, where: str) -> int | float:
    """``value`` as a Python int or float (booleans as 0/1, numpy scalars unwrapped, dates as ms since the epoch).

    Raises:
      InvalidArgument: anything else, naming ``where`` (the algorithm) and the value's Earth Engine type.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Date):
        return int(value.millis)
    raise InvalidArgument(f"{where}: expected a number; got {describe_type(value)}.")


def number_arg(value: Any, where: str) -> float:
    """A numeric argument as float; anything else (booleans and dates included) is refused with ``where``."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    raise InvalidArgument(f"{where}: expected a number; got {value!r}.")


def is_int(*values: Any) -> bool:
    """Whether every value is a Python int (integer arithmetic then stays integer, as Earth Engine's does)."""
    return all(isinstance(v, int) for v in values)


def truthy(value: Any) -> bool:
    """Earth Engine's reading of a condition: 0, NaN, null, false and empty strings/lists/dicts are false."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float, np.number)):
        return not (value == 0 or (isinstance(value, float) and math.isnan(value)))
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) > 0
    return True


def object_type(value: Any) -> str:
    """Earth Engine's name for the type of a value (what ``ee.Algorithms.ObjectType`` returns)."""
    if value is None:
        return "Null"  # pragma: no cover - trivial
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, (int, np.integer)):
        return "Integer"
    if isinstance(value, (float, np.floating)):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, (list, tuple)):
        return "List"
    if isinstance(value, Mapping):
        return "Dictionary"
    if isinstance(value, np.ndarray):
        return "Array"
    for cls, name in ((Image, "Image"), (Feature, "Feature"), (FeatureCollection, "FeatureCollection"),
                      (ImageCollection, "ImageCollection"), (Geometry, "Geometry"), (Date, "Date"),
                      (DateRange, "DateRange"), (Filter, "Filter"), (Projection, "Projection")):
        if isinstance(value, cls):
            return name
    info = getattr(value, "to_info", None)
    if callable(info):
        return str(info().get("type", type(value).__name__))
    return type(value).__name__


def describe_type(value: Any) -> str:
    """The type name used in error messages: ``object_type``, or ``null`` for None."""
    return "null" if value is None else object_type(value)


def deep_equal(a: Any, b: Any) -> bool:
    """Earth Engine's equality (``IsEqual``, ``List.contains``): structural for lists, dictionaries, arrays and
    geometries; numbers compare by value across int and float; booleans only equal booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, Geometry) and isinstance(b, Geometry):
        return a.crs == b.crs and a.geodesic == b.geodesic and a.shape.equals_exact(b.shape, 0)
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b)


def number_string(value: Any) -> str:
    """A number as Earth Engine prints it (booleans as 0/1)."""
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def to_string(value: Any) -> str:
    """Earth Engine's ``String(value)``: strings unchanged, numbers printed, anything else as its JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool, np.generic)):
        return number_string(as_number(value, "String"))
    return json.dumps(to_json(value))
