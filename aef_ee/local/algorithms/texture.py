"""``Image.glcmTexture``: Haralick's and Conners' texture metrics of the grey-level co-occurrence matrix (GLCM)
around each pixel.

Earth Engine's documentation (apidocs ee-image-glcmtexture) fixes the frame: integer inputs; a (2 size + 1)^2 square
neighbourhood; one GLCM per direction of the kernel's non-zero cells other than the centre, scanned left to right
and top to bottom, a direction and its opposite counting once ("if either or both of the east and west pixels are
set, only 1 (horizontal) GLCM is computed"), so the matrices are symmetric; by default the offsets (-1, -1), (0, -1),
(1, -1) and (-1, 0) (x east, y down); 18 bands per input band, averaged over the directions with ``average``.

How this engine fills in what the page leaves open (choices, since Earth Engine's source is not public):

- A GLCM counts the pairs of pixels of the neighbourhood that are both inside it and both valid (unmasked), once in
  each order (the symmetric GLCM), normalised to sum to 1. Grey levels are the pixel values themselves.
- With the marginal p_x = p_y (symmetric) of mean mu and variance sigma^2, and p_{x+y}, p_{x-y} (k = |i - j|) the
  sum and difference distributions: asm = sum p^2; contrast = inertia = sum (i-j)^2 p; corr = (sum i j p - mu^2) /
  sigma^2 (1 where sigma is 0, scikit-image's convention); var = sigma^2; idm = sum p / (1 + (i-j)^2);
  savg = sum k p_{x+y}(k); svar = sum (k - savg)^2 p_{x+y}(k) (Haralick's f7 prints f8 for savg, a known misprint);
  sent, ent, dent the entropies of p_{x+y}, p and p_{x-y}; dvar the variance of p_{x-y}; imcorr1 = (HXY - HXY1) /
  HX and imcorr2 = sqrt(1 - exp(-2 (HXY2 - HXY))) with HXY1 = HXY2 = 2 HX for a symmetric GLCM (0 where HX is 0);
  maxcorr 0 ("not computed", as Earth Engine documents); diss = sum |i-j| p; shade and prom the third and fourth
  moments of i + j - 2 mu. Entropies use the natural logarithm, as Haralick's paper does.
- A pixel is masked where its own input is, or where no direction has a valid pair.
- Bands are named ``<band>_<metric>``; without averaging ``<band>_<metric>_<dx>_<dy>``, 18 per direction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.kernel import as_kernel
from aef_ee.local.algorithms.neighborhood import neighborhood_read
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Grid
from aef_ee.local.raster import BandSpec, Image, PixelType

__all__ = ["METRICS", "glcm_texture", "glcm_offsets"]

BandPixels = tuple[np.ndarray, np.ndarray]
# Earth Engine's band suffixes, in its documented order (f1..f14, then Conners' four).
METRICS = ("asm", "contrast", "corr", "var", "idm", "savg", "svar", "sent", "ent", "dvar", "dent", "imcorr1",
           "imcorr2", "maxcorr", "diss", "inertia", "shade", "prom")
# The documented default: the four offsets before the centre of a 3x3 square, (x, y) with y pointing down.
DEFAULT_OFFSETS = ((-1, -1), (0, -1), (1, -1), (-1, 0))
# Output rows computed at a time: every pair of the window is held as a (pairs, rows, width) array.
_ROWS_PER_CHUNK = 128
_NO_KEY = np.iinfo(np.int64).max  # sorts after every real pair code


def glcm_offsets(weights: np.ndarray | None, x: int = 0, y: int = 0) -> list[tuple[int, int]]:
    """The (dx, dy) of each GLCM: the kernel's non-zero cells other than the focus, scanned row by row, a direction
    kept only when neither it nor its opposite came before (the default kernel: :data:`DEFAULT_OFFSETS`)."""
    if weights is None:
        return list(DEFAULT_OFFSETS)
    seen: set[tuple[int, int]] = set()
    out = []
    for r, c in zip(*np.nonzero(weights), strict=True):
        d = (int(c) - x, int(r) - y)
        if d == (0, 0) or d in seen or (-d[0], -d[1]) in seen:
            continue
        seen.add(d)
        out.append(d)
    return out


def _window_pairs(size: int, dx: int, dy: int) -> list[tuple[int, int, int, int]]:
    """(u, v, u + dx, v + dy) for every cell (u, v) of the (2 size + 1)^2 window whose partner is inside it too."""
    r = range(-size, size + 1)
    return [(u, v, u + dx, v + dy) for v in r for u in r if -size <= u + dx <= size and -size <= v + dy <= size]


def _run_stats(keys: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum p^2, -sum p ln p) of the distribution of ``keys`` (K, h, w) per pixel, p = count / n; keys equal to
    :data:`_NO_KEY` are not counted."""
    k = np.sort(keys, axis=0)
    depth = k.shape[0]
    starts = np.ones(k.shape, bool)
    starts[1:] = k[1:] != k[:-1]
    index = np.arange(depth).reshape(-1, 1, 1)
    first = np.maximum.accumulate(np.where(starts, index, 0), axis=0)
    ends = np.ones(k.shape, bool)
    ends[:-1] = starts[1:]
    counts = np.where(ends & (k != _NO_KEY), index - first + 1, 0)
    p = counts / np.where(n > 0, n, 1)
    logs = np.log(np.where(p > 0, p, 1.0))
    return (p * p).sum(axis=0), -(p * logs).sum(axis=0)


def _direction_metrics(levels: np.ndarray, values: np.ndarray, mask: np.ndarray, size: int, d: tuple[int, int],
                       rows: slice, width: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The 18 metrics (each (h, w) float64) of direction ``d`` for output rows ``rows``, and the pair count."""
    h = rows.stop - rows.start
    pairs = _window_pairs(size, *d)
    shape = (len(pairs), h, width)
    a, b = np.empty(shape), np.empty(shape)
    ca, cb = np.empty(shape, np.int64), np.empty(shape, np.int64)
    ok = np.empty(shape, bool)
    for i, (u, v, u2, v2) in enumerate(pairs):
        r0, r2 = rows.start + size + v, rows.start + size + v2
        ma = mask[r0:r0 + h, size + u:size + u + width]
        mb = mask[r2:r2 + h, size + u2:size + u2 + width]
        a[i] = values[r0:r0 + h, size + u:size + u + width]
        b[i] = values[r2:r2 + h, size + u2:size + u2 + width]
        ca[i] = levels[r0:r0 + h, size + u:size + u + width]
        cb[i] = levels[r2:r2 + h, size + u2:size + u2 + width]
        ok[i] = ma & mb
    n = ok.sum(axis=0)
    w = ok / np.where(n > 0, n, 1)  # each valid unordered pair's weight

    def mean(x: np.ndarray) -> np.ndarray:
        return (np.where(ok, x, 0.0) * w).sum(axis=0)

    mu = mean((a + b) / 2)
    var = mean(((a - mu) ** 2 + (b - mu) ** 2) / 2)
    cov = mean(a * b) - mu * mu
    diff, total = a - b, a + b
    adiff = np.abs(diff)
    savg = mean(total)
    dmean = mean(adiff)
    centred = total - 2 * mu
    n_levels = int(levels.max()) + 1 if levels.size else 1
    joint = np.concatenate([np.where(ok, ca * n_levels + cb, _NO_KEY), np.where(ok, cb * n_levels + ca, _NO_KEY)])
    asm, ent = _run_stats(joint, 2 * n)
    _, hx = _run_stats(np.concatenate([np.where(ok, ca, _NO_KEY), np.where(ok, cb, _NO_KEY)]), 2 * n)
    _, sent = _run_stats(np.where(ok, np.rint(total).astype(np.int64), _NO_KEY), n)
    _, dent = _run_stats(np.where(ok, np.rint(adiff).astype(np.int64), _NO_KEY), n)
    contrast = mean(diff * diff)
    has_hx = hx > 0
    metrics = {
        "asm": asm, "contrast": contrast,
        "corr": np.where(var > 0, cov / np.where(var > 0, var, 1), 1.0),
        "var": var, "idm": mean(1 / (1 + diff * diff)), "savg": savg, "svar": mean((total - savg) ** 2),
        "sent": sent, "ent": ent, "dvar": mean(adiff * adiff) - dmean * dmean, "dent": dent,
        "imcorr1": np.where(has_hx, (ent - 2 * hx) / np.where(has_hx, hx, 1), 0.0),
        "imcorr2": np.sqrt(np.clip(1 - np.exp(-2 * (2 * hx - ent)), 0, None)),
        "maxcorr": np.zeros((h, width)), "diss": dmean, "inertia": contrast,
        "shade": mean(centred ** 3), "prom": mean(centred ** 4),
    }
    return metrics, n


@algorithm("Image.glcmTexture")
def glcm_texture(image: Any, size: int = 1, kernel: Any = None, average: bool = True) -> Image:
    """Earth Engine's ``Image.glcmTexture`` (see the module docstring): float bands ``<band>_<metric>``.

    Raises:
      InvalidArgument: a band is not of an integer type, ``size`` is negative, or the kernel has no direction.
    """
    src = as_image(image)
    size = int(size)
    if size < 0:
        raise InvalidArgument(f"Image.glcmTexture: size must be >= 0; got {size}.")
    for band in src.bands:
        if band.pixel_type.precision != "int":
            raise InvalidArgument(f"Image.glcmTexture: band '{band.name}' is of type {band.pixel_type.precision}; "
                                  "the GLCM needs integer values (cast with toInt()).")
    if kernel is None:
        directions = glcm_offsets(None)
    else:
        k = as_kernel(kernel, "Image.glcmTexture")
        if k.units != "pixels":
            raise InvalidArgument("Image.glcmTexture: the kernel's offsets must be in pixels; got a kernel in "
                                  f"{k.units}.")
        directions = glcm_offsets(*k.weights_for(None))
    if not directions:
        raise InvalidArgument("Image.glcmTexture: the kernel has no non-zero cell besides its centre.")
    suffixes = ([f"_{m}" for m in METRICS] if average
                else [f"_{m}_{dx}_{dy}" for dx, dy in directions for m in METRICS])
    per_band = len(suffixes)
    specs = [BandSpec(f"{b.name}{s}", PixelType("float"), b.projection, None, b.is_default_projection)
             for b in src.bands for s in suffixes]

    def compute(values, mask, weights, x, y, grid, band=0) -> list[BandPixels]:
        mask = np.broadcast_to(np.asarray(mask, bool), values.shape)
        values = np.asarray(values, np.float64)
        found = np.unique(values[mask])
        levels = np.searchsorted(found, values).astype(np.int64)
        h, w = grid.shape
        out = [np.zeros((h, w), np.float32) for _ in range(per_band)]
        valid = np.zeros((h, w), bool)
        for start in range(0, h, _ROWS_PER_CHUNK):
            rows = slice(start, min(h, start + _ROWS_PER_CHUNK))
            sums = {m: 0.0 for m in METRICS}
            used = np.zeros((rows.stop - rows.start, w))
            for j, d in enumerate(directions):
                metrics, n = _direction_metrics(levels, values, mask, size, d, rows, w)
                has = n > 0
                used += has
                if average:
                    for m in METRICS:
                        sums[m] = sums[m] + np.where(has, metrics[m], 0.0)
                else:
                    for i, m in enumerate(METRICS):
                        out[j * len(METRICS) + i][rows] = metrics[m]
            if average:
                for i, m in enumerate(METRICS):
                    out[i][rows] = sums[m] / np.where(used > 0, used, 1)
            valid[rows] = used > 0
        valid &= mask[size:size + h, size:size + w]
        return [(o, valid) for o in out]

    def window(grid: Grid) -> tuple[np.ndarray, int, int]:
        return np.ones((2 * size + 1, 2 * size + 1)), size, size

    return src.with_bands(specs, neighborhood_read(src, window, compute, per_band))
