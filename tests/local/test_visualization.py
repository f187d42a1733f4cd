"""Visualization on the local engine: Image.visualize, REST VisualizationOptions, PNG/JPEG encoding, thumbnails and
download URLs, checked against numpy on the real Landsat 8 file in data/."""

from __future__ import annotations

import io
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from local_engine import connect, running_engine
from PIL import Image as PILImage

from aef_ee.local import rendering
from aef_ee.local.errors import InvalidArgument

LANDSAT = Path(__file__).resolve().parents[2] / "data/landsat8_brazil/LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
BANDS = ["B2", "B3", "B4"]  # blue, green, red DN, nodata 0 outside the scene
# A 40 x 30 pixel window on the edge of the scene: part data, part nodata collar.
WINDOW = (slice(190, 220), slice(560, 600))


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from aef_ee.local.catalog import Catalog

    root = tmp_path_factory.mktemp("vis-catalog")
    catalog = Catalog(root)
    catalog.create_container("TEST", "FOLDER")
    catalog.write_image("TEST/landsat", [
        {"id": b, "path": str(LANDSAT), "band": i + 1, "data_type": "uint16", "nodata": 0}
        for i, b in enumerate(BANDS)], {"system:time_start": 1589760000000})
    with running_engine(root, connect_client=False) as server:
        yield server


@pytest.fixture()
def ee(engine):
    import ee as ee_module

    connect(engine)
    return ee_module


@pytest.fixture(scope="module")
def source() -> tuple[np.ndarray, rasterio.Affine]:
    with rasterio.open(LANDSAT) as ds:
        return ds.read(), ds.transform


def _window_grid(transform) -> dict:
    rows, cols = WINDOW
    x0, y0 = _corner(transform, cols.start, rows.start)
    return {"crsCode": "EPSG:32621", "dimensions": {"width": cols.stop - cols.start, "height": rows.stop - rows.start},
            "affineTransform": {"scaleX": transform.a, "shearX": 0, "translateX": x0,
                                "shearY": 0, "scaleY": transform.e, "translateY": y0}}


def _corner(transform, col: int, row: int) -> tuple[float, float]:
    return transform.c + col * transform.a, transform.f + row * transform.e


def _png(data: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(data)))


def _stretch(v: np.ndarray, lo: float, hi: float, gamma: float = 1.0, top: float = 255.0) -> np.ndarray:
    t = np.clip((v.astype(np.float64) - lo) / (hi - lo), 0, 1)
    return top * t ** (1 / gamma)


# --- parsing and pixel math ---------------------------------------------------------------------------------

def test_colors_accept_css_names_and_hex_forms():
    assert rendering.parse_color("red") == (255, 0, 0)
    assert rendering.parse_color("blueviolet") == (138, 43, 226)
    assert rendering.parse_color("00FF00") == (0, 255, 0)
    assert rendering.parse_color("#0f0") == (0, 255, 0)
    assert rendering.parse_color("0x0000ff") == (0, 0, 255)
    assert rendering.parse_palette("000000,ffffff").tolist() == [[0, 0, 0], [255, 255, 255]]
    with pytest.raises(InvalidArgument, match="notacolor"):
        rendering.parse_color("notacolor")


def test_palette_interpolates_linearly_between_colors():
    palette = rendering.parse_palette(["black", "ff0000", "white"])
    pos = np.array([[0.0, 0.5, 1.0, 1.5, 2.0]])
    r, g, b = rendering.colorize(pos, palette)
    assert r.tolist() == [[0, 128, 255, 255, 255]]
    assert g.tolist() == [[0, 0, 0, 128, 255]]
    assert b.tolist() == g.tolist()


def test_gain_bias_is_the_min_max_map_the_client_derives():
    values = np.linspace(-50, 400, 91).reshape(7, 13)
    by_range = rendering.stretch(values, top=255, lo=20, hi=300, gamma=1.7)
    gain = 255 / (300 - 20)
    by_gain = rendering.stretch(values, top=255, gain=gain, bias=-20 * gain, gamma=1.7)
    np.testing.assert_allclose(by_range, by_gain, atol=1e-9)
    np.testing.assert_allclose(by_range, _stretch(values, 20, 300, 1.7), atol=1e-9)


def test_auto_format_is_jpeg_when_opaque_and_png_when_masked():
    v = np.full((4, 5), 200, np.uint8)
    full, none = np.ones((4, 5), bool), np.zeros((4, 5), bool)
    _, kind = rendering.encode_image([v, v, v], [full] * 3, "AUTO_JPEG_PNG")
    assert kind == "image/jpeg"
    data, kind = rendering.encode_image([v, v, v], [full, full, none], "AUTO_JPEG_PNG")
    assert kind == "image/png"
    assert (_png(data)[..., 3] == 0).all()


# --- through the real client --------------------------------------------------------------------------------

def test_visualize_rgb_with_per_band_ranges_and_gamma(ee, source):
    data, transform = source
    vis = ee.Image("TEST/landsat").visualize(bands=["B4", "B3", "B2"], min=[6000, 6500, 7000],
                                             max=[9000, 9500, 10000], gamma=1.6)
    assert vis.bandNames().getInfo() == ["vis-red", "vis-green", "vis-blue"]
    out = ee.data.computePixels({"expression": vis, "fileFormat": "NUMPY_NDARRAY", "grid": _window_grid(transform)})
    red, green, blue = (data[i][WINDOW] for i in (2, 1, 0))
    valid = (red > 0) & (green > 0) & (blue > 0)
    assert 0 < valid.sum() < valid.size
    for name, band, lo, hi in (("vis-red", red, 6000, 9000), ("vis-green", green, 6500, 9500),
                               ("vis-blue", blue, 7000, 10000)):
        expected = np.rint(_stretch(band, lo, hi, 1.6)).astype(np.uint8)
        np.testing.assert_array_equal(out[name][valid], expected[valid])
        assert (out[name][~valid] == 0).all()  # masked pixels carry computePixels' fill


def test_single_band_is_gray_unless_forced_to_rgb(ee):
    image = ee.Image("TEST/landsat")
    assert image.visualize(bands="B4", min=0, max=10000).bandNames().getInfo() == ["vis-gray"]
    forced = image.visualize(bands="B4", min=0, max=10000, forceRgbOutput=True)
    assert forced.bandNames().getInfo() == ["vis-red", "vis-green", "vis-blue"]


def test_png_of_palette_visualization_has_transparent_masked_pixels(ee, source):
    data, transform = source
    vis = ee.Image("TEST/landsat").select("B4").visualize(min=6000, max=9000, palette=["blue", "FFFF00", "#f00"])
    png = _png(ee.data.computePixels({"expression": vis, "fileFormat": "PNG", "grid": _window_grid(transform)}))
    red = data[2][WINDOW]
    valid = red > 0
    pos = _stretch(red, 6000, 9000, top=2.0)
    palette = np.array([[0, 0, 255], [255, 255, 0], [255, 0, 0]], float)
    i = np.minimum(pos.astype(int), 1)
    expected = np.rint(palette[i] + (palette[i + 1] - palette[i]) * (pos - i)[..., None]).astype(np.uint8)
    assert png.shape == red.shape + (4,)
    # Off by one at most where a position falls on a rounding boundary (float summation order).
    np.testing.assert_allclose(png[..., :3][valid], expected[valid], atol=1, rtol=0)
    assert (png[..., :3][valid] == expected[valid]).mean() > 0.99
    assert (png[..., 3][valid] == 255).all() and (png[..., 3][~valid] == 0).all()


def test_rest_visualization_options_match_image_visualize(ee, source):
    _, transform = source
    image = ee.Image("TEST/landsat").select("B3")
    rest = ee.data.computePixels({"expression": image, "fileFormat": "PNG", "grid": _window_grid(transform),
                                  "visualizationOptions": {"ranges": [{"min": 6500, "max": 9500}],
                                                           "paletteColors": ["black", "green"],
                                                           "gamma": {"value": 0.8}}})
    vis = image.visualize(min=6500, max=9500, palette=["black", "green"], gamma=0.8)
    direct = ee.data.computePixels({"expression": vis, "fileFormat": "PNG", "grid": _window_grid(transform)})
    np.testing.assert_array_equal(_png(rest), _png(direct))


def test_opacity_becomes_png_alpha(ee, source):
    _, transform = source
    vis = ee.Image("TEST/landsat").visualize(bands=["B4", "B3", "B2"], min=6000, max=9000, opacity=0.4)
    png = _png(ee.data.computePixels({"expression": vis, "fileFormat": "PNG", "grid": _window_grid(transform)}))
    assert set(np.unique(png[..., 3]).tolist()) == {0, 102}  # 0.4 * 255, and 0 where masked


def test_visualize_errors_reach_the_client(ee):
    image = ee.Image("TEST/landsat")
    with pytest.raises(ee.EEException, match="palette"):
        image.visualize(bands=["B4", "B3", "B2"], palette=["red", "blue"]).getInfo()
    with pytest.raises(ee.EEException, match="Gain and bias"):
        image.visualize(bands=["B4"], gain=2, min=0).getInfo()
    with pytest.raises(ee.EEException, match="1 or 3"):
        image.visualize(bands=["B4", "B3"]).getInfo()


def test_random_visualizer_gives_each_value_one_stable_color(ee, source):
    data, transform = source
    classes = ee.Image("TEST/landsat").select("B4").divide(1000).toInt()
    viz = classes.randomVisualizer()
    assert viz.bandNames().getInfo() == ["viz-red", "viz-green", "viz-blue", "B4"]
    out = ee.data.computePixels({"expression": viz, "fileFormat": "NUMPY_NDARRAY", "grid": _window_grid(transform)})
    expected_classes = (data[2][WINDOW] / 1000).astype(int)
    valid = data[2][WINDOW] > 0
    np.testing.assert_array_equal(out["B4"][valid], expected_classes[valid])
    colors = np.stack([out["viz-red"], out["viz-green"], out["viz-blue"]], -1)[valid]
    by_class = {}
    for value, color in zip(expected_classes[valid], map(tuple, colors)):
        assert by_class.setdefault(value, color) == color
    assert len(set(by_class.values())) == len(by_class) > 1


def test_thumbnail_url_renders_the_region_at_the_requested_size(ee, source):
    data, transform = source
    rows, cols = WINDOW
    x0, y0 = _corner(transform, cols.start, rows.start)
    x1, y1 = _corner(transform, cols.stop, rows.stop)
    region = ee.Geometry.Rectangle([x0, y1, x1, y0], proj="EPSG:32621", geodesic=False)
    url = ee.Image("TEST/landsat").getThumbURL(
        {"bands": ["B4", "B3", "B2"], "min": 6000, "max": 9000, "region": region, "dimensions": "40x30",
         "format": "png"})
    png = _png(urllib.request.urlopen(url).read())
    assert png.shape == (30, 40, 4)
    valid = (data[:, rows, cols] > 0).all(axis=0)
    for k, band in enumerate((2, 1, 0)):
        expected = np.rint(_stretch(data[band][WINDOW], 6000, 9000)).astype(np.uint8)
        np.testing.assert_array_equal(png[..., k][valid], expected[valid])
    assert (png[..., 3][~valid] == 0).all()


def test_download_url_zips_one_geotiff_per_band(ee, source):
    data, transform = source
    rows, cols = WINDOW
    x0, y0 = _corner(transform, cols.start, rows.start)
    x1, y1 = _corner(transform, cols.stop, rows.stop)
    region = ee.Geometry.Rectangle([x0, y1, x1, y0], proj="EPSG:32621", geodesic=False)
    url = ee.Image("TEST/landsat").getDownloadURL({"bands": ["B4", "B2"], "region": region, "scale": 30,
                                                   "name": "scene"})
    archive = zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(url).read()))
    assert sorted(archive.namelist()) == ["scene.B2.tif", "scene.B4.tif"]
    with rasterio.MemoryFile(archive.read("scene.B4.tif")) as memfile, memfile.open() as ds:
        assert ds.crs.to_epsg() == 32621
        assert ds.transform.a == 30 and ds.transform.e == -30
        assert (ds.transform.c, ds.transform.f) == (x0, y0)
        np.testing.assert_array_equal(ds.read(1), data[2][WINDOW])


def test_per_band_download_keeps_each_band_on_its_own_grid(ee, source):
    data, transform = source
    rows, cols = WINDOW
    x0, y0 = _corner(transform, cols.start, rows.start)
    x1, y1 = _corner(transform, cols.stop, rows.stop)
    region = ee.Geometry.Rectangle([x0, y1, x1, y0], proj="EPSG:32621", geodesic=False)
    url = ee.Image("TEST/landsat").getDownloadURL(
        {"bands": [{"id": "B4", "scale": 30}, {"id": "B3", "scale": 60}], "region": region, "name": "mixed"})
    archive = zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(url).read()))
    with rasterio.MemoryFile(archive.read("mixed.B4.tif")) as memfile, memfile.open() as ds:
        assert (ds.transform.a, ds.width, ds.height) == (30, 40, 30)
    with rasterio.MemoryFile(archive.read("mixed.B3.tif")) as memfile, memfile.open() as ds:
        assert (ds.transform.a, ds.width, ds.height) == (60, 20, 15)
        # nearest-neighbour sampling at 60 m takes the file pixel under each 60 m pixel's centre
        np.testing.assert_array_equal(ds.read(1), data[1][rows, cols][1::2, 1::2])
