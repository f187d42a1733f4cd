"""Primitive-value algorithms: Number, String, small Array helpers, and the ``If`` / ``IsEqual`` /
``ObjectType`` / ``String`` / ``Describe`` algorithms.

Numbers are Python ints and floats (integer operations stay integers where Earth Engine's do); booleans that
Earth Engine returns as numbers (``Number.lt``, ``Number.and``) are 1 or 0. How plain values are read (numbers,
truthiness, type names, equality) lives in :mod:`aef_ee.local.semantics`; List and Dictionary are the
:mod:`~aef_ee.local.algorithms.containers` family, Date and DateRange the :mod:`~aef_ee.local.algorithms.dates` family.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from aef_ee.local.algorithms._expression import evaluate_expression
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.encoding import to_json
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.limits import MAX_STRING_LENGTH, check_string_length
from aef_ee.local.safe_regex import SafePattern, compile_pattern
from aef_ee.local.semantics import (
    as_number,
    deep_equal,
    describe_type,
    is_int,
    number_string,
    object_type,
    to_string,
    truthy,
)

__all__ = ["java_format"]


# --- Number --------------------------------------------------------------------------------------------------

def _divide(a: int | float, b: int | float) -> int | float:
    # Earth Engine returns 0 for division by zero.
    return 0 if b == 0 else a / b


def _mod(a: int | float, b: int | float) -> int | float:
    if b == 0:
        return 0
    return int(math.fmod(a, b)) if is_int(a, b) else math.fmod(a, b)  # Java's %: sign of the dividend


def _int_op(op: Callable[[int, int], int]) -> Callable[[Any, Any], int]:
    def apply(a: Any, b: Any) -> int:
        return op(int(a), int(b))

    return apply


# Integers are Java longs on Earth Engine; past 64 bits they become doubles here. Python's ints would otherwise grow
# without bound (a squaring in List.iterate doubles the digits each step, holding the GIL as it multiplies).
_MAX_INT_BITS = 64


def _bounded(x: Any) -> Any:
    """An integer result past 64 bits as the nearest double (infinite beyond the double range)."""
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > _MAX_INT_BITS:
        try:
            return float(x)
        except OverflowError:
            return math.inf if x > 0 else -math.inf
    return x


def _pow(a: Any, b: Any) -> Any:
    """``a ** b``: an integer when both are integers, b >= 0 and the result fits in 64 bits; else Java's
    Math.pow (infinite on overflow, NaN for a negative base and a fractional exponent)."""
    if is_int(a, b) and b >= 0 and (abs(a) <= 1 or (b < _MAX_INT_BITS and b * math.log2(abs(a)) < _MAX_INT_BITS)):
        return a ** b
    try:
        return math.pow(a, b)
    except OverflowError:
        odd = (b % 2 == 1) if isinstance(b, int) else (math.isfinite(b) and b.is_integer() and b % 2 == 1)
        return -math.inf if a < 0 and odd else math.inf
    except ValueError:  # a negative base to a fractional power
        return math.nan


def _to_long(x: int) -> int:
    """Wraps an integer to a signed 64-bit long, as Java's long arithmetic does."""
    x &= (1 << 64) - 1
    return x - (1 << 64) if x >= 1 << 63 else x


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": _divide,
    "max": max,
    "min": min,
    "first": lambda a, b: a,
    "firstNonZero": lambda a, b: a if a != 0 else b,
    "mod": _mod,
    "and": lambda a, b: int(a != 0 and b != 0),
    "or": lambda a, b: int(a != 0 or b != 0),
    "lt": lambda a, b: int(a < b),
    "lte": lambda a, b: int(a <= b),
    "gt": lambda a, b: int(a > b),
    "gte": lambda a, b: int(a >= b),
    "eq": lambda a, b: int(a == b),
    "neq": lambda a, b: int(a != b),
    "pow": _pow,
    "atan2": math.atan2,
    "hypot": math.hypot,
    "bitwiseAnd": _int_op(lambda a, b: a & b),
    "bitwiseOr": _int_op(lambda a, b: a | b),
    "bitwiseXor": _int_op(lambda a, b: a ^ b),
    # Java's long shifts: the count is taken mod 64 and the result wraps (a shift by 1e9 would allocate 125 MB).
    "leftShift": _int_op(lambda a, b: _to_long(_to_long(a) << (b & 63))),
    "rightShift": _int_op(lambda a, b: _to_long(a) >> (b & 63)),
}


def _register_number_binary(name: str, op: Callable[[Any, Any], Any]) -> None:
    def impl(left: Any, right: Any) -> Any:
        return _bounded(op(as_number(left, f"Number.{name}"), as_number(right, f"Number.{name}")))

    impl.__name__ = f"number_{name}"
    algorithm(f"Number.{name}")(impl)


for _name, _op in _BINARY.items():
    _register_number_binary(_name, _op)


@algorithm("Number.gammainc")
def number_gammainc(left: Any, right: Any) -> float:
    from scipy.special import gammainc

    return float(gammainc(as_number(left, "Number.gammainc"), as_number(right, "Number.gammainc")))


def _special(name: str) -> Callable[..., float]:
    def fn(*x: float) -> float:
        import scipy.special as sp

        return float(getattr(sp, name)(*x))

    return fn


def _round_half_up(x: float) -> int | float:
    """The nearest integer, halves rounded up (Java's Math.round); NaN and infinities pass through."""
    return x if not math.isfinite(x) else int(math.floor(x + 0.5))


def _same_type(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(x: Any) -> Any:
        y = fn(x)
        return int(y) if isinstance(x, int) else y

    return apply


_UNARY: dict[str, Callable[[Any], Any]] = {
    "bitwiseNot": lambda x: ~int(x),
    "bitCount": lambda x: bin(int(x) & 0xFFFFFFFFFFFFFFFF).count("1"),
    "not": lambda x: int(x == 0),
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "sqrt": lambda x: math.sqrt(x) if x >= 0 else math.nan,
    "log": lambda x: math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan),
    "log10": lambda x: math.log10(x) if x > 0 else (-math.inf if x == 0 else math.nan),
    "exp": math.exp,
    "abs": _same_type(abs),
    "floor": lambda x: float(math.floor(x)),
    "ceil": lambda x: float(math.ceil(x)),
    "round": _round_half_up,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "gamma": math.gamma,
    "digamma": _special("digamma"),
    "trigamma": lambda x: _special("polygamma")(1, x),
    "erf": math.erf,
    "erfc": math.erfc,
    "erfInv": _special("erfinv"),
    "erfcInv": _special("erfcinv"),
    "signum": _same_type(lambda x: (x > 0) - (x < 0)),
}


def _register_number_unary(name: str, op: Callable[[Any], Any]) -> None:
    def impl(input: Any) -> Any:
        return op(as_number(input, f"Number.{name}"))

    impl.__name__ = f"number_{name}"
    algorithm(f"Number.{name}")(impl)


for _name, _op in _UNARY.items():
    _register_number_unary(_name, _op)

# Number casts (numpy dtype -> algorithm name): integer types truncate toward zero and saturate at the type's range
# (as image casts do). Number.toUint8, Number.byte and the other spellings are registry aliases of these names.
_CASTS: dict[str, str] = {
    "uint8": "uint8",
    "int8": "int8",
    "uint16": "uint16",
    "int16": "int16",
    "uint32": "uint32",
    "int32": "int32",
    "int64": "int64",
    "float32": "float",
    "float64": "double",
}


def _register_cast(dtype: str, name: str) -> None:
    def impl(input: Any) -> Any:
        x = as_number(input, f"Number.{name}")
        if dtype.startswith("float"):
            return float(np.float32(x)) if dtype == "float32" else float(x)
        info = np.iinfo(dtype)
        if isinstance(x, float) and math.isnan(x):
            return 0
        return int(min(max(math.trunc(x), info.min), info.max))

    impl.__name__ = f"number_to_{dtype}"
    algorithm(f"Number.{name}")(impl)


for _dtype, _name in _CASTS.items():
    _register_cast(_dtype, _name)


@algorithm("Number.clamp")
def number_clamp(number: Any, min: Any, max: Any) -> Any:
    x, lo, hi = (as_number(v, "Number.clamp") for v in (number, min, max))
    return lo if x < lo else hi if x > hi else x


@algorithm("Number.unitScale")
def number_unit_scale(number: Any, min: Any, max: Any) -> float:
    x, lo, hi = (as_number(v, "Number.unitScale") for v in (number, min, max))
    return (x - lo) / (hi - lo) if hi != lo else 0.0


_JAVA_FORMAT = re.compile(r"%(?P<flags>[-#+ 0,(]*)(?P<width>\d+)?(?:\.(?P<precision>\d+))?(?P<conv>[sdfeEgGxXo%])")


# The check for stray '%' backtracks quadratically over runs of flag digits: 1000 characters cost ~50 ms.
_MAX_FORMAT_PATTERN = 1000


def java_format(pattern: str, value: Any) -> str:
    """Java's ``String.format`` for one numeric argument (the conversions Earth Engine users write)."""
    if len(pattern) > _MAX_FORMAT_PATTERN:
        raise InvalidArgument(f"Number.format: a pattern of {len(pattern)} characters; the local engine allows "
                              f"{_MAX_FORMAT_PATTERN}.")
    produced = [len(pattern)]
    limits_max = MAX_STRING_LENGTH + 1

    def one(match: re.Match) -> str:
        # Widths and precisions are the only way the output outgrows the pattern: bound them before formatting.
        for digits in (match["width"], match["precision"]):
            produced[0] += int(digits) if digits and len(digits) < 10 else limits_max if digits else 0
        check_string_length(produced[0] + 32, "Number.format")
        conv = match["conv"]
        if conv == "%":
            return "%"
        flags = (match["flags"] or "").replace("(", "")
        width = match["width"] or ""
        precision = f".{match['precision']}" if match["precision"] is not None else ""
        grouping = "," in flags
        flags = flags.replace(",", "")
        if conv == "s":
            text = number_string(value)
            return f"{text:{'<' if '-' in flags else '>'}{width}}" if width else text
        if conv in "dxXo":
            spec = f"{flags}{width}{',' if grouping else ''}{conv if conv != 'o' else 'o'}"
            return format(int(value), spec.replace("-", "<", 1) if "-" in flags else spec)
        spec = f"{flags}{width}{',' if grouping else ''}{precision or '.6'}{conv}"
        return format(float(value), spec.replace("-", "<", 1) if "-" in flags else spec)

    stray = re.search(r"%(?![-#+ 0,(]*\d*(?:\.\d+)?[sdfeEgGxXo%])", pattern)
    if stray:
        raise InvalidArgument(f"Number.format: Unknown format conversion in '{pattern}' at {stray.start()}.")
    return _JAVA_FORMAT.sub(one, pattern)


@algorithm("Number.format")
def number_format(number: Any, pattern: str = "%s") -> str:
    return java_format(pattern or "%s", as_number(number, "Number.format"))


@algorithm("Number.parse")
def number_parse(input: str, radix: int = 10) -> int | float:
    text = str(input).strip()
    radix = int(as_number(radix, "Number.parse"))
    try:
        if radix != 10:
            return int(text, radix)
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    except ValueError:
        raise InvalidArgument(f"Number.parse: Unable to parse '{input}' as a number.") from None


@algorithm("Number.expression")
def number_expression(expression: str, vars: Mapping[str, Any] | None = None) -> int | float:
    """Evaluates an arithmetic expression with numeric variables (e.g. ``'a * 2 + sqrt(b)'``)."""
    variables = {k: as_number(v, "Number.expression") for k, v in (vars or {}).items()}
    value = np.asarray(evaluate_expression(expression, variables))
    if value.ndim:
        raise InvalidArgument(f"Number.expression: {expression!r} does not evaluate to a number.")
    return _scalar(value.item())


def _scalar(value: Any) -> int | float:
    return int(value) if isinstance(value, (bool, np.bool_)) else value


# --- String --------------------------------------------------------------------------------------------------

def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}: expected a string; got {describe_type(value)}.")
    return value


def _regex(pattern: str, flags: str, where: str) -> SafePattern:
    # A pattern from the request runs with a timeout, off the GIL (see aef_ee.local.safe_regex).
    return compile_pattern(pattern, ignore_case="i" in (flags or ""), multiline="m" in (flags or ""), where=where)


def _java_replacement(replacement: str) -> str:
    """Java/JS ``$1`` group references as Python's ``\\g<1>``; other backslashes are literal."""
    out = replacement.replace("\\", "\\\\")
    return re.sub(r"\$(\d+)", r"\\g<\1>", out)


@algorithm("String")
def string(input: Any) -> str:
    return to_string(input)


@algorithm("String.cat")
def string_cat(string1: Any, string2: Any) -> str:
    first, second = _str(string1, "String.cat"), _str(string2, "String.cat")
    check_string_length(len(first) + len(second), "String.cat")
    return first + second


@algorithm("String.compareTo")
def string_compare_to(string1: str, string2: str) -> int:
    """-1, 0 or 1 as ``string1`` sorts before, equal to or after ``string2`` (by UTF-16 code units)."""
    a, b = _str(string1, "String.compareTo"), _str(string2, "String.compareTo")
    ka, kb = a.encode("utf-16-be"), b.encode("utf-16-be")
    return (ka > kb) - (ka < kb)


@algorithm("String.decodeJSON")
def string_decode_json(string: str) -> Any:
    try:
        return json.loads(_str(string, "String.decodeJSON"))
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"String.decodeJSON: Invalid JSON: {exc}.") from None


@algorithm("String.encodeJSON")
def string_encode_json(object: Any) -> str:
    return json.dumps(to_json(object), separators=(",", ":"))


@algorithm("String.equals")
def string_equals(reference: Any, target: Any) -> bool:
    return isinstance(reference, str) and isinstance(target, str) and reference == target


@algorithm("String.index")
def string_index(target: str, pattern: str) -> int:
    return _str(target, "String.index").find(_str(pattern, "String.index"))


@algorithm("String.rindex")
def string_rindex(target: str, pattern: str) -> int:
    return _str(target, "String.rindex").rfind(_str(pattern, "String.rindex"))


@algorithm("String.length")
def string_length(string: str) -> int:
    return len(_str(string, "String.length"))


@algorithm("String.match")
def string_match(input: str, regex: str, flags: str = "") -> list[str]:
    """Like JavaScript's match: with 'g' every match, else the first match and its groups ([] when none)."""
    text = _str(input, "String.match")
    pattern = _regex(regex, flags, "String.match")
    if "g" in (flags or ""):
        return pattern.all_matches(text)
    m = pattern.search(text)
    return [] if m is None else [m.group(0)] + [g if g is not None else "" for g in m.groups()]


@algorithm("String.replace")
def string_replace(input: str, regex: str, replacement: str, flags: str = "") -> str:
    pattern = _regex(regex, flags, "String.replace")
    count = 0 if "g" in (flags or "") else 1
    return pattern.sub(_java_replacement(replacement), _str(input, "String.replace"), count=count)


@algorithm("String.slice")
def string_slice(string: str, start: int, end: int | None = None) -> str:
    text = _str(string, "String.slice")
    i = int(as_number(start, "String.slice"))
    return text[i:] if end is None else text[i:int(as_number(end, "String.slice"))]


@algorithm("String.split")
def string_split(string: str, regex: str, flags: str = "") -> list[str]:
    """Java's split: an empty regex splits into characters; trailing empty strings are dropped."""
    text = _str(string, "String.split")
    if regex == "":
        return list(text)
    parts = _regex(regex, flags, "String.split").split(text)
    while parts and parts[-1] == "":
        parts.pop()
    return parts if parts else ([""] if text == "" else [])


@algorithm("String.toLowerCase")
def string_lower(string: str) -> str:
    return _str(string, "String.toLowerCase").lower()


@algorithm("String.toUpperCase")
def string_upper(string: str) -> str:
    return _str(string, "String.toUpperCase").upper()


@algorithm("String.trim")
def string_trim(string: str) -> str:
    return _str(string, "String.trim").strip()


# --- Algorithms.* (the un-prefixed names) --------------------------------------------------------------------

@algorithm("If")
def if_(condition: Any = None, trueCase: Any = None, falseCase: Any = None) -> Any:
    return trueCase if truthy(condition) else falseCase


@algorithm("IsEqual")
def is_equal(left: Any = None, right: Any = None) -> bool:
    return deep_equal(left, right)


@algorithm("ObjectType")
def object_type_algorithm(value: Any = None) -> str:
    return object_type(value)


@algorithm("Describe")
def describe(input: Any) -> Any:
    return to_json(input)


# --- Array (the few helpers other families need) -------------------------------------------------------------

@algorithm("Array")
def array(values: Any, pixelType: Any = None) -> np.ndarray:
    try:
        data = np.asarray(values)
    except ValueError:  # ragged nesting
        raise InvalidArgument("Array: values must be a rectangular (nested) list of numbers.") from None
    if data.dtype == object or data.dtype.kind not in "biuf":
        raise InvalidArgument("Array: values must be a (nested, rectangular) list of numbers.")
    return data.astype(np.int64 if data.dtype.kind in "biu" else np.float64)


@algorithm("Array.get")
def array_get(array: Any, position: Any) -> Any:
    data = np.asarray(array)
    pos = [int(p) for p in (position if isinstance(position, (list, tuple)) else [position])]
    if len(pos) != data.ndim or any(not 0 <= p < s for p, s in zip(pos, data.shape)):
        raise InvalidArgument(f"Array.get: Position {pos} is out of bounds for an array of shape {list(data.shape)}.")
    return data[tuple(pos)].item()


@algorithm("Array.toList")
def array_to_list(array: Any) -> list[Any]:
    return np.asarray(array).tolist()


@algorithm("Array.length")
def array_length(array: Any) -> np.ndarray:
    return np.asarray(np.asarray(array).shape, dtype=np.int64)
