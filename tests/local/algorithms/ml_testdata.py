"""A tiny catalog for the classifier, clusterer and vector tests, and helpers to build training features.

``ML/scene``: 3 float32 bands (B1, B2, B3), 40 x 30 pixels of 10 m in EPSG:32633, made of three spectrally distinct
zones with noise; pixel (row 0, col 0) is nodata (masked). ``ML/zones``: the uint8 zone map of the same grid with
two separate patches of zone 2 and a diagonal-only link, for ``reduceToVectors``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from local_engine import connect, running_engine

WIDTH, HEIGHT = 40, 30
ORIGIN = (500000.0, 5100000.0)  # UTM 33N, in Slovenia's zone
PIXEL = 10.0
CRS = "EPSG:32633"
NODATA = -9999.0
BANDS = ("B1", "B2", "B3")


def zone_map() -> np.ndarray:
    """(30, 40) uint8 zones 0, 1, 2: left third 0, right part 1, two square patches of 2 touching at a corner."""
    zones = np.zeros((HEIGHT, WIDTH), np.uint8)
    zones[:, 14:] = 1
    zones[5:10, 20:25] = 2
    zones[10:15, 25:30] = 2  # touches the first patch only diagonally at (9, 24) / (10, 25)
    zones[20:26, 30:36] = 2
    return zones


def scene_bands() -> np.ndarray:
    """(3, 30, 40) float32 reflectances: a distinct mean per zone plus seeded noise; (0, 0) is nodata."""
    means = np.array([[0.05, 0.30, 0.10], [0.20, 0.25, 0.30], [0.40, 0.10, 0.35]], np.float32)
    zones = zone_map()
    rng = np.random.default_rng(42)
    bands = means[zones].transpose(2, 0, 1) + rng.normal(0, 0.04, (3, HEIGHT, WIDTH)).astype(np.float32)
    bands[:, 0, 0] = NODATA
    return bands.astype(np.float32)


def build_catalog(root: Path) -> Path:
    """Writes ``ML/scene`` and ``ML/zones`` (GeoTIFFs plus manifests) under ``root``."""
    import rasterio
    from rasterio.transform import from_origin

    from aef_ee.local.catalog import Catalog

    catalog = Catalog(root)
    catalog.create_container("ML", "FOLDER")
    transform = from_origin(ORIGIN[0], ORIGIN[1], PIXEL, PIXEL)
    for name, data, dtype, nodata in (("scene", scene_bands(), "float32", NODATA),
                                      ("zones", zone_map()[None], "uint8", None)):
        path = root / "ML" / f"{name}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=data.shape[0], dtype=dtype,
                           crs=CRS, transform=transform, nodata=nodata) as ds:
            ds.write(data)
        names = BANDS if name == "scene" else ("zone",)
        catalog.write_image(f"ML/{name}", [
            {"id": b, "path": f"{name}.tif", "band": i + 1, "data_type": dtype, "nodata": nodata}
            for i, b in enumerate(names)], {"system:time_start": 1577836800000})
    return root


def sample_pixels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n distinct valid pixels: (rows, cols, zone labels) drawn with a seed."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(np.arange(1, WIDTH * HEIGHT), size=n, replace=False)  # pixel 0 is nodata
    rows, cols = np.divmod(flat, WIDTH)
    return rows, cols, zone_map()[rows, cols].astype(np.int64)


def training_features(ee, rows: np.ndarray, cols: np.ndarray, labels: np.ndarray, class_property: str = "zone"):
    """An ``ee.FeatureCollection`` of geometry-less features holding the scene's band values and the label."""
    bands = scene_bands()
    features = []
    for r, c, label in zip(rows, cols, labels):
        props = {b: float(bands[i, r, c]) for i, b in enumerate(BANDS)}
        props[class_property] = int(label)
        features.append(ee.Feature(None, props))
    return ee.FeatureCollection(features)


def grid_json() -> dict:
    """The scene's own pixel grid, as computePixels takes it."""
    return {"crsCode": CRS, "affineTransform": {"scaleX": PIXEL, "shearX": 0, "translateX": ORIGIN[0], "shearY": 0,
                                                "scaleY": -PIXEL, "translateY": ORIGIN[1]},
            "dimensions": {"width": WIDTH, "height": HEIGHT}}


def pixels(ee, image, band: str) -> np.ndarray:
    """One band of ``image`` computed on the scene's grid (H, W)."""
    return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid_json()})[band]


@pytest.fixture(scope="module")
def ml_server(tmp_path_factory):
    """A local engine serving this tiny catalog (its own server: the demo one keeps serving other tests)."""
    with running_engine(build_catalog(tmp_path_factory.mktemp("ml-catalog")), connect_client=False) as server:
        yield server


@pytest.fixture()
def ee(ml_server):
    """The ``ee`` module initialised against ``ml_server``."""
    import ee as ee_module

    connect(ml_server)
    return ee_module
