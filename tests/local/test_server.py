"""The local engine's HTTP surface, driven by the real earthengine-api client over HTTP on a small real catalog."""

from __future__ import annotations

import concurrent.futures
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import rasterio
from local_engine import auth_headers, connect, running_engine
from rasterio.transform import from_origin

from aef_ee.local.catalog import Catalog

CRS = "EPSG:32631"
ORIGIN = (600000.0, 5600000.0)


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory):
    """Three 3-band uint16 images (60 x 50 px at 10 m) with a nodata corner, and a 64-band float32 image."""
    root = tmp_path_factory.mktemp("catalog")
    catalog = Catalog(root)
    catalog.create_container("TEST", "FOLDER")
    catalog.create_container("TEST/COLL", "IMAGE_COLLECTION")
    rng = np.random.default_rng(0)
    arrays = []
    for i in range(3):
        data = rng.integers(1, 10000, (3, 50, 60)).astype(np.uint16)
        data[0, :5, :5] = 0
        arrays.append(data)
        path = root / "TEST" / "COLL" / f"img{i}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=60, height=50, count=3, dtype="uint16", crs=CRS,
                           transform=from_origin(*ORIGIN, 10, 10)) as ds:
            ds.write(data)
        catalog.write_image(
            f"TEST/COLL/img{i}",
            [{"id": b, "path": path.name, "band": j + 1, "data_type": "uint16", "nodata": 0}
             for j, b in enumerate(["B4", "B8", "B2"])],
            {"system:time_start": 1577836800000 + i * 30 * 86400000, "CLOUDY": i * 10},
        )
    emb = rng.standard_normal((64, 40, 30)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=0, keepdims=True)
    path = root / "TEST" / "emb.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30, height=40, count=64, dtype="float32", crs=CRS,
                       transform=from_origin(*ORIGIN, 10, 10)) as ds:
        ds.write(emb)
    catalog.write_image("TEST/emb", [{"id": f"A{k:02d}", "path": "emb.tif", "band": k + 1, "data_type": "float32"}
                                     for k in range(64)], {"system:time_start": 1704067200000})
    return root, arrays, emb


@pytest.fixture(scope="module")
def server(small_catalog):
    with running_engine(small_catalog[0], connect_client=False) as srv:
        yield srv


@pytest.fixture()
def ee(server):
    import ee as ee_module

    connect(server)
    return ee_module


def test_initialize_and_image_info(ee, small_catalog):
    info = ee.Image("TEST/COLL/img0").getInfo()
    assert info["type"] == "Image"
    assert [b["id"] for b in info["bands"]] == ["B4", "B8", "B2"]
    band = info["bands"][0]
    assert band["crs"] == CRS
    assert band["crs_transform"] == [10.0, 0.0, 600000.0, 0.0, -10.0, 5600000.0]
    assert band["dimensions"] == [60, 50]
    assert band["data_type"] == {"type": "PixelType", "precision": "int", "min": 0, "max": 65535}
    assert info["properties"]["CLOUDY"] == 0


def test_compute_pixels_npy_matches_numpy(ee, small_catalog):
    _, arrays, _ = small_catalog
    image = ee.Image("TEST/COLL/img1")
    nd = image.normalizedDifference(["B8", "B4"])
    px = ee.data.computePixels({"expression": nd, "fileFormat": "NUMPY_NDARRAY"})
    a = arrays[1].astype(np.float32)
    expected = (a[1] - a[0]) / (a[1] + a[0])
    assert px.shape == (50, 60)
    np.testing.assert_allclose(px["nd"][5:, 5:], expected[5:, 5:], rtol=1e-6)
    # The nodata corner of B4 is masked; Earth Engine fills masked pixels with 0 in NPY output.
    assert (px["nd"][:5, :5] == 0).all()


def test_compute_pixels_on_grid_in_another_crs(ee, small_catalog):
    """A grid in EPSG:4326: every output pixel takes the source pixel under its centre (nearest neighbour)."""
    _, arrays, _ = small_catalog
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    to_geo = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon0, lat0 = to_geo.transform(600100.0, 5599900.0)
    step = 0.0001
    grid = {"crsCode": "EPSG:4326", "dimensions": {"width": 20, "height": 15},
            "affineTransform": {"scaleX": step, "shearX": 0, "translateX": lon0,
                                "shearY": 0, "scaleY": -step, "translateY": lat0}}
    px = ee.data.computePixels({"expression": ee.Image("TEST/COLL/img0").select("B8"), "grid": grid,
                                "fileFormat": "NUMPY_NDARRAY"})
    cols, rows = np.meshgrid(np.arange(20) + 0.5, np.arange(15) + 0.5)
    x, y = to_utm.transform(lon0 + cols * step, lat0 - rows * step)
    c = np.floor((x - ORIGIN[0]) / 10).astype(int)
    r = np.floor((ORIGIN[1] - y) / 10).astype(int)
    np.testing.assert_array_equal(px["B8"], arrays[0][1][r, c])


def test_geotiff_output_has_grid_and_values(ee, small_catalog, tmp_path):
    _, arrays, _ = small_catalog
    grid = {"crsCode": CRS, "dimensions": {"width": 20, "height": 10},
            "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": 600100,
                                "shearY": 0, "scaleY": -10, "translateY": 5599800}}
    data = ee.data.computePixels({"expression": ee.Image("TEST/COLL/img2").select(["B2", "B8"]),
                                  "grid": grid, "fileFormat": "GEO_TIFF"})
    path = tmp_path / "out.tif"
    path.write_bytes(data)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32631
        assert tuple(ds.transform)[:6] == (10.0, 0.0, 600100.0, 0.0, -10.0, 5599800.0)
        assert ds.descriptions == ("B2", "B8")
        np.testing.assert_array_equal(ds.read(1), arrays[2][2][20:30, 10:30])


def test_similarity_expression(ee, small_catalog):
    """The embedding workflow's core: dot product of every pixel with a reference vector."""
    _, _, emb = small_catalog
    ref = emb[:, 7, 9]
    image = ee.Image("TEST/emb")
    sim = image.multiply(ee.Image.constant(ref.tolist())).reduce(ee.Reducer.sum())
    px = ee.data.computePixels({"expression": sim, "fileFormat": "NUMPY_NDARRAY"})
    expected = np.einsum("chw,c->hw", emb, ref)
    np.testing.assert_allclose(px["sum"], expected, rtol=1e-5, atol=1e-6)
    assert abs(px["sum"][7, 9] - 1.0) < 1e-5


def test_errors_have_earth_engine_shape_and_server_survives(ee, server):
    image = ee.Image("TEST/COLL/img0")
    with pytest.raises(ee.EEException, match="Pattern 'nope' did not match any bands"):
        image.select("nope").getInfo()
    with pytest.raises(ee.EEException, match="not found|does not exist"):
        ee.Image("TEST/NOPE").getInfo()
    with pytest.raises(ee.EEException, match="not implemented by the local Earth Engine"):
        ee.Image("TEST/COLL/img0").rsedTransform().getInfo()
    with pytest.raises(ee.EEException, match="Total request size"):
        big = {"crsCode": CRS, "dimensions": {"width": 8000, "height": 8000},
               "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": 600000,
                                   "shearY": 0, "scaleY": -10, "translateY": 5600000}}
        ee.data.computePixels({"expression": ee.Image("TEST/emb"), "grid": big, "fileFormat": "NPY"})
    # Malformed requests straight over HTTP get the JSON error body.
    request = urllib.request.Request(f"{server.url}/v1/projects/local/value:compute", data=b"{not json",
                                     headers=auth_headers(server, **{"Content-Type": "application/json"}),
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    body = json.loads(info.value.read())
    assert info.value.code == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert "Invalid JSON payload" in body["error"]["message"]
    request = urllib.request.Request(f"{server.url}/v1/projects/local/value:compute",
                                     data=json.dumps({"expression": {"result": "0", "values": {}}}).encode(),
                                     headers=auth_headers(server, **{"Content-Type": "application/json"}),
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert "undefined value" in json.loads(info.value.read())["error"]["message"]
    # ... and the next request is answered correctly.
    assert image.bandNames().getInfo() == ["B4", "B8", "B2"]


def test_asset_ids_cannot_leave_the_catalog(ee):
    for bad in ["../../etc/passwd", "TEST/../../x", "/etc/passwd", "TEST/%2e%2e/x"]:
        with pytest.raises(ee.EEException):
            ee.data.getAsset(bad)


def test_concurrent_requests(ee, small_catalog):
    _, arrays, _ = small_catalog
    image = ee.Image("TEST/COLL/img0")

    def fetch(k: int):
        px = ee.data.computePixels({"expression": image.select("B8").add(k), "fileFormat": "NUMPY_NDARRAY"})
        return k, px["B8"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fetch, range(16)))
    for k, values in results:
        np.testing.assert_array_equal(values, arrays[0][1].astype(np.int64) + k)


def test_assets_endpoints(ee, small_catalog):
    _, arrays, _ = small_catalog
    asset = ee.data.getAsset("TEST/COLL/img1")
    assert asset["type"] == "IMAGE"
    assert asset["startTime"] == "2020-01-31T00:00:00.000Z"
    children = ee.data.listAssets({"parent": "projects/earthengine-public/assets/TEST/COLL"})["assets"]
    assert [a["id"] for a in children] == ["TEST/COLL/img0", "TEST/COLL/img1", "TEST/COLL/img2"]
    images = ee.data.listImages({"parent": "TEST/COLL", "startTime": "2020-01-15T00:00:00Z"})["images"]
    assert [a["id"] for a in images] == ["TEST/COLL/img1", "TEST/COLL/img2"]
    px = ee.data.getPixels({"assetId": "TEST/COLL/img2", "fileFormat": "NUMPY_NDARRAY", "bandIds": ["B8"]})
    np.testing.assert_array_equal(px["B8"], arrays[2][1])


def test_user_function_and_closure_caching(ee, small_catalog):
    """A Python function mapped over a list arrives as functionDefinitionValue and is called per element."""
    _, arrays, _ = small_catalog
    image = ee.Image("TEST/COLL/img0")
    out = ee.List([1, 2, 3]).map(lambda k: image.select("B8").add(ee.Number(k)).bandNames().get(0)).getInfo()
    assert out == ["B8", "B8", "B8"]
    # A value computed inside the function from its argument differs per call (not cached across calls).
    sums = ee.List([1, 2, 3]).map(lambda k: ee.Number(k).multiply(10).add(image.select("B8").bandNames().size()))
    assert sums.getInfo() == [11, 21, 31]


def test_image_arithmetic_types_and_masks(ee, small_catalog):
    _, arrays, _ = small_catalog
    image = ee.Image("TEST/COLL/img0")
    types = image.add(image).bandTypes().getInfo()
    assert types["B4"] == {"type": "PixelType", "precision": "int", "min": 0, "max": 131070}
    scaled = image.select("B4").multiply(0.0001).updateMask(image.select("B8").gt(5000))
    px = ee.data.computePixels({"expression": scaled.unmask(-1), "fileFormat": "NUMPY_NDARRAY"})
    b4 = arrays[0][0].astype(np.float64) * 0.0001
    valid = (arrays[0][1] > 5000) & (arrays[0][0] != 0)
    np.testing.assert_allclose(px["B4"], np.where(valid, b4, -1), rtol=1e-6)
    where = image.select("B2").where(image.select("B8").lt(3000), 7)
    px = ee.data.computePixels({"expression": where, "fileFormat": "NUMPY_NDARRAY"})
    np.testing.assert_array_equal(px["B2"], np.where(arrays[0][1] < 3000, 7, arrays[0][2]))
