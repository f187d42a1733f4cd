"""Computing a pixel-wise expression at the source resolution and resampling the result (the tile fast path) gives
exactly what resampling the sources first gives, on map tiles and geographic grids, with NaN, inf and nodata."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import rasterio
from local_engine import connect, running_engine
from rasterio.transform import from_origin

from aef_ee.local.catalog import Catalog
from aef_ee.local.evaluator import evaluate
from aef_ee.local.projection import Grid, Projection
from aef_ee.local.tiles import tile_grid


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pixelwise")
    catalog = Catalog(root)
    rng = np.random.default_rng(11)
    data = rng.standard_normal((8, 300, 260)).astype(np.float32)
    data[:, :7, :9] = np.nan
    data[2, 50:60, 40:45] = np.inf
    data[3, 100:120, 200:230] = -9999.0
    path = root / "projects" / "local" / "assets" / "stack.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=260, height=300, count=8, dtype="float32",
                       crs="EPSG:32631", transform=from_origin(660000, 5620000, 10, 10), tiled=True) as ds:
        ds.write(data)
    catalog.write_image("projects/local/assets/stack", [
        {"id": f"b{i}", "path": "stack.tif", "band": i + 1, "data_type": "float32", "nodata": -9999.0}
        for i in range(8)], {})
    with running_engine(root, connect_client=False) as server:
        yield server


def _image(server, expression):
    import ee

    connect(server)
    return evaluate(ee.serializer.encode(expression(ee), for_cloud_api=True), server.context())


EXPRESSIONS = {
    "similarity": lambda ee: ee.Image("projects/local/assets/stack").multiply(
        ee.Image.constant([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8])).reduce(ee.Reducer.sum()),
    "selected bands": lambda ee: ee.Image("projects/local/assets/stack").select("b1").subtract(
        ee.Image("projects/local/assets/stack").select("b3")).abs().sqrt(),
}


def _grids():
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(661300, 5618500)
    grids = []
    for z in (15, 16, 17):
        n = 2**z
        x = int((lon + 180) / 360 * n)
        y = int((1 - np.log(np.tan(np.radians(lat)) + 1 / np.cos(np.radians(lat))) / np.pi) / 2 * n)
        grids.append(tile_grid(z, x, y))
    grids.append(Grid(Projection("EPSG:4326", (4e-5, 0, lon - 0.004, 0, -4e-5, lat + 0.003)), 200, 150))
    return grids


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_source_resolution_path_equals_resampling_first(engine, name):
    image = _image(engine, EXPRESSIONS[name])
    assert image.pixelwise is not None, "the expression should be marked pixel-wise"
    plain = copy.copy(image)
    plain.pixelwise = None
    for grid in _grids():
        fast = image.compute(grid)
        slow = plain.compute(grid)
        for (fv, fm), (sv, sm) in zip(fast, slow):
            fm, sm = np.broadcast_to(fm, grid.shape), np.broadcast_to(sm, grid.shape)
            np.testing.assert_array_equal(fm, sm)
            np.testing.assert_array_equal(np.where(fm, fv, 0), np.where(sm, sv, 0))
