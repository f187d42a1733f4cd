"""Joins from Earth Engine's guides ("Joins": simple, inverted, inner, saveAll, saveFirst, saveBest with equals,
maxDifference and withinDistance conditions) and the documented s2cloudless recipe of the COPERNICUS/
S2_CLOUD_PROBABILITY catalog page, run unchanged through the ``ee`` client on the demo catalog and compared with the
source files (the recipe's median composite against numpy over the eo-learn Slovenia patch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from aef_ee.local.projection import transformer
from aef_ee.paths import data_dir

SLOVENIA = data_dir() / "eolearn_slovenia" / "TestEOPatch"
DAY_MS = 86_400_000


def _fc(ee, rows: list[dict], lonlat=None):
    return ee.FeatureCollection([
        ee.Feature(ee.Geometry.Point(lonlat(r) if lonlat else [0, 0]), r) for r in rows])


PRIMARY = [{"name": f"p{i}", "t": 10 * i, "key": i % 3} for i in range(6)]
SECONDARY = [{"name": f"s{j}", "t": 7 * j, "key": j % 4} for j in range(8)]


def _pairs(condition) -> dict[str, list[str]]:
    return {p["name"]: [s["name"] for s in SECONDARY if condition(p, s)] for p in PRIMARY}


def test_simple_and_inverted_joins(ee_local):
    ee = ee_local
    primary, secondary = _fc(ee, PRIMARY), _fc(ee, SECONDARY[:2])
    condition = ee.Filter.equals(leftField="key", rightField="key")
    expected = _pairs(lambda p, s: p["key"] == s["key"] and s["name"] in ("s0", "s1"))
    simple = ee.Join.simple().apply(primary, secondary, condition).aggregate_array("name").getInfo()
    inverted = ee.Join.inverted().apply(primary, secondary, condition).aggregate_array("name").getInfo()
    assert simple == [p for p, found in expected.items() if found]
    assert inverted == [p for p, found in expected.items() if not found]


def test_inner_join_pairs_every_match(ee_local):
    ee = ee_local
    condition = ee.Filter.maxDifference(difference=8, leftField="t", rightField="t")
    joined = ee.Join.inner("primary", "secondary", "diff").apply(_fc(ee, PRIMARY), _fc(ee, SECONDARY), condition)
    got = [(f["properties"]["primary"]["properties"]["name"], f["properties"]["secondary"]["properties"]["name"],
            f["properties"]["diff"]) for f in joined.getInfo()["features"]]
    want = [(p["name"], s["name"], abs(p["t"] - s["t"])) for p in PRIMARY for s in SECONDARY
            if abs(p["t"] - s["t"]) <= 8]
    assert got == want


def test_save_all_first_and_best(ee_local):
    ee = ee_local
    primary, secondary = _fc(ee, PRIMARY), _fc(ee, SECONDARY)
    condition = ee.Filter.maxDifference(difference=15, leftField="t", rightField="t")
    close = {p["name"]: [s for s in SECONDARY if abs(p["t"] - s["t"]) <= 15] for p in PRIMARY}

    save_all = ee.Join.saveAll(matchesKey="matches", ordering="t", ascending=False, measureKey="d").apply(
        primary, secondary, condition).getInfo()["features"]
    for f in save_all:
        name = f["properties"]["name"]
        matches = [(m["properties"]["name"], m["properties"]["d"]) for m in f["properties"]["matches"]]
        p_t = next(p["t"] for p in PRIMARY if p["name"] == name)
        ordered = sorted(close[name], key=lambda s: -s["t"])
        assert matches == [(s["name"], abs(p_t - s["t"])) for s in ordered]

    first = ee.Join.saveFirst(matchKey="first", ordering="key").apply(primary, secondary, condition).getInfo()
    for f in first["features"]:
        want = sorted(close[f["properties"]["name"]], key=lambda s: s["key"])[0]["name"]
        assert f["properties"]["first"]["properties"]["name"] == want

    best = ee.Join.saveBest(matchKey="best", measureKey="diff").apply(primary, secondary, condition).getInfo()
    for f in best["features"]:
        p_t = f["properties"]["t"]
        nearest = min(close[f["properties"]["name"]], key=lambda s: abs(p_t - s["t"]))
        assert f["properties"]["best"]["properties"]["name"] == nearest["name"]
        assert f["properties"]["best"]["properties"]["diff"] == abs(p_t - nearest["t"])


def test_outer_joins_keep_unmatched_primaries(ee_local):
    ee = ee_local
    condition = ee.Filter.equals(leftField="key", rightField="key")
    secondary = _fc(ee, [{"name": "only", "key": 0}])
    kept = ee.Join.saveAll("m", None, True, None, True).apply(_fc(ee, PRIMARY), secondary, condition)
    sizes = kept.map(lambda f: f.set("n", ee.List(f.get("m")).size())).aggregate_array("n").getInfo()
    assert sizes == [1 if p["key"] == 0 else 0 for p in PRIMARY]
    dropped = ee.Join.saveFirst("m").apply(_fc(ee, PRIMARY), secondary, condition)
    assert dropped.aggregate_array("name").getInfo() == [p["name"] for p in PRIMARY if p["key"] == 0]


def test_within_distance_join_measures_metres(ee_local):
    from pyproj import Geod

    ee = ee_local
    # Points 0.001 degree of longitude apart on the equator. Earth Engine's distances default to the ellipsoid
    # (apidocs ee-geometry-distance, 'spherical': "If false, the calculation will be elliptical, taking earth
    # flattening into account. ... Default is false.").
    primary = _fc(ee, [{"name": "a", "x": 0.0}], lambda r: [r["x"], 0])
    secondary = _fc(ee, [{"name": f"b{i}", "x": 0.001 * i} for i in range(1, 5)], lambda r: [r["x"], 0])
    condition = ee.Filter.withinDistance(distance=250, leftField=".geo", rightField=".geo")
    best = ee.Join.saveAll("near", measureKey="m").apply(primary, secondary, condition).first().getInfo()
    near = [(m["properties"]["name"], m["properties"]["m"]) for m in best["properties"]["near"]]
    assert [n for n, _ in near] == ["b1", "b2"]
    wgs84 = Geod(ellps="WGS84")
    assert [m for _, m in near] == pytest.approx([wgs84.inv(0, 0, 0.001 * i, 0)[2] for i in (1, 2)], rel=1e-9)


def test_s2cloudless_recipe_from_the_catalog_page(ee_local, demo_catalog_dir: Path):
    ee = ee_local
    # The recipe of developers.google.com/earth-engine/datasets/catalog/COPERNICUS_S2_CLOUD_PROBABILITY, unchanged but
    # for the collection (the demo's Slovenia scenes are Level-1C, as s2cloudless itself reads), dates and region.
    s2_sr = ee.ImageCollection("COPERNICUS/S2_HARMONIZED")
    s2_clouds = ee.ImageCollection("COPERNICUS/S2_CLOUD_PROBABILITY")
    start_date, end_date = ee.Date("2015-07-01"), ee.Date("2015-10-01")
    max_cloud_probability = 65
    with rasterio.open(demo_catalog_dir / "COPERNICUS/S2_HARMONIZED/20150711T100008_T33TVL.tif") as ds:
        t, crs, shape = ds.transform, ds.crs.to_string(), ds.shape
    lon0, lat0 = transformer(crs, "EPSG:4326").transform(t.c + 100, t.f - 900)
    lon1, lat1 = transformer(crs, "EPSG:4326").transform(t.c + 900, t.f - 100)
    region = ee.Geometry.Rectangle(coords=[lon0, lat0, lon1, lat1], geodesic=False)

    def mask_clouds(img):
        clouds = ee.Image(img.get("cloud_mask")).select("probability")
        is_not_cloud = clouds.lt(max_cloud_probability)
        return img.updateMask(is_not_cloud)

    def mask_edges(s2_img):
        return s2_img.updateMask(s2_img.select("B8A").mask().updateMask(s2_img.select("B9").mask()))

    criteria = ee.Filter.And(ee.Filter.bounds(region), ee.Filter.date(start_date, end_date))
    s2_sr = s2_sr.filter(criteria).map(mask_edges)
    s2_clouds = s2_clouds.filter(criteria)
    s2_sr_with_cloud_mask = ee.Join.saveFirst("cloud_mask").apply(
        primary=s2_sr, secondary=s2_clouds,
        condition=ee.Filter.equals(leftField="system:index", rightField="system:index"))
    s2_cloud_masked = ee.ImageCollection(s2_sr_with_cloud_mask).map(mask_clouds).median()

    assert ee.ImageCollection(s2_sr_with_cloud_mask).size().getInfo() == 5
    grid = {"crsCode": crs, "dimensions": {"width": shape[1], "height": shape[0]},
            "affineTransform": {"scaleX": t.a, "shearX": t.b, "translateX": t.c, "shearY": t.d, "scaleY": t.e,
                                "translateY": t.f}}
    got = ee.data.computePixels({"expression": s2_cloud_masked.select(["B4", "B3", "B2"]),
                                 "fileFormat": "NUMPY_NDARRAY", "grid": grid})

    # numpy: the five scenes' DN, masked where s2cloudless says >= 65 % (round(CLP x 100), as stored) or no data.
    timestamps = json.loads((SLOVENIA / "timestamps.json").read_text())
    clp = np.load(SLOVENIA / "data" / "CLP.npy")[..., 0]
    stack = {"B4": [], "B3": [], "B2": []}
    for path in sorted((demo_catalog_dir / "COPERNICUS/S2_HARMONIZED").glob("*_T33TVL.tif")):
        stamp = path.stem.split("_")[0]
        k = next(i for i, ts in enumerate(timestamps) if ts.replace("-", "").replace(":", "") == stamp)
        clear = np.rint(clp[k].astype(np.float64) * 100) < max_cloud_probability
        with rasterio.open(path) as ds:
            bands = dict(zip(ds.descriptions, ds.read().astype(np.float64), strict=True))
        valid = clear & (bands["B8A"] != 0) & (bands["B9"] != 0)
        for name in stack:
            stack[name].append(np.where(valid & (bands[name] != 0), bands[name], np.nan))
    for name, layers in stack.items():
        with np.errstate(all="ignore"):
            want = np.nanmedian(np.stack(layers), axis=0)
        np.testing.assert_allclose(got[name], np.nan_to_num(want, nan=0.0), rtol=1e-12)
    kept = ~np.isnan(np.stack(stack["B4"]))
    assert 0.2 < kept.mean() < 0.9  # the cloud mask removes many scene pixels and keeps others
