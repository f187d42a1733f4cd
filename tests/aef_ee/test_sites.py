"""Site sampling on UTM grids: snapping, tiling, zones, samplers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from aef_ee.videos import sites
from aef_ee.errors import SiteError

DATA = Path(__file__).resolve().parents[2] / "data"
YEAR = sites.year_period(2021)


def test_utm_zones_and_exceptions() -> None:
    assert sites.utm_epsg(4.35, 50.85) == 32631  # Brussels
    assert sites.utm_epsg(-47.9, -15.8) == 32723  # Brasilia
    assert sites.utm_epsg(5.3, 60.4) == 32632  # Bergen: the Norway exception
    assert sites.utm_epsg(15.6, 78.2) == 32633  # Longyearbyen: Svalbard
    assert sites.utm_epsg(179.99, 0.0) == 32660 and sites.utm_epsg(-180.0, 0.0) == 32601
    for lat in (84.5, -80.5, 89.0):
        with pytest.raises(SiteError, match="outside every UTM zone"):
            sites.utm_epsg(10.0, lat)


def test_snapped_site_contains_its_point_and_neighbours_tile_exactly() -> None:
    site = sites.snap_site(4.35, 50.85, period_ms=YEAR, size=128, resolution_m=10.0)
    assert site.epsg == 32631 and site.x0 % 1280 == 0 and site.y0 % 1280 == 0
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True).transform(4.35, 50.85)
    left, bottom, right, top = site.bounds
    assert left <= x < right and bottom <= y < top and right - left == 1280 == top - bottom
    assert site.site_id == f"32631_{site.x0:.0f}_{site.y0:.0f}"
    # The east and south neighbours share an edge exactly.
    lon_e, lat_e = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(right + 5, y)
    east = sites.snap_site(lon_e, lat_e, period_ms=YEAR)
    assert east.bounds[0] == right and east.bounds[3] == top
    lon_s, lat_s = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(x, bottom - 5)
    south = sites.snap_site(lon_s, lat_s, period_ms=YEAR)
    assert south.bounds[3] == bottom and south.bounds[0] == left
    lon, lat = site.center_lonlat
    assert abs(lon - 4.35) < 0.02 and abs(lat - 50.85) < 0.02
    grid = site.ee_grid()
    assert grid["affineTransform"]["translateX"] == site.x0 and grid["dimensions"] == {"width": 128, "height": 128}
    assert sites.Site.from_json(json.loads(json.dumps(site.to_json()))) == site


def test_southern_hemisphere_site() -> None:
    site = sites.snap_site(-47.9, -15.8, period_ms=YEAR, size=64, resolution_m=30.0)
    assert site.epsg == 32723 and site.site_id.endswith("_64x30m")
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32723", always_xy=True).transform(-47.9, -15.8)
    left, bottom, right, top = site.bounds
    assert left <= x < right and bottom <= y < top


def test_uniform_sampling_is_deterministic_distinct_and_inside() -> None:
    bbox = (4.0, 50.5, 5.0, 51.0)
    a = sites.sample_uniform(bbox, 50, period_ms=YEAR, seed=3)
    b = sites.sample_uniform(bbox, 50, period_ms=YEAR, seed=3)
    assert [s.site_id for s in a] == [s.site_id for s in b]
    assert len({s.site_id for s in a}) == 50
    for s in a:
        lon, lat = s.center_lonlat
        assert 3.98 < lon < 5.02 and 50.48 < lat < 51.02
    with pytest.raises(SiteError, match="found only"):
        sites.sample_uniform((4.0, 50.5, 4.001, 50.501), 30, period_ms=YEAR)
    with pytest.raises(SiteError, match="outside every UTM"):
        sites.sample_uniform((0.0, 85.0, 10.0, 89.0), 3, period_ms=YEAR)


def test_stratified_sampling_on_a_real_land_cover_raster() -> None:
    lulc = np.load(DATA / "eolearn_slovenia/TestEOPatch/mask_timeless/LULC.npy")[..., 0]
    bbox = json.loads((DATA / "eolearn_slovenia/TestEOPatch/bbox.geojson").read_text())
    west, north = min(p[0] for p in _coords(bbox)), max(p[1] for p in _coords(bbox))
    transform = (10.0, 0.0, west, 0.0, -10.0, north)
    out = sites.sample_stratified(lulc, transform, "EPSG:32633", 3, period_ms=YEAR, nodata=0, size=16)
    strata = [s.properties["stratum"] for s in out]
    assert set(strata) <= {1, 2, 3, 4, 8} and 0 not in strata
    # Each site centre's class: the raster class under the site holds the stratum somewhere.
    for s in out:
        assert s.epsg == 32633
        r0 = int((north - s.y0) // 10)
        c0 = int((s.x0 - west) // 10)
        window = lulc[max(r0, 0):max(r0 + 16, 0), max(c0, 0):max(c0 + 16, 0)]
        assert (window == s.properties["stratum"]).any()
    assert len({s.site_id for s in out}) == len(out)


def _coords(geojson: dict) -> list[list[float]]:
    geom = geojson.get("geometry", geojson)
    if geojson.get("type") == "FeatureCollection":
        geom = geojson["features"][0]["geometry"]
    return [p for ring in geom["coordinates"] for p in ring]


def test_sites_from_real_points_keep_properties() -> None:
    import geopandas as gpd

    gpkg = next((DATA / "landsat8_brazil").glob("*points.gpkg"))
    frame = gpd.read_file(gpkg).to_crs(4326)
    fc = json.loads(frame.to_json())
    out = sites.sites_from_features(fc, period_ms=YEAR, size=32, resolution_m=30.0)
    assert 1 <= len(out) <= 6
    assert {s.properties["name"] for s in out} <= {"water", "crop", "tree", "developed"}
    assert all(s.epsg in (32721, 32722) for s in out)
    with pytest.raises(SiteError, match="feature 1"):
        sites.sites_from_features([(4.0, 50.0), (4.0, 86.0)], period_ms=YEAR)


def test_periods() -> None:
    assert sites.year_period(2021) == (1609459200000, 1640995200000)
    assert sites.parse_period("2020-11-01", "2021-11-01")[0] == 1604188800000
    with pytest.raises(ValueError):
        sites.parse_period("2021-01-01", "2020-01-01")
    s = sites.snap_site(4.35, 50.85, period_ms=YEAR, context_days=(30, 0))
    assert s.window_ms == (YEAR[0] - 30 * 86_400_000, YEAR[1])


def test_site_sampling_draws_what_the_samplers_draw() -> None:
    bbox = (4.0, 50.5, 5.0, 51.0)
    sampling = sites.SiteSampling(start="2021-01-01", end="2022-01-01", region=bbox, n_sites=5, size=64,
                                  resolution_m=20.0, context_days=(10, 5), seed=3)
    expected = sites.sample_uniform(bbox, 5, period_ms=YEAR, size=64, resolution_m=20.0, context_days=(10, 5),
                                    seed=3)
    assert sampling.period_ms == YEAR and sampling.context_days == (10.0, 5.0)
    assert [s.site_id for s in sampling.sites()] == [s.site_id for s in expected]
    assert sampling.sites() == expected  # deterministic: an export re-samples the same sites to resume
    assert sampling.sites()[0].context_ms == (10 * 86_400_000, 5 * 86_400_000)
    points = [(4.35, 50.85), (5.32, 50.63)]
    by_feature = sites.SiteSampling(start="2021-01-01", end="2022-01-01", features=points, context_days=7)
    assert by_feature.context_days == (7.0, 7.0)
    assert by_feature.sites() == sites.sites_from_features(points, period_ms=YEAR, context_days=(7, 7))
    with pytest.raises(SiteError, match="outside every UTM"):
        sites.SiteSampling(start="2021-01-01", end="2022-01-01", features=[(10.0, 85.5)]).sites()


_PERIOD = dict(start="2021-01-01", end="2022-01-01")
_BBOX = (4.0, 50.5, 5.0, 51.0)


@pytest.mark.parametrize("kwargs, quoted", [
    (dict(start="2021-13-01", end="2022-01-01", region=_BBOX, n_sites=1), "'2021-13-01'"),
    (dict(start="2021-01-01", end=None, region=_BBOX, n_sites=1), "None"),
    (dict(start="2022-01-01", end="2021-01-01", region=_BBOX, n_sites=1), "'2021-01-01'"),
    (dict(**_PERIOD), "neither"),
    (dict(**_PERIOD, region=_BBOX), "n_sites=None"),
    (dict(**_PERIOD, region=_BBOX, n_sites=0), "n_sites=0"),
    (dict(**_PERIOD, region=_BBOX, n_sites=2.5), "n_sites=2.5"),
    (dict(**_PERIOD, region=_BBOX, n_sites=2, features=[(4.3, 50.8)]), "region=(4.0, 50.5, 5.0, 51.0)"),
    (dict(**_PERIOD, features=[(4.3, 50.8)], n_sites=3), "n_sites=3"),
    (dict(**_PERIOD, features=[(4.3, 50.8)], size=0), "size=0"),
    (dict(**_PERIOD, features=[(4.3, 50.8)], size=12.5), "size=12.5"),
    (dict(**_PERIOD, features=[(4.3, 50.8)], resolution_m=0), "resolution_m=0"),
    (dict(**_PERIOD, features=[(4.3, 50.8)], resolution_m=float("nan")), "resolution_m=nan"),
    (dict(**_PERIOD, features=[(4.3, 50.8)], context_days=(1, -2)), "context_days=(1, -2)"),
    (dict(**_PERIOD, features=[(4.3, 50.8)], context_days=(1, 2, 3)), "context_days=(1, 2, 3)"),
    (dict(**_PERIOD, features=[(4.3, 50.8)], seed="a"), "seed='a'"),
])
def test_site_sampling_rejects_bad_values_quoting_them(kwargs: dict, quoted: str) -> None:
    import re

    from aef_ee.errors import AefValueError

    with pytest.raises(AefValueError, match=re.escape(quoted)):
        sites.SiteSampling(**kwargs)
