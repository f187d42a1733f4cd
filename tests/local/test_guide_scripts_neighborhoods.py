"""Neighbourhood operations from Earth Engine's guides ("Convolutions", "Morphological Operations", "Texture",
"Object-based methods", "Terrain"), run unchanged through the ``ee`` client on the demo catalog and compared with
scipy.ndimage / numpy computed from the catalog's COGs, including at the edges of the data (where the neighbourhood
reaches past the file and the missing pixels are left out, or mask the result)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

S2 = "COPERNICUS/S2_SR_HARMONIZED"
MONTH = "20210601"
BANDS = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12"]
DEM = "COPERNICUS/DEM/GLO30/SI_eolearn_33TVL"


def _read(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        t = ds.transform
        grid = {"crsCode": ds.crs.to_string(), "dimensions": {"width": ds.width, "height": ds.height},
                "affineTransform": {"scaleX": t.a, "shearX": t.b, "translateX": t.c, "shearY": t.d,
                                    "scaleY": t.e, "translateY": t.f}}
        return ds.read().astype(np.float64), grid


@pytest.fixture(scope="module")
def belgium(demo_catalog_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    data, grid = _read(demo_catalog_dir / S2 / f"{MONTH}_BE.tif")
    return dict(zip(BANDS, data, strict=True)), grid


def _pixels(ee, image, grid) -> np.ndarray:
    return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})


def _windows(values: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """(H, W, n) the values under the footprint's cells around every pixel, NaN past the array's edges."""
    kh, kw = footprint.shape
    padded = np.pad(values.astype(np.float64), ((kh // 2, kh // 2), (kw // 2, kw // 2)), constant_values=np.nan)
    return sliding_window_view(padded, (kh, kw))[..., footprint]


def _disc(radius: float) -> np.ndarray:
    r = int(np.floor(radius))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    return dx * dx + dy * dy <= radius * radius


def test_boxcar_smoothing_and_laplacian_edges(ee_local, belgium):
    ee = ee_local
    bands, grid = belgium
    image = ee.Image(f"{S2}/{MONTH}_BE").select("B8")
    # The guide's boxcar: a normalised square kernel (radius 3 here: the image is 100 pixels wide).
    smooth = _pixels(ee, image.convolve(ee.Kernel.square(radius=3, units="pixels", normalize=True)), grid)["B8"]
    want = ndimage.uniform_filter(bands["B8"], 7)
    np.testing.assert_allclose(smooth[3:-3, 3:-3], want[3:-3, 3:-3], rtol=1e-6)
    # Where the kernel reaches past the data the convolution is masked (computePixels writes 0 there).
    assert (smooth[:3] == 0).all() and (smooth[:, -3:] == 0).all()
    edges = _pixels(ee, image.convolve(ee.Kernel.laplacian8(normalize=False)), grid)["B8"]
    want = ndimage.correlate(bands["B8"], np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], float))
    np.testing.assert_allclose(edges[1:-1, 1:-1], want[1:-1, 1:-1], rtol=1e-6)


def test_fixed_kernel_neighbour_sum(ee_local, belgium):
    ee = ee_local
    bands, grid = belgium
    # The guide's 9 x 9 kernel of ones with a zero centre: the sum of the 80 neighbours.
    row, centre = [1] * 9, [1, 1, 1, 1, 0, 1, 1, 1, 1]
    kernel = ee.Kernel.fixed(9, 9, [row, row, row, row, centre, row, row, row, row], -4, -4, False)
    got = _pixels(ee, ee.Image(f"{S2}/{MONTH}_BE").select("B4").convolve(kernel), grid)["B4"]
    weights = np.ones((9, 9))
    weights[4, 4] = 0
    want = ndimage.correlate(bands["B4"], weights)
    np.testing.assert_allclose(got[4:-4, 4:-4], want[4:-4, 4:-4], rtol=1e-6)


def test_focal_filters_including_the_edges(ee_local, belgium):
    ee = ee_local
    bands, grid = belgium
    image = ee.Image(f"{S2}/{MONTH}_BE").select("B4")
    b4 = bands["B4"]
    square = np.ones((5, 5), bool)
    got = _pixels(ee, image.focalMean(2, "square"), grid)["B4"]
    np.testing.assert_allclose(got, np.nanmean(_windows(b4, square), axis=-1), rtol=1e-12)
    got = _pixels(ee, image.focal_max(radius=3, kernelType="circle"), grid)["B4"]
    np.testing.assert_array_equal(got, np.nanmax(_windows(b4, _disc(3)), axis=-1))
    got = _pixels(ee, image.focalMin(1.5), grid)["B4"]  # default: circle of radius 1.5 = 3 x 3
    np.testing.assert_array_equal(got, np.nanmin(_windows(b4, np.ones((3, 3), bool)), axis=-1))
    got = _pixels(ee, image.focalMedian(2, "diamond"), grid)["B4"]
    diamond = np.add.outer(np.abs(np.arange(-2, 3)), np.abs(np.arange(-2, 3))) <= 2
    np.testing.assert_allclose(got, np.nanmedian(_windows(b4, diamond), axis=-1), rtol=1e-12)
    classes = ee.Image(f"{S2}/{MONTH}_BE").select("B8").gt(2500).add(image.gt(500))
    got = _pixels(ee, classes.focalMode(1, "square"), grid)
    windows = _windows((bands["B8"] > 2500).astype(float) + (b4 > 500), np.ones((3, 3), bool))
    counts = np.stack([(windows == v).sum(axis=-1) for v in (0, 1, 2)])
    np.testing.assert_array_equal(got[got.dtype.names[0]], np.argmax(counts, axis=0))


def test_morphological_iterations(ee_local, belgium):
    ee = ee_local
    bands, grid = belgium
    # The guide's opening: focalMin then focalMax, each with a circle of radius 1 and 2 iterations.
    kernel = ee.Kernel.circle(radius=1)
    mask = ee.Image(f"{S2}/{MONTH}_BE").select("B8").gt(2800)
    opened = mask.focalMin(kernel=kernel, iterations=2).focalMax(kernel=kernel, iterations=2)
    got = _pixels(ee, opened, grid)["B8"]
    plus = _disc(1)
    step = (bands["B8"] > 2800).astype(float)
    for reduce in (np.nanmin, np.nanmin, np.nanmax, np.nanmax):
        step = reduce(_windows(step, plus), axis=-1)
    np.testing.assert_array_equal(got, step)


def test_texture_std_dev_and_entropy(ee_local, belgium):
    ee = ee_local
    bands, grid = belgium
    nir = ee.Image(f"{S2}/{MONTH}_BE").select("B8")
    texture = _pixels(ee, nir.reduceNeighborhood(reducer=ee.Reducer.stdDev(), kernel=ee.Kernel.square(2)), grid)
    assert texture.dtype.names == ("B8_stdDev",)
    np.testing.assert_allclose(texture["B8_stdDev"], np.nanstd(_windows(bands["B8"], np.ones((5, 5), bool)),
                                                               axis=-1), rtol=1e-9)
    # The guide's entropy of an 8-bit NIR in a square of radius 4.
    scaled = nir.divide(40).toByte()
    got = _pixels(ee, scaled.entropy(ee.Kernel.square(4)), grid)["B8"]
    quantized = np.clip(np.trunc(bands["B8"] / 40), 0, 255)
    windows = _windows(quantized, np.ones((9, 9), bool))

    def entropy(values: np.ndarray) -> float:
        values = values[~np.isnan(values)]
        _, counts = np.unique(values, return_counts=True)
        p = counts / counts.sum()
        return float(-(p * np.log2(p)).sum())

    want = np.array([[entropy(windows[r, c]) for c in range(0, 100, 7)] for r in range(0, 100, 7)])
    np.testing.assert_allclose(got[::7, ::7], want, rtol=1e-5, atol=1e-6)


def test_terrain_products(ee_local, demo_catalog_dir):
    ee = ee_local
    data, grid = _read(demo_catalog_dir / f"{DEM}.tif")
    z = data[0]
    got = _pixels(ee, ee.Terrain.products(ee.Image(DEM)), grid)
    assert got.dtype.names == ("DEM", "slope", "aspect", "hillshade") and got["hillshade"].dtype == np.uint8
    spacing_x, spacing_y = grid["affineTransform"]["scaleX"], -grid["affineTransform"]["scaleY"]
    dzdx = (z[1:-1, 2:] - z[1:-1, :-2]) / (2 * spacing_x)  # east minus west
    dzdy = (z[:-2, 1:-1] - z[2:, 1:-1]) / (2 * spacing_y)  # north minus south
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    aspect = np.where((dzdx == 0) & (dzdy == 0), 0, np.degrees(np.arctan2(-dzdx, -dzdy)) % 360)
    np.testing.assert_allclose(got["slope"][1:-1, 1:-1], slope, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["aspect"][1:-1, 1:-1], aspect, rtol=1e-5, atol=1e-4)
    zenith, azimuth = np.radians(45.0), np.radians(270.0)
    shade = 255 * (np.cos(zenith) * np.cos(np.radians(slope))
                   + np.sin(zenith) * np.sin(np.radians(slope)) * np.cos(azimuth - np.radians(aspect)))
    assert np.abs(got["hillshade"][1:-1, 1:-1] - np.clip(np.floor(shade + 0.5), 0, 255)).max() <= 1
    # "missing values will occur around the edges of an image": the outer ring is masked (0 in computePixels).
    assert (got["slope"][0] == 0).all() and (got["slope"][:, -1] == 0).all()
    np.testing.assert_array_equal(got["DEM"], z.astype(np.float32))
    hill = _pixels(ee, ee.Terrain.hillshade(ee.Image(DEM), 90, 30), grid)["hillshade"]
    shade = 255 * (np.cos(np.radians(60)) * np.cos(np.radians(slope)) + np.sin(np.radians(60))
                   * np.sin(np.radians(slope)) * np.cos(np.radians(90) - np.radians(aspect)))
    assert np.abs(hill[1:-1, 1:-1] - np.clip(np.floor(shade + 0.5), 0, 255)).max() <= 1


def test_connected_pixel_count_and_components(ee_local, belgium):
    ee = ee_local
    bands, grid = belgium
    bright = ee.Image(f"{S2}/{MONTH}_BE").select("B8").gt(3000)
    got = _pixels(ee, bright.connectedPixelCount(maxSize=50, eightConnected=False), grid)["B8"]
    mask = bands["B8"] > 3000
    for value in (True, False):
        labels, _ = ndimage.label(mask == value)
        sizes = np.bincount(labels.ravel())
        np.testing.assert_array_equal(got[mask == value], np.minimum(sizes[labels], 50)[mask == value])
    objects = _pixels(ee, bright.selfMask().connectedComponents(ee.Kernel.plus(1), 40).select("labels"), grid)
    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())
    small = mask & (sizes[labels] <= 40)
    got_labels = objects["labels"]
    # Same partition: one engine label per scipy object, distinct across objects; big objects are masked (0).
    for k in np.unique(labels[small]):
        assert len(np.unique(got_labels[labels == k])) == 1
    assert len(np.unique(got_labels[small])) == len(np.unique(labels[small]))
    assert (got_labels[mask & ~small] == 0).all()


def test_distance_transforms(ee_local, belgium):
    ee = ee_local
    bands, grid = belgium
    water_like = ee.Image(f"{S2}/{MONTH}_BE").select("B8").lt(1500)
    target = bands["B8"] < 1500
    squared = _pixels(ee, water_like.fastDistanceTransform(64), grid)["B8"]
    want = ndimage.distance_transform_edt(~target) ** 2
    near = want <= 64 ** 2  # "values for all pixels within the given neighborhood size"; masked (0) beyond
    np.testing.assert_allclose(squared[near], want[near], rtol=1e-6)
    assert (squared[~near] == 0).all() and near.mean() > 0.9
    metres = _pixels(ee, water_like.distance(ee.Kernel.euclidean(100, "meters")), grid)["B8"]
    want = ndimage.distance_transform_edt(~target) * 10.0  # 10 m pixels
    inside = want <= 100
    np.testing.assert_allclose(metres[inside], want[inside], rtol=1e-6)
    assert (metres[~inside] == 0).all()  # masked beyond the kernel's radius
