"""``Terrain.hillShadow`` through the real client on a synthetic DEM: a flat plain with a 55 m north-south wall casts a
shadow of the geometric length, wall height x tan(zenith), away from the sun."""

from __future__ import annotations

import math

import numpy as np
import pytest
from local_engine import connect, running_engine, write_band_image


CRS = "EPSG:32631"
X0, Y0 = 600000.0, 5600000.0
H, W = 20, 40
PIXEL = 10.0  # metres
WALL_COLUMN, WALL_HEIGHT = 20, 55


def _grid(col0: int = 0, width: int = W) -> dict:
    return {"crsCode": CRS, "dimensions": {"width": width, "height": H},
            "affineTransform": {"scaleX": PIXEL, "shearX": 0, "translateX": X0 + col0 * PIXEL, "shearY": 0,
                                "scaleY": -PIXEL, "translateY": Y0}}


def _rough() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 60, (H, W)).astype(np.int16)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("shadow-catalog")
    dem = np.zeros((H, W), np.int16)
    dem[:, WALL_COLUMN] = WALL_HEIGHT
    write_band_image(root, "T/dem", dem, band="elevation", crs=CRS, origin=(X0, Y0), pixel=PIXEL)
    write_band_image(root, "T/rough", _rough(), band="z", crs=CRS, origin=(X0, Y0), pixel=PIXEL)
    with running_engine(root, connect_client=False) as srv:
        yield srv


@pytest.fixture()
def ee(server):
    import ee as ee_module

    connect(server)
    return ee_module


def _shadow(ee, azimuth, zenith, grid=None, **kwargs) -> np.ndarray:
    image = ee.Terrain.hillShadow(ee.Image("T/dem"), azimuth, zenith, **kwargs)
    px = ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid or _grid()})
    assert px.dtype.names == ("shadow",)
    return px["shadow"]


def _shadowed_columns(ee, azimuth, zenith, **kwargs) -> list[int]:
    shadow = _shadow(ee, azimuth, zenith, **kwargs)
    rows = shadow[5:-5]  # away from the north and south edges of the data (an oblique ray leaves them)
    assert (rows == rows[0]).all()  # the wall spans every row: every row alike
    return [int(c) for c in np.flatnonzero(rows[0] == 0)]


@pytest.mark.parametrize("zenith", [45.0, 60.0, 30.0])
def test_a_wall_casts_a_shadow_of_its_geometric_length(ee, zenith):
    length = WALL_HEIGHT * math.tan(math.radians(zenith))  # metres of ground behind the wall in shadow
    n = math.floor(length / PIXEL - 1e-9)  # pixel centres strictly closer than that
    # Sun in the east: the shadow falls west of the wall; in the west: east of it.
    assert _shadowed_columns(ee, 90, zenith) == list(range(WALL_COLUMN - n, WALL_COLUMN))
    assert _shadowed_columns(ee, 270, zenith) == list(range(WALL_COLUMN + 1, WALL_COLUMN + n + 1))
    # Sun in the north or south: a north-south wall casts no shadow.
    assert _shadowed_columns(ee, 0, zenith) == []


def test_oblique_sun_and_the_grid_grown_toward_the_sun(ee):
    # Sun in the north-east at 45 degrees: a ray from x metres west of the wall meets it after x * sqrt(2) metres
    # of ground, where it is x * sqrt(2) high: shadowed while that is under 55 m, i.e. x < 38.9 m: 3 columns.
    assert _shadowed_columns(ee, 45, 45) == [17, 18, 19]
    # A request that stops short of the wall still sees its shadow (the engine reads toward the sun).
    west_part = _shadow(ee, 90, 45, grid=_grid(col0=10, width=10))
    assert [int(c) + 10 for c in np.flatnonzero(west_part[5] == 0)] == [15, 16, 17, 18, 19]
    # A neighbourhood shorter than the shadow: only pixels within that many pixels of the wall see it.
    assert _shadowed_columns(ee, 90, 60, neighborhoodSize=3) == [17, 18, 19]


@pytest.mark.parametrize("azimuth", [90, 180, 270, 0])
def test_rough_terrain_matches_a_ray_traced_by_hand(ee, azimuth):
    # Along a row or column the ray meets pixel centres exactly: pixel k steps toward the sun shades the pixel when
    # it is higher than the ray there, z + k * 10 m / tan(zenith).
    z = _rough().astype(float)
    zenith = 70.0
    rise = PIXEL / math.tan(math.radians(zenith))
    step_r, step_c = {90: (0, 1), 270: (0, -1), 0: (-1, 0), 180: (1, 0)}[azimuth]
    want = np.ones((H, W), np.uint8)
    for r in range(H):
        for c in range(W):
            k = 1
            while 0 <= r + k * step_r < H and 0 <= c + k * step_c < W:
                if z[r + k * step_r, c + k * step_c] > z[r, c] + k * rise:
                    want[r, c] = 0
                    break
                k += 1
    image = ee.Terrain.hillShadow(ee.Image("T/rough"), azimuth, zenith)
    got = ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": _grid()})["shadow"]
    assert 0.1 < 1 - want.mean() < 0.9
    np.testing.assert_array_equal(got, want)


def test_alias_and_bad_arguments(ee):
    image = ee.Image("T/dem")
    alias = ee.data.computePixels({"expression": ee.Algorithms.HillShadow(image, 90, 45), "fileFormat": "NUMPY_NDARRAY",
                                   "grid": _grid()})
    np.testing.assert_array_equal(alias["shadow"], _shadow(ee, 90, 45))
    with pytest.raises(ee.EEException, match="zenith must be in"):
        _shadow(ee, 90, 120)
