"""Number, String, List, Dictionary, Date and DateRange on the local engine through the real earthengine-api
client, checked against the same operations done in Python (math, re, datetime + zoneinfo)."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import numpy as np
import pytest


def _ms(*args, tz: str = "UTC") -> int:
    return int(dt.datetime(*args, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def test_number_arithmetic_and_comparisons(ee):
    n = ee.Number
    results = ee.List([
        n(7).add(5), n(7).subtract(10), n(6).multiply(7), n(7).divide(2), n(7).divide(0), n(-7).mod(3),
        n(2).pow(10), n(2).pow(0.5), n(3).lt(4), n(3).gte(4), n(3).eq(3), n(0).Or(2), n(1).And(0),
        n(2.5).round(), n(-2.5).round(), n(2.7).floor(), n(2.1).ceil(), n(-3).abs(), n(16).sqrt(),
        n(math.e).log(), n(1000).log10(), n(0.5).sin(), n(3).atan2(4), n(3).hypot(4), n(-4.2).signum(),
        n(12).bitwiseAnd(10), n(12).bitwiseOr(3), n(1).leftShift(4), n(5).clamp(0, 3), n(5).unitScale(0, 10),
        n(300).toUint8(), n(-1.9).toInt(), n(1e10).toInt32(), n(0.1).toFloat(), n(5).max(8), n(5).min(8),
        n(0).firstNonZero(9),
    ]).getInfo()
    expected = [12, -3, 42, 3.5, 0, -1, 1024, math.sqrt(2), 1, 0, 1, 1, 0, 3, -2, 2.0, 3.0, 3, 4.0,
                1.0, 3.0, math.sin(0.5), math.atan2(3, 4), 5.0, -1.0, 8, 15, 16, 3, 0.5, 255, -1, 2**31 - 1,
                float(np.float32(0.1)), 8, 5, 9]
    assert results == pytest.approx(expected)
    assert isinstance(results[0], int) and isinstance(results[3], float) and isinstance(results[13], int)


def test_number_format_and_parse(ee):
    assert ee.Number(math.pi).format("%.3f").getInfo() == "3.142"
    assert ee.Number(42).format("%05d").getInfo() == "00042"
    assert ee.Number(42).format().getInfo() == "42"
    assert ee.Number(1.5).format("value=%s").getInfo() == "value=1.5"
    assert ee.Number.parse("12.5").getInfo() == 12.5
    assert ee.Number.parse("ff", 16).getInfo() == 255


def test_strings(ee):
    s = ee.String("Hello, World")
    assert s.cat("!").getInfo() == "Hello, World!"
    assert s.length().getInfo() == 12
    assert s.slice(7).getInfo() == "World" and s.slice(-5, -1).getInfo() == "Worl"
    assert s.replace("o", "0").getInfo() == "Hell0, World"
    assert s.replace("o", "0", "g").getInfo() == "Hell0, W0rld"
    assert s.replace("(\\w+), (\\w+)", "$2 $1").getInfo() == "World Hello"
    assert s.split(", ").getInfo() == ["Hello", "World"]
    assert ee.String("a,b,,c,,").split(",").getInfo() == "a,b,,c,,".split(",")[:4]  # Java drops trailing ""
    assert ee.String("abc").split("").getInfo() == ["a", "b", "c"]
    assert s.toUpperCase().getInfo() == "HELLO, WORLD" and s.toLowerCase().getInfo() == "hello, world"
    assert ee.String("  x ").trim().getInfo() == "x"
    assert s.index("o").getInfo() == 4 and s.rindex("o").getInfo() == 8 and s.index("z").getInfo() == -1
    assert ee.String("apple").compareTo("apricot").getInfo() == -1
    assert ee.String("b").compareTo("a").getInfo() == 1 and ee.String("a").compareTo("a").getInfo() == 0
    assert ee.String("a").equals("a").getInfo() is True
    assert ee.String("x1y22z333").match("\\d+", "g").getInfo() == ["1", "22", "333"]
    assert ee.String("x1y22").match("(\\w)(\\d+)").getInfo() == ["x1", "x", "1"]
    assert ee.String('{"a": [1, 2]}').decodeJSON().getInfo() == {"a": [1, 2]}
    assert ee.String(ee.Number(3)).getInfo() == "3"


def test_lists(ee):
    values = [5, 3, 8, 3, 1]
    lst = ee.List(values)
    assert lst.size().getInfo() == 5
    assert lst.get(-1).getInfo() == 1
    assert lst.slice(1, 4).getInfo() == values[1:4]
    assert lst.add(9).getInfo() == values + [9]
    assert lst.cat([0]).getInfo() == values + [0]
    assert lst.sort().getInfo() == sorted(values)
    assert lst.sort(["e", "d", "c", "b", "a"]).getInfo() == values[::-1]
    assert lst.distinct().getInfo() == [5, 3, 8, 1]
    assert lst.reverse().getInfo() == values[::-1]
    assert lst.contains(8).getInfo() is True and lst.indexOf(3).getInfo() == 1
    assert lst.frequency(3).getInfo() == 2
    assert lst.remove(3).getInfo() == [5, 8, 3, 1]
    assert lst.rotate(2).getInfo() == [3, 1, 5, 3, 8]
    assert lst.replaceAll(3, 0).getInfo() == [5, 0, 8, 0, 1]
    assert lst.insert(2, 7).getInfo() == [5, 3, 7, 8, 3, 1]
    assert lst.splice(1, 2, ["x"]).getInfo() == [5, "x", 3, 1]
    assert lst.swap(0, 4).getInfo() == [1, 3, 8, 3, 5]
    assert lst.zip(["a", "b"]).getInfo() == [[5, "a"], [3, "b"]]
    assert ee.List([[1, "a"], [2, "b"]]).unzip().getInfo() == [[1, 2], ["a", "b"]]
    assert ee.List([[1, [2]], 3]).flatten().getInfo() == [1, 2, 3]
    assert ee.List.repeat("z", 3).getInfo() == ["z", "z", "z"]
    assert ee.List.sequence(0, 10, 3).getInfo() == [0, 3, 6, 9]
    assert ee.List.sequence(1, None, 0.5, 3).getInfo() == [1.0, 1.5, 2.0]
    assert ee.List.sequence(0, 10, None, 5).getInfo() == [0, 2.5, 5, 7.5, 10]
    assert ee.List(values).shuffle(7).getInfo() == ee.List(values).shuffle(7).getInfo()
    assert sorted(ee.List(values).shuffle(7).getInfo()) == sorted(values)
    assert ee.List(["a", "b"]).join("-").getInfo() == "a-b"
    assert lst.map(lambda x: ee.Number(x).multiply(x)).getInfo() == [v * v for v in values]
    total = lst.iterate(lambda x, acc: ee.Number(acc).add(x), 100).getInfo()
    assert total == 100 + sum(values)
    assert lst.filter(ee.Filter.lt("item", 4)).getInfo() == [v for v in values if v < 4]


def test_list_reduce_uses_the_reducer(ee):
    values = [5.0, 3.0, 8.0, 3.0, 1.0]
    assert ee.List(values).reduce(ee.Reducer.mean()).getInfo() == pytest.approx(np.mean(values))
    assert ee.List(values).reduce(ee.Reducer.max()).getInfo() == 8


def test_dictionaries(ee):
    d = ee.Dictionary({"b": 2, "a": 1, "c": 3})
    assert d.keys().getInfo() == ["a", "b", "c"]
    assert d.values().getInfo() == [1, 2, 3]
    assert d.get("b").getInfo() == 2 and d.get("zz", -1).getInfo() == -1
    assert d.set("d", 4).getInfo() == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert d.contains("a").getInfo() is True and d.size().getInfo() == 3
    assert d.select(["a", "c"]).getInfo() == {"a": 1, "c": 3}
    assert d.remove(["a"]).getInfo() == {"b": 2, "c": 3}
    assert d.rename(["a"], ["z"]).getInfo() == {"b": 2, "c": 3, "z": 1}
    assert d.combine({"a": 10, "e": 5}).getInfo() == {"a": 10, "b": 2, "c": 3, "e": 5}
    assert d.combine({"a": 10}, False).getInfo()["a"] == 1
    assert ee.Dictionary.fromLists(["x", "y"], [1, 2]).getInfo() == {"x": 1, "y": 2}
    assert d.map(lambda k, v: ee.Number(v).multiply(10)).getInfo() == {"a": 10, "b": 20, "c": 30}
    dropped = d.map(lambda k, v: ee.Algorithms.If(ee.String(k).equals("b"), None, v)).getInfo()
    assert dropped == {"a": 1, "c": 3}
    assert d.toArray(["c", "a"]).getInfo() == [3, 1]
    f = ee.Feature(None, {"p": 1, "q": "s"})
    assert ee.Dictionary(f.toDictionary()).getInfo() == {"p": 1, "q": "s"}


def test_dates_in_utc_and_in_a_time_zone(ee):
    d = ee.Date("2020-01-31T10:30:00")
    assert d.millis().getInfo() == _ms(2020, 1, 31, 10, 30)
    assert d.advance(1, "month").millis().getInfo() == _ms(2020, 2, 29, 10, 30)  # day clamped
    assert d.advance(-2, "day").millis().getInfo() == _ms(2020, 1, 29, 10, 30)
    assert d.advance(90, "minute").millis().getInfo() == _ms(2020, 1, 31, 12)
    assert d.get("year").getInfo() == 2020 and d.get("month").getInfo() == 1 and d.get("day").getInfo() == 31
    assert d.getRelative("day", "year").getInfo() == 30
    assert d.getRelative("month", "year").getInfo() == 0
    assert d.format("yyyy-MM-dd'T'HH:mm:ss").getInfo() == "2020-01-31T10:30:00"
    assert d.format("DDD EEE MMM d").getInfo() == "031 Fri Jan 31"
    assert d.format().getInfo() == "2020-01-31T10:30:00"
    assert d.difference(ee.Date("2020-01-01T10:30:00"), "day").getInfo() == 30
    assert d.getFraction("day").getInfo() == pytest.approx(10.5 / 24)
    r = d.getRange("month").getInfo()
    assert r["dates"] == [_ms(2020, 1, 1), _ms(2020, 2, 1)]
    assert d.update(2021, 3).millis().getInfo() == _ms(2021, 3, 31, 10, 30)
    assert d.update(None, None, None, 0, 0, 12.5).millis().getInfo() == _ms(2020, 1, 31, 0, 0, 12) + 500
    assert ee.Date.fromYMD(2024, 2, 29).millis().getInfo() == _ms(2024, 2, 29)
    assert ee.Date(_ms(2021, 5, 6)).format("yyyy/MM/dd").getInfo() == "2021/05/06"
    assert ee.Date.parse("dd/MM/yyyy HH:mm", "15/03/2021 08:45").millis().getInfo() == _ms(2021, 3, 15, 8, 45)
    # Across the New York DST change (2020-03-08): a day later keeps the wall clock, 24 hours do not.
    ny = ee.Date("2020-03-07T12:00:00", "America/New_York")
    assert ny.millis().getInfo() == _ms(2020, 3, 7, 12, tz="America/New_York")
    assert ny.advance(1, "day", "America/New_York").millis().getInfo() == _ms(2020, 3, 8, 12,
                                                                             tz="America/New_York")
    assert ny.advance(24, "hour").format("HH:mm", "America/New_York").getInfo() == "13:00"
    assert ny.format("yyyy-MM-dd HH:mm ZZ", "Asia/Kolkata").getInfo() == "2020-03-07 22:30 +05:30"
    assert ny.get("hour", "America/New_York").getInfo() == 12


def test_date_ranges(ee):
    r = ee.DateRange("2020-01-01", "2020-03-01")
    assert r.getInfo() == {"type": "DateRange", "dates": [_ms(2020, 1, 1), _ms(2020, 3, 1)]}
    assert r.start().millis().getInfo() == _ms(2020, 1, 1)
    assert r.end().millis().getInfo() == _ms(2020, 3, 1)
    assert r.contains(ee.Date("2020-02-10")).getInfo() is True
    assert r.contains(ee.Date("2020-03-01")).getInfo() is False  # half open
    other = ee.DateRange("2020-02-01", "2020-05-01")
    assert r.intersects(other).getInfo() is True
    assert r.intersection(other).getInfo()["dates"] == [_ms(2020, 2, 1), _ms(2020, 3, 1)]
    assert r.union(other).getInfo()["dates"] == [_ms(2020, 1, 1), _ms(2020, 5, 1)]
    with pytest.raises(ee.EEException, match="do not intersect"):
        r.intersection(ee.DateRange("2021-01-01", "2021-02-01")).getInfo()
    assert r.isEmpty().getInfo() is False
    assert ee.DateRange.unbounded().isUnbounded().getInfo() is True


def test_algorithms_if_isequal_objecttype(ee):
    assert ee.Algorithms.If(ee.Number(1).gt(0), "yes", "no").getInfo() == "yes"
    assert ee.Algorithms.If(0, "yes", "no").getInfo() == "no"
    assert ee.Algorithms.If(ee.List([]), "yes", "no").getInfo() == "no"
    assert ee.Algorithms.IsEqual(ee.List([1, 2]), [1, 2]).getInfo() is True
    assert ee.Algorithms.IsEqual(1, 2).getInfo() is False
    types = [ee.Algorithms.ObjectType(v).getInfo() for v in (1, 1.5, "s", [1], {"a": 1})]
    assert types == ["Integer", "Float", "String", "List", "Dictionary"]
    assert ee.Algorithms.ObjectType(ee.Date(0)).getInfo() == "Date"
    assert ee.Array([[1, 2], [3, 4]]).get([1, 0]).getInfo() == 3
    assert ee.Array([1.5, 2]).toList().getInfo() == [1.5, 2.0]


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ** 3 ** 2", 2 ** 9), ("-2 ** 2", -4), ("7 % 3", 1),
    ("a / b", 2.5), ("sqrt(a * a + 9)", 5.83095189), ("max(a, b) - min(a, b)", 3), ("a > b ? 10 : 20", 10),
    ("a > 1 && b < 1 || !(a == 5)", 0), ("1e3 / .5", 2000), ("hypot(3, 4)", 5),
])
def test_number_expression_matches_python(ee, text, expected):
    value = ee.Number.expression(text, {"a": 5, "b": 2}).getInfo()
    assert value == pytest.approx(expected)


def test_expression_parser_works_elementwise_on_arrays():
    from aef_ee.local.algorithms._expression import evaluate_expression, parse_expression

    b4, b8 = np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([[0.5, 0.5], [0.1, 0.9]])
    nd = evaluate_expression("(b8 - b4) / (b8 + b4)", {"b4": b4, "b8": b8})
    assert np.allclose(nd, (b8 - b4) / (b8 + b4))
    assert np.array_equal(evaluate_expression("b8 > b4 ? 1 : 0", {"b4": b4, "b8": b8}), (b8 > b4).astype(int))
    assert parse_expression("a + f(b) * c.d").variables() == {"a", "b", "c.d"}


@pytest.mark.parametrize("make, fragment", [
    (lambda ee: ee.List([1, 2]).get(5), "List index must be between"),
    (lambda ee: ee.Dictionary({"a": 1}).get("b"), "does not contain key: 'b'"),
    (lambda ee: ee.Date("not a date"), "Unable to parse date string"),
    (lambda ee: ee.Date("2020-01-01", "Mars/Olympus"), "Invalid time zone"),
    (lambda ee: ee.Date("2020-01-01").advance(1, "fortnight"), "Unknown unit 'fortnight'"),
    (lambda ee: ee.Number.parse("abc"), "Unable to parse 'abc'"),
    (lambda ee: ee.Number(ee.List(["abc"]).get(0)).add(1), "Number.add: expected a number; got String"),
    (lambda ee: ee.Date("2020-01-31").update(None, 6), "day is out of range"),
    (lambda ee: ee.Number(1).format("%q"), "Unknown format conversion"),
    (lambda ee: ee.Number.expression("1 +", {}), "unexpected end"),
    (lambda ee: ee.Number.expression("__import__('os')", {}), "unknown function '__import__'"),
    (lambda ee: ee.Number.expression("a + 1", {}), "unknown variable 'a'"),
    (lambda ee: ee.Array([[1, 2], [3]]), "rectangular"),
    (lambda ee: ee.Date(0).advance(ee.List(["x"]).get(0), "day"), "Date.advance: expected a number"),
    (lambda ee: ee.DateRange("2020-01-01", "2020-02-01").intersection(ee.DateRange("2021-01-01", "2021-02-01")),
     "do not intersect"),
])
def test_bad_values_are_refused_and_the_server_goes_on(ee, make, fragment):
    with pytest.raises(ee.EEException, match=fragment):
        make(ee).getInfo()
    assert ee.Number(2).add(2).getInfo() == 4
