"""``Terrain.fillMinima`` through the real client on a synthetic integer DEM: pits rise to the level where they spill,
the rest of the terrain is left as it is."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from local_engine import connect, running_engine, write_band_image


CRS = "EPSG:32631"
X0, Y0 = 600000.0, 5600000.0
H, W = 30, 40


def _rough() -> np.ndarray:
    """Random integer terrain full of sinks."""
    return np.random.default_rng(7).integers(0, 50, (H, W)).astype(np.int16)


def _priority_flood(dem: np.ndarray) -> np.ndarray:
    """Barnes et al.'s priority-flood (8 neighbours), one cell at a time from the edge inward."""
    h, w = dem.shape
    filled = dem.astype(np.int64).copy()
    done = np.zeros(dem.shape, bool)
    queue = []
    for r in range(h):
        for c in range(w):
            if r in (0, h - 1) or c in (0, w - 1):
                heapq.heappush(queue, (filled[r, c], r, c))
                done[r, c] = True
    while queue:
        level, r, c = heapq.heappop(queue)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and not done[rr, cc]:
                    done[rr, cc] = True
                    filled[rr, cc] = max(filled[rr, cc], level)
                    heapq.heappush(queue, (filled[rr, cc], rr, cc))
    return filled


def _dem() -> np.ndarray:
    """A plane rising 1 m per column to the east (draining west), with a square pit (50 m) at rows 8-11, columns
    8-11, and a crater east of it: a ring at 200 m with a notch at 180 m around a floor at 150 m."""
    rows, cols = np.mgrid[0:H, 0:W]
    dem = (100 + cols).astype(np.int16)
    dem[8:12, 8:12] = 50
    dem[10:19, 25:34] = 200
    dem[12:17, 27:32] = 150
    dem[14, 25:27] = 180  # the notch: two cells of the ring, west side
    return dem


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fill-catalog")
    write_band_image(root, "T/dem", _dem(), band="elevation", crs=CRS, origin=(X0, Y0))
    write_band_image(root, "T/rough", _rough(), band="b", crs=CRS, origin=(X0, Y0))
    with running_engine(root, connect_client=False) as srv:
        yield srv


@pytest.fixture()
def ee(server):
    import ee as ee_module

    connect(server)
    return ee_module


def _pixels(ee, image, col0=0, width=W) -> np.ndarray:
    grid = {"crsCode": CRS, "dimensions": {"width": width, "height": H},
            "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": X0 + 10 * col0, "shearY": 0,
                                "scaleY": -10, "translateY": Y0}}
    return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})


def test_pits_rise_to_their_spill_level_and_slopes_stay(ee):
    dem = _dem()
    filled = _pixels(ee, ee.Terrain.fillMinima(ee.Image("T/dem")))["elevation"]
    assert filled.dtype == np.int16
    want = dem.copy()
    # The pit spills over its western rim, the plane's column 7 (107 m), then runs downhill to the west edge.
    want[8:12, 8:12] = 107
    # The crater's floor fills to its notch (180 m) and drains over it.
    want[12:17, 27:32] = 180
    np.testing.assert_array_equal(filled, want)


def test_random_terrain_matches_priority_flood(ee):
    want = _priority_flood(_rough())
    assert (want != _rough()).sum() > 100  # plenty of sinks to fill
    np.testing.assert_array_equal(_pixels(ee, ee.Terrain.fillMinima(ee.Image("T/rough")))["b"], want)


def test_the_neighbourhood_and_the_edges(ee):
    dem = _dem()
    # A request of only the pit's columns still finds the spill point outside it (50 pixels are read around).
    part = _pixels(ee, ee.Terrain.fillMinima(ee.Image("T/dem")), col0=8, width=4)["elevation"]
    assert (part[8:12] == 107).all()
    # With no neighbourhood the request's edge drains: the pit's cells on the edge keep their level.
    edge = _pixels(ee, ee.Terrain.fillMinima(ee.Image("T/dem"), None, 0), col0=8, width=4)["elevation"]
    np.testing.assert_array_equal(edge, dem[:, 8:12])
    # Terrain already free of sinks is unchanged.
    plane = ee.Image("T/dem").multiply(0).add(ee.Image.pixelLonLat().select("longitude").multiply(1000).toInt16())
    np.testing.assert_array_equal(_pixels(ee, ee.Terrain.fillMinima(plane.toInt16()))["elevation"],
                                  _pixels(ee, plane.toInt16())["elevation"])


def test_border_value_alias_and_float_refused(ee):
    dem = ee.Image("T/dem")
    # The pixels past the data drain at borderValue: everything under 120 m rises to it.
    raised = _pixels(ee, ee.Terrain.fillMinima(dem, 120))["elevation"]
    np.testing.assert_array_equal(raised, np.maximum(_pixels(ee, ee.Terrain.fillMinima(dem))["elevation"], 120))
    alias = _pixels(ee, ee.Algorithms.FMask.fillMinima(dem))["elevation"]
    np.testing.assert_array_equal(alias, _pixels(ee, ee.Terrain.fillMinima(dem))["elevation"])
    with pytest.raises(ee.EEException, match="only integer types"):
        _pixels(ee, ee.Terrain.fillMinima(dem.toFloat()))
