"""Representations from tables, arrays and (through the local engine) Earth Engine images."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aef_ee.errors import AefKeyError, AefValueError
from aef_ee.paths import data_dir
from aef_ee.evaluation.representations import expand_columns, from_array, from_ee_image, from_table, standardize_columns

ALPHAEARTH = data_dir() / "alphaearth_samples" / "alphaearth_s1_dw_samples_iowa_ag_2024.csv"


def test_from_table_reads_the_embedding_columns() -> None:
    raw = pd.read_csv(ALPHAEARTH)
    rep = from_table(ALPHAEARTH, "A00..A63", name="google")
    assert rep.feature_names == tuple(f"A{i:02d}" for i in range(64))
    np.testing.assert_array_equal(rep.values, raw[[f"A{i:02d}" for i in range(64)]].to_numpy())
    # The shipped vectors are unit-norm (see data/PROVENANCE.md).
    np.testing.assert_allclose(np.linalg.norm(rep.values, axis=1), 1.0, atol=0.01)


def test_column_specs() -> None:
    assert expand_columns("B1..B3, x", ["B1", "B2", "B3", "x"]) == ["B1", "B2", "B3", "x"]
    with pytest.raises(AefKeyError, match="A99"):
        expand_columns("A98..A99", ["A98"])


def test_standardize_fills_missing_with_the_mean() -> None:
    values = np.array([[1.0, 5.0, 2.0], [3.0, np.nan, 2.0], [5.0, 7.0, 2.0]])
    scaled, filled = standardize_columns(values)
    assert filled == 1
    np.testing.assert_allclose(scaled[:, 0], (values[:, 0] - 3) / np.std([1, 3, 5]))
    np.testing.assert_array_equal(scaled[:, 1], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(scaled[:, 2], 0.0)  # constant column


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(AefValueError, match="feature names"):
        from_array("r", np.zeros((3, 2)), feature_names=["a"])
    with pytest.raises(AefValueError, match="kind"):
        from_array("r", np.zeros((3, 2)), kind="other")


def test_from_ee_image_samples_at_the_points(ee_local) -> None:
    """Through the local engine (fixture ``ee_local`` of tests/conftest.py)."""
    ee = ee_local
    image = ee.Image.constant([1.5, -2.0]).rename(["a", "b"]).addBands(ee.Image.pixelLonLat())
    lons, lats = np.array([-93.60, -93.55, 14.5]), np.array([42.00, 42.05, 46.1])
    rep = from_ee_image(image, lons, lats, name="probe", scale=10, points_per_request=2)
    assert rep.feature_names == ("a", "b", "longitude", "latitude")
    np.testing.assert_array_equal(rep.values[:, :2], [[1.5, -2.0]] * 3)
    # pixelLonLat gives the pixel centre: within one 10 m pixel (1e-4 degrees) of the point.
    np.testing.assert_allclose(rep.values[:, 2], lons, atol=2e-4)
    np.testing.assert_allclose(rep.values[:, 3], lats, atol=2e-4)


def test_from_ee_image_reads_the_slovenia_median_composite(request: pytest.FixtureRequest) -> None:
    """Server-side median of the demo catalog's 5 Slovenia L1C scenes, sampled at pixel centres, equals numpy's.

    Requires the local engine (fixture ``ee_local``), whose demo catalog stores REFERENCE_SCENES.npy as
    ``COPERNICUS/S2_HARMONIZED`` (uint16 DN = round(reflectance x 1e4)) on the patch grid.
    """
    from pyproj import Transformer

    ee = request.getfixturevalue("ee_local")
    root = data_dir() / "eolearn_slovenia"
    bbox = json.loads((root / "TestEOPatch" / "bbox.geojson").read_text())
    xs, ys = [p[0] for p in bbox["coordinates"][0]], [p[1] for p in bbox["coordinates"][0]]
    rows, cols = np.array([0, 5, 50, 100, 37, 64]), np.array([0, 7, 50, 99, 81, 3])
    x = min(xs) + (cols + 0.5) * (max(xs) - min(xs)) / 100
    y = max(ys) - (rows + 0.5) * (max(ys) - min(ys)) / 101
    lons, lats = Transformer.from_crs(32633, 4326, always_xy=True).transform(x, y)
    scenes = ee.ImageCollection("COPERNICUS/S2_HARMONIZED").filterBounds(
        ee.Geometry.Point([float(lons[2]), float(lats[2])])
    )
    rep = from_ee_image(scenes.median(), lons, lats, name="s2_median", scale=None,
                        projection=ee.Image(scenes.first()).projection(), kind="baseline")  # fmt: skip
    dn = np.rint(np.load(root / "REFERENCE_SCENES.npy").astype(np.float64) * 1e4)
    np.testing.assert_array_equal(rep.values, np.median(dn, axis=0)[rows, cols])
    assert rep.feature_names[8] == "B8A"
