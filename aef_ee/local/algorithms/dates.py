"""Date and DateRange algorithms.

Instants are ms since 1970-01-01T00:00:00Z. Calendar fields, ``advance`` by days/months/years, ranges and
formatting work on the wall clock of an IANA time zone (UTC unless ``timeZone`` is given), as Joda-Time does for
Earth Engine. ``Date.format``/``Date.parse`` understand the Joda pattern letters y M d D H k h K m s S E a w Z z
and quoted text.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.safe_regex import compile_pattern
from aef_ee.local.semantics import number_arg
from aef_ee.local.values import Date, DateRange

__all__ = ["to_millis", "zone", "format_date", "parse_date_string", "advance_millis", "UNIT_MS"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)
_DAY_MS = 86_400_000
# Average unit lengths (Date.difference and Date.unitRatio are "based on the average length of the unit").
UNIT_MS: dict[str, float] = {
    "second": 1_000.0,
    "minute": 60_000.0,
    "hour": 3_600_000.0,
    "day": float(_DAY_MS),
    "week": 7.0 * _DAY_MS,
    "month": 365.25 / 12.0 * _DAY_MS,
    "year": 365.25 * _DAY_MS,
}
_ORDER = ["second", "minute", "hour", "day", "week", "month", "year"]
# Earth Engine's bounds of an unbounded DateRange (Java's Long.MIN_VALUE / MAX_VALUE).
UNBOUNDED_START = -(2**63)
UNBOUNDED_END = 2**63 - 1


@functools.lru_cache(maxsize=128)
def zone(time_zone: str | None) -> dt.tzinfo:
    """The tzinfo of an IANA name, 'UTC', or a fixed offset like '+05:30' (None: UTC)."""
    if time_zone is None or time_zone in ("UTC", "Z", "GMT"):
        return dt.timezone.utc
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", str(time_zone))
    if m:
        minutes = int(m[2]) * 60 + int(m[3] or 0)
        return dt.timezone(dt.timedelta(minutes=minutes if m[1] == "+" else -minutes))
    try:
        return ZoneInfo(str(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(f"Invalid time zone: '{time_zone}'.") from None


def _unit(unit: str, where: str) -> str:
    u = str(unit).lower()
    u = u[:-1] if u.endswith("s") else u
    if u not in UNIT_MS:
        raise InvalidArgument(f"{where}: Unknown unit '{unit}'. Use one of {list(_ORDER)}.")
    return u


def local(millis: float, time_zone: str | None = None) -> dt.datetime:
    """The aware wall-clock datetime of an instant in a zone."""
    try:
        return (_EPOCH + dt.timedelta(milliseconds=float(millis))).astimezone(zone(time_zone))
    except OverflowError:
        raise InvalidArgument(f"Date out of range: {millis} ms.") from None


def millis_of(when: dt.datetime) -> int:
    """ms since the epoch of an aware datetime (wall times resolve with fold=0, as Python does)."""
    return (when - _EPOCH) // _MS


def _wall(naive: dt.datetime, time_zone: str | None) -> dt.datetime:
    return naive.replace(tzinfo=zone(time_zone))


# Matched against the stripped string: two adjacent \s* (before and after the zone) would make a long run of spaces
# backtrack quadratically (16000 spaces: ~1 s holding the GIL).
_ISO = re.compile(
    r"(?P<y>[+-]?\d{4,})(?:-(?P<mo>\d{1,2})(?:-(?P<d>\d{1,2})"
    r"(?:[T ](?P<h>\d{1,2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?)?)?)?"
    r"\s*(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?")


def parse_date_string(text: str, time_zone: str | None = None) -> int:
    """ms of an ISO-8601 date or date-time ('2020', '2020-01', '2020-01-01T12:00:00.5Z', ...).

    A string without an offset is read on the wall clock of ``time_zone`` (UTC by default).
    """
    m = _ISO.fullmatch(str(text).strip())
    if not m:
        raise InvalidArgument(f"Date: Unable to parse date string '{text}'.")
    fraction = (m["f"] or "0")[:6].ljust(6, "0")
    try:
        naive = dt.datetime(int(m["y"]), int(m["mo"] or 1), int(m["d"] or 1), int(m["h"] or 0), int(m["mi"] or 0),
                            int(m["s"] or 0), int(fraction))
    except ValueError as exc:
        raise InvalidArgument(f"Date: Unable to parse date string '{text}': {exc}.") from None
    return millis_of(naive.replace(tzinfo=zone(m["z"] if m["z"] else time_zone)))


def to_millis(value: Any, time_zone: str | None = None) -> float:
    """ms of a Date, a number (ms) or a date string."""
    if isinstance(value, Date):
        return value.millis
    if isinstance(value, (bool, np.bool_)):
        raise InvalidArgument(f"Date: expected a date, number or string; got {value!r}.")
    if isinstance(value, (int, float, np.number)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, str):
        return parse_date_string(value, time_zone)
    raise InvalidArgument(f"Date: expected a date, number or string; got {type(value).__name__}.")


def _date(value: Any, where: str) -> int | float:
    if not isinstance(value, (Date, int, float, str, np.number)):
        raise InvalidArgument(f"{where}: expected a Date; got {type(value).__name__}.")
    return to_millis(value)


# --- calendar arithmetic -------------------------------------------------------------------------------------

def _days_in_month(year: int, month: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.date(year, month, 1)).days


def _add_months(when: dt.datetime, months: int) -> dt.datetime:
    """Calendar months later, the day clamped to the month's length (Joda's plusMonths)."""
    total = when.year * 12 + (when.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise InvalidArgument(f"Date out of range: year {year}.")
    return when.replace(year=year, month=month, day=min(when.day, _days_in_month(year, month)))


def advance_millis(millis: float, delta: float, unit: str, time_zone: str | None = None) -> int | float:
    """``millis`` advanced by ``delta`` units: fixed units exactly, days and up on the zone's wall clock."""
    u = _unit(unit, "Date.advance")
    if u in ("second", "minute", "hour"):
        out = millis + delta * UNIT_MS[u]
        return int(out) if float(out).is_integer() else out
    when = local(millis, time_zone)
    naive = when.replace(tzinfo=None)
    if u in ("day", "week"):
        naive = naive + dt.timedelta(days=delta * (7 if u == "week" else 1))
    else:
        months = delta * (12 if u == "year" else 1)
        whole = math.trunc(months)
        naive = _add_months(naive, whole)
        fraction = months - whole
        if fraction:
            naive = naive + dt.timedelta(days=fraction * _days_in_month(naive.year, naive.month))
    return millis_of(_wall(naive, time_zone))


def _start_of(naive: dt.datetime, unit: str) -> dt.datetime:
    if unit == "year":
        return naive.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "month":
        return naive.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":  # Joda's weeks start on Monday
        day = naive.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - dt.timedelta(days=naive.isoweekday() - 1)
    if unit == "day":
        return naive.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "hour":
        return naive.replace(minute=0, second=0, microsecond=0)
    if unit == "minute":
        return naive.replace(second=0, microsecond=0)
    return naive.replace(microsecond=0)


def _range(millis: float, unit: str, time_zone: str | None) -> tuple[int, int]:
    start = _start_of(local(millis, time_zone).replace(tzinfo=None), unit)
    start_ms = millis_of(_wall(start, time_zone))
    return start_ms, int(advance_millis(start_ms, 1, unit, time_zone))


_GETTERS = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "week": lambda d: d.isocalendar()[1],
    "day": lambda d: d.day,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
}


# --- Date algorithms -----------------------------------------------------------------------------------------

@algorithm("Date")
def date(value: Any, timeZone: str | None = None) -> Date:
    return Date(to_millis(value, timeZone))


@algorithm("Date.fromYMD")
def from_ymd(year: int, month: int, day: int, timeZone: str | None = None) -> Date:
    try:
        naive = dt.datetime(*(int(number_arg(v, "Date.fromYMD")) for v in (year, month, day)))
    except ValueError as exc:
        raise InvalidArgument(f"Date.fromYMD: {exc}.") from None
    return Date(millis_of(_wall(naive, timeZone)))


@algorithm("Date.millis")
def millis(date: Any) -> int | float:
    return _date(date, "Date.millis")


@algorithm("Date.advance")
def advance(date: Any, delta: float, unit: str, timeZone: str | None = None) -> Date:
    return Date(advance_millis(_date(date, "Date.advance"), number_arg(delta, "Date.advance"), unit, timeZone))


@algorithm("Date.difference")
def difference(date: Any, start: Any, unit: str) -> float:
    """(date - start) in units of the unit's average length."""
    u = _unit(unit, "Date.difference")
    return (_date(date, "Date.difference") - _date(start, "Date.difference")) / UNIT_MS[u]


@algorithm("Date.unitRatio")
def unit_ratio(numerator: str, denominator: str) -> float:
    return UNIT_MS[_unit(numerator, "Date.unitRatio")] / UNIT_MS[_unit(denominator, "Date.unitRatio")]


@algorithm("Date.get")
def get(date: Any, unit: str, timeZone: str | None = None) -> int:
    u = _unit(unit, "Date.get")
    return int(_GETTERS[u](local(_date(date, "Date.get"), timeZone)))


@algorithm("Date.getRelative")
def get_relative(date: Any, unit: str, inUnit: str, timeZone: str | None = None) -> int:
    """The 0-based ``unit`` of the date within the enclosing ``inUnit`` (e.g. day of year from 0)."""
    u, big = _unit(unit, "Date.getRelative"), _unit(inUnit, "Date.getRelative")
    if _ORDER.index(u) >= _ORDER.index(big):
        raise InvalidArgument(f"Date.getRelative: '{unit}' is not smaller than '{inUnit}'.")
    naive = local(_date(date, "Date.getRelative"), timeZone).replace(tzinfo=None)
    start = _start_of(naive, big)
    if u == "month":
        return naive.month - 1
    elapsed = (naive - start).total_seconds() * 1000.0
    return int(elapsed // UNIT_MS[u])


@algorithm("Date.getFraction")
def get_fraction(date: Any, unit: str, timeZone: str | None = None) -> float:
    t = _date(date, "Date.getFraction")
    start, end = _range(t, _unit(unit, "Date.getFraction"), timeZone)
    return (t - start) / (end - start)


@algorithm("Date.getRange")
def get_range(date: Any, unit: str, timeZone: str | None = None) -> DateRange:
    start, end = _range(_date(date, "Date.getRange"), _unit(unit, "Date.getRange"), timeZone)
    return DateRange(start, end)


@algorithm("Date.update")
def update(date: Any, year: int | None = None, month: int | None = None, day: int | None = None,
           hour: int | None = None, minute: int | None = None, second: float | None = None,
           timeZone: str | None = None) -> Date:
    naive = local(_date(date, "Date.update"), timeZone).replace(tzinfo=None)
    fields: dict[str, int] = {}
    for name, value in (("year", year), ("month", month), ("day", day), ("hour", hour), ("minute", minute)):
        if value is not None:
            fields[name] = int(number_arg(value, "Date.update"))
    if second is not None:
        seconds = number_arg(second, "Date.update")
        fields["second"] = int(math.floor(seconds))
        fields["microsecond"] = int(round((seconds - fields["second"]) * 1e6))
    try:
        naive = naive.replace(**fields)
    except ValueError as exc:
        raise InvalidArgument(f"Date.update: {exc}.") from None
    return Date(millis_of(_wall(naive, timeZone)))


# --- Joda patterns -------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"'((?:[^']|'')*)'|([A-Za-z])\2*|(.)", re.S)
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DEFAULT_FORMAT = "yyyy-MM-dd'T'HH:mm:ss"


def _tokens(pattern: str) -> list[tuple[str, str]]:
    """(kind, text): kind 'lit' for literal text, else the pattern letter repeated."""
    out = []
    for m in _TOKEN.finditer(pattern):
        if m[1] is not None:
            out.append(("lit", m[1].replace("''", "'") if m[1] else "'"))
        elif m[2] is not None:
            out.append(("field", m[0]))
        else:
            out.append(("lit", m[3]))
    return out


def _offset(when: dt.datetime, colon: bool) -> str:
    minutes = int((when.utcoffset() or dt.timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}{':' if colon else ''}{m:02d}"


def _field(token: str, when: dt.datetime) -> str:
    letter, n = token[0], len(token)
    if letter in "yYx":
        year = when.isocalendar()[0] if letter == "x" else when.year
        return f"{year % 100:02d}" if n == 2 else f"{year:0{n}d}"
    if letter == "M":
        return _MONTHS[when.month - 1][:3] if n == 3 else _MONTHS[when.month - 1] if n > 3 else f"{when.month:0{n}d}"
    numbers = {"d": when.day, "D": when.timetuple().tm_yday, "H": when.hour, "k": when.hour or 24,
               "h": (when.hour % 12) or 12, "K": when.hour % 12, "m": when.minute, "s": when.second,
               "w": when.isocalendar()[1], "e": when.isoweekday()}
    if letter in numbers:
        return f"{numbers[letter]:0{n}d}"
    if letter == "S":
        return f"{when.microsecond // 1000:03d}"[:n].ljust(n, "0")
    if letter == "E":
        return _DAYS[when.weekday()] if n >= 4 else _DAYS[when.weekday()][:3]
    if letter == "a":
        return "AM" if when.hour < 12 else "PM"
    if letter == "Z":
        if n >= 3:
            return str(getattr(when.tzinfo, "key", None) or when.tzname())
        return _offset(when, colon=n == 2)
    if letter == "z":
        return when.tzname() or "UTC"
    raise InvalidArgument(f"Date.format: Unsupported pattern letter '{letter}'.")


def format_date(millis: float, pattern: str | None = None, time_zone: str | None = None) -> str:
    when = local(millis, time_zone)
    return "".join(text if kind == "lit" else _field(text, when) for kind, text in _tokens(pattern or DEFAULT_FORMAT))


@algorithm("Date.format")
def format(date: Any, format: str | None = None, timeZone: str | None = None) -> str:
    return format_date(_date(date, "Date.format"), format, timeZone)


def _parse_regex(token: str) -> str:
    letter, n = token[0], len(token)
    if letter == "M" and n >= 3:
        return f"(?P<M>{'|'.join(_MONTHS + [m[:3] for m in _MONTHS])})"
    if letter == "E":
        return "(?:" + "|".join(_DAYS + [d[:3] for d in _DAYS]) + ")"
    if letter == "a":
        return "(?P<a>AM|PM|am|pm)"
    if letter == "Z":
        return r"(?P<Z>Z|[+-]\d{2}:?\d{2}|[A-Za-z_]+/[A-Za-z_]+|UTC)"
    if letter == "S":
        return rf"(?P<S>\d{{1,{max(n, 3)}}})"
    if letter in "yMdDHkhKmsx":
        key = "y" if letter == "x" else letter
        width = rf"\d{{{n}}}" if n > 1 else (r"[+-]?\d{1,4}" if key == "y" else r"\d{1,3}")
        return f"(?P<{key}>{width})"
    raise InvalidArgument(f"Date.parse: Unsupported pattern letter '{letter}'.")


@algorithm("Date.parse")
def parse(format: str, date: str, timeZone: str | None = None) -> Date:
    """Reads ``date`` with a Joda pattern; fields absent from the pattern default to 1970-01-01 00:00:00."""
    regex = "".join(re.escape(text) if kind == "lit" else _parse_regex(text) for kind, text in _tokens(format))
    try:
        # Built from the request's format: adjacent variable-width fields ("dHdH...") backtrack like any user regex.
        pattern = compile_pattern(regex, where="Date.parse")
    except InvalidArgument:  # the only way a built pattern is invalid: one field named twice
        raise InvalidArgument(f"Date.parse: Invalid format \"{format}\": each field may appear only once.") from None
    m = pattern.fullmatch(str(date).strip())
    if not m:
        raise InvalidArgument(f"Date.parse: Invalid format: \"{date}\" does not match \"{format}\".")
    g = m.groupdict()
    month = g.get("M")
    if month is not None and not month.isdigit():
        month = str([x[:3] for x in _MONTHS].index(month[:3].title()) + 1)
    hour = int(g.get("H") or g.get("k") or 0) % 24
    if g.get("h") or g.get("K"):
        hour = int(g.get("h") or g.get("K")) % 12 + (12 if (g.get("a") or "").upper() == "PM" else 0)
    year = int(g["y"]) if g.get("y") else 1970
    if g.get("y") and len(g["y"]) == 2:
        year += 2000 if year < 50 else 1900  # Joda's two-digit years pivot on the current century
    try:
        naive = dt.datetime(year, int(month or 1), int(g.get("d") or 1), hour, int(g.get("m") or 0),
                            int(g.get("s") or 0), int((g.get("S") or "0").ljust(3, "0")[:3]) * 1000)
        if g.get("D"):
            naive = naive.replace(month=1, day=1) + dt.timedelta(days=int(g["D"]) - 1)
    except ValueError as exc:
        raise InvalidArgument(f"Date.parse: {exc}.") from None
    tz = g.get("Z") or timeZone
    return Date(millis_of(_wall(naive, None if tz == "Z" else tz)))


# --- DateRange -----------------------------------------------------------------------------------------------

def _date_range(value: Any, where: str) -> DateRange:
    if isinstance(value, DateRange):
        return value
    raise InvalidArgument(f"{where}: expected a DateRange; got {type(value).__name__}.")


@algorithm("DateRange")
def date_range(start: Any, end: Any = None, timeZone: str | None = None) -> DateRange:
    """[start, end); without ``end``, the 1-millisecond range starting at ``start``."""
    s = to_millis(start, timeZone)
    e = s + 1 if end is None else to_millis(end, timeZone)
    return DateRange(s, e)


@algorithm("DateRange.start")
def range_start(dateRange: Any) -> Date:
    return Date(_date_range(dateRange, "DateRange.start").start)


@algorithm("DateRange.end")
def range_end(dateRange: Any) -> Date:
    return Date(_date_range(dateRange, "DateRange.end").end)


@algorithm("DateRange.contains")
def range_contains(dateRange: Any, other: Any) -> bool:
    r = _date_range(dateRange, "DateRange.contains")
    if isinstance(other, DateRange):
        return r.start <= other.start and other.end <= r.end
    t = to_millis(other)
    return r.start <= t < r.end


@algorithm("DateRange.intersection")
def range_intersection(dateRange: Any, other: Any) -> DateRange:
    a, b = _date_range(dateRange, "DateRange.intersection"), _date_range(other, "DateRange.intersection")
    start, end = max(a.start, b.start), min(a.end, b.end)
    if end <= start:
        raise InvalidArgument("DateRange.intersection: The date ranges do not intersect; the result is empty.")
    return DateRange(start, end)


@algorithm("DateRange.intersects")
def range_intersects(dateRange: Any, other: Any) -> bool:
    a, b = _date_range(dateRange, "DateRange.intersects"), _date_range(other, "DateRange.intersects")
    return max(a.start, b.start) < min(a.end, b.end)


@algorithm("DateRange.union")
def range_union(dateRange: Any, other: Any) -> DateRange:
    a, b = _date_range(dateRange, "DateRange.union"), _date_range(other, "DateRange.union")
    return DateRange(min(a.start, b.start), max(a.end, b.end))


@algorithm("DateRange.isEmpty")
def range_is_empty(dateRange: Any) -> bool:
    r = _date_range(dateRange, "DateRange.isEmpty")
    return r.end <= r.start


@algorithm("DateRange.isUnbounded")
def range_is_unbounded(dateRange: Any) -> bool:
    r = _date_range(dateRange, "DateRange.isUnbounded")
    return r.start <= UNBOUNDED_START or r.end >= UNBOUNDED_END


@algorithm("DateRange.unbounded")
def range_unbounded() -> DateRange:
    return DateRange(UNBOUNDED_START, UNBOUNDED_END)
