"""List and Dictionary algorithms.

Lists are Python lists and dictionaries Python dicts kept in sorted key order, as Earth Engine keeps them.
Functions passed by the client (``List.map``, ``List.iterate``, ``Dictionary.map``) arrive as evaluator closures.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms._selectors import match_names
from aef_ee.local.algorithms.image import cat, image_constant, image_rename
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.limits import (
    MAX_VALUE_BYTES,
    check_count,
    check_list_length,
    check_string_length,
    check_value_size,
    checkpoint,
    value_bytes,
)
from aef_ee.local.semantics import as_number, deep_equal, describe_type, is_int, to_string
from aef_ee.local.values import Date, Filter

__all__: list[str] = []  # a family module: its algorithms are reached through the registry


# --- List ----------------------------------------------------------------------------------------------------

def _list(value: Any, where: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise InvalidArgument(f"{where}: expected a list; got {describe_type(value)}.")


def _index(lst: list[Any], index: Any, where: str, *, inclusive_end: bool = False) -> int:
    i = int(as_number(index, where))
    n = len(lst)
    j = i + n if i < 0 else i
    if not 0 <= j < n + (1 if inclusive_end else 0):
        raise InvalidArgument(f"{where}: List index must be between {-n} and {n - 1 + inclusive_end}; got {i}.")
    return j


@algorithm("List.get", "List.getNumber", "List.getString", "List.getArray", "List.getGeometry")
def list_get(list: Any, index: Any) -> Any:
    lst = _list(list, "List.get")
    return lst[_index(lst, index, "List.get")]


@algorithm("List.size")
def list_size(list: Any) -> int:
    return len(_list(list, "List.size"))


@algorithm("List.add")
def list_add(list: Any, element: Any) -> list[Any]:
    lst = _list(list, "List.add")
    check_list_length(len(lst) + 1, "List.add")
    return lst + [element]


@algorithm("List.cat")
def list_cat(list: Any, other: Any) -> list[Any]:
    first, second = _list(list, "List.cat"), _list(other, "List.cat")
    check_list_length(len(first) + len(second), "List.cat")
    return first + second


@algorithm("List.contains")
def list_contains(list: Any, element: Any) -> bool:
    return any(deep_equal(x, element) for x in _list(list, "List.contains"))


@algorithm("List.containsAll")
def list_contains_all(list: Any, other: Any) -> bool:
    lst = _list(list, "List.containsAll")
    return all(checkpoint() or any(deep_equal(x, o) for x in lst) for o in _list(other, "List.containsAll"))


@algorithm("List.distinct")
def list_distinct(list: Any) -> list[Any]:
    out: list[Any] = []
    for x in _list(list, "List.distinct"):
        checkpoint()  # quadratic: the request's deadline must be able to stop it
        if not any(deep_equal(x, y) for y in out):
            out.append(x)
    return out


@algorithm("List.equals")
def list_equals(list: Any, other: Any) -> bool:
    return deep_equal(_list(list, "List.equals"), _list(other, "List.equals"))


@algorithm("List.filter")
def list_filter(list: Any, filter: Filter) -> list[Any]:
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
def list_flatten(list: Any) -> list[Any]:
    lst = _list(list, "List.flatten")
    # Nested lists may be one list repeated (List.repeat shares it): bound the flat result before building it.
    check_value_size(lst, "List.flatten")
    return _flatten(lst)


@algorithm("List.frequency")
def list_frequency(list: Any, element: Any) -> int:
    return sum(1 for x in _list(list, "List.frequency") if deep_equal(x, element))


@algorithm("List.indexOf")
def list_index_of(list: Any, element: Any) -> int:
    for i, x in enumerate(_list(list, "List.indexOf")):
        if deep_equal(x, element):
            return i
    return -1


def _sublist_positions(lst: list[Any], target: list[Any]) -> list[int]:
    n = len(target)
    return [i for i in range(len(lst) - n + 1) if checkpoint() or deep_equal(lst[i:i + n], target)]


@algorithm("List.indexOfSublist")
def list_index_of_sublist(list: Any, target: Any) -> int:
    found = _sublist_positions(_list(list, "List.indexOfSublist"), _list(target, "List.indexOfSublist"))
    return found[0] if found else -1


@algorithm("List.lastIndexOfSubList")
def list_last_index_of_sublist(list: Any, target: Any) -> int:
    found = _sublist_positions(_list(list, "List.lastIndexOfSubList"), _list(target, "List.lastIndexOfSubList"))
    return found[-1] if found else -1


@algorithm("List.insert")
def list_insert(list: Any, index: Any, element: Any) -> list[Any]:
    lst = _list(list, "List.insert")
    check_list_length(len(lst) + 1, "List.insert")
    i = _index(lst, index, "List.insert", inclusive_end=True)
    return lst[:i] + [element] + lst[i:]


@algorithm("List.iterate")
def list_iterate(list: Any, function: Callable[..., Any], first: Any) -> Any:
    """Folds ``function(element, previous)`` over the list, starting from ``first``."""
    acc = first
    for x in _list(list, "List.iterate"):
        acc = function(x, acc)
    return acc


@algorithm("List.join")
def list_join(list: Any, separator: str = "") -> str:
    pieces = [to_string(x) for x in _list(list, "List.join")]
    check_string_length(sum(map(len, pieces)) + len(separator) * max(0, len(pieces) - 1), "List.join")
    return separator.join(pieces)


@algorithm("List.map")
def list_map(list: Any, baseAlgorithm: Callable[[Any], Any], dropNulls: bool = False) -> list[Any]:
    out = [baseAlgorithm(x) for x in _list(list, "List.map")]
    # The function may return one large value for every element: bound what getInfo or flatten would walk.
    check_value_size(out, "List.map")
    return [x for x in out if x is not None] if dropNulls else out


@algorithm("List.reduce")
def list_reduce(list: Any, reducer: Any) -> Any:
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
def list_remove(list: Any, element: Any) -> list[Any]:
    lst = _list(list, "List.remove")
    i = list_index_of(lst, element)
    return lst if i < 0 else lst[:i] + lst[i + 1:]


@algorithm("List.removeAll")
def list_remove_all(list: Any, other: Any) -> list[Any]:
    drop = _list(other, "List.removeAll")
    return [x for x in _list(list, "List.removeAll") if not (checkpoint() or any(deep_equal(x, d) for d in drop))]


@algorithm("List.repeat")
def list_repeat(value: Any, count: Any) -> list[Any]:
    n = check_count(as_number(count, "List.repeat"), "List.repeat")
    # The list holds n references to one value, but getInfo, flatten and equality walk each of them.
    if n and (value_bytes(value) + 8) * n > MAX_VALUE_BYTES:
        check_value_size([value] * min(n, MAX_VALUE_BYTES // 8 + 1), "List.repeat")
    return [value] * n


@algorithm("List.replace")
def list_replace(list: Any, oldval: Any, newval: Any) -> list[Any]:
    lst = _list(list, "List.replace")
    i = list_index_of(lst, oldval)
    if i >= 0:
        lst[i] = newval
    return lst


@algorithm("List.replaceAll")
def list_replace_all(list: Any, oldval: Any, newval: Any) -> list[Any]:
    return [newval if deep_equal(x, oldval) else x for x in _list(list, "List.replaceAll")]


@algorithm("List.reverse")
def list_reverse(list: Any) -> list[Any]:
    return _list(list, "List.reverse")[::-1]


@algorithm("List.rotate")
def list_rotate(list: Any, distance: Any) -> list[Any]:
    """Java's Collections.rotate: the element at i moves to (i + distance) mod n."""
    lst = _list(list, "List.rotate")
    if not lst:
        return lst
    k = int(as_number(distance, "List.rotate")) % len(lst)
    return lst[-k:] + lst[:-k] if k else lst


@algorithm("List.sequence")
def list_sequence(start: Any, end: Any = None, step: Any = 1, count: Any = None) -> list[Any]:
    """start, start+step, ... up to end inclusive; or ``count`` values (from start by step, or spread evenly
    from start to end when both are given)."""
    s = as_number(start, "List.sequence")
    st = as_number(1 if step is None else step, "List.sequence")
    if st == 0:
        raise InvalidArgument("List.sequence: step must not be 0.")
    if count is not None and end is not None:  # count values spaced evenly from start to end
        n = check_count(as_number(count, "List.sequence"), "List.sequence")
        e = as_number(end, "List.sequence")
        return [float(v) for v in np.linspace(s, e, max(n, 0))] if n != 1 else [s]
    if count is not None:
        n = check_count(max(0, as_number(count, "List.sequence")), "List.sequence")
    elif end is not None:
        e = as_number(end, "List.sequence")
        n = check_count(max(0.0, math.floor((e - s) / st + 1e-9) + 1), "List.sequence")
    else:
        raise InvalidArgument("List.sequence: Either end or count is required.")
    values = [s + i * st for i in range(max(n, 0))]
    return values if is_int(s, st) else [float(v) for v in values]


@algorithm("List.set")
def list_set(list: Any, index: Any, element: Any) -> list[Any]:
    lst = _list(list, "List.set")
    lst[_index(lst, index, "List.set")] = element
    return lst


@algorithm("List.shuffle")
def list_shuffle(list: Any, seed: Any = None) -> list[Any]:
    """A permutation that is the same for a given seed; ``seed=False`` gives an unreproducible one."""
    lst = _list(list, "List.shuffle")
    if seed is False:
        rng = random.Random()
    else:
        rng = random.Random(0 if seed is None else int(as_number(seed, "List.shuffle")))
    rng.shuffle(lst)
    return lst


@algorithm("List.slice")
def list_slice(list: Any, start: Any, end: Any = None, step: Any = None) -> list[Any]:
    lst = _list(list, "List.slice")
    st = None if step is None else int(as_number(step, "List.slice"))
    if st == 0:
        raise InvalidArgument("List.slice: step must not be 0.")
    return lst[int(as_number(start, "List.slice")):None if end is None else int(as_number(end, "List.slice")):st]


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, (bool, int, float, np.number)):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, Date):
        return (0, value.millis)
    raise InvalidArgument(f"List.sort: cannot sort values of type {describe_type(value)}.")


@algorithm("List.sort")
def list_sort(list: Any, keys: Any = None) -> list[Any]:
    lst = _list(list, "List.sort")
    if keys is None:
        return sorted(lst, key=_sort_key)
    key_list = _list(keys, "List.sort")
    if len(key_list) != len(lst):
        raise InvalidArgument(f"List.sort: {len(key_list)} keys for a list of {len(lst)} elements.")
    order = sorted(range(len(lst)), key=lambda i: _sort_key(key_list[i]))
    return [lst[i] for i in order]


@algorithm("List.splice")
def list_splice(list: Any, start: Any, count: Any, other: Any = None) -> list[Any]:
    lst = _list(list, "List.splice")
    i = _index(lst, start, "List.splice", inclusive_end=True)
    n = int(as_number(count, "List.splice"))
    inserted = _list(other, "List.splice") if other is not None else []
    check_list_length(len(lst) + len(inserted), "List.splice")
    return lst[:i] + inserted + lst[i + n:]


@algorithm("List.swap")
def list_swap(list: Any, pos1: Any, pos2: Any) -> list[Any]:
    lst = _list(list, "List.swap")
    i, j = _index(lst, pos1, "List.swap"), _index(lst, pos2, "List.swap")
    lst[i], lst[j] = lst[j], lst[i]
    return lst


@algorithm("List.zip")
def list_zip(list: Any, other: Any) -> list[list[Any]]:
    return [[a, b] for a, b in zip(_list(list, "List.zip"), _list(other, "List.zip"))]


@algorithm("List.unzip")
def list_unzip(list: Any) -> list[list[Any]]:
    rows = [_list(r, "List.unzip") for r in _list(list, "List.unzip")]
    if not rows:
        return []
    n = min(len(r) for r in rows)
    return [[r[i] for r in rows] for i in range(n)]


# --- Dictionary ----------------------------------------------------------------------------------------------

def _dict(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise InvalidArgument(f"{where}: expected a dictionary; got {describe_type(value)}.")


def _sorted(d: Mapping[str, Any]) -> dict[str, Any]:
    """Earth Engine keeps dictionary keys in sorted order."""
    return {k: d[k] for k in sorted(d)}


@algorithm("Dictionary")
def dictionary(input: Any = None) -> dict[str, Any]:
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
    raise InvalidArgument(f"Dictionary: cannot make a dictionary from {describe_type(input)}.")


_NO_DEFAULT = object()


@algorithm("Dictionary.get", "Dictionary.getNumber", "Dictionary.getString", "Dictionary.getArray",
           "Dictionary.getGeometry")
def dictionary_get(dictionary: Any, key: str, defaultValue: Any = _NO_DEFAULT) -> Any:
    d = _dict(dictionary, "Dictionary.get")
    if key in d:
        return d[key]
    if defaultValue is not _NO_DEFAULT:
        return defaultValue
    raise NotFound(f"Dictionary.get: Dictionary does not contain key: '{key}'.")


@algorithm("Dictionary.set")
def dictionary_set(dictionary: Any, key: str, value: Any) -> dict[str, Any]:
    d = _dict(dictionary, "Dictionary.set")
    d[str(key)] = value
    return _sorted(d)


@algorithm("Dictionary.keys")
def dictionary_keys(dictionary: Any) -> list[str]:
    return sorted(_dict(dictionary, "Dictionary.keys"))


@algorithm("Dictionary.values")
def dictionary_values(dictionary: Any, keys: Sequence[str] | None = None) -> list[Any]:
    d = _dict(dictionary, "Dictionary.values")
    names = sorted(d) if keys is None else list(keys)
    missing = [k for k in names if k not in d]
    if missing:
        raise NotFound(f"Dictionary.values: Dictionary does not contain key: '{missing[0]}'.")
    return [d[k] for k in names]


@algorithm("Dictionary.size")
def dictionary_size(dictionary: Any) -> int:
    return len(_dict(dictionary, "Dictionary.size"))


@algorithm("Dictionary.contains")
def dictionary_contains(dictionary: Any, key: str) -> bool:
    return key in _dict(dictionary, "Dictionary.contains")


@algorithm("Dictionary.combine")
def dictionary_combine(first: Any, second: Any, overwrite: bool = True) -> dict[str, Any]:
    """Keys of both; a key in both takes the second's value unless ``overwrite`` is false. Nulls are dropped."""
    a, b = _dict(first, "Dictionary.combine"), _dict(second, "Dictionary.combine")
    out = {k: v for k, v in a.items() if v is not None}
    for k, v in b.items():
        if v is not None and (overwrite or k not in out):
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
        found = match_names(sel, names)
        if not found and not ignore_missing:
            raise NotFound(f"{where}: Dictionary does not contain key: '{sel}'.")
        chosen.extend(n for n in found if n not in chosen)
    return chosen


@algorithm("Dictionary.select")
def dictionary_select(
    dictionary: Any, selectors: Any, ignoreMissing: bool = False,
) -> dict[str, Any]:
    d = _dict(dictionary, "Dictionary.select")
    return _sorted({k: d[k] for k in _select(list(d), selectors, ignoreMissing, "Dictionary.select")})


@algorithm("Dictionary.remove")
def dictionary_remove(
    dictionary: Any, selectors: Any, ignoreMissing: bool = False,
) -> dict[str, Any]:
    d = _dict(dictionary, "Dictionary.remove")
    drop = set(_select(list(d), selectors, ignoreMissing, "Dictionary.remove"))
    return _sorted({k: v for k, v in d.items() if k not in drop})


@algorithm("Dictionary.rename")
def dictionary_rename(dictionary: Any, overwrite: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Renames keys ``from`` -> ``to`` (``from`` arrives in kwargs: it is a Python keyword)."""
    d = _dict(dictionary, "Dictionary.rename")
    old, new = _list(kwargs.get("from"), "Dictionary.rename"), _list(kwargs.get("to"), "Dictionary.rename")
    if len(old) != len(new):
        raise InvalidArgument(f"Dictionary.rename: {len(old)} keys to rename but {len(new)} new names.")
    out = dict(d)
    for o in old:
        if o not in d:
            raise NotFound(f"Dictionary.rename: Dictionary does not contain key: '{o}'.")
        del out[o]
    for o, n in zip(old, new):
        if n in out and not overwrite:
            raise InvalidArgument(f"Dictionary.rename: Key '{n}' already exists; use overwrite=True.")
        out[n] = d[o]
    return _sorted(out)


@algorithm("Dictionary.map")
def dictionary_map(dictionary: Any, baseAlgorithm: Callable[[Any, Any], Any]) -> dict[str, Any]:
    """``baseAlgorithm(key, value)`` for each entry; keys whose new value is null are dropped."""
    d = _dict(dictionary, "Dictionary.map")
    mapped = {k: baseAlgorithm(k, v) for k, v in d.items()}
    return _sorted({k: v for k, v in mapped.items() if v is not None})


@algorithm("Dictionary.toArray")
def dictionary_to_array(dictionary: Any, keys: Sequence[str] | None = None, axis: int = 0) -> np.ndarray:
    values = dictionary_values(dictionary, keys)
    array = np.asarray(values, dtype=np.float64)
    return array if int(axis) == 0 or array.ndim < 2 else np.moveaxis(array, 0, int(axis))


@algorithm("Dictionary.toImage")
def dictionary_to_image(dictionary: Any, names: Sequence[str] | None = None) -> Any:
    d = _dict(dictionary, "Dictionary.toImage")
    keys = sorted(d) if names is None else list(names)
    return cat([image_rename(image_constant(as_number(dictionary_get(d, k), "Dictionary.toImage")), [k]) for k in keys])
