"""Image.reduceToVectors and FeatureCollection.reduceToImage on the local engine, checked against scipy labelling
and shapely geometry computed directly from the source rasters."""

from __future__ import annotations

import numpy as np
import pytest
from ml_testdata import (  # noqa: F401 - ee and ml_server are fixtures
    CRS,
    ORIGIN,
    PIXEL,
    ee,
    ml_server,
    pixels,
    scene_bands,
    zone_map,
)


def _components(eight: bool) -> list[tuple[int, np.ndarray]]:
    """(label, boolean region) of every connected region of equal zone, computed directly with scipy."""
    from scipy import ndimage

    zones = zone_map()
    structure = np.ones((3, 3)) if eight else None
    out = []
    for value in np.unique(zones):
        labelled, n = ndimage.label(zones == value, structure=structure)
        out += [(int(value), labelled == k) for k in range(1, n + 1)]
    return out


def _utm(geometry):
    """A shapely geometry in EPSG:4326 transformed to the scene's UTM zone."""
    import shapely

    from aef_ee.local.projection import transformer

    to_utm = transformer("EPSG:4326", CRS)
    return shapely.transform(geometry, lambda x, y: to_utm.transform(x, y), interleaved=False)


def _native(feature: dict):
    """The feature's geometry (GeoJSON, EPSG:4326) back in the scene's UTM zone."""
    from shapely.geometry import shape

    return _utm(shape(feature["geometry"]))


@pytest.mark.parametrize("eight", [True, False])
def test_polygons_and_counts(ee, eight):
    features = ee.Image("ML/zones").reduceToVectors(
        scale=PIXEL, crs=CRS, eightConnected=eight).getInfo()["features"]
    expected = _components(eight)
    assert len(features) == len(expected) == (4 if eight else 5)
    got = sorted((f["properties"]["label"], f["properties"]["count"]) for f in features)
    assert got == sorted((label, int(region.sum())) for label, region in expected)
    for f in features:
        # Polygons trace pixel edges: in the pixels' projection, area = count x 100 m^2.
        assert _native(f).area == pytest.approx(f["properties"]["count"] * PIXEL**2, rel=1e-6)


def test_geographic_output_bbox_and_centroid(ee):
    from shapely.geometry import Point, box, shape

    from aef_ee.local.projection import transformer

    image = ee.Image("ML/zones")
    to_utm = transformer("EPSG:4326", CRS)
    c = ORIGIN
    # Patch C: rows 20-25, cols 30-35 of zone 2.
    patch = box(c[0] + 30 * PIXEL, c[1] - 26 * PIXEL, c[0] + 36 * PIXEL, c[1] - 20 * PIXEL)

    def find(features):
        return next(f for f in features if f["properties"]["count"] == 36)

    polygon = shape(find(image.reduceToVectors(scale=PIXEL, crs=CRS).getInfo()["features"])["geometry"])
    utm = _utm(polygon)
    assert utm.symmetric_difference(patch).area < 1e-3
    bb = shape(find(image.reduceToVectors(scale=PIXEL, crs=CRS, geometryType="bb").getInfo()["features"])[
        "geometry"])
    assert _utm(bb).symmetric_difference(patch).area < 1e-3
    centroid = find(image.reduceToVectors(scale=PIXEL, crs=CRS, geometryType="centroid").getInfo()["features"])
    assert centroid["geometry"]["type"] == "Point"
    x, y = to_utm.transform(*centroid["geometry"]["coordinates"])
    assert Point(x, y).distance(patch.centroid) < 1e-4


def test_reducer_over_other_bands_and_label_property(ee):
    image = ee.Image("ML/zones").addBands(ee.Image("ML/scene").select("B1"))
    features = image.reduceToVectors(reducer=ee.Reducer.mean(), scale=PIXEL, crs=CRS, labelProperty="zone",
                                     geometryInNativeProjection=True).getInfo()["features"]
    b1 = scene_bands()[0].astype(np.float64)
    valid = np.ones(b1.shape, bool)
    valid[0, 0] = False  # nodata in the scene
    expected = sorted((label, float(b1[region & valid].mean())) for label, region in _components(True))
    got = sorted((f["properties"]["zone"], f["properties"]["mean"]) for f in features)
    assert [g[0] for g in got] == [e[0] for e in expected]
    np.testing.assert_allclose([g[1] for g in got], [e[1] for e in expected], rtol=1e-6)


def test_region_scale_and_limits(ee):
    image = ee.Image("ML/zones")
    c = ORIGIN
    region = ee.Geometry.Rectangle([c[0], c[1] - 15 * PIXEL, c[0] + 20 * PIXEL, c[1]], CRS, False)
    features = image.reduceToVectors(geometry=region, scale=PIXEL, crs=CRS).getInfo()["features"]
    counts = sorted((f["properties"]["label"], f["properties"]["count"]) for f in features)
    zones = zone_map()[:15, :20]
    assert counts == [(0, int((zones == 0).sum())), (1, int((zones == 1).sum()))]
    with pytest.raises(ee.EEException, match="Too many pixels in the region. Found 1200, but maxPixels allows only "
                                             "100"):
        image.reduceToVectors(scale=PIXEL, crs=CRS, maxPixels=100).getInfo()
    coarse = image.reduceToVectors(scale=PIXEL, crs=CRS, maxPixels=400, bestEffort=True).getInfo()["features"]
    assert 0 < sum(f["properties"]["count"] for f in coarse) <= 400
    native = image.reduceToVectors(crs=image.projection()).getInfo()["features"]  # the image's own grid
    assert sum(f["properties"]["count"] for f in native) == 1200 and len(native) == 4
    with pytest.raises(ee.EEException, match="integer type"):
        ee.Image("ML/scene").select("B1").reduceToVectors(scale=PIXEL, crs=CRS).getInfo()


def test_thresholded_similarity_to_polygons(ee):
    """The similarity-search tutorial's pattern: threshold a float map, selfMask, vectorise."""
    b1 = ee.Image("ML/scene").select("B1")
    mask = b1.gt(0.3).selfMask()
    features = mask.reduceToVectors(scale=PIXEL, crs=CRS, geometryInNativeProjection=True).getInfo()["features"]
    from scipy import ndimage

    hot = scene_bands()[0] > 0.3
    _, n = ndimage.label(hot, structure=np.ones((3, 3)))
    assert len(features) == n
    assert sum(f["properties"]["count"] for f in features) == int(hot.sum())
    assert {f["properties"]["label"] for f in features} == {1}


def test_reduce_to_image(ee):
    c = ORIGIN
    left = ee.Geometry.Rectangle([c[0], c[1] - 30 * PIXEL, c[0] + 20 * PIXEL, c[1]], CRS, False)
    right = ee.Geometry.Rectangle([c[0] + 10 * PIXEL, c[1] - 30 * PIXEL, c[0] + 40 * PIXEL, c[1]], CRS, False)
    fc = ee.FeatureCollection([ee.Feature(left, {"v": 2.0}), ee.Feature(right, {"v": 6.0})])
    image = fc.reduceToImage(["v"], ee.Reducer.mean())
    assert image.bandNames().getInfo() == ["mean"]
    got = pixels(ee, image.unmask(-1), "mean")
    expected = np.full((30, 40), 6.0)
    expected[:, :10] = 2.0
    expected[:, 10:20] = 4.0
    np.testing.assert_allclose(got, expected)
