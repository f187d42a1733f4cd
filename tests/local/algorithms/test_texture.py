"""``Image.glcmTexture`` through the real client on a small integer GeoTIFF: values worked out by hand on one window,
and every metric against a GLCM built cell by cell (an explicit symmetric matrix and the textbook formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from local_engine import connect, running_engine, write_band_image


CRS = "EPSG:32631"
X0, Y0 = 600000.0, 5600000.0
# A 6 x 7 image of grey levels 0..3; the 3x3 window around row 1, column 1 is the hand-worked one below.
LEVELS = np.array([[0, 0, 1, 3, 2, 2, 0],
                   [0, 0, 1, 3, 1, 0, 1],
                   [0, 2, 2, 1, 0, 0, 3],
                   [3, 1, 0, 0, 2, 3, 3],
                   [1, 1, 2, 0, 3, 1, 0],
                   [2, 0, 0, 1, 1, 2, 2]], np.uint8)
GRID = {"crsCode": CRS, "dimensions": {"width": 7, "height": 6},
        "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": X0, "shearY": 0, "scaleY": -10,
                            "translateY": Y0}}
METRICS = ("asm", "contrast", "corr", "var", "idm", "savg", "svar", "sent", "ent", "dvar", "dent", "imcorr1",
           "imcorr2", "maxcorr", "diss", "inertia", "shade", "prom")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("texture-catalog")
    write_band_image(root, "T/levels", LEVELS, band="g", crs=CRS, origin=(X0, Y0))
    with running_engine(root, connect_client=False) as srv:
        yield srv


@pytest.fixture()
def ee(server):
    import ee as ee_module

    connect(server)
    return ee_module


def _pixels(ee, image) -> np.ndarray:
    return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": GRID})


def test_one_window_worked_by_hand(ee):
    # Only the horizontal GLCM (the kernel's west cell). Around row 1, column 1 the window is
    #   0 0 1 / 0 0 1 / 0 2 2: pairs (0,0) (0,1) (0,0) (0,1) (0,2) (2,2), each counted both ways (12 entries):
    #   p(0,0) = 4/12, p(0,1) = p(1,0) = 2/12, p(0,2) = p(2,0) = 1/12, p(2,2) = 2/12.
    west = ee.Kernel.fixed(3, 3, [[0, 0, 0], [1, 0, 0], [0, 0, 0]])
    px = _pixels(ee, ee.Image("T/levels").glcmTexture(size=1, kernel=west))
    assert px.dtype.names[:3] == ("g_asm", "g_contrast", "g_corr") and len(px.dtype.names) == 18
    at = {m: float(px[f"g_{m}"][1, 1]) for m in METRICS}
    assert at["asm"] == pytest.approx((4**2 + 2 * 2**2 + 2 * 1**2 + 2**2) / 144)  # 30/144
    assert at["contrast"] == pytest.approx(1 * 4 / 12 + 4 * 2 / 12)  # 1
    assert at["inertia"] == at["contrast"]
    assert at["diss"] == pytest.approx(1 * 4 / 12 + 2 * 2 / 12)  # 2/3
    assert at["idm"] == pytest.approx(4 / 12 + 0.5 * 4 / 12 + 0.2 * 2 / 12 + 2 / 12)  # 0.7
    assert at["savg"] == pytest.approx((0 + 1 + 0 + 1 + 2 + 4) / 6)  # mean of i + j: 4/3
    # Marginal: 0 x 7, 1 x 2, 2 x 3 of 12: mean 2/3, variance 14/12 - 4/9 = 13/18; E[ij] = 4 * 2/12 = 2/3.
    assert at["var"] == pytest.approx(13 / 18)
    assert at["corr"] == pytest.approx((2 / 3 - 4 / 9) / (13 / 18))  # 4/13
    ent = -sum(c / 12 * math.log(c / 12) for c in (4, 2, 2, 1, 1, 2))
    assert at["ent"] == pytest.approx(ent)
    assert at["maxcorr"] == 0


def _glcm(window: np.ndarray, d: tuple[int, int]) -> np.ndarray:
    """The normalised symmetric GLCM (4 x 4) of a window for offset d = (dx, dy), counted cell by cell."""
    counts = np.zeros((4, 4))
    rows, cols = window.shape
    for r in range(rows):
        for c in range(cols):
            r2, c2 = r + d[1], c + d[0]
            if 0 <= r2 < rows and 0 <= c2 < cols:
                i, j = window[r, c], window[r2, c2]
                counts[i, j] += 1
                counts[j, i] += 1
    return counts / counts.sum()


def _features(p: np.ndarray) -> dict[str, float]:
    """Haralick's f1-f13 and Conners' four from a GLCM, written from the matrix as in the papers."""
    n = p.shape[0]
    i, j = np.indices(p.shape)
    px = p.sum(axis=1)
    levels = np.arange(n)
    mu = (levels * px).sum()
    sigma2 = ((levels - mu) ** 2 * px).sum()
    p_sum = np.array([p[i + j == k].sum() for k in range(2 * n - 1)])
    p_diff = np.array([p[np.abs(i - j) == k].sum() for k in range(n)])

    def h(q):
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    savg = (np.arange(2 * n - 1) * p_sum).sum()
    dmean = (levels * p_diff).sum()
    hxy, hx = h(p.ravel()), h(px)
    outer = np.outer(px, px)
    hxy1 = float(-(p[outer > 0] * np.log(outer[outer > 0])).sum())
    hxy2 = h(outer.ravel())
    return {
        "asm": (p ** 2).sum(), "contrast": ((i - j) ** 2 * p).sum(),
        "corr": ((i * j * p).sum() - mu * mu) / sigma2 if sigma2 > 0 else 1.0,
        "var": sigma2, "idm": (p / (1 + (i - j) ** 2)).sum(), "savg": savg,
        "svar": ((np.arange(2 * n - 1) - savg) ** 2 * p_sum).sum(), "sent": h(p_sum), "ent": hxy,
        "dvar": ((levels - dmean) ** 2 * p_diff).sum(), "dent": h(p_diff),
        "imcorr1": (hxy - hxy1) / hx if hx > 0 else 0.0,
        "imcorr2": math.sqrt(max(0.0, 1 - math.exp(-2 * (hxy2 - hxy)))),
        "maxcorr": 0.0, "diss": (np.abs(i - j) * p).sum(), "inertia": ((i - j) ** 2 * p).sum(),
        "shade": ((i + j - 2 * mu) ** 3 * p).sum(), "prom": ((i + j - 2 * mu) ** 4 * p).sum(),
    }


def test_every_metric_matches_the_explicit_glcm_averaged_over_the_four_directions(ee):
    px = _pixels(ee, ee.Image("T/levels").glcmTexture())  # size 1, the default four offsets, averaged
    for r, c in ((1, 1), (2, 3), (3, 4), (4, 5), (2, 2)):
        window = LEVELS[r - 1:r + 2, c - 1:c + 2].astype(int)
        per_direction = [_features(_glcm(window, d)) for d in ((-1, -1), (0, -1), (1, -1), (-1, 0))]
        for m in METRICS:
            want = np.mean([f[m] for f in per_direction])
            assert float(px[f"g_{m}"][r, c]) == pytest.approx(want, rel=1e-5, abs=1e-6), (m, r, c)


def test_directions_unaveraged_size_two_and_the_edges(ee):
    image = ee.Image("T/levels")
    px = _pixels(ee, image.glcmTexture(size=2, average=False))
    assert len(px.dtype.names) == 4 * 18
    assert px.dtype.names[:2] == ("g_asm_-1_-1", "g_contrast_-1_-1")
    window = LEVELS[0:5, 1:6].astype(int)
    for d in ((-1, -1), (0, -1), (1, -1), (-1, 0)):
        want = _features(_glcm(window, d))
        for m in ("asm", "contrast", "ent", "corr", "savg"):
            assert float(px[f"g_{m}_{d[0]}_{d[1]}"][2, 3]) == pytest.approx(want[m], rel=1e-5, abs=1e-6)
    # At the image's corner the window holds only the pixels inside the data.
    corner = _pixels(ee, image.glcmTexture())
    want = np.mean([_features(_glcm(LEVELS[0:2, 0:2].astype(int), d))["contrast"]
                    for d in ((-1, -1), (0, -1), (1, -1), (-1, 0))])
    assert float(corner["g_contrast"][0, 0]) == pytest.approx(want)


def test_float_input_is_refused(ee):
    with pytest.raises(ee.EEException, match="integer values"):
        _pixels(ee, ee.Image("T/levels").toFloat().glcmTexture())
