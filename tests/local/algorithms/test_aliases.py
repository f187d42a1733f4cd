"""Earth Engine's second names for one algorithm (``Image.left_shift`` for ``Image.leftShift``, ``Image.toByte`` for
``Image.uint8``, ``Filter.eq`` for ``Filter.equals``) resolve to the very function of the canonical name, so the two
can never drift apart again (they once did: ``Image.left_shift`` of a uint8 200 by 4 gave 128, ``leftShift`` 3200)."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from aef_ee.local.algorithms import registry

# Groups that Earth Engine's algorithm list describes with the same text and arguments but that are different
# algorithms, so they must not be aliases.
NOT_ALIASES = {
    # Properties of different element types: system:index for features, system:id for images.
    frozenset({"Feature.id", "Image.id"}),
    # An image's geometry is its footprint; a feature's is the feature's (Element.geometry aliases Feature.geometry).
    frozenset({"Element.geometry", "Feature.geometry", "Image.geometry"}),
    # Earth Engine's description of inList is a copy of listContains'; the operands are the other way round.
    frozenset({"Filter.inList", "Filter.listContains"}),
    # The deprecated Reducer.and / Reducer.or name their output "and" / "or", not "all" / "any".
    frozenset({"Reducer.allNonZero", "Reducer.and"}),
    frozenset({"Reducer.anyNonZero", "Reducer.or"}),
    # The focal filters share one description ("Applies a morphological reducer() filter ..."); each applies its
    # own reducer (each snake_case twin is an alias of its camelCase name).
    frozenset({f"Image.{name}" for kind in ("Max", "Median", "Min", "Mode")
               for name in (f"focal{kind}", f"focal_{kind.lower()}")}),
}


def _ee_algorithms() -> dict[str, dict]:
    import ee

    listing = json.loads((Path(ee.__file__).parent / "tests" / "algorithms.json").read_text())
    return {a["name"].removeprefix("algorithms/"): a for a in listing["algorithms"]}


def test_every_alias_is_the_canonical_function():
    registry.load_all()
    assert registry.ALIASES
    for alias, canonical in registry.ALIASES.items():
        assert alias != canonical
        assert canonical not in registry.ALIASES, f"{canonical} is itself an alias"
        assert registry.lookup(alias) is registry.lookup(canonical), alias


def test_snake_case_and_camel_case_names_are_one_function():
    names = registry.implemented()
    pairs = [(name, re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)) for name in names]
    pairs = [(snake, camel) for snake, camel in pairs if snake != camel and camel in names]
    assert ("Image.left_shift", "Image.leftShift") in pairs
    for snake, camel in pairs:
        assert registry.lookup(snake) is registry.lookup(camel), snake


def test_names_earth_engine_documents_alike_are_one_function():
    """Names whose description, arguments and return type are identical in Earth Engine's own algorithm list are
    one algorithm (except the listed look-alikes); where the local engine implements them, one function."""
    implemented = set(registry.implemented())
    groups = collections.defaultdict(set)
    for name, spec in _ee_algorithms().items():
        if name in implemented:
            key = (spec.get("description"), json.dumps(spec.get("arguments"), sort_keys=True), spec.get("returnType"))
            groups[key].add(name)
    checked = 0
    for names in groups.values():
        if len(names) < 2 or frozenset(names) in NOT_ALIASES:
            continue
        functions = {name: registry.lookup(name) for name in sorted(names)}
        assert len({id(fn) for fn in functions.values()}) == 1, functions
        checked += 1
    assert checked >= 40  # the casts, snake_case twins, Filter.eq..., List.length, Proj, ...


def test_registering_an_alias_name_is_refused():
    with pytest.raises(RuntimeError, match="'Image.left_shift' is an alias of 'Image.leftShift'"):
        registry.algorithm("Image.left_shift")(lambda image1, image2: None)
    assert registry.lookup("Image.left_shift") is registry.lookup("Image.leftShift")


def test_left_shift_of_uint8_by_both_names(ee_local):
    ee = ee_local
    image = ee.Image.constant(200).toUint8()
    point = ee.Geometry.Point([0.5, 0.5])
    camel = image.leftShift(4)
    snake = ee.ApiFunction.call_("Image.left_shift", image, 4)
    values = ee.Dictionary({
        "camel": camel.reduceRegion(ee.Reducer.first(), point, 1000).get("constant"),
        "snake": snake.reduceRegion(ee.Reducer.first(), point, 1000).get("constant"),
        "right": ee.ApiFunction.call_("Image.right_shift", camel, 2).reduceRegion(
            ee.Reducer.first(), point, 1000).get("constant"),
        "number": ee.Number(200).left_shift(4),
    }).getInfo()
    # The shift promotes the uint8 band to a 32-bit int, as Earth Engine's leftShift does: 200 << 4 = 3200, not the
    # 128 left after wrapping to 8 bits.
    assert values == {"camel": 3200, "snake": 3200, "right": 800, "number": 3200}
    types = [img.bandTypes().getInfo()["constant"] for img in (camel, snake)]
    assert types[0] == types[1]
    assert types[0]["min"] == -(2**31) and types[0]["max"] == 2**31 - 1
