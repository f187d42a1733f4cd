"""An embedding collection for the workflow tests, built from the real AlphaEarth sample vectors.

Two years (2023, 2024) of a 40 x 40 pixel field at 10 m in UTM 15N (Iowa), int8-quantised as the public dataset
stores it. Each quadrant holds one Dynamic World class; every pixel is a real 2024 embedding of that class drawn
from data/alphaearth_samples (Iowa). In 2024 the north-west quadrant (water in 2023) turns into built-up land.

A plain module (not a conftest) so that test packages under tests/aef_ee import the helpers by name
(``from embedding_field import pixels, region``); the fixtures live in tests/aef_ee/conftest.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.transform import from_origin

from aef_ee.fields.collection import EMBEDDING_BANDS, quantize_array
from aef_ee.local.catalog import Catalog
from aef_ee.local.server import LocalServer
from aef_ee.paths import data_dir

CRS = "EPSG:32615"
LEFT, TOP = 250000.0, 4640000.0
SIZE = 40
# Quadrant classes (Dynamic World labels): NW, NE, SW, SE.
CLASSES_2023 = {"nw": 0, "ne": 1, "sw": 4, "se": 6}
COLLECTION = "projects/local/assets/test_embeddings"


@dataclasses.dataclass
class EmbeddingField:
    root: Path
    server: LocalServer | None
    values: dict[int, np.ndarray]      # year -> (SIZE, SIZE, 64) float64 de-quantised values
    classes: dict[int, np.ndarray]     # year -> (SIZE, SIZE) int class per pixel
    codes: dict[int, np.ndarray]       # year -> (64, SIZE, SIZE) int8

    def lonlat(self, row: int, col: int) -> tuple[float, float]:
        from pyproj import Transformer

        t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
        return t.transform(LEFT + (col + 0.5) * 10, TOP - (row + 0.5) * 10)


def _quadrant_classes(year: int) -> np.ndarray:
    classes = np.empty((SIZE, SIZE), np.int64)
    h = SIZE // 2
    mapping = dict(CLASSES_2023)
    if year == 2024:
        mapping["nw"] = 6
    classes[:h, :h] = mapping["nw"]
    classes[:h, h:] = mapping["ne"]
    classes[h:, :h] = mapping["sw"]
    classes[h:, h:] = mapping["se"]
    return classes


def build_embedding_field(root: Path, *, collection: str = COLLECTION, serve: bool = True) -> EmbeddingField:
    """Writes the collection (asset ID ``collection``) under ``root`` and, with ``serve``, starts a LocalServer on
    it (the caller stops it; ``server`` is None otherwise)."""
    table = pd.read_csv(data_dir() / "alphaearth_samples" / "alphaearth_s1_dw_samples_iowa_ag_2024.csv")
    vectors = {c: table.loc[table.dw_label == c, EMBEDDING_BANDS].to_numpy(np.float64) for c in (0, 1, 4, 6)}
    rng = np.random.default_rng(2024)
    catalog = Catalog(root)
    catalog.create_container(collection, "IMAGE_COLLECTION",
                             {"description": "test embeddings from real AlphaEarth sample vectors"})
    values, classes, codes = {}, {}, {}
    picks = rng.integers(0, 80, (SIZE, SIZE))
    for year in (2023, 2024):
        cls = _quadrant_classes(year)
        field = np.stack([vectors[c][i] for c, i in zip(cls.ravel(), picks.ravel())]).reshape(SIZE, SIZE, 64)
        q = quantize_array(field).transpose(2, 0, 1)
        path = root.joinpath(*collection.split("/")) / f"tile_{year}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="COG", width=SIZE, height=SIZE, count=64, dtype="int8", nodata=-128,
                           crs=CRS, transform=from_origin(LEFT, TOP, 10, 10)) as ds:
            ds.write(q)
            for i, band in enumerate(EMBEDDING_BANDS, start=1):
                ds.set_band_description(i, band)
        catalog.write_image(f"{collection}/tile_{year}",
                            [{"id": b, "path": path.name, "band": i + 1, "data_type": "int8", "nodata": -128}
                             for i, b in enumerate(EMBEDDING_BANDS)],
                            {"system:time_start": int(pd.Timestamp(f"{year}-01-01", tz="UTC").value // 10**6),
                             "system:time_end": int(pd.Timestamp(f"{year + 1}-01-01", tz="UTC").value // 10**6),
                             "UTM_ZONE": "15N"})
        values[year] = field
        classes[year] = cls
        codes[year] = q
    server = LocalServer(root, settings={"drive_dir": str(root.parent / "drive")}).start() if serve else None
    return EmbeddingField(root, server, values, classes, codes)


def pixels(ee, image, band: str | None = None) -> np.ndarray:
    """computePixels of ``image`` on the field's own grid, as a structured array (or one band)."""
    grid = {"crsCode": CRS, "dimensions": {"width": SIZE, "height": SIZE},
            "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": LEFT,
                                "shearY": 0, "scaleY": -10, "translateY": TOP}}
    out = ee.data.computePixels({"expression": image, "grid": grid, "fileFormat": "NUMPY_NDARRAY"})
    return out[band] if band else out


def region(ee):
    return ee.Geometry.Rectangle([LEFT, TOP - SIZE * 10, LEFT + SIZE * 10, TOP], CRS, False)
