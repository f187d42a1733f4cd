"""Filter algorithms: property comparisons, string and list tests, date ranges, calendar fields, geometry tests,
and boolean combinations. Each returns a :class:`aef_ee.local.values.Filter` whose predicate takes one element.

A binary filter compares a *left* operand with a *right* one; each is either a constant (``leftValue`` /
``rightValue``) or a property of the element (``leftField`` / ``rightField``). The field ``.all`` (or ``.geo``) is
the element's geometry (an image's footprint); ``item`` is the element itself when filtering a plain List.
An element lacking a property it is filtered on does not pass (``Filter.not`` of such a filter does).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import shapely

from aef_ee.local.algorithms import geometry as geo
from aef_ee.local.algorithms import geometry_ops as geo_ops
from aef_ee.local.algorithms._expression import parse_expression
from aef_ee.local.algorithms.dates import to_millis
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.geometry_raster import as_geometry
from aef_ee.local.raster import Image
from aef_ee.local.semantics import number_arg, object_type
from aef_ee.local.values import Date, DateRange, Feature, Filter, Geometry

__all__ = ["binary_filter", "measured_filter", "element_value", "element_geometry", "matches", "lookup_filter",
           "MISSING"]

MISSING = object()
_GEOMETRY_FIELDS = (".all", ".geo")


def element_geometry(element: Any) -> Geometry | None:
    """The geometry a spatial filter tests: a feature's geometry or an image's footprint (None: unbounded)."""
    if isinstance(element, Image):
        return None if element.footprint is None else Geometry(element.footprint, geodesic=False)
    if isinstance(element, Feature):
        return element.geometry
    if isinstance(element, Geometry):
        return element
    return as_geometry(element)


def element_value(element: Any, field: str) -> Any:
    """The value of ``field`` on an element (MISSING when absent or null)."""
    if field in _GEOMETRY_FIELDS:
        return element_geometry(element)
    properties = getattr(element, "properties", None)
    if properties is None:
        if field == "item":
            return element
        return MISSING
    value = properties.get(field, MISSING)
    return MISSING if value is None else value


def matches(flt: Filter, primary: Any, secondary: Any = None) -> bool:
    """Whether ``primary`` passes ``flt``; with ``secondary`` (a join), right-hand fields are read from it."""
    if secondary is None:
        return flt(primary)
    try:
        return bool(flt.predicate(primary, secondary))
    except TypeError as exc:  # a filter built elsewhere that takes one element
        raise InvalidArgument(f"Filter {flt.description} cannot compare two elements.") from exc


def _comparable(value: Any) -> Any:
    if isinstance(value, Date):
        return value.millis
    if isinstance(value, bool):
        return int(value)
    return value


def binary_filter(name: str, test: Callable[[Any, Any], bool], leftField: str | None = None,
                  rightValue: Any = None, rightField: str | None = None, leftValue: Any = None) -> Filter:
    """A filter applying ``test(left, right)`` to operands taken from constants or element properties.

    Its predicate also takes an optional second element (a join's secondary): ``rightField`` is then read from it.
    """
    if leftField is None and leftValue is None:
        raise InvalidArgument(f"Filter.{name}: Either leftField or leftValue is required.")
    if leftField is not None and leftValue is not None:
        raise InvalidArgument(f"Filter.{name}: Only one of leftField or leftValue may be given.")
    if rightField is not None and rightValue is not None:
        raise InvalidArgument(f"Filter.{name}: Only one of rightField or rightValue may be given.")

    def operand(element: Any, field: str | None, value: Any) -> Any:
        return element_value(element, field) if field is not None else value

    def predicate(element: Any, secondary: Any = None) -> bool:
        left = operand(element, leftField, leftValue)
        right = operand(element if secondary is None else secondary, rightField, rightValue)
        if left is MISSING or right is MISSING:
            return False
        try:
            return bool(test(left, right))
        except TypeError:  # values of kinds that cannot be compared (a string and a number) do not pass
            return False

    left_desc = leftField if leftField is not None else repr(leftValue)
    right_desc = rightField if rightField is not None else repr(rightValue)
    return Filter(predicate, f"{name}({left_desc}, {right_desc})")


def _equal(a: Any, b: Any) -> bool:
    a, b = _comparable(a), _comparable(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _order(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def test(a: Any, b: Any) -> bool:
        a, b = _comparable(a), _comparable(b)
        if isinstance(a, str) != isinstance(b, str):
            return False
        return op(a, b)

    return test


def _contains_in(container: Any, item: Any) -> bool:
    if not isinstance(container, (list, tuple)):
        return False
    return any(_equal(c, item) for c in container)


def _string_test(op: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def test(a: Any, b: Any) -> bool:
        return isinstance(a, str) and isinstance(b, str) and op(a, b)

    return test


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": _equal,
    "notEquals": lambda a, b: not _equal(a, b),
    "lessThan": _order(lambda a, b: a < b),
    "lessThanOrEquals": _order(lambda a, b: a <= b),
    "greaterThan": _order(lambda a, b: a > b),
    "greaterThanOrEquals": _order(lambda a, b: a >= b),
    "stringContains": _string_test(lambda a, b: b in a),
    "stringStartsWith": _string_test(lambda a, b: a.startswith(b)),
    "stringEndsWith": _string_test(lambda a, b: a.endswith(b)),
    # inList: the left value is one of the right list; listContains: the left list holds the right value.
    "inList": lambda a, b: _contains_in(b, a),
    "listContains": lambda a, b: _contains_in(a, b),
}


_REGISTERED: dict[str, Callable[..., Filter]] = {}


def lookup_filter(name: str) -> Callable[..., Filter]:
    """The constructor of ``Filter.<name>`` for the comparison filters (e.g. 'equals', 'lessThan')."""
    return _REGISTERED[name]


def _register_comparison(name: str, test: Callable[[Any, Any], bool]) -> None:
    def impl(leftField: str | None = None, rightValue: Any = None, rightField: str | None = None,
             leftValue: Any = None) -> Filter:
        return binary_filter(name, test, leftField, rightValue, rightField, leftValue)

    impl.__name__ = f"filter_{name}"
    _REGISTERED[name] = impl
    algorithm(f"Filter.{name}")(impl)


for _name, _test in _COMPARISONS.items():
    _register_comparison(_name, _test)


def measured_filter(name: str, measure: Callable[[Any, Any], float | None], limit: float,
                    leftField: str | None, rightValue: Any, rightField: str | None,
                    leftValue: Any) -> Filter:
    """A binary filter passing where ``measure(left, right) <= limit``; as a join condition its measure is the join
    measure (Earth Engine: "If used as a join condition, this [difference / distance] is used as a join measure")."""
    def test(left: Any, right: Any) -> bool:
        value = measure(left, right)
        return value is not None and value <= limit

    base = binary_filter(name, test, leftField, rightValue, rightField, leftValue)

    def join_measure(primary: Any, secondary: Any) -> float | None:
        left = element_value(primary, leftField) if leftField is not None else leftValue
        right = element_value(secondary, rightField) if rightField is not None else rightValue
        if left is MISSING or right is MISSING:
            return None
        try:
            return measure(left, right)
        except TypeError:
            return None

    return Filter(base.predicate, base.description, join_measure)


def _difference(a: Any, b: Any) -> float:
    return abs(_comparable(a) - _comparable(b))


@algorithm("Filter.maxDifference")
def max_difference(difference: float, leftField: str | None = None, rightValue: Any = None,
                   rightField: str | None = None, leftValue: Any = None) -> Filter:
    limit = number_arg(difference, "Filter.maxDifference")
    return measured_filter("maxDifference", _difference, limit, leftField, rightValue, rightField, leftValue)


@algorithm("Filter.hasType")
def has_type(leftField: str | None = None, rightValue: Any = None, rightField: str | None = None,
             leftValue: Any = None) -> Filter:
    return binary_filter("hasType", lambda a, b: object_type(a) == b, leftField, rightValue, rightField,
                         leftValue)


# --- dates ---------------------------------------------------------------------------------------------------

def _as_range(value: Any) -> DateRange:
    if isinstance(value, DateRange):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return DateRange(to_millis(value[0]), to_millis(value[1]))
    raise InvalidArgument(f"Filter.dateRangeContains: expected a DateRange; got {type(value).__name__}.")


def _range_contains(rng: Any, when: Any) -> bool:
    r = _as_range(rng)
    if isinstance(when, DateRange):
        return r.start <= when.start and when.end <= r.end
    t = _comparable(when)
    return r.start <= float(t) < r.end


@algorithm("Filter.dateRangeContains")
def date_range_contains(
    leftField: str | None = None, rightValue: Any = None, rightField: str | None = None, leftValue: Any = None,
) -> Filter:
    return binary_filter("dateRangeContains", _range_contains, leftField, rightValue, rightField, leftValue)


# Calendar fields Filter.calendarRange accepts, with the value of each for a UTC datetime (Joda's numbering:
# months 1-12, Monday = 1 .. Sunday = 7, days of year from 1).
_CALENDAR_FIELDS: dict[str, Callable[[dt.datetime], int]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "week": lambda d: d.isocalendar()[1],
    "day_of_year": lambda d: d.timetuple().tm_yday,
    "day_of_month": lambda d: d.day,
    "day_of_week": lambda d: d.isoweekday(),
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
}


def _utc(millis: float) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=float(millis))


def _time_start(element: Any) -> float | None:
    value = element_value(element, "system:time_start")
    return None if value is MISSING else float(_comparable(value))


def _in_cycle(value: int, start: int, end: int) -> bool:
    """``start <= value <= end``, wrapping around when ``end < start`` (e.g. months 11..2)."""
    return start <= value <= end if start <= end else value >= start or value <= end


@algorithm("Filter.calendarRange")
def calendar_range(start: int, end: int | None = None, field: str = "day_of_year") -> Filter:
    """Elements whose ``system:time_start`` (UTC) has ``field`` in [start, end] (inclusive, wrapping)."""
    if field not in _CALENDAR_FIELDS:
        raise InvalidArgument(f"Filter.calendarRange: Unknown field '{field}'. Use one of {list(_CALENDAR_FIELDS)}.")
    get = _CALENDAR_FIELDS[field]
    lo = int(number_arg(start, "Filter.calendarRange"))
    hi = lo if end is None else int(number_arg(end, "Filter.calendarRange"))

    def predicate(element: Any, secondary: Any = None) -> bool:
        t = _time_start(element)
        return t is not None and _in_cycle(get(_utc(t)), lo, hi)

    return Filter(predicate, f"calendarRange({lo}, {hi}, {field})")


@algorithm("Filter.dayOfYear")
def day_of_year(start: int, end: int) -> Filter:
    return calendar_range(start, end, "day_of_year")


@algorithm("Filter.rangeContains")
def range_contains(field: str, minValue: Any, maxValue: Any) -> Filter:
    """Elements whose ``field`` lies in [minValue, maxValue]."""
    lo, hi = _comparable(minValue), _comparable(maxValue)

    def predicate(element: Any, secondary: Any = None) -> bool:
        value = element_value(element, field)
        if value is MISSING:
            return False
        try:
            return bool(lo <= _comparable(value) <= hi)
        except TypeError:
            return False

    return Filter(predicate, f"rangeContains({field}, {minValue!r}, {maxValue!r})")


# --- geometry ------------------------------------------------------------------------------------------------

_NOT_CONSTANT = object()


def _spatial(name: str, test: Callable[[Any, Any], bool], leftField: str | None, rightValue: Any,
             rightField: str | None, leftValue: Any) -> Filter:
    def as_shape(value: Any) -> Any:
        if isinstance(value, Mapping):
            value = geo.geometry_from_geojson(dict(value))
        g = element_geometry(value) if not isinstance(value, Geometry) else value
        return None if g is None else geo_ops.lonlat_shape(g)

    # A constant operand (the region of filterBounds) is converted and prepared once, not once per element.
    constants = {id(v): as_shape(v) for v in (leftValue, rightValue) if v is not None}
    for shape in constants.values():
        if shape is not None:
            shapely.prepare(shape)

    def shape_of(value: Any) -> Any:
        found = constants.get(id(value), _NOT_CONSTANT)
        return as_shape(value) if found is _NOT_CONSTANT else found

    def spatial_test(left: Any, right: Any) -> bool:
        a, b = shape_of(left), shape_of(right)
        if a is None or b is None:  # an unbounded image covers everything
            if a is None and b is None:
                return name != "disjoint"
            unbounded_side = {"intersects": True, "disjoint": False, "contains": a is None, "isContained": b is None}
            return unbounded_side[name]
        return test(a, b)

    return binary_filter(name, spatial_test, leftField, rightValue, rightField, leftValue)


def _register_spatial(name: str, test: Callable[[Any, Any], bool]) -> None:
    def impl(leftField: str | None = None, rightValue: Any = None, rightField: str | None = None,
             leftValue: Any = None, maxError: Any = None) -> Filter:
        return _spatial(name, test, leftField, rightValue, rightField, leftValue)

    impl.__name__ = f"filter_{name}"
    algorithm(f"Filter.{name}")(impl)


# Symmetric tests put the right operand (usually the prepared constant region) first, where a prepared geometry helps.
_register_spatial("intersects", lambda a, b: b.intersects(a))
_register_spatial("disjoint", lambda a, b: b.disjoint(a))
_register_spatial("contains", lambda a, b: a.covers(b))
_register_spatial("isContained", lambda a, b: b.covers(a))


@algorithm("Filter.withinDistance")
def within_distance(distance: float, leftField: str | None = None, rightValue: Any = None,
                    rightField: str | None = None, leftValue: Any = None, maxError: Any = None) -> Filter:
    limit = number_arg(distance, "Filter.withinDistance")

    def measure(left: Any, right: Any) -> float:
        a, b = element_geometry(left), element_geometry(right)
        if a is None or b is None:  # an unbounded image is everywhere
            return 0.0
        return geo_ops.geometry_distance(a, b)

    return measured_filter("withinDistance", measure, limit, leftField, rightValue, rightField, leftValue)


@algorithm("Filter.hasGeometry")
def has_geometry() -> Filter:
    def predicate(element: Any, secondary: Any = None) -> bool:
        return isinstance(element, Image) or getattr(element, "geometry", None) is not None

    return Filter(predicate, "hasGeometry")


@algorithm("Filter.area")
def filter_area(
    min: float, max: float, maxError: Any = None, geometrySelector: str | None = None,
) -> Filter:
    lo, hi = number_arg(min, "Filter.area"), number_arg(max, "Filter.area")

    def predicate(element: Any, secondary: Any = None) -> bool:
        g = element_geometry(element)
        return g is not None and lo <= geo_ops.geodesic_area(g) <= hi

    return Filter(predicate, f"area({min}, {max})")


@algorithm("Filter.expression")
def filter_expression(expression: str) -> Filter:
    """Elements for which the expression over their properties is true (e.g. ``'cloud < 20 && year == 2020'``);
    an element lacking a property the expression reads does not pass."""
    parsed = parse_expression(expression)
    names = parsed.variables()

    def predicate(element: Any, secondary: Any = None) -> bool:
        values = {n: element_value(element, n) for n in names}
        if any(v is MISSING for v in values.values()):
            return False
        return bool(np.all(parsed.evaluate(lambda n: _comparable(values[n]))))

    return Filter(predicate, f"expression({expression})")


# --- combinations --------------------------------------------------------------------------------------------

def _filters(filters: Any, name: str) -> list[Filter]:
    if isinstance(filters, Filter):
        return [filters]
    if not isinstance(filters, (list, tuple)) or not all(isinstance(f, Filter) for f in filters):
        raise InvalidArgument(f"Filter.{name}: expected a list of filters.")
    return list(filters)


def _first_measure(parts: Sequence[Filter]) -> Callable[[Any, Any], float | None] | None:
    """The join measure of a combination: its first measured part's."""
    return next((f.measure for f in parts if f.measure is not None), None)


@algorithm("Filter.and")
def filter_and(filters: Sequence[Filter]) -> Filter:
    parts = _filters(filters, "and")
    description = "and(" + ", ".join(f.description for f in parts) + ")"
    return Filter(lambda e, s=None: all(matches(f, e, s) for f in parts), description, _first_measure(parts))


@algorithm("Filter.or")
def filter_or(filters: Sequence[Filter]) -> Filter:
    parts = _filters(filters, "or")
    description = "or(" + ", ".join(f.description for f in parts) + ")"
    return Filter(lambda e, s=None: any(matches(f, e, s) for f in parts), description, _first_measure(parts))


@algorithm("Filter.not")
def filter_not(filter: Filter) -> Filter:
    if not isinstance(filter, Filter):
        raise InvalidArgument("Filter.not: expected a filter.")
    return Filter(lambda e, s=None: not matches(filter, e, s), f"not({filter.description})")


@algorithm("Filter.always")
def always() -> Filter:
    return Filter(lambda e, s=None: True, "always")


@algorithm("Filter.never")
def never() -> Filter:
    return Filter(lambda e, s=None: False, "never")


@algorithm("Filter.notNull")
def not_null(properties: Sequence[str]) -> Filter:
    names = [properties] if isinstance(properties, str) else list(properties)

    def predicate(element: Any, secondary: Any = None) -> bool:
        return all(_present(element_value(element, n)) for n in names)

    return Filter(predicate, f"notNull({names})")


def _present(value: Any) -> bool:
    return value is not MISSING and not (isinstance(value, float) and math.isnan(value))

