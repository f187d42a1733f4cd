"""Every regular expression a request supplies (band and property selectors, ``Image.regexpRename``, ``Date.parse``
formats) runs through aef_ee.local.safe_regex: a catastrophic pattern is a quick 400 ("Computation timed out."),
never a frozen server; ordinary patterns keep Earth Engine's meaning (a selector matches the whole name)."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest
from local_engine import running_engine

from aef_ee.local.limits import Limits

REGEX_TIMEOUT_S = 0.5
# What a request may take beyond its regex timeout on a loaded 2-core machine (HTTP, evaluation, the client).
SLACK_S = 3.0
LONG_NAME = "a" * 40 + "!"
# Python's re and the regex module both backtrack exponentially on this against LONG_NAME.
CATASTROPHIC = "(a|a)+$"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with running_engine(tmp_path_factory.mktemp("regex-catalog"), connect_client=False,
                        server_options={"limits": Limits(regex_timeout_s=REGEX_TIMEOUT_S)}) as server:
        yield server


@pytest.fixture()
def ee(engine):
    import ee as ee_module
    from local_engine import connect

    connect(engine)
    return ee_module


def _timed_error(value) -> tuple[str, float]:
    import ee

    started = time.monotonic()
    with pytest.raises(ee.EEException) as info:
        value.getInfo()
    return str(info.value), time.monotonic() - started


def _compute_status(engine, value) -> tuple[int, dict]:
    import ee

    connection = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=30)
    try:
        connection.request("POST", "/v1/projects/local/value:compute",
                           body=json.dumps({"expression": ee.serializer.encode(value, for_cloud_api=True)}),
                           headers={"Authorization": f"Bearer {engine.token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_catastrophic_band_selector_is_a_quick_400(ee, engine):
    image = ee.Image.constant(1).rename(LONG_NAME)
    selected = image.select([CATASTROPHIC]).bandNames()
    message, seconds = _timed_error(selected)
    assert message.startswith("Computation timed out. (Image.select: the regular expression '(a|a)+$' ran too long.)")
    assert seconds < REGEX_TIMEOUT_S + SLACK_S
    status, body = _compute_status(engine, selected)
    assert status == 400 and body["error"]["status"] == "DEADLINE_EXCEEDED"
    # (a+)+$ freezes Python's re on this name; here it is answered at once: it matches nothing.
    message, seconds = _timed_error(image.select(["(a+)+$"]).bandNames())
    assert "Pattern '(a+)+$' did not match any bands" in message and seconds < SLACK_S


def test_other_requests_are_served_while_a_selector_backtracks(ee):
    results: dict[str, str] = {}
    thread = threading.Thread(target=lambda: results.setdefault("error", _timed_error(
        ee.Image.constant(1).rename(LONG_NAME).select([CATASTROPHIC]).bandNames())[0]))
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert ee.Number(20).add(22).getInfo() == 42
    assert time.monotonic() - started < 1.0
    thread.join(30)
    assert results["error"].startswith("Computation timed out.")


def test_selectors_match_whole_names(ee):
    image = ee.Image.constant([1, 2, 3]).rename(["B1", "B10", "B2"])
    # Java's String.matches: "B1|B2" is B1 or B2, not every name starting with B1.
    assert image.select(["B1|B2"]).bandNames().getInfo() == ["B1", "B2"]
    assert image.select(["B.*"]).bandNames().getInfo() == ["B1", "B10", "B2"]
    assert image.select(["B1."]).bandNames().getInfo() == ["B10"]
    # An invalid pattern selects nothing, as a name that is not there.
    message, _ = _timed_error(image.select(["B1("]).bandNames())
    assert "Pattern 'B1(' did not match any bands" in message
    # Property and dictionary selectors go through the same matcher.
    feature = ee.Feature(None, {"B1": 1, "B10": 10, LONG_NAME: 0})
    assert feature.select(["B1|B10"]).propertyNames().sort().getInfo() == ["B1", "B10"]
    message, seconds = _timed_error(feature.select([CATASTROPHIC]).propertyNames())
    assert message.startswith("Computation timed out.") and seconds < REGEX_TIMEOUT_S + SLACK_S
    message, seconds = _timed_error(ee.Dictionary({LONG_NAME: 1}).select([CATASTROPHIC]))
    assert message.startswith("Computation timed out.") and seconds < REGEX_TIMEOUT_S + SLACK_S


def test_regexp_rename(ee, engine):
    image = ee.Image.constant([1, 2, 3]).rename(["B1", "B10", "SCL"])
    assert image.regexpRename("B(\\d+)", "band_$1").bandNames().getInfo() == ["band_1", "band_10", "SCL"]
    assert image.regexpRename("^", "s2_").bandNames().getInfo() == ["s2_B1", "s2_B10", "s2_SCL"]
    assert image.regexpRename("1", "x", False).bandNames().getInfo() == ["Bx", "Bx0", "SCL"]
    renamed = ee.Image.constant(1).rename(LONG_NAME).regexpRename(CATASTROPHIC, "b").bandNames()
    message, seconds = _timed_error(renamed)
    assert message.startswith("Computation timed out. (Image.regexpRename: the regular expression")
    assert seconds < REGEX_TIMEOUT_S + SLACK_S
    status, body = _compute_status(engine, image.regexpRename("B(\\d+)", "$5").bandNames())
    assert status == 400 and body["error"]["message"].startswith("Image.regexpRename: Invalid replacement '\\g<5>'")
    status, body = _compute_status(engine, image.regexpRename("B(", "x").bandNames())
    assert status == 400 and "Image.regexpRename: Invalid regular expression 'B('" in body["error"]["message"]


def test_date_strings_and_formats(ee, engine):
    assert ee.Date(" 2020-01-02T03:04:05.5Z ").millis().getInfo() == 1577934245500
    assert ee.Date("2020-01-02 03:04 +01:00").millis().getInfo() == 1577930640000
    # A long run of spaces once backtracked quadratically in the date-string pattern (200k spaces: minutes).
    message, seconds = _timed_error(ee.Date("2020" + " " * 200_000 + "x").millis())
    assert "Unable to parse date string" in message and seconds < SLACK_S
    assert ee.Date.parse("dd/MM/yyyy HH:mm", "02/01/2020 03:04").millis().getInfo() == 1577934240000
    # A format naming one field twice was a 500 (re.error); it is a 400 that says why.
    status, body = _compute_status(engine, ee.Date.parse("yyyy-MM-dd yyyy", "2020-01-02 2020").millis())
    assert status == 400
    assert body["error"]["message"] == 'Date.parse: Invalid format "yyyy-MM-dd yyyy": each field may appear only once.'


def test_a_selector_matching_no_band_is_a_400_as_on_earth_engine(ee, engine):
    status, body = _compute_status(engine, ee.Image.constant(1).rename("B1").select("B9").bandNames())
    assert status == 400  # an evaluation error (INVALID_ARGUMENT), not a missing resource
    assert body["error"]["message"].startswith("Image.select: Pattern 'B9' did not match any bands.")
