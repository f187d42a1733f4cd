"""``ee.Join``: simple, inverted, inner, saveAll, saveFirst and saveBest joins, applied with ``Join.apply``.

A join pairs each element of the *primary* collection with the elements of the *secondary* collection that pass the
condition, a binary filter whose ``leftField`` is read from the primary element and ``rightField`` from the secondary
one (``ee.Filter.equals({leftField: 'system:index', rightField: 'system:index'})``). ``withinDistance`` and
``maxDifference`` conditions also give a *join measure* (the distance, the difference), which ``saveBest`` minimises
and ``measureKey`` records. What each join returns (apidocs ee-join-*):

- ``simple``: the primary elements that match any secondary element; ``inverted``: those that match none.
- ``inner``: one feature per matching pair, with properties ``primary`` and ``secondary`` (the two elements) and the
  measure under ``measureKey``.
- ``saveAll``: each primary element with the list of its matches under ``matchesKey`` (sorted by ``ordering``);
  ``saveFirst``: the first match (after ordering) under ``matchKey``; ``saveBest``: the match with the smallest
  measure. With ``measureKey`` each saved match carries its measure; with ``outer`` primary elements without a
  match are kept (saveAll gives them an empty list).

Joins keep the primary collection's kind: joining ImageCollections gives an ImageCollection (except ``inner``,
whose pairs are features).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from aef_ee.local.algorithms.collection import collection_of, elements
from aef_ee.local.algorithms.filter import matches
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.values import Feature, FeatureCollection, Filter

__all__ = ["Join"]


@dataclasses.dataclass(frozen=True)
class Join:
    """A join's kind (``'simple'``, ``'inner'``...) and its arguments, as Earth Engine names them."""

    kind: str
    args: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_info(self) -> dict[str, Any]:
        return {"type": "Join", "kind": self.kind, **{k: v for k, v in self.args.items() if v is not None}}


def _missing_last(value: Any) -> tuple:
    if value is None:
        return (2, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _with(element: Any, **properties: Any) -> Any:
    props = dict(element.properties)
    props.update(properties)
    return element.with_properties(props)


def _matches(primary: Any, secondary: Sequence[Any], condition: Filter) -> list[tuple[Any, float | None]]:
    """The secondary elements matching ``primary``, in order, with their join measures."""
    found = []
    for element in secondary:
        if matches(condition, primary, element):
            measure = condition.measure(primary, element) if condition.measure is not None else None
            found.append((element, measure))
    return found


def _ordered(found: list[tuple[Any, float | None]], ordering: str | None, ascending: bool):
    if ordering is None:
        return found
    present = [f for f in found if f[0].properties.get(ordering) is not None]
    absent = [f for f in found if f[0].properties.get(ordering) is None]
    present.sort(key=lambda f: _missing_last(f[0].properties.get(ordering)), reverse=not ascending)
    return present + absent


def _measured(element: Any, measure: float | None, measure_key: str | None) -> Any:
    return _with(element, **{measure_key: measure}) if measure_key else element


@algorithm("Join.apply")
def join_apply(join: Any, primary: Any, secondary: Any, condition: Any) -> Any:
    """Earth Engine's ``Join.apply``: ``join`` of ``primary`` and ``secondary`` under ``condition``."""
    if not isinstance(join, Join):
        raise InvalidArgument(f"Join.apply: expected a Join; got {type(join).__name__}.")
    if not isinstance(condition, Filter):
        raise InvalidArgument(f"Join.apply: the condition must be a Filter; got {type(condition).__name__}.")
    left, right = elements(primary), elements(secondary)
    a = join.args
    if join.kind in ("simple", "inverted"):
        want = join.kind == "simple"
        kept = [p for p in left if any(matches(condition, p, s) for s in right) == want]
        return collection_of(kept, primary)
    if join.kind == "inner":
        pairs = []
        for p in left:
            for s, measure in _matches(p, right, condition):
                props = {a["primaryKey"]: p, a["secondaryKey"]: s}
                if a.get("measureKey"):
                    props[a["measureKey"]] = measure
                pairs.append(Feature(None, props))
        return FeatureCollection(pairs, {})
    out = []
    for p in left:
        found = _matches(p, right, condition)
        if join.kind == "saveAll":
            found = _ordered(found, a.get("ordering"), a.get("ascending", True))
            if found or a.get("outer"):
                out.append(_with(p, **{a["matchesKey"]: [_measured(s, m, a.get("measureKey")) for s, m in found]}))
            continue
        if not found:
            if a.get("outer"):
                out.append(p)
            continue
        if join.kind == "saveFirst":
            best, measure = _ordered(found, a.get("ordering"), a.get("ascending", True))[0]
        else:  # saveBest: the smallest measure (the first of equals)
            if all(m is None for _, m in found):
                raise InvalidArgument("Join.saveBest: the condition gives no join measure; use withinDistance or "
                                      "maxDifference.")
            best, measure = min((f for f in found if f[1] is not None), key=lambda f: f[1])
        out.append(_with(p, **{a["matchKey"]: _measured(best, measure, a.get("measureKey"))}))
    return collection_of(out, primary)


@algorithm("Join.simple")
def join_simple() -> Join:
    """Primary elements matching any secondary element; no properties added."""
    return Join("simple")


@algorithm("Join.inverted")
def join_inverted() -> Join:
    """Primary elements matching no secondary element; no properties added."""
    return Join("inverted")


@algorithm("Join.inner")
def join_inner(primaryKey: str = "primary", secondaryKey: str = "secondary",
               measureKey: str | None = None) -> Join:
    """One feature per matching pair, holding the two elements under ``primaryKey`` and ``secondaryKey``."""
    return Join("inner", {"primaryKey": primaryKey, "secondaryKey": secondaryKey, "measureKey": measureKey})


@algorithm("Join.saveAll")
def join_save_all(matchesKey: str, ordering: str | None = None, ascending: bool = True,
                  measureKey: str | None = None, outer: bool = False) -> Join:
    """Each primary element with the list of its matches under ``matchesKey``."""
    return Join("saveAll", {"matchesKey": _key(matchesKey, "saveAll", "matchesKey"), "ordering": ordering,
                            "ascending": bool(ascending), "measureKey": measureKey, "outer": bool(outer)})


@algorithm("Join.saveFirst")
def join_save_first(matchKey: str, ordering: str | None = None, ascending: bool = True,
                    measureKey: str | None = None, outer: bool = False) -> Join:
    """Each primary element with its first match (after ``ordering``) under ``matchKey``."""
    return Join("saveFirst", {"matchKey": _key(matchKey, "saveFirst", "matchKey"), "ordering": ordering,
                              "ascending": bool(ascending), "measureKey": measureKey, "outer": bool(outer)})


@algorithm("Join.saveBest")
def join_save_best(matchKey: str, measureKey: str, outer: bool = False) -> Join:
    """Each primary element with the match of the smallest join measure under ``matchKey``, the measure under
    ``measureKey`` on that match."""
    return Join("saveBest", {"matchKey": _key(matchKey, "saveBest", "matchKey"),
                             "measureKey": _key(measureKey, "saveBest", "measureKey"), "outer": bool(outer)})


def _key(value: Any, join: str, argument: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"Join.{join}: {argument} must be a non-empty string; got {value!r}.")
    return value
