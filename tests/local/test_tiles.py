"""Map tiles on the local engine: Web Mercator grids, geemap's Map.add_layer tile URLs, tiles compared with
computePixels on the tile's own EPSG:3857 grid visualized with numpy, masks, overviews at low zoom, errors."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import rasterio
from local_engine import connect, running_engine
from PIL import Image as PILImage

from aef_ee.local import tiles
from aef_ee.local.errors import InvalidArgument

LANDSAT = Path(__file__).resolve().parents[2] / "data/landsat8_brazil/LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
BANDS = ["B2", "B3", "B4"]
# Inside the Landsat scene (lon, lat), and on its north-east edge where the nodata collar begins.
SCENE_CENTRE = (-54.53, -25.34)
SCENE_EDGE = (-54.486, -25.182)
# The checkerboard COG for the overview test: 2048 x 2048 pixels of 10 m in UTM 31N, near Brussels.
CHECKER_ORIGIN = (590000.0, 5650000.0)
CHECKER_SIZE = 2048


def _checkerboard_cog(path: Path) -> None:
    """Alternating 0 / 100 pixels, with average-resampled overviews (so every overview pixel is exactly 50)."""
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin

    rows, cols = np.indices((CHECKER_SIZE, CHECKER_SIZE))
    board = (((rows + cols) % 2) * 100).astype(np.uint8)
    profile = dict(driver="GTiff", width=CHECKER_SIZE, height=CHECKER_SIZE, count=1, dtype="uint8",
                   crs="EPSG:32631", transform=from_origin(*CHECKER_ORIGIN, 10, 10), tiled=True, blockxsize=256,
                   blockysize=256, compress="deflate")
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(board, 1)
        ds.build_overviews([2, 4, 8, 16], Resampling.average)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from aef_ee.local.catalog import Catalog

    root = tmp_path_factory.mktemp("tiles-catalog")
    catalog = Catalog(root)
    catalog.create_container("TEST", "FOLDER")
    catalog.write_image("TEST/landsat", [
        {"id": b, "path": str(LANDSAT), "band": i + 1, "data_type": "uint16", "nodata": 0}
        for i, b in enumerate(BANDS)], {})
    _checkerboard_cog(root / "TEST" / "checker.tif")
    catalog.write_image("TEST/checker", [{"id": "v", "path": "checker.tif", "band": 1, "data_type": "uint8"}], {})
    with running_engine(root, connect_client=False) as server:
        yield server


@pytest.fixture()
def ee(engine):
    import ee as ee_module

    connect(engine)
    return ee_module


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def _png(data: bytes) -> np.ndarray:
    image = PILImage.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (256, 256)
    return np.asarray(image.convert("RGBA"))


def _tile_at(lon: float, lat: float, z: int) -> tuple[int, int]:
    return tiles.tiles_covering((lon, lat, lon, lat), z)[0]


def _raw_on_tile(ee, image, z: int, x: int, y: int) -> np.ndarray:
    """computePixels of ``image`` on tile z/x/y's EPSG:3857 grid (a structured array)."""
    grid = tiles.tile_grid(z, x, y).to_json()
    return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})


def _stretch(v: np.ndarray, lo: float, hi: float, gamma: float = 1.0) -> np.ndarray:
    return np.rint(255 * np.clip((v.astype(np.float64) - lo) / (hi - lo), 0, 1) ** (1 / gamma)).astype(np.uint8)


def _geemap_tile_url(ee, image, vis: dict) -> str:
    import geemap

    m = geemap.Map()
    m.add_layer(image, vis, "layer")
    url = m.layers[-1].url
    assert url.startswith(ee.data._get_state().tile_base_url + "/v1/projects/local/maps/")
    return url


# --- grid math ------------------------------------------------------------------------------------------------

def test_tile_grids_tile_the_web_mercator_world():
    world = tiles.tile_grid(0, 0, 0)
    assert world.crs == "EPSG:3857" and world.shape == (256, 256)
    np.testing.assert_allclose(world.bounds(), (-20037508.342789244, -20037508.342789244,
                                                20037508.342789244, 20037508.342789244))
    a = tiles.tile_grid(5, 17, 11).bounds()
    b = tiles.tile_grid(5, 18, 11).bounds()
    assert a[2] == pytest.approx(b[0]) and a[1] == pytest.approx(tiles.tile_grid(5, 17, 12).bounds()[3])
    west, south, east, north = tiles.tile_bounds_lonlat(1, 0, 0)
    assert (west, east, south) == (-180.0, 0.0, 0.0) and north == pytest.approx(85.0511287798)
    assert tiles.tiles_covering((-0.5, -0.5, 0.5, 0.5), 1) == [(0, 0), (1, 0), (0, 1), (1, 1)]
    x, y = _tile_at(*SCENE_CENTRE, 12)
    w, s, e, n = tiles.tile_bounds_lonlat(12, x, y)
    assert w <= SCENE_CENTRE[0] < e and s <= SCENE_CENTRE[1] < n
    with pytest.raises(InvalidArgument, match="out of range"):
        tiles.tile_grid(3, 8, 0)


# --- tiles through geemap and the real client ---------------------------------------------------------------

def test_geemap_rgb_layer_tiles_match_compute_pixels(ee):
    image = ee.Image("TEST/landsat")
    vis = {"bands": ["B4", "B3", "B2"], "min": [6000, 6500, 7000], "max": [9000, 9500, 10000], "gamma": 1.3}
    url = _geemap_tile_url(ee, image, vis)
    z = 12
    x, y = _tile_at(*SCENE_CENTRE, z)
    tile = _png(_get(url.format(z=z, x=x, y=y)))
    raw = _raw_on_tile(ee, image.select(BANDS), z, x, y)
    assert (tile[..., 3] == 255).all()  # well inside the scene: nothing masked
    for k, (band, lo, hi) in enumerate(zip(["B4", "B3", "B2"], vis["min"], vis["max"])):
        np.testing.assert_array_equal(tile[..., k], _stretch(raw[band], lo, hi, 1.3))
    assert tile[..., :3].std() > 5  # a real scene, not a flat colour


def test_palette_layer_on_the_scene_edge_has_transparent_masked_pixels(ee):
    image = ee.Image("TEST/landsat").select("B4")
    url = _geemap_tile_url(ee, image, {"min": 6000, "max": 9000, "palette": ["000000", "red", "#ffff00"]})
    z = 11
    x, y = _tile_at(*SCENE_EDGE, z)
    tile = _png(_get(url.format(z=z, x=x, y=y)))
    raw = _raw_on_tile(ee, image, z, x, y)["B4"]
    valid = raw > 0
    assert 0.05 < valid.mean() < 0.95  # the tile holds scene, collar and the world outside the file
    assert (tile[..., 3][valid] == 255).all() and (tile[..., 3][~valid] == 0).all()
    pos = 2 * np.clip((raw.astype(np.float64) - 6000) / 3000, 0, 1)
    palette = np.array([[0, 0, 0], [255, 0, 0], [255, 255, 0]], float)
    i = np.minimum(pos.astype(int), 1)
    expected = np.rint(palette[i] + (palette[i + 1] - palette[i]) * (pos - i)[..., None])
    # Off by one at most where a position falls on a rounding boundary (float summation order).
    np.testing.assert_allclose(tile[..., :3][valid], expected[valid], atol=1, rtol=0)


def test_get_map_id_with_rest_options_equals_the_visualize_path(ee):
    image = ee.Image("TEST/landsat").select("B3")
    # ee.data.getMapId takes the legacy comma-separated strings and sends them as REST visualizationOptions;
    # Image.getMapId puts Image.visualize into the expression (and accepts the same strings).
    vis = {"min": "6500", "max": "9500", "palette": "navy,white", "gamma": "0.7"}
    rest = ee.data.getMapId({"image": image, **vis})
    direct = image.getMapId(vis)
    z = 12
    x, y = _tile_at(*SCENE_CENTRE, z)
    a = _png(_get(rest["tile_fetcher"].format_tile_url(x, y, z)))
    b = _png(_get(direct["tile_fetcher"].format_tile_url(x, y, z)))
    np.testing.assert_array_equal(a, b)


def test_masked_pixels_from_update_mask_are_transparent(ee):
    image = ee.Image("TEST/landsat")
    bright = image.select("B4").gt(6250)
    url = image.updateMask(bright).getMapId({"bands": ["B4", "B3", "B2"], "min": 6000, "max": 9000})[
        "tile_fetcher"].url_format
    z = 12
    x, y = _tile_at(*SCENE_CENTRE, z)
    tile = _png(_get(url.format(z=z, x=x, y=y)))
    raw = _raw_on_tile(ee, image.select("B4"), z, x, y)["B4"]
    keep = raw > 6250
    assert 0.01 < keep.mean() < 0.99
    np.testing.assert_array_equal(tile[..., 3] == 255, keep)
    np.testing.assert_array_equal(tile[..., 0][keep], _stretch(raw, 6000, 9000)[keep])


def test_low_zoom_tiles_read_overviews(ee):
    """The checkerboard's overviews average to 50; full-resolution nearest-neighbour pixels are 0 or 100."""
    image = ee.Image("TEST/checker")
    url = image.getMapId({"min": 0, "max": 100})["tile_fetcher"].url_format
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(
        CHECKER_ORIGIN[0] + 10 * CHECKER_SIZE / 2, CHECKER_ORIGIN[1] - 10 * CHECKER_SIZE / 2)
    coarse = _png(_get(url.format(z=11, x=_tile_at(lon, lat, 11)[0], y=_tile_at(lon, lat, 11)[1])))
    inside = coarse[..., 3] == 255
    assert inside.mean() > 0.5
    assert (coarse[..., 0][inside] == 128).all()  # 50 on [0, 100] -> 127.5 -> 128
    fine = _png(_get(url.format(z=16, x=_tile_at(lon, lat, 16)[0], y=_tile_at(lon, lat, 16)[1])))
    assert set(np.unique(fine[..., 0]).tolist()) == {0, 255}


def test_tiles_outside_the_image_are_empty_and_bad_requests_are_errors(ee):
    url = ee.Image("TEST/landsat").getMapId({"bands": ["B4"], "min": 0, "max": 10000})["tile_fetcher"].url_format
    far = _png(_get(url.format(z=6, x=10, y=10)))
    assert (far[..., 3] == 0).all()
    with pytest.raises(urllib.error.HTTPError) as bad_zoom:
        _get(url.format(z=3, x=9, y=0))
    assert bad_zoom.value.code == 400
    assert "out of range" in json.loads(bad_zoom.value.read())["error"]["message"]
    unknown = url.split("/maps/")[0] + "/maps/0123abc/tiles/0/0/0?" + url.split("?", 1)[1]  # with the token
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(unknown)
    assert missing.value.code == 404


def test_map_creation_reports_bad_expressions(ee):
    with pytest.raises(ee.EEException, match="nope"):
        ee.Image("TEST/landsat").getMapId({"bands": ["nope"]})
