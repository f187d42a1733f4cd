"""Image.classify on a 64-band embedding-like image vs the floor of reading it and predicting with scikit-learn.

The claim: classifying an image through the local engine (``ee.Image.classify`` with a trained kNN or random forest,
computed with ``ee.data.computePixels`` over HTTP) costs little beyond the work itself: reading the same pixels with
rasterio and calling the same scikit-learn model's ``predict`` on them, measured in the same run. Training happens
once (the fitted model is cached by its training data), so the engine's time is reading, predicting and encoding.

Run::

    python benchmarks/classify_image.py                 # 1024 x 1024 pixels, 64 float32 bands
    python benchmarks/classify_image.py --size 512      # a quick look

Prints, per classifier, the engine's time, the floor's time and their ratio; both results are checked equal.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

BANDS = 64
CLASSES = 5
TRAINING_SAMPLES = 1000
CRS = "EPSG:32631"
ORIGIN = (600000.0, 5700000.0)


def make_image(root: Path, size: int, seed: int = 0) -> np.ndarray:
    """Writes ``EMB/image`` (unit 64-vectors per pixel, tiled float32 GeoTIFF) into a catalog; returns the array."""
    import rasterio
    from rasterio.transform import from_origin

    from aef_ee.local.catalog import Catalog

    rng = np.random.default_rng(seed)
    data = rng.standard_normal((BANDS, size, size), dtype=np.float32)
    data /= np.linalg.norm(data, axis=0, keepdims=True)
    catalog = Catalog(root)
    catalog.create_container("EMB", "FOLDER")
    (root / "EMB").mkdir(parents=True, exist_ok=True)
    with rasterio.open(root / "EMB" / "image.tif", "w", driver="GTiff", width=size, height=size, count=BANDS,
                       dtype="float32", crs=CRS, transform=from_origin(*ORIGIN, 10, 10), tiled=True,
                       blockxsize=512, blockysize=512, interleave="pixel") as ds:
        ds.write(data)
    catalog.write_image("EMB/image", [{"id": f"A{i:02d}", "path": "image.tif", "band": i + 1,
                                       "data_type": "float32", "nodata": None} for i in range(BANDS)],
                        {"system:time_start": 1704067200000})
    return data


def write_training_table(root: Path, data: np.ndarray, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Writes ``EMB/training``: points at random pixel centres with the 64 values and a class ``c``.

    The training data lives in the catalog (as ``sampleRegions`` output would live on the server), so the timed
    requests do not include the client serialising a thousand 64-property features.
    """
    import json

    from aef_ee.local.catalog import Catalog
    from aef_ee.local.projection import transformer

    size = data.shape[1]
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, size, TRAINING_SAMPLES), rng.integers(0, size, TRAINING_SAMPLES)
    x = data[:, rows, cols].T.astype(np.float64)
    y = np.argmax(x @ rng.standard_normal((BANDS, CLASSES)), axis=1)
    lon, lat = transformer(CRS, "EPSG:4326").transform(ORIGIN[0] + 10 * (cols + 0.5), ORIGIN[1] - 10 * (rows + 0.5))
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(a), float(b)]},
                 "properties": {**{f"A{i:02d}": float(v) for i, v in enumerate(values)}, "c": int(label)}}
                for a, b, values, label in zip(lon, lat, x, y)]
    (root / "EMB" / "training.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    Catalog(root).write_table("EMB/training", "training.geojson")
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import ee
    import rasterio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    from aef_ee.backend import initialize
    from aef_ee.local.server import LocalServer

    root = Path(tempfile.mkdtemp(prefix="aef-ee-classify-bench-"))
    data = make_image(root, args.size)
    server = LocalServer(root).start()
    initialize("local", url=server.url)
    names = [f"A{i:02d}" for i in range(BANDS)]

    x, y = write_training_table(root, data)
    features = ee.FeatureCollection("EMB/training")
    grid = {"crsCode": CRS, "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": ORIGIN[0], "shearY": 0,
                                                "scaleY": -10, "translateY": ORIGIN[1]},
            "dimensions": {"width": args.size, "height": args.size}}
    cases = {
        "smileKNN(5)": (ee.Classifier.smileKNN(5), KNeighborsClassifier(5)),
        "smileRandomForest(20)": (ee.Classifier.smileRandomForest(20, seed=1),
                                  RandomForestClassifier(n_estimators=20, max_features=8, max_samples=0.5,
                                                         random_state=1, oob_score=True)),
    }
    print(f"{args.size} x {args.size} pixels, {BANDS} bands, {TRAINING_SAMPLES} training samples")
    for label, (classifier, reference) in cases.items():
        image = ee.Image("EMB/image").classify(classifier.train(features, "c", names))
        request = {"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid}
        ee.data.computePixels(request)  # warm: fits and caches the model, imports
        engine = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            got = ee.data.computePixels(request)["classification"]
            engine.append(time.perf_counter() - t0)
        reference.fit(x, y)
        floor = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with rasterio.open(root / "EMB" / "image.tif") as ds:
                pixels = ds.read().reshape(BANDS, -1).T.astype(np.float64)
            expected = reference.predict(pixels).reshape(args.size, args.size)
            floor.append(time.perf_counter() - t0)
        if not np.array_equal(got, expected):
            raise SystemExit(f"{label}: the engine's classes differ from scikit-learn's")
        e, f = min(engine), min(floor)
        print(f"{label:24s} engine {e:7.3f} s   floor {f:7.3f} s   ratio {e / f:5.2f}")
    server.stop()


if __name__ == "__main__":
    main()
