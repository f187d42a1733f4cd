"""Vector drawing on the local engine (Collection.style / draw, Image.paint, Image.blend, geemap vector layers),
checked with shapely distances on the real Landsat 8 training polygons and points in data/."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from local_engine import connect, running_engine
from PIL import Image as PILImage

from aef_ee.local import drawing, tiles
from aef_ee.local.errors import Unimplemented

DATA = Path(__file__).resolve().parents[2] / "data/landsat8_brazil"
POLYGONS = DATA / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
POINTS = DATA / "LC08_L1TP_224078_20200518_20200518_01_RT_points.gpkg"
UTM = "EPSG:32621"
PIXEL = 10.0  # metres; the polygons are a few hundred metres across


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with running_engine(tmp_path_factory.mktemp("drawing-catalog"), connect_client=False) as server:
        yield server


@pytest.fixture()
def ee(engine):
    import ee as ee_module

    connect(engine)
    return ee_module


@pytest.fixture(scope="module")
def shapes():
    import geopandas as gpd

    return gpd.read_file(POLYGONS).to_crs(4326), gpd.read_file(POINTS).to_crs(4326)


def _collection(ee, frame, **extra):
    features = []
    for i, row in enumerate(frame.itertuples()):
        geometry = json.loads(frame.iloc[[i]].geometry.to_json())["features"][0]["geometry"]
        features.append(ee.Feature(ee.Geometry(geometry), {"name": row.name, "value": i + 1, **extra}))
    return ee.FeatureCollection(features)


def _grid_around(shape_utm, margin: float = 100.0) -> dict:
    xmin, ymin, xmax, ymax = shape_utm.bounds
    x0, y0 = np.floor((xmin - margin) / PIXEL) * PIXEL, np.ceil((ymax + margin) / PIXEL) * PIXEL
    width = int(np.ceil((xmax + margin - x0) / PIXEL))
    height = int(np.ceil((y0 - (ymin - margin)) / PIXEL))
    return {"crsCode": UTM, "dimensions": {"width": width, "height": height},
            "affineTransform": {"scaleX": PIXEL, "shearX": 0, "translateX": x0, "shearY": 0, "scaleY": -PIXEL,
                                "translateY": y0}}


def _distances(shape_utm, grid: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel centre: inside the shape, and distance to its boundary in pixels."""
    import shapely

    t, d = grid["affineTransform"], grid["dimensions"]
    xs = t["translateX"] + PIXEL * (np.arange(d["width"]) + 0.5)
    ys = t["translateY"] - PIXEL * (np.arange(d["height"]) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    points = shapely.points(gx, gy)
    return shapely.contains(shape_utm, points), shapely.distance(shape_utm.boundary, points) / PIXEL


def _png(data: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(data)).convert("RGBA"))


def _utm(frame):
    return frame.to_crs(UTM).geometry


def test_rgba_colors_and_unsupported_styles():
    assert drawing.parse_rgba("FF000088") == (255, 0, 0, 136)
    assert drawing.parse_rgba("teal") == (0, 128, 128, 255)
    assert drawing.MarkStyle(color=(10, 20, 30, 200)).fill_color == (10, 20, 30, 132)
    with pytest.raises(Unimplemented, match="pentagram"):
        drawing.MarkStyle(point_shape="pentagram")


def test_style_fills_polygons_and_strokes_their_outlines(ee, shapes):
    polygons, _ = shapes
    styled = _collection(ee, polygons).style(color="blue", fillColor="yellow", width=2)
    crop = _utm(polygons).iloc[1]
    grid = _grid_around(crop)
    png = _png(ee.data.computePixels({"expression": styled, "fileFormat": "PNG", "grid": grid}))
    inside, distance = _distances(crop, grid)
    deep_inside = inside & (distance > 1.5)
    on_outline = distance < 0.5
    far_outside = ~inside & (distance > 1.5)
    assert deep_inside.sum() > 100 and on_outline.sum() > 20
    assert (png[deep_inside] == [255, 255, 0, 255]).all()
    assert (png[on_outline] == [0, 0, 255, 255]).all()
    # Other polygons may lie inside this grid's margin: look only where no polygon is near.
    others = [_distances(p, grid) for k, p in enumerate(_utm(polygons)) if k != 1]
    clear = far_outside & np.logical_and.reduce([~i & (d > 1.5) for i, d in others])
    assert clear.sum() > 100 and (png[clear][:, 3] == 0).all()


def test_style_draws_point_markers_of_the_given_size(ee, shapes):
    _, points = shapes
    styled = _collection(ee, points).style(color="red", pointSize=6, width=0, fillColor="red")
    point = _utm(points).iloc[0]
    grid = _grid_around(point.buffer(1), margin=100)
    png = _png(ee.data.computePixels({"expression": styled, "fileFormat": "PNG", "grid": grid}))
    _, distance = _distances(point.buffer(1e-6), grid)  # distance to the point, in pixels
    assert (png[distance < 2.5] == [255, 0, 0, 255]).all()  # marker radius: 3 pixels
    assert (png[(distance > 3.6) & (distance < 8)][:, 3] == 0).all()


def test_paint_burns_property_values_and_outlines(ee, shapes):
    polygons, _ = shapes
    fc = _collection(ee, polygons)
    crop = _utm(polygons).iloc[1]
    grid = _grid_around(crop)
    filled = ee.data.computePixels({"expression": ee.Image(0).toByte().paint(fc, "value"), "grid": grid,
                                    "fileFormat": "NUMPY_NDARRAY"})["constant"]
    inside, distance = _distances(crop, grid)
    assert (filled[inside] == 2).all()  # the crop polygon is the second feature: value 2
    outlined = ee.Image().paint(fc, 9, 3)
    assert outlined.bandTypes().getInfo()["constant"]["max"] == 9
    png = _png(ee.data.computePixels({"expression": outlined.visualize(min=0, max=9), "fileFormat": "PNG",
                                      "grid": grid}))
    assert (png[distance < 1.0] == [255, 255, 255, 255]).all()
    assert (png[inside & (distance > 2.5)][:, 3] == 0).all()  # ee.Image() is masked; only outlines are painted


def test_blend_puts_the_unmasked_top_over_the_bottom(ee, shapes):
    polygons, _ = shapes
    crop = _utm(polygons).iloc[1]
    grid = _grid_around(crop)
    lat = ee.Image.pixelLonLat().select("latitude")
    top = ee.Image(1000).updateMask(lat.lt(-25.2805)).rename("v")
    blended = ee.Image(5).rename("v").blend(top)
    got = ee.data.computePixels({"expression": blended, "grid": grid, "fileFormat": "NUMPY_NDARRAY"})["v"]
    lat_px = ee.data.computePixels({"expression": lat, "grid": grid, "fileFormat": "NUMPY_NDARRAY"})["latitude"]
    assert 0 < (lat_px < -25.2805).mean() < 1
    np.testing.assert_array_equal(got, np.where(lat_px < -25.2805, 1000, 5))


def test_geemap_vector_layer_draws_near_the_polygons_only(ee, shapes):
    import geemap

    polygons, _ = shapes
    m = geemap.Map()
    m.add_layer(_collection(ee, polygons), {"color": "ff0000"}, "polygons")
    url = m.layers[-1].url
    crop = polygons.geometry.iloc[1]
    z = 15
    x, y = tiles.tiles_covering(tuple(crop.representative_point().coords[0]) * 2, z)[0]
    tile = _png(urllib.request.urlopen(url.format(z=z, x=x, y=y), timeout=60).read())
    drawn = tile[..., 3] > 0
    assert drawn.mean() > 0.01
    assert (tile[drawn][:, :3] == [255, 0, 0]).all()
    grid = tiles.tile_grid(z, x, y)
    from aef_ee.local.values import Geometry

    mercator = [Geometry(p).in_crs("EPSG:3857") for p in polygons.geometry]
    import shapely

    cx, cy = grid.pixel_centers()
    centres = shapely.points(cx, cy)
    pixel = grid.transform[0]
    near = np.logical_or.reduce([shapely.distance(p, centres) < 2 * pixel for p in mercator])
    assert not (drawn & ~near).any()


def _check_tables(csv_bytes: bytes, geojson_bytes: bytes, polygons) -> None:
    import geopandas as gpd
    import pandas as pd

    table = pd.read_csv(io.BytesIO(csv_bytes))
    assert list(table.columns) == ["system:index", "name", "value", ".geo"]
    assert table["name"].tolist() == polygons["name"].tolist() and table["value"].tolist() == [1, 2, 3, 4]
    frame = gpd.read_file(io.BytesIO(geojson_bytes))
    assert frame["name"].tolist() == polygons["name"].tolist()
    np.testing.assert_allclose(frame.to_crs(UTM).area, polygons.to_crs(UTM).area, rtol=1e-9)


def test_table_download_endpoints_give_csv_and_geojson(ee, engine, shapes):
    """tables.create + getFeatures over plain HTTP, in the shapes the client sends."""
    polygons, _ = shapes
    expression = ee.serializer.encode(_collection(ee, polygons), for_cloud_api=True)

    def download(fmt: str, selectors):
        body = json.dumps({"expression": expression, "fileFormat": fmt, "selectors": selectors, "filename": "t"})
        request = urllib.request.Request(f"{engine.url}/v1/projects/local/tables", data=body.encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {engine.token}"}, method="POST")
        name = json.loads(urllib.request.urlopen(request, timeout=60).read())["name"]
        return urllib.request.urlopen(f"{engine.url}/v1/{name}:getFeatures", timeout=60).read()

    _check_tables(download("CSV", ["name", "value"]), download("GEO_JSON", None), polygons)


def test_feature_collection_download_url_through_the_client(ee, shapes):
    polygons, _ = shapes
    fc = _collection(ee, polygons)
    csv_url = fc.getDownloadURL(filetype="CSV", selectors=["name", "value"], filename="training")
    geojson_url = fc.getDownloadURL(filetype="GEO_JSON")
    _check_tables(urllib.request.urlopen(csv_url, timeout=60).read(),
                  urllib.request.urlopen(geojson_url, timeout=60).read(), polygons)
