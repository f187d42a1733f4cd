"""Earth Engine's pixel-type rules (aef_ee.local.algorithms.pixel_types): one test per rule of the table, through the
real client (bandTypes and the values computed), plus the table's own bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aef_ee.local.algorithms import image_ops, pixel_types, registry
from aef_ee.local.raster import PixelType


def _first(ee, image) -> dict:
    return image.reduceRegion(ee.Reducer.first(), ee.Geometry.Point([0.5, 0.5]), 1000).getInfo()


def _type(ee, image, band: str = "constant") -> dict:
    return image.bandTypes().getInfo()[band]


def _int(lo: int, hi: int) -> dict:
    return {"type": "PixelType", "precision": "int", "min": lo, "max": hi}


FLOAT = {"type": "PixelType", "precision": "float"}
DOUBLE = {"type": "PixelType", "precision": "double"}
BOOLEAN = _int(0, 1)


def test_every_pixel_wise_operator_has_exactly_one_rule():
    registry.load_all()
    seen: dict[str, str] = {}
    for rule in pixel_types.RULES.values():
        assert rule.source, rule.name
        for op in rule.operators:
            assert op not in seen, f"{op} is in rules {seen[op]} and {rule.name}"
            seen[op] = rule.name
    # Every binary and unary operator registered by image_ops through the table resolves to a rule.
    for op in ("add", "subtract", "multiply", "divide", "pow", "mod", "min", "max", "atan2", "hypot", "first",
               "eq", "neq", "lt", "lte", "gt", "gte", "and", "or", "bitwiseAnd", "bitwiseOr", "bitwiseXor",
               "leftShift", "rightShift", "firstNonZero", "sqrt", "exp", "log", "log10", "sin", "cos", "tan",
               "asin", "acos", "atan", "sinh", "cosh", "tanh", "cbrt", "abs", "signum", "floor", "ceil", "round",
               "not", "bitwiseNot", "erf", "unitScale", "clamp", "where", "unmask", "normalizedDifference"):
        assert pixel_types.rule_of(op).name == seen[op]
        assert registry.lookup(f"Image.{op}")  # a real algorithm


def test_constants_are_int_in_their_value_or_double_in_their_value(ee):
    # apidocs ee-image-constant: 'int ∈ [1, 1]', 'double ∈ [3.141592653589793, 3.141592653589793]'.
    assert _type(ee, ee.Image.constant(1)) == _int(1, 1)
    assert _type(ee, ee.Image(math.pi)) == {**DOUBLE, "min": math.pi, "max": math.pi}
    both = ee.Image.constant([-1.2, 4]).bandTypes().getInfo()
    assert both == {"constant_0": {**DOUBLE, "min": -1.2, "max": -1.2}, "constant_1": _int(4, 4)}


def test_integer_division_is_not_truncated(ee):
    image = ee.Image(1).divide(2)
    assert _first(ee, image) == {"constant": 0.5}
    assert _type(ee, image) == FLOAT
    assert _first(ee, ee.Image(-7).divide(2)) == {"constant": -3.5}
    # 0 for division by 0, as documented.
    assert _first(ee, ee.Image(5).divide(0)) == {"constant": 0}
    # A double operand keeps the union rule: double.
    assert _type(ee, ee.Image(1).divide(2.5)) == DOUBLE


def test_sentinel2_reflectance_scaling_gives_reflectance(ee_local):
    ee = ee_local
    image = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED").filterDate("2021-06-01", "2021-06-02").first()
    scaled = image.select("B4").divide(10000)
    assert scaled.bandTypes().getInfo() == {"B4": FLOAT}
    region = image.geometry().centroid(1)
    raw = image.select("B4").reduceRegion(ee.Reducer.first(), region, 10).getInfo()["B4"]
    got = scaled.reduceRegion(ee.Reducer.first(), region, 10).getInfo()["B4"]
    assert raw > 0 and got == pytest.approx(raw / 10000, rel=1e-6)


def test_add_subtract_multiply_widen_integer_ranges_and_never_wrap(ee):
    byte = ee.Image(200).toUint8()
    assert _first(ee, byte.add(100)) == {"constant": 300}
    assert _type(ee, byte.add(100)) == _int(100, 355)
    assert _first(ee, byte.subtract(ee.Image(250).toUint8())) == {"constant": -50}
    assert _type(ee, byte.subtract(ee.Image(250).toUint8())) == _int(-255, 255)
    assert _type(ee, byte.multiply(-2)) == _int(-510, 0)
    assert _first(ee, byte.multiply(-2)) == {"constant": -400}


def test_union_float_and_double_is_double(ee):
    # 'The type of the output pixels is the union of the input types.'
    as_float = ee.Image(1).toFloat()
    assert _type(ee, as_float.add(1)) == FLOAT
    assert _type(ee, as_float.multiply(0.5)) == DOUBLE
    assert _type(ee, as_float.max(ee.Image(2).toDouble())) == DOUBLE
    assert _type(ee, ee.Image(3).toUint8().min(ee.Image(-4).toInt16())) == _int(-32768, 32767)
    assert _first(ee, ee.Image(7).mod(-3)) == {"constant": 1}
    assert _first(ee, ee.Image(-7).mod(3)) == {"constant": -1}


def test_comparisons_and_logic_are_boolean(ee):
    for image in (ee.Image(3).eq(3.0), ee.Image(2.5).lt(3), ee.Image(1).And(0), ee.Image(1).Or(0),
                  ee.Image(0).Not(), ee.Image(-1).gte(ee.Image(-1))):
        assert _type(ee, image) == BOOLEAN
    assert _first(ee, ee.Image(3).eq(3.0)) == {"constant": 1}
    assert _first(ee, ee.Image(2.5).gt(3)) == {"constant": 0}
    assert _first(ee, ee.Image(0).Not()) == {"constant": 1}


def test_pow_atan2_hypot_are_float(ee):
    # 'The type of the output pixels is float.'
    assert _type(ee, ee.Image(2).pow(10)) == FLOAT
    assert _first(ee, ee.Image(2).pow(10)) == {"constant": 1024.0}
    assert _type(ee, ee.Image(2.0).atan2(1.0)) == FLOAT
    assert _first(ee, ee.Image(3).hypot(4)) == {"constant": 5.0}


def test_math_functions_are_float_or_double(ee):
    assert _type(ee, ee.Image(4).sqrt()) == FLOAT
    assert _first(ee, ee.Image(4).sqrt()) == {"constant": 2.0}
    assert _type(ee, ee.Image(4.0).sqrt()) == DOUBLE
    assert _type(ee, ee.Image(3).unitScale(0, 10)) == FLOAT


def test_bitwise_operations_keep_whole_integer_types(ee):
    qa = ee.Image(1 << 10 | 3).toUint16()
    assert _type(ee, qa.bitwiseAnd(1 << 10)) == _int(0, 65535)
    assert _first(ee, qa.bitwiseAnd(1 << 10)) == {"constant": 1024}
    assert _first(ee, qa.rightShift(10)) == {"constant": 1}
    assert _type(ee, qa.rightShift(10)) == _int(0, 65535)
    assert _type(ee, ee.Image(1).leftShift(20)) == _int(-(2**31), 2**31 - 1)
    assert _first(ee, ee.Image(200).toUint8().leftShift(20)) == {"constant": 200 << 20}
    # 'in the smallest signed integer type that can hold the input'
    assert _type(ee, ee.Image(5).toUint8().bitwiseNot()) == _int(-32768, 32767)
    assert _first(ee, ee.Image(5).bitwiseNot()) == {"constant": -6}


def test_abs_signum_and_rounding(ee):
    assert _type(ee, ee.Image(-3).toInt8().abs()) == _int(0, 128)
    assert _type(ee, ee.Image(-3).toInt8().signum()) == _int(-1, 1)
    assert _first(ee, ee.Image(-2.5).round()) == {"constant": -3.0}
    assert _first(ee, ee.Image(2.5).round()) == {"constant": 3.0}
    assert _type(ee, ee.Image(-2.5).round()) == DOUBLE  # a computed band: the constant's range is gone
    assert _type(ee, ee.Image(7).toUint8().floor()) == _int(0, 255)


def test_casts_truncate_and_clamp(ee):
    # apidocs ee-number-int: decimals are lost, out-of-range values become the type's limits.
    got = _first(ee, ee.Image.constant([1.7, -1.7, 300, -5]).toUint8())
    assert got == {"constant_0": 1, "constant_1": 0, "constant_2": 255, "constant_3": 0}
    assert _first(ee, ee.Image(2**40).toInt32()) == {"constant": 2**31 - 1}
    assert _type(ee, ee.Image(1).toInt16()) == _int(-32768, 32767)
    assert _type(ee, ee.Image(1).toDouble()) == DOUBLE
    cast = ee.Image.constant([1.5, 2]).rename(["a", "b"]).cast({"a": "int8", "b": "double"})
    assert cast.bandTypes().getInfo() == {"a": _int(-128, 127), "b": DOUBLE}


def test_where_is_the_larger_of_input_and_value(ee):
    # apidocs ee-image-where: 'The output type of each band is the larger of the input and value types.'
    image = ee.Image(1).toUint8().where(ee.Image(1), ee.Image(2.5))
    assert _type(ee, image) == DOUBLE
    assert _first(ee, image) == {"constant": 2.5}


def test_normalized_difference_masks_negative_inputs(ee):
    # apidocs ee-image-normalizeddifference: 'a negative pixel value in either input band will cause the output
    # pixel to be masked' and 'the input image properties are not retained'.
    image = ee.Image.constant([30, 10]).set("p", 1)
    assert _first(ee, image.normalizedDifference()) == {"nd": 0.5}
    assert image.normalizedDifference().propertyNames().getInfo() == []
    assert _first(ee, ee.Image.constant([30, -10]).normalizedDifference()) == {"nd": None}


def test_cast_values_match_numpy_trunc_and_clip():
    values = np.array([np.nan, -np.inf, np.inf, -1.5, 0.5, 254.9, 1e12])
    got = pixel_types.cast_values(values, PixelType.from_dtype(np.uint8))
    assert got.tolist() == [0, 0, 255, 0, 0, 254, 255]
    assert image_ops.cast_values is pixel_types.cast_values
