"""Earth Engine's pixel-type rules in one table: the output :class:`PixelType` of every per-pixel operator.

Every operator of :mod:`~aef_ee.local.algorithms.image_ops` (arithmetic, comparisons, boolean logic, bitwise
operations, math functions, casts) and of ``Image.expression`` asks :func:`binary_type` / :func:`unary_type` for its
output type, so an operator's type is decided here and nowhere else. Each :class:`Rule` names the operators it
governs and quotes its source: the sentence of Earth Engine's reference (the ``description`` of the algorithm in the
client's own list, ``ee/tests/algorithms.json``, which is the text of developers.google.com/earth-engine/apidocs)
or the documented example that shows it. Where the reference says nothing, the rule says so and gives the engine's
reason (``documented=False``).

The rules, in short:

- *union* (add, subtract, multiply, min, max, mod, first, firstNonZero, bitwise and/or/xor, shifts, where): double
  if either input is double, else float if either is float, else an integer type wide enough for every result
  (Earth Engine's reference gives only "the union of the input types"; the engine widens integer ranges so a sum of
  two uint8 bands is never wrapped).
- *divide*: as union, except that two integer inputs give **float**: ``ee.Image(1).divide(2)`` is 0.5, not 0.
- *boolean* (and, or, not, eq, neq, lt, lte, gt, gte): int in [0, 1].
- *float* (pow, atan2, hypot): float.
- math functions (sqrt, exp, log, trigonometry, erf, ...): float, double for double inputs (not documented).
- casts: the named type; floats truncate toward zero, out-of-range values clamp to the type's limits.
- constants: an integer is int in [v, v], any other number double in [v, v].
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import PixelType

__all__ = [
    "Rule",
    "RULES",
    "BOOLEAN",
    "CASTS",
    "binary_type",
    "unary_type",
    "cast_type",
    "constant_type",
    "rule_of",
    "union",
    "float_of",
    "cast_values",
]

BOOLEAN = PixelType("int", 0, 1)
_FLOAT = PixelType("float")
_DOUBLE = PixelType("double")
_INT32 = PixelType.from_dtype(np.int32)
_INT64 = PixelType.from_dtype(np.int64)

# The reference's sentences, quoted once (algorithms.json descriptions = the apidocs pages of each algorithm).
_UNION = "The type of the output pixels is the union of the input types."
_APIDOCS = "developers.google.com/earth-engine/apidocs/ee-image-"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One pixel-type rule.

    Attributes:
      name: the rule's name (the key of :data:`RULES`).
      operators: the ``Image.*`` algorithms it governs (canonical names, without ``Image.``).
      output: (input types) -> output type.
      source: where Earth Engine documents it (page and sentence), or why the engine chose it.
      documented: whether ``source`` is Earth Engine's documentation (False: the engine's own choice).
    """

    name: str
    operators: tuple[str, ...]
    output: Callable[..., PixelType]
    source: str
    documented: bool = True


# --- the type algebra ------------------------------------------------------------------------------------

def _int_type(lo: float, hi: float) -> PixelType:
    """An int type for [lo, hi], clamped to int64 (a result past int64 is computed in int64 and saturates)."""
    i64 = np.iinfo(np.int64)
    return PixelType("int", int(max(lo, i64.min)), int(min(hi, i64.max)))


def union(*types: PixelType) -> PixelType:
    """The union of input types: double beats float beats int; ints unite their ranges."""
    if any(t.precision == "double" for t in types):
        return _DOUBLE
    if any(t.precision == "float" for t in types):
        return _FLOAT
    return _int_type(min(t.min for t in types), max(t.max for t in types))


def float_of(p: PixelType) -> PixelType:
    """Float for int and float inputs, double for double ones."""
    return _DOUBLE if p.precision == "double" else _FLOAT


def _all_int(*types: PixelType) -> bool:
    return all(t.precision == "int" for t in types)


def _add(a: PixelType, b: PixelType) -> PixelType:
    return _int_type(a.min + b.min, a.max + b.max) if _all_int(a, b) else union(a, b)


def _subtract(a: PixelType, b: PixelType) -> PixelType:
    return _int_type(a.min - b.max, a.max - b.min) if _all_int(a, b) else union(a, b)


def _multiply(a: PixelType, b: PixelType) -> PixelType:
    if not _all_int(a, b):
        return union(a, b)
    corners = [a.min * b.min, a.min * b.max, a.max * b.min, a.max * b.max]
    return _int_type(min(corners), max(corners))


def _divide(a: PixelType, b: PixelType) -> PixelType:
    return _FLOAT if _all_int(a, b) else union(a, b)


def _container_of(lo: float, hi: float) -> PixelType:
    """The full range of the smallest numpy integer type holding [lo, hi] (what bitwise results can reach)."""
    for dtype in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return PixelType("int", int(info.min), int(info.max))
    return _INT64


def _bitwise(a: PixelType, b: PixelType) -> PixelType:
    if not _all_int(a, b):
        return _INT64  # floats are truncated to 64-bit integers first
    u = union(a, b)
    return _container_of(u.min, u.max)


def _left_shift(a: PixelType, b: PixelType) -> PixelType:
    return _INT32


def _right_shift(a: PixelType, b: PixelType) -> PixelType:
    return _int_type(min(a.min, 0), max(a.max, 0)) if a.precision == "int" else _INT64


def _boolean(*_: PixelType) -> PixelType:
    return BOOLEAN


def _float(*_: PixelType) -> PixelType:
    return _FLOAT


def _abs(p: PixelType) -> PixelType:
    if p.precision != "int":
        return p
    lo = 0 if p.min <= 0 <= p.max else min(abs(p.min), abs(p.max))
    return _int_type(lo, max(abs(p.min), abs(p.max)))


def _signum(p: PixelType) -> PixelType:
    return PixelType("int", -1 if p.min < 0 else 0, 1 if p.max > 0 else 0) if p.precision == "int" else p


def _same(p: PixelType) -> PixelType:
    return p


def _bitwise_not(p: PixelType) -> PixelType:
    if p.precision != "int":
        return _INT64
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= p.min and p.max <= info.max:
            return PixelType("int", int(info.min), int(info.max))
    return _INT64


# --- the table -------------------------------------------------------------------------------------------

RULES: dict[str, Rule] = {rule.name: rule for rule in (
    Rule("add", ("add",), _add,
         f"{_APIDOCS}add: '{_UNION}' Integer ranges are widened to hold every sum (engine: results never wrap)."),
    Rule("subtract", ("subtract",), _subtract,
         f"{_APIDOCS}subtract: '{_UNION}' Integer ranges are widened to hold every difference."),
    Rule("multiply", ("multiply",), _multiply,
         f"{_APIDOCS}multiply: '{_UNION}' Integer ranges are widened to hold every product."),
    Rule("divide", ("divide",), _divide,
         f"{_APIDOCS}divide: '{_UNION}', and integer division is not truncated: the reference's own examples "
         "divide integers into fractions (apidocs ee-array-divide: 'ee.Array([3, 4]).divide(2)' is [1.5, 2]; "
         "apidocs ee-image-expression: '(b(4) - b(3)) / (b(4) + b(3))' of Landsat uint16 bands shown with min 0, "
         "max 0.5; the COPERNICUS/S2_SR_HARMONIZED catalog page: uint16 bands '.divide(10000)' shown with max 0.3). "
         "Two integer inputs therefore give float (the smallest floating type)."),
    Rule("union", ("min", "max", "mod", "first", "firstNonZero", "where", "unmask"), union,
         f"{_APIDOCS}min, -max, -mod, -first, -firstnonzero: '{_UNION}'; apidocs ee-image-where: 'The output "
         "type of each band is the larger of the input and value types.'"),
    Rule("bitwise", ("bitwiseAnd", "bitwiseOr", "bitwiseXor"), _bitwise,
         f"{_APIDOCS}bitwiseand, -bitwiseor, -bitwisexor: '{_UNION}' The engine widens the union to its whole "
         "integer type (the bits of a result can reach it); float inputs are truncated to 64-bit integers."),
    Rule("leftShift", ("leftShift",), _left_shift,
         f"{_APIDOCS}leftshift: '{_UNION}' A shift can exceed any union of the operands' ranges, so the engine "
         "types it as a 32-bit int (computed in 64 bits and clamped to int32).", documented=False),
    Rule("rightShift", ("rightShift",), _right_shift,
         f"{_APIDOCS}rightshift: '{_UNION}' The result lies between 0 and the shifted value, so it keeps the "
         "shifted operand's range (with 0)."),
    Rule("boolean", ("and", "or", "eq", "neq", "lt", "lte", "gt", "gte", "not"), _boolean,
         f"{_APIDOCS}eq (and -neq, -lt, -lte, -gt, -gte, -and, -or): 'The type of the output pixels is boolean.'; "
         "apidocs ee-image-not: 'Returns 0 if the input is non-zero, and 1 otherwise.' Boolean is int in [0, 1]."),
    Rule("float", ("pow", "atan2", "hypot"), _float,
         f"{_APIDOCS}pow, -atan2, -hypot: 'The type of the output pixels is float.'"),
    Rule("math", ("sqrt", "exp", "log", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
                  "tanh", "cbrt", "erf", "erfc", "erfInv", "erfcInv", "gamma", "digamma", "trigamma", "lanczos",
                  "unitScale", "normalizedDifference"), float_of,
         "Not documented for the math functions (their pages give no output type). The engine computes them in "
         "float, or double for double inputs, like Image.float / Image.double would. apidocs ee-image-unitscale: "
         "'This algorithm always produces floating point pixels.'", documented=False),
    Rule("abs", ("abs",), _abs,
         "Not documented (apidocs ee-image-abs: 'Computes the absolute value of the input.'). The engine keeps "
         "the precision; an integer range becomes the range of the absolute values.", documented=False),
    Rule("signum", ("signum",), _signum,
         "apidocs ee-image-signum: '0 if the input is 0, 1 if the input is greater than 0, -1 if the input is less "
         "than 0': an integer input gives int in [-1, 1] (trimmed to the input's signs); floats keep their "
         "precision (not documented).", documented=False),
    Rule("rounding", ("floor", "ceil", "round", "clamp"), _same,
         "Not documented (apidocs ee-image-floor, -ceil, -round: 'Computes the largest integer less than or equal "
         "to the input', ...). The engine keeps the input's type: integral values of a float band stay float.",
         documented=False),
    Rule("bitwiseNot", ("bitwiseNot",), _bitwise_not,
         f"{_APIDOCS}bitwisenot: 'Calculates the bitwise NOT of the input, in the smallest signed integer type "
         "that can hold the input.'"),
)}

_BY_OPERATOR: dict[str, Rule] = {op: rule for rule in RULES.values() for op in rule.operators}

# Casts (documented by each cast's page: 'Casts the input value to a signed 32-bit integer.', ...). Values:
# apidocs ee-number-int (the same casts on numbers): 'A floating point number cast to int loses decimal precision',
# 'A number greater than int range max cast to int becomes int range max.'
CASTS: dict[str, PixelType] = {
    "float": _FLOAT, "double": _DOUBLE,
    "int8": PixelType.from_dtype(np.int8), "uint8": PixelType.from_dtype(np.uint8),
    "int16": PixelType.from_dtype(np.int16), "uint16": PixelType.from_dtype(np.uint16),
    "int32": PixelType.from_dtype(np.int32), "uint32": PixelType.from_dtype(np.uint32),
    "int64": _INT64,
}
# Image.cast's type names (what PixelType.<name>() spells) and the cast aliases.
_CAST_NAMES = {**CASTS, "byte": CASTS["uint8"], "short": CASTS["int16"], "int": CASTS["int32"],
               "long": CASTS["int64"]}


def rule_of(operator: str) -> Rule:
    """The rule governing ``operator`` (``'divide'``, ``'Image.divide'``...).

    Raises:
      KeyError: no rule names the operator (an internal error: every operator must be in the table).
    """
    return _BY_OPERATOR[operator.removeprefix("Image.")]


def _computed(p: PixelType) -> PixelType:
    """A computed band's type: a floating range belongs to a constant's own value only, so it is dropped."""
    return p if p.precision == "int" or p.min is None else PixelType(p.precision)


def binary_type(operator: str, a: PixelType, b: PixelType) -> PixelType:
    """The output type of a two-input operator."""
    return _computed(rule_of(operator).output(a, b))


def unary_type(operator: str, p: PixelType) -> PixelType:
    """The output type of a one-input operator."""
    return _computed(rule_of(operator).output(p))


def cast_type(name: str) -> PixelType:
    """The type a cast produces, by its name (``'uint8'``, ``'toByte'``, ``'Int16'``, ``'long'``...).

    Raises:
      InvalidArgument: not a pixel type name.
    """
    key = str(name).removeprefix("to").lower() if str(name).startswith("to") else str(name).lower()
    if key not in _CAST_NAMES:
        raise InvalidArgument(f"Unknown pixel type {name!r}; expected one of {sorted(_CAST_NAMES)}.")
    return _CAST_NAMES[key]


def constant_type(value: float | int | bool) -> PixelType:
    """The type of ``ee.Image.constant(value)``.

    apidocs ee-image-constant shows ``ee.Image.constant(1)`` as 'int ∈ [1, 1]' and ``ee.Image(math.pi)`` as
    'double ∈ [3.141592653589793, 3.141592653589793]': integers are int in [v, v], other numbers double in [v, v].
    """
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, np.integer)):
        return PixelType("int", int(value), int(value))
    value = float(value)
    if math.isfinite(value):
        return PixelType("double", value, value)
    return _DOUBLE


def cast_values(values: np.ndarray, ptype: PixelType) -> np.ndarray:
    """Values cast as Earth Engine casts: floats to ints truncate toward zero (NaN becomes 0) and everything
    clamps to the type's range (apidocs ee-number-int)."""
    if ptype.precision != "int":
        return np.asarray(values).astype(ptype.dtype, copy=False)
    v = np.asarray(values)
    if np.issubdtype(v.dtype, np.floating):
        v = np.trunc(np.nan_to_num(v, nan=0.0, posinf=ptype.max, neginf=ptype.min))
    return np.clip(v, ptype.min, ptype.max).astype(ptype.dtype)


def describe() -> list[tuple[str, Sequence[str], str, bool]]:
    """(rule, operators, source, documented) of every rule, for the docs and the coverage report."""
    return [(r.name, r.operators, r.source, r.documented) for r in RULES.values()]
