"""Primitive-value algorithms: Number, String, List, Dictionary, Date, DateRange, small Array helpers, and the
``If`` / ``IsEqual`` / ``ObjectType`` / ``String`` / ``Describe`` algorithms.

Numbers are Python ints and floats (integer operations stay integers where Earth Engine's do); booleans that
Earth Engine returns as numbers (``Number.lt``, ``Number.and``) are 1 or 0. Dates are
:class:`aef_ee.local.values.Date` (ms since the epoch, UTC); calendar arithmetic runs in the requested IANA time zone
(UTC by default), as Joda-Time does for Earth Engine.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.values import Date, DateRange, Feature, FeatureCollection, Filter, Geometry, ImageCollection

__all__ = ["to_millis", "object_type", "truthy", "zone", "format_date", "parse_date_string"]


def _num(value: Any, where: str) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Date):
        return int(value.millis)
    raise InvalidArgument(f"{where}: expected a number; got {_describe_type(value)}.")


def _describe_type(value: Any) -> str:
    return "null" if value is None else object_type(value)


def _is_int(*values: Any) -> bool:
    return all(isinstance(v, int) for v in values)


# --- Number --------------------------------------------------------------------------------------------------

def _divide(a: int | float, b: int | float) -> int | float:
    # Earth Engine returns 0 for division by zero.
    return 0 if b == 0 else a / b


def _mod(a: int | float, b: int | float) -> int | float:
    if b == 0:
        return 0
    return int(math.fmod(a, b)) if _is_int(a, b) else math.fmod(a, b)  # Java's %: sign of the dividend


def _int_op(op: Callable[[int, int], int]) -> Callable[[Any, Any], int]:
    def apply(a: Any, b: Any) -> int:
        return op(int(a), int(b))

    return apply


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
    "pow": lambda a, b: float(a) ** float(b) if not (_is_int(a, b) and b >= 0) else a ** b,
    "atan2": math.atan2,
    "hypot": math.hypot,
    "bitwiseAnd": _int_op(lambda a, b: a & b),
    "bitwiseOr": _int_op(lambda a, b: a | b),
    "bitwiseXor": _int_op(lambda a, b: a ^ b),
    "leftShift": _int_op(lambda a, b: a << b),
    "rightShift": _int_op(lambda a, b: a >> b),
}
_SNAKE = {"firstNonZero": "first_nonzero", "bitwiseAnd": "bitwise_and", "bitwiseOr": "bitwise_or",
          "bitwiseXor": "bitwise_xor", "leftShift": "left_shift", "rightShift": "right_shift",
          "bitwiseNot": "bitwise_not"}


def _register_number_binary(name: str, op: Callable[[Any, Any], Any]) -> None:
    def impl(left: Any, right: Any) -> Any:
        return op(_num(left, f"Number.{name}"), _num(right, f"Number.{name}"))

    impl.__name__ = f"number_{name}"
    names = [f"Number.{name}"] + ([f"Number.{_SNAKE[name]}"] if name in _SNAKE else [])
    algorithm(*names)(impl)


for _name, _op in _BINARY.items():
    _register_number_binary(_name, _op)


@algorithm("Number.gammainc")
def number_gammainc(left: Any, right: Any) -> float:
    from scipy.special import gammainc

    return float(gammainc(_num(left, "Number.gammainc"), _num(right, "Number.gammainc")))


def _special(name: str) -> Callable[..., float]:
    def fn(*x: float) -> float:
        import scipy.special as sp

        return float(getattr(sp, name)(*x))

    return fn


def _round_half_up(x: float) -> float:
    return float(math.floor(x + 0.5))  # Java's Math.round, as Earth Engine rounds


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
    def impl(input: Any) -> Any:  # noqa: A002
        return op(_num(input, f"Number.{name}"))

    impl.__name__ = f"number_{name}"
    names = [f"Number.{name}"] + ([f"Number.{_SNAKE[name]}"] if name in _SNAKE else [])
    algorithm(*names)(impl)


for _name, _op in _UNARY.items():
    _register_number_unary(_name, _op)

# Number casts: integer types truncate toward zero and saturate at the type's range (as image casts do).
_CASTS: dict[str, tuple[str, ...]] = {
    "uint8": ("uint8", "toUint8", "byte", "toByte"),
    "int8": ("int8", "toInt8"),
    "uint16": ("uint16", "toUint16"),
    "int16": ("int16", "toInt16", "short", "toShort"),
    "uint32": ("uint32", "toUint32"),
    "int32": ("int32", "toInt32", "int", "toInt"),
    "int64": ("int64", "toInt64", "long", "toLong"),
    "float32": ("float", "toFloat"),
    "float64": ("double", "toDouble"),
}


def _register_cast(dtype: str, names: Sequence[str]) -> None:
    def impl(input: Any) -> Any:  # noqa: A002
        x = _num(input, f"Number.{names[0]}")
        if dtype.startswith("float"):
            return float(np.float32(x)) if dtype == "float32" else float(x)
        info = np.iinfo(dtype)
        if isinstance(x, float) and math.isnan(x):
            return 0
        return int(min(max(math.trunc(x), info.min), info.max))

    impl.__name__ = f"number_to_{dtype}"
    algorithm(*[f"Number.{n}" for n in names])(impl)


for _dtype, _names in _CASTS.items():
    _register_cast(_dtype, _names)


@algorithm("Number.clamp")
def number_clamp(number: Any, min: Any, max: Any) -> Any:  # noqa: A002
    x, lo, hi = (_num(v, "Number.clamp") for v in (number, min, max))
    return lo if x < lo else hi if x > hi else x


@algorithm("Number.unitScale")
def number_unit_scale(number: Any, min: Any, max: Any) -> float:  # noqa: A002
    x, lo, hi = (_num(v, "Number.unitScale") for v in (number, min, max))
    return (x - lo) / (hi - lo) if hi != lo else 0.0


_JAVA_FORMAT = re.compile(r"%(?P<flags>[-#+ 0,(]*)(?P<width>\d+)?(?:\.(?P<precision>\d+))?(?P<conv>[sdfeEgGxXo%])")


def java_format(pattern: str, value: Any) -> str:
    """Java's ``String.format`` for one numeric argument (the conversions Earth Engine users write)."""

    def one(match: re.Match) -> str:
        conv = match["conv"]
        if conv == "%":
            return "%"
        flags = (match["flags"] or "").replace("(", "")
        width = match["width"] or ""
        precision = f".{match['precision']}" if match["precision"] is not None else ""
        grouping = "," in flags
        flags = flags.replace(",", "")
        if conv == "s":
            text = _number_string(value)
            return f"{text:{'<' if '-' in flags else '>'}{width}}" if width else text
        if conv in "dxXo":
            spec = f"{flags}{width}{',' if grouping else ''}{conv if conv != 'o' else 'o'}"
            return format(int(value), spec.replace("-", "<", 1) if "-" in flags else spec)
        spec = f"{flags}{width}{',' if grouping else ''}{precision or '.6'}{conv}"
        return format(float(value), spec.replace("-", "<", 1) if "-" in flags else spec)

    return _JAVA_FORMAT.sub(one, pattern)


def _number_string(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(value)
    return str(value)


@algorithm("Number.format")
def number_format(number: Any, pattern: str = "%s") -> str:
    return java_format(pattern or "%s", _num(number, "Number.format"))


@algorithm("Number.parse")
def number_parse(input: str, radix: int = 10) -> int | float:  # noqa: A002
    text = str(input).strip()
    radix = int(radix)
    try:
        if radix != 10:
            return int(text, radix)
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    except ValueError:
        raise InvalidArgument(f"Number.parse: Unable to parse '{input}' as a number.") from None


# --- String --------------------------------------------------------------------------------------------------

def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}: expected a string; got {_describe_type(value)}.")
    return value


def _regex(pattern: str, flags: str, where: str) -> re.Pattern:
    bits = re.IGNORECASE if "i" in (flags or "") else 0
    if "m" in (flags or ""):
        bits |= re.MULTILINE
    try:
        return re.compile(pattern, bits)
    except re.error as exc:
        raise InvalidArgument(f"{where}: Invalid regular expression '{pattern}': {exc}.") from None


def _java_replacement(replacement: str) -> str:
    """Java/JS ``$1`` group references as Python's ``\\g<1>``; other backslashes are literal."""
    out = replacement.replace("\\", "\\\\")
    return re.sub(r"\$(\d+)", r"\\g<\1>", out)


@algorithm("String")
def string(input: Any) -> str:  # noqa: A002
    if isinstance(input, str):
        return input
    if isinstance(input, (int, float, bool, np.generic)):
        return _number_string(_num(input, "String"))
    from aef_ee.local.encoding import to_json

    return json.dumps(to_json(input))


@algorithm("String.cat")
def string_cat(string1: Any, string2: Any) -> str:
    return _str(string1, "String.cat") + _str(string2, "String.cat")


@algorithm("String.compareTo")
def string_compare_to(string1: str, string2: str) -> int:
    """Java's compareTo: the difference of the first differing characters, else of the lengths."""
    a, b = _str(string1, "String.compareTo"), _str(string2, "String.compareTo")
    for x, y in zip(a, b):
        if x != y:
            return ord(x) - ord(y)
    return len(a) - len(b)


@algorithm("String.decodeJSON")
def string_decode_json(string: str) -> Any:
    try:
        return json.loads(_str(string, "String.decodeJSON"))
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"String.decodeJSON: Invalid JSON: {exc}.") from None


@algorithm("String.encodeJSON")
def string_encode_json(object: Any) -> str:  # noqa: A002
    from aef_ee.local.encoding import to_json

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
def string_match(input: str, regex: str, flags: str = "") -> list[str]:  # noqa: A002
    """Like JavaScript's match: with 'g' every match, else the first match and its groups ([] when none)."""
    text = _str(input, "String.match")
    pattern = _regex(regex, flags, "String.match")
    if "g" in (flags or ""):
        return [m.group(0) for m in pattern.finditer(text)]
    m = pattern.search(text)
    return [] if m is None else [m.group(0)] + [g if g is not None else "" for g in m.groups()]


@algorithm("String.replace")
def string_replace(input: str, regex: str, replacement: str, flags: str = "") -> str:  # noqa: A002
    pattern = _regex(regex, flags, "String.replace")
    count = 0 if "g" in (flags or "") else 1
    return pattern.sub(_java_replacement(replacement), _str(input, "String.replace"), count=count)


@algorithm("String.slice")
def string_slice(string: str, start: int, end: int | None = None) -> str:
    text = _str(string, "String.slice")
    return text[int(start):] if end is None else text[int(start):int(end)]


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

def truthy(value: Any) -> bool:
    """Earth Engine's reading of a condition: 0, NaN, null, false and empty strings/lists/dicts are false."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float, np.number)):
        return not (value == 0 or (isinstance(value, float) and math.isnan(value)))
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) > 0
    return True


@algorithm("If")
def if_(condition: Any = None, trueCase: Any = None, falseCase: Any = None) -> Any:  # noqa: N803
    return trueCase if truthy(condition) else falseCase


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, Geometry) and isinstance(b, Geometry):
        return a.crs == b.crs and a.geodesic == b.geodesic and a.shape.equals_exact(b.shape, 0)
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b)


@algorithm("IsEqual")
def is_equal(left: Any = None, right: Any = None) -> bool:
    return _deep_equal(left, right)


def object_type(value: Any) -> str:
    """Earth Engine's name for the type of a value (what ``ee.Algorithms.ObjectType`` returns)."""
    from aef_ee.local.projection import Projection
    from aef_ee.local.raster import Image

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


@algorithm("ObjectType")
def object_type_algorithm(value: Any = None) -> str:
    return object_type(value)


@algorithm("Describe")
def describe(input: Any) -> Any:  # noqa: A002
    from aef_ee.local.encoding import to_json

    return to_json(input)


# --- List ----------------------------------------------------------------------------------------------------

def _list(value: Any, where: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise InvalidArgument(f"{where}: expected a list; got {_describe_type(value)}.")


def _index(lst: list[Any], index: Any, where: str, *, inclusive_end: bool = False) -> int:
    i = int(_num(index, where))
    n = len(lst)
    j = i + n if i < 0 else i
    if not 0 <= j < n + (1 if inclusive_end else 0):
        raise InvalidArgument(f"{where}: List index must be between {-n} and {n - 1 + inclusive_end}; got {i}.")
    return j


@algorithm("List.get", "List.getNumber", "List.getString", "List.getArray", "List.getGeometry")
def list_get(list: Any, index: Any) -> Any:  # noqa: A002
    lst = _list(list, "List.get")
    return lst[_index(lst, index, "List.get")]


@algorithm("List.size", "List.length")
def list_size(list: Any) -> int:  # noqa: A002
    return len(_list(list, "List.size"))


@algorithm("List.add")
def list_add(list: Any, element: Any) -> list[Any]:  # noqa: A002
    return _list(list, "List.add") + [element]


@algorithm("List.cat")
def list_cat(list: Any, other: Any) -> list[Any]:  # noqa: A002
    return _list(list, "List.cat") + _list(other, "List.cat")


@algorithm("List.contains")
def list_contains(list: Any, element: Any) -> bool:  # noqa: A002
    return any(_deep_equal(x, element) for x in _list(list, "List.contains"))


@algorithm("List.containsAll")
def list_contains_all(list: Any, other: Any) -> bool:  # noqa: A002
    lst = _list(list, "List.containsAll")
    return all(any(_deep_equal(x, o) for x in lst) for o in _list(other, "List.containsAll"))


@algorithm("List.distinct")
def list_distinct(list: Any) -> list[Any]:  # noqa: A002
    out: list[Any] = []
    for x in _list(list, "List.distinct"):
        if not any(_deep_equal(x, y) for y in out):
            out.append(x)
    return out


@algorithm("List.equals")
def list_equals(list: Any, other: Any) -> bool:  # noqa: A002
    return _deep_equal(_list(list, "List.equals"), _list(other, "List.equals"))


@algorithm("List.filter")
def list_filter(list: Any, filter: Filter) -> list[Any]:  # noqa: A002
    """Elements passing the filter; plain values are the filter's ``item`` field."""
    if not isinstance(filter, Filter):
        raise InvalidArgument("List.filter: expected a Filter.")
    return [x for x in _list(list, "List.filter") if filter(x)]


def _flatten(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        out.extend(_flatten(v) if isinstance(v, (list, tuple)) else [v])
    return out


@algorithm("List.flatten")
def list_flatten(list: Any) -> list[Any]:  # noqa: A002
    return _flatten(_list(list, "List.flatten"))


@algorithm("List.frequency")
def list_frequency(list: Any, element: Any) -> int:  # noqa: A002
    return sum(1 for x in _list(list, "List.frequency") if _deep_equal(x, element))


@algorithm("List.indexOf")
def list_index_of(list: Any, element: Any) -> int:  # noqa: A002
    for i, x in enumerate(_list(list, "List.indexOf")):
        if _deep_equal(x, element):
            return i
    return -1


def _sublist_positions(lst: list[Any], target: list[Any]) -> list[int]:
    n = len(target)
    return [i for i in range(len(lst) - n + 1) if _deep_equal(lst[i:i + n], target)]


@algorithm("List.indexOfSublist")
def list_index_of_sublist(list: Any, target: Any) -> int:  # noqa: A002
    found = _sublist_positions(_list(list, "List.indexOfSublist"), _list(target, "List.indexOfSublist"))
    return found[0] if found else -1


@algorithm("List.lastIndexOfSubList")
def list_last_index_of_sublist(list: Any, target: Any) -> int:  # noqa: A002
    found = _sublist_positions(_list(list, "List.lastIndexOfSubList"), _list(target, "List.lastIndexOfSubList"))
    return found[-1] if found else -1


@algorithm("List.insert")
def list_insert(list: Any, index: Any, element: Any) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.insert")
    i = _index(lst, index, "List.insert", inclusive_end=True)
    return lst[:i] + [element] + lst[i:]


@algorithm("List.iterate")
def list_iterate(list: Any, function: Callable[..., Any], first: Any) -> Any:  # noqa: A002
    """Folds ``function(element, previous)`` over the list, starting from ``first``."""
    acc = first
    for x in _list(list, "List.iterate"):
        acc = function(x, acc)
    return acc


def _join_text(value: Any) -> str:
    return value if isinstance(value, str) else string(value)


@algorithm("List.join")
def list_join(list: Any, separator: str = "") -> str:  # noqa: A002
    return separator.join(_join_text(x) for x in _list(list, "List.join"))


@algorithm("List.map")
def list_map(list: Any, baseAlgorithm: Callable[[Any], Any], dropNulls: bool = False) -> list[Any]:  # noqa: A002,N803
    out = [baseAlgorithm(x) for x in _list(list, "List.map")]
    return [x for x in out if x is not None] if dropNulls else out


@algorithm("List.reduce")
def list_reduce(list: Any, reducer: Any) -> Any:  # noqa: A002
    """Reduces the list's numbers with a reducer; a single output comes back bare, several as a dictionary."""
    reduce_samples = getattr(reducer, "reduce_samples", None)
    if reduce_samples is None:
        raise InvalidArgument("List.reduce: expected a Reducer.")
    values = _list(list, "List.reduce")
    n_inputs = getattr(reducer, "n_inputs", 1)
    array = np.asarray(values, dtype=np.float64)
    if n_inputs == 1:
        array = array.reshape(-1, 1)
    result = reduce_samples(array)
    if isinstance(result, Mapping) and len(result) == 1:
        return next(iter(result.values()))
    return result


@algorithm("List.remove")
def list_remove(list: Any, element: Any) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.remove")
    i = list_index_of(lst, element)
    return lst if i < 0 else lst[:i] + lst[i + 1:]


@algorithm("List.removeAll")
def list_remove_all(list: Any, other: Any) -> list[Any]:  # noqa: A002
    drop = _list(other, "List.removeAll")
    return [x for x in _list(list, "List.removeAll") if not any(_deep_equal(x, d) for d in drop)]


@algorithm("List.repeat")
def list_repeat(value: Any, count: Any) -> list[Any]:
    n = int(_num(count, "List.repeat"))
    if n < 0:
        raise InvalidArgument(f"List.repeat: count must not be negative; got {n}.")
    return [value] * n


@algorithm("List.replace")
def list_replace(list: Any, oldval: Any, newval: Any) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.replace")
    i = list_index_of(lst, oldval)
    if i >= 0:
        lst[i] = newval
    return lst


@algorithm("List.replaceAll")
def list_replace_all(list: Any, oldval: Any, newval: Any) -> list[Any]:  # noqa: A002
    return [newval if _deep_equal(x, oldval) else x for x in _list(list, "List.replaceAll")]


@algorithm("List.reverse")
def list_reverse(list: Any) -> list[Any]:  # noqa: A002
    return _list(list, "List.reverse")[::-1]


@algorithm("List.rotate")
def list_rotate(list: Any, distance: Any) -> list[Any]:  # noqa: A002
    """Java's Collections.rotate: the element at i moves to (i + distance) mod n."""
    lst = _list(list, "List.rotate")
    if not lst:
        return lst
    k = int(_num(distance, "List.rotate")) % len(lst)
    return lst[-k:] + lst[:-k] if k else lst


@algorithm("List.sequence")
def list_sequence(start: Any, end: Any = None, step: Any = 1, count: Any = None) -> list[Any]:
    """start, start+step, ... up to end inclusive, or ``count`` values."""
    s = _num(start, "List.sequence")
    st = _num(1 if step is None else step, "List.sequence")
    if st == 0:
        raise InvalidArgument("List.sequence: step must not be 0.")
    if count is not None:
        n = int(_num(count, "List.sequence"))
    elif end is not None:
        e = _num(end, "List.sequence")
        n = int(math.floor((e - s) / st + 1e-9)) + 1
    else:
        raise InvalidArgument("List.sequence: Either end or count is required.")
    values = [s + i * st for i in range(max(n, 0))]
    return values if _is_int(s, st) else [float(v) for v in values]


@algorithm("List.set")
def list_set(list: Any, index: Any, element: Any) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.set")
    lst[_index(lst, index, "List.set")] = element
    return lst


@algorithm("List.shuffle")
def list_shuffle(list: Any, seed: Any = None) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.shuffle")
    random.Random(0 if seed is None else int(_num(seed, "List.shuffle"))).shuffle(lst)
    return lst


@algorithm("List.slice")
def list_slice(list: Any, start: Any, end: Any = None, step: Any = None) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.slice")
    st = None if step is None else int(_num(step, "List.slice"))
    if st == 0:
        raise InvalidArgument("List.slice: step must not be 0.")
    return lst[int(_num(start, "List.slice")):None if end is None else int(_num(end, "List.slice")):st]


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, (bool, int, float, np.number)):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, Date):
        return (0, value.millis)
    raise InvalidArgument(f"List.sort: cannot sort values of type {_describe_type(value)}.")


@algorithm("List.sort")
def list_sort(list: Any, keys: Any = None) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.sort")
    if keys is None:
        return sorted(lst, key=_sort_key)
    key_list = _list(keys, "List.sort")
    if len(key_list) != len(lst):
        raise InvalidArgument(f"List.sort: {len(key_list)} keys for a list of {len(lst)} elements.")
    order = sorted(range(len(lst)), key=lambda i: _sort_key(key_list[i]))
    return [lst[i] for i in order]


@algorithm("List.splice")
def list_splice(list: Any, start: Any, count: Any, other: Any = None) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.splice")
    i = _index(lst, start, "List.splice", inclusive_end=True)
    n = int(_num(count, "List.splice"))
    return lst[:i] + (_list(other, "List.splice") if other is not None else []) + lst[i + n:]


@algorithm("List.swap")
def list_swap(list: Any, pos1: Any, pos2: Any) -> list[Any]:  # noqa: A002
    lst = _list(list, "List.swap")
    i, j = _index(lst, pos1, "List.swap"), _index(lst, pos2, "List.swap")
    lst[i], lst[j] = lst[j], lst[i]
    return lst


@algorithm("List.zip")
def list_zip(list: Any, other: Any) -> list[list[Any]]:  # noqa: A002
    return [[a, b] for a, b in zip(_list(list, "List.zip"), _list(other, "List.zip"))]


@algorithm("List.unzip")
def list_unzip(list: Any) -> list[list[Any]]:  # noqa: A002
    rows = [_list(r, "List.unzip") for r in _list(list, "List.unzip")]
    if not rows:
        return []
    n = min(len(r) for r in rows)
    return [[r[i] for r in rows] for i in range(n)]


# --- Dictionary ----------------------------------------------------------------------------------------------

def _dict(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise InvalidArgument(f"{where}: expected a dictionary; got {_describe_type(value)}.")


def _sorted(d: Mapping[str, Any]) -> dict[str, Any]:
    """Earth Engine keeps dictionary keys in sorted order."""
    return {k: d[k] for k in sorted(d)}


@algorithm("Dictionary")
def dictionary(input: Any = None) -> dict[str, Any]:  # noqa: A002
    """From a dictionary, an element's properties, or a flat [key1, value1, key2, value2, ...] list."""
    if input is None:
        return {}
    if isinstance(input, Mapping):
        return _sorted(input)
    if isinstance(input, (list, tuple)):
        if len(input) % 2:
            raise InvalidArgument("Dictionary: a list of keys and values must have an even length.")
        return _sorted({str(input[i]): input[i + 1] for i in range(0, len(input), 2)})
    properties = getattr(input, "properties", None)
    if properties is not None:
        return _sorted(properties)
    raise InvalidArgument(f"Dictionary: cannot make a dictionary from {_describe_type(input)}.")


_NO_DEFAULT = object()


@algorithm("Dictionary.get", "Dictionary.getNumber", "Dictionary.getString", "Dictionary.getArray",
           "Dictionary.getGeometry")
def dictionary_get(dictionary: Any, key: str, defaultValue: Any = _NO_DEFAULT) -> Any:  # noqa: N803,F811
    d = _dict(dictionary, "Dictionary.get")
    if key in d:
        return d[key]
    if defaultValue is not _NO_DEFAULT:
        return defaultValue
    raise NotFound(f"Dictionary.get: Dictionary does not contain key: '{key}'.")


@algorithm("Dictionary.set")
def dictionary_set(dictionary: Any, key: str, value: Any) -> dict[str, Any]:  # noqa: F811
    d = _dict(dictionary, "Dictionary.set")
    d[str(key)] = value
    return _sorted(d)


@algorithm("Dictionary.keys")
def dictionary_keys(dictionary: Any) -> list[str]:  # noqa: F811
    return sorted(_dict(dictionary, "Dictionary.keys"))


@algorithm("Dictionary.values")
def dictionary_values(dictionary: Any, keys: Sequence[str] | None = None) -> list[Any]:  # noqa: F811
    d = _dict(dictionary, "Dictionary.values")
    names = sorted(d) if keys is None else list(keys)
    missing = [k for k in names if k not in d]
    if missing:
        raise NotFound(f"Dictionary.values: Dictionary does not contain key: '{missing[0]}'.")
    return [d[k] for k in names]


@algorithm("Dictionary.size")
def dictionary_size(dictionary: Any) -> int:  # noqa: F811
    return len(_dict(dictionary, "Dictionary.size"))


@algorithm("Dictionary.contains")
def dictionary_contains(dictionary: Any, key: str) -> bool:  # noqa: F811
    return key in _dict(dictionary, "Dictionary.contains")


@algorithm("Dictionary.combine")
def dictionary_combine(first: Any, second: Any, overwrite: bool = True) -> dict[str, Any]:
    a, b = _dict(first, "Dictionary.combine"), _dict(second, "Dictionary.combine")
    out = dict(a)
    for k, v in b.items():
        if overwrite or k not in out:
            out[k] = v
    return _sorted(out)


@algorithm("Dictionary.fromLists")
def dictionary_from_lists(keys: Any, values: Any) -> dict[str, Any]:
    ks, vs = _list(keys, "Dictionary.fromLists"), _list(values, "Dictionary.fromLists")
    if len(ks) != len(vs):
        raise InvalidArgument(f"Dictionary.fromLists: {len(ks)} keys but {len(vs)} values.")
    return _sorted({str(k): v for k, v in zip(ks, vs)})


def _select(names: Sequence[str], selectors: Any, ignore_missing: bool, where: str) -> list[str]:
    chosen: list[str] = []
    for sel in [selectors] if isinstance(selectors, str) else _list(selectors, where):
        sel = str(sel)
        if sel in names:
            found = [sel]
        else:
            try:
                pattern = re.compile(sel + r"\Z")
            except re.error:
                found = []
            else:
                found = [n for n in names if pattern.match(n)]
        if not found and not ignore_missing:
            raise NotFound(f"{where}: Dictionary does not contain key: '{sel}'.")
        chosen.extend(n for n in found if n not in chosen)
    return chosen


@algorithm("Dictionary.select")
def dictionary_select(dictionary: Any, selectors: Any, ignoreMissing: bool = False) -> dict[str, Any]:  # noqa: N803,F811
    d = _dict(dictionary, "Dictionary.select")
    return _sorted({k: d[k] for k in _select(list(d), selectors, ignoreMissing, "Dictionary.select")})


@algorithm("Dictionary.remove")
def dictionary_remove(dictionary: Any, selectors: Any, ignoreMissing: bool = False) -> dict[str, Any]:  # noqa: N803,F811
    d = _dict(dictionary, "Dictionary.remove")
    drop = set(_select(list(d), selectors, ignoreMissing, "Dictionary.remove"))
    return _sorted({k: v for k, v in d.items() if k not in drop})


@algorithm("Dictionary.rename")
def dictionary_rename(dictionary: Any, overwrite: bool = False, **kwargs: Any) -> dict[str, Any]:  # noqa: F811
    """Renames keys ``from`` -> ``to`` (``from`` arrives in kwargs: it is a Python keyword)."""
    d = _dict(dictionary, "Dictionary.rename")
    old, new = _list(kwargs.get("from"), "Dictionary.rename"), _list(kwargs.get("to"), "Dictionary.rename")
    if len(old) != len(new):
        raise InvalidArgument(f"Dictionary.rename: {len(old)} keys to rename but {len(new)} new names.")
    out = dict(d)
    for o, n in zip(old, new):
        if o not in d:
            raise NotFound(f"Dictionary.rename: Dictionary does not contain key: '{o}'.")
        del out[o]
    for o, n in zip(old, new):
        if n in out and not overwrite:
            raise InvalidArgument(f"Dictionary.rename: Key '{n}' already exists; use overwrite=True.")
        out[n] = d[o]
    return _sorted(out)


@algorithm("Dictionary.map")
def dictionary_map(dictionary: Any, baseAlgorithm: Callable[[Any, Any], Any]) -> dict[str, Any]:  # noqa: N803,F811
    d = _dict(dictionary, "Dictionary.map")
    return _sorted({k: baseAlgorithm(k, v) for k, v in d.items()})


@algorithm("Dictionary.toArray")
def dictionary_to_array(dictionary: Any, keys: Sequence[str] | None = None, axis: int = 0) -> np.ndarray:  # noqa: F811
    values = dictionary_values(dictionary, keys)
    array = np.asarray(values, dtype=np.float64)
    return array if int(axis) == 0 or array.ndim < 2 else np.moveaxis(array, 0, int(axis))


@algorithm("Dictionary.toImage")
def dictionary_to_image(dictionary: Any, names: Sequence[str] | None = None) -> Any:  # noqa: F811
    from aef_ee.local.algorithms.image import cat, image_constant, image_rename

    d = _dict(dictionary, "Dictionary.toImage")
    keys = sorted(d) if names is None else list(names)
    return cat([image_rename(image_constant(_num(dictionary_get(d, k), "Dictionary.toImage")), [k]) for k in keys])


# --- Array (the few helpers other families need) -------------------------------------------------------------

@algorithm("Array")
def array(values: Any, pixelType: Any = None) -> np.ndarray:  # noqa: N803
    data = np.asarray(values)
    if data.dtype == object or data.dtype.kind not in "biuf":
        raise InvalidArgument("Array: values must be a (nested, rectangular) list of numbers.")
    return data.astype(np.int64 if data.dtype.kind in "biu" else np.float64)


@algorithm("Array.get")
def array_get(array: Any, position: Any) -> Any:  # noqa: F811
    data = np.asarray(array)
    pos = [int(p) for p in (position if isinstance(position, (list, tuple)) else [position])]
    if len(pos) != data.ndim or any(not 0 <= p < s for p, s in zip(pos, data.shape)):
        raise InvalidArgument(f"Array.get: Position {pos} is out of bounds for an array of shape {list(data.shape)}.")
    return data[tuple(pos)].item()


@algorithm("Array.toList")
def array_to_list(array: Any) -> list[Any]:  # noqa: F811
    return np.asarray(array).tolist()


@algorithm("Array.length")
def array_length(array: Any) -> np.ndarray:  # noqa: F811
    return np.asarray(np.asarray(array).shape, dtype=np.int64)


# Date and DateRange live in their own section below (imported here so they register with this family).
from aef_ee.local.algorithms import _dates  # noqa: E402,F401

to_millis = _dates.to_millis
zone = _dates.zone
format_date = _dates.format_date
parse_date_string = _dates.parse_date_string
