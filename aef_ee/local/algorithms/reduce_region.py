"""Region reductions and sampling: ``Image.reduceRegion`` / ``reduceRegions`` / ``sample`` / ``sampleRegions`` /
``stratifiedSample`` and ``ImageCollection.getRegion``.

Pixels are taken on a grid in the working projection: ``crs`` + ``crsTransform``, or ``crs`` at ``scale``, or the
image's default projection (its first band's) rescaled to ``scale`` (its origin kept). Which pixels of a polygon
count follows Earth Engine's rules: weighted reducers (mean, sum, stdDev, percentiles, histograms) take every pixel
with at least 0.5% of its area inside, weighted by that fraction (computed exactly with shapely for the pixels on the
boundary) — or weight 1 each after ``reducer.unweighted()``; count, min, max, toList, first, ... and all sampling
take the pixels whose centre lies inside. Points and lines take the pixels they touch, with weight 1. Masked pixels
are left out (masks are 0/1 here, so they do not scale weights). Large regions are processed in strips of rows,
never all pixels at once; ``tileScale`` is accepted and ignored (memory is bounded by the strips instead).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.composite import compute_many
from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.reducer import Reducer, as_reducer
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, NotFound, Unimplemented
from aef_ee.local.geometry_raster import as_geometry, geometry_mask
from aef_ee.local.projection import Grid, Projection, covering_grid, normalize_crs, transformer
from aef_ee.local.raster import Image
from aef_ee.local.values import Feature, FeatureCollection, Geometry, ImageCollection

__all__ = ["working_projection", "region_grid", "region_pixels", "RegionPixels"]

# Pixels per strip when pulling a region (bounded memory: 2^18 pixels x 64 float32 bands is 64 MiB).
STRIP_PIXELS = 2**18
# Earth Engine includes a pixel in a weighted reduction when at least this fraction of it is inside the region.
MIN_COVERAGE = 0.005
# Earth Engine's getRegion limit on the number of values it returns.
GET_REGION_MAX_VALUES = 1048576
DEFAULT_MAX_PIXELS = 1e7
# Sampling has no maxPixels argument; past this many pixels in the region the local engine refuses rather than
# rasterising for minutes (Earth Engine would time out).
MAX_SAMPLE_PIXELS = 1e9


# --- projections and grids -------------------------------------------------------------------------------

def _all_default(image: Image) -> bool:
    return bool(image.bands) and all(b.is_default_projection for b in image.bands)


def working_projection(image: Image | None, *, scale: Any = None, crs: Any = None,
                       crs_transform: Any = None) -> Projection:
    """The projection a reduction works in, following Earth Engine's rules for scale / crs / crsTransform."""
    base = image.default_projection() if image is not None and image.bands else Projection("EPSG:4326")
    default = image is None or not image.bands or _all_default(image)
    if scale is not None and float(scale) <= 0:
        raise InvalidArgument(f"scale must be positive; got {scale!r}.")
    if crs_transform is not None:
        if len(crs_transform) != 6:
            raise InvalidArgument(f"crsTransform must have 6 numbers; got {list(crs_transform)!r}.")
        crs_code = crs.crs if isinstance(crs, Projection) else (normalize_crs(str(crs)) if crs else base.crs)
        return Projection(crs_code, tuple(float(v) for v in crs_transform))
    if crs is not None:
        if isinstance(crs, Projection):
            return _rescaled(crs, float(scale)) if scale is not None else crs
        proj = Projection(normalize_crs(str(crs)))
        return proj.at_scale(float(scale)) if scale is not None else proj.at_scale(
            1.0 if not proj.is_geographic else 111319.49079327357)
    if scale is not None:
        if default:
            return Projection(base.crs).at_scale(float(scale))
        return _rescaled(base, float(scale))
    return base


def _rescaled(proj: Projection, scale: float) -> Projection:
    """``proj`` with pixels of ``scale`` metres, its origin kept."""
    factor = scale / proj.nominal_scale
    return proj.scaled(factor, factor)


def _projection_arg(projection: Any) -> Any:
    if projection is None or isinstance(projection, Projection):
        return projection
    if isinstance(projection, str):  # a CRS code: its unit pixels, north up
        proj = Projection(normalize_crs(projection))
        return proj.at_scale(111319.49079327357 if proj.is_geographic else 1.0)
    raise InvalidArgument(f"Expected a Projection; got {type(projection).__name__}.")


def _region(image: Image, geometry: Any, what: str) -> Geometry:
    if geometry is None:
        if image.footprint is None:
            raise InvalidArgument(
                f"{what}: Provide 'geometry' parameter when aggregating over an unbounded image.")
        return Geometry(image.footprint, geodesic=False)
    return as_geometry(geometry)


def region_grid(geometry: Geometry, projection: Projection) -> Grid:
    """The grid in ``projection`` (its pixel lattice) covering ``geometry``'s bounds."""
    shape = geometry.in_crs(projection.crs)
    if shape.is_empty:
        raise InvalidArgument("The region is empty.")
    xmin, ymin, xmax, ymax = shape.bounds
    a = abs(projection.transform[0])
    e = abs(projection.transform[4])
    # A point or a vertical/horizontal line has no extent: widen by a hair so it covers the pixel(s) it lies in.
    if xmax - xmin < 1e-9 * a:
        xmin, xmax = xmin - 1e-6 * a, xmax + 1e-6 * a
    if ymax - ymin < 1e-9 * e:
        ymin, ymax = ymin - 1e-6 * e, ymax + 1e-6 * e
    return covering_grid(projection, (xmin, ymin, xmax, ymax))


# --- pulling the pixels of a region ----------------------------------------------------------------------

@dataclasses.dataclass
class RegionPixels:
    """The pixels of a region: values (N, k) in a common dtype, per-band validity (N, k), and pixel positions."""

    values: np.ndarray
    valid: np.ndarray
    rows: np.ndarray  # (N,) row in the grid
    cols: np.ndarray  # (N,) column in the grid
    grid: Grid
    weights: np.ndarray | None = None  # (N,) fraction of each pixel inside the region (weighted pulls only)
    inside: np.ndarray | None = None  # (N,) whether each pixel's centre is inside (weighted pulls only)

    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre longitudes and latitudes, each (N,) float64."""
        a, b, c, d, e, f = self.grid.transform
        x = a * (self.cols + 0.5) + b * (self.rows + 0.5) + c
        y = d * (self.cols + 0.5) + e * (self.rows + 0.5) + f
        if self.grid.crs == "EPSG:4326":
            return x, y
        lon, lat = transformer(self.grid.crs, "EPSG:4326").transform(x, y)
        return np.asarray(lon), np.asarray(lat)


def _strips(grid: Grid, n_bands: int) -> list[tuple[int, int]]:
    return grid.strips(max(1, STRIP_PIXELS // max(1, n_bands // 16 + 1)))


def _inside_positions(geometry: Geometry, grid: Grid) -> Iterator[tuple[int, int, np.ndarray]]:
    """(row0, row1, mask of the strip) for the strips holding at least one pixel of the region."""
    for r0, r1 in _strips(grid, 1):
        inside = geometry_mask(geometry, grid.window(r0, r1))
        if inside.any():
            yield r0, r1, inside


def coverage(shape: Any, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(centre inside (H, W) bool, fraction of each pixel inside (H, W) float64) of a shape in the grid's CRS.

    Areal shapes: fraction 1 in the interior, exact intersection areas on the boundary. Points and lines: 1 for the
    pixels they touch (and those count as centre-inside).
    """
    import shapely
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    a, b, c, d, e, f = grid.transform
    transform = Affine(a, b, c, d, e, f)
    if shape.is_empty:
        empty = np.zeros(grid.shape, bool)
        return empty, empty.astype(np.float64)
    if shapely.get_dimensions(shape) < 2:
        touched = rasterize([(shape, 1)], out_shape=grid.shape, transform=transform, fill=0, all_touched=True,
                            dtype=np.uint8).astype(bool)
        return touched, touched.astype(np.float64)
    centre = rasterize([(shape, 1)], out_shape=grid.shape, transform=transform, fill=0, dtype=np.uint8).astype(bool)
    touched = rasterize([(shape, 1)], out_shape=grid.shape, transform=transform, fill=0, all_touched=True,
                        dtype=np.uint8).astype(bool)
    edge = rasterize([(shape.boundary, 1)], out_shape=grid.shape, transform=transform, fill=0, all_touched=True,
                     dtype=np.uint8).astype(bool) & touched | (touched & ~centre) | (centre & ~touched)
    fraction = touched.astype(np.float64)
    rr, cc = np.nonzero(edge)
    if len(rr):
        x0, x1 = c + a * cc, c + a * (cc + 1)
        y0, y1 = f + e * rr, f + e * (rr + 1)
        boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
        xmin, ymin, xmax, ymax = grid.bounds()
        local = shapely.clip_by_rect(shape, xmin, ymin, xmax, ymax)
        shapely.prepare(local)
        fraction[rr, cc] = shapely.area(shapely.intersection(boxes, local)) / abs(a * e - b * d)
    return centre, fraction


def _estimate_pixels(geometry: Geometry, grid: Grid) -> float:
    a, b, _, d, e, _ = grid.transform
    return geometry.in_crs(grid.crs).area / abs(a * e - b * d)


def region_pixels(image: Image, geometry: Geometry, grid: Grid, band_indexes: Sequence[int] | None = None,
                  *, max_pixels: float | None = None, what: str = "Image.reduceRegion",
                  picks: np.ndarray | None = None, weighted: bool = False) -> RegionPixels:
    """The region's pixels of the given bands, strip by strip.

    Args:
      picks: optional sorted linear indexes (row * width + col) to keep (sampling); others are dropped.
      weighted: also take pixels partly inside (>= 0.5%) and record each pixel's covered fraction and whether its
        centre is inside (for reductions); otherwise only centre-inside pixels.

    Raises:
      InvalidArgument: more than ``max_pixels`` pixels in the region (Earth Engine's wording).
    """
    indexes = list(range(len(image.bands))) if band_indexes is None else list(band_indexes)
    if max_pixels is not None:
        estimate = _estimate_pixels(geometry, grid)
        if estimate > 1.05 * max_pixels:
            _too_many(what, int(round(estimate)), max_pixels)
    dtype = np.result_type(*[image.bands[i].pixel_type.dtype for i in indexes]) if indexes else np.float64
    values, valid, rows, cols, weights, centres = [], [], [], [], [], []
    found = 0
    shape = geometry.in_crs(grid.crs) if weighted else None
    for r0, r1, inside in (_covered_positions(shape, grid) if weighted else _inside_positions(geometry, grid)):
        if weighted:
            inside, fraction = inside
            member = inside | (fraction >= MIN_COVERAGE)
            rr, cc = np.nonzero(member)
            weights.append(np.where(fraction[rr, cc] >= MIN_COVERAGE, fraction[rr, cc], 0.0))
            centres.append(inside[rr, cc])
        else:
            rr, cc = np.nonzero(inside)
        rr = rr + r0
        if picks is not None:  # sampling pulls are never weighted
            linear = rr.astype(np.int64) * grid.width + cc
            keep = np.isin(linear, picks, assume_unique=False)
            if not keep.any():
                continue
            rr, cc = rr[keep], cc[keep]
        found += len(rr)
        if max_pixels is not None and found > max_pixels:
            continue  # keep counting for the message
        strip = grid.window(r0, r1)
        local = rr - r0
        pixels = image.compute(strip, indexes) if indexes else []
        vals = np.empty((len(rr), len(indexes)), dtype)
        ok = np.empty((len(rr), len(indexes)), bool)
        for j, (v, m) in enumerate(pixels):
            if np.ndim(v) > 2:
                raise Unimplemented(
                    f"{what}: array-valued pixels (band '{image.bands[indexes[j]].name}') are not supported by the "
                    "local engine's region reductions; use arrayFlatten first.")
            vals[:, j] = np.broadcast_to(v, strip.shape)[local, cc]
            ok[:, j] = np.broadcast_to(m, strip.shape)[local, cc]
        values.append(vals)
        valid.append(ok)
        rows.append(rr)
        cols.append(cc)
    if max_pixels is not None and found > max_pixels:
        _too_many(what, found, max_pixels)
    k = len(indexes)
    if not values:
        none = np.empty(0, np.int64)
        return RegionPixels(np.empty((0, k), dtype), np.empty((0, k), bool), none, none, grid,
                            np.empty(0) if weighted else None, np.empty(0, bool) if weighted else None)
    return RegionPixels(np.concatenate(values), np.concatenate(valid), np.concatenate(rows).astype(np.int64),
                        np.concatenate(cols).astype(np.int64), grid,
                        np.concatenate(weights) if weighted else None, np.concatenate(centres) if weighted else None)


def _covered_positions(shape: Any, grid: Grid) -> Iterator[tuple[int, int, Any]]:
    """(row0, row1, (centre inside, covered fraction)) for the strips holding part of the region."""
    for r0, r1 in _strips(grid, 1):
        centre, fraction = coverage(shape, grid.window(r0, r1))
        if centre.any() or (fraction >= MIN_COVERAGE).any():
            yield r0, r1, (centre, fraction)


def _too_many(what: str, found: int, max_pixels: float) -> None:
    raise InvalidArgument(
        f"{what}: Too many pixels in the region. Found {found}, but maxPixels allows only {int(max_pixels)}.")


# --- reductions ------------------------------------------------------------------------------------------

def _reduce_pixels(reducer: Reducer, names: Sequence[str], px: RegionPixels, *, single_band_raw: bool) -> dict:
    """Applies the reducer to region pixels with Earth Engine's naming.

    A single-input reducer is repeated per band: outputs named after the band (one output) or ``<band>_<output>``;
    with ``single_band_raw`` (reduceRegions of a one-band image) the raw output names are used. A reducer of k
    inputs on a k-band image takes the bands as its inputs (pixels valid in all of them) and keeps raw names.
    """
    k = len(names)
    if reducer.n_inputs == 1:
        out: dict[str, Any] = {}
        results = reducer.reduce_bands(px.values, px.valid, px.weights, inside=px.inside)
        for name, result in zip(names, results, strict=True):
            if k == 1 and single_band_raw:
                out.update(result)
            elif len(result) == 1:
                out[name] = next(iter(result.values()))
            else:
                out.update({f"{name}_{o}": v for o, v in result.items()})
        return out
    if reducer.n_inputs == k:
        ok = px.valid.all(axis=1)
        return reducer.reduce_samples(px.values[ok], None if px.weights is None else px.weights[ok],
                                      inside=None if px.inside is None else px.inside[ok])
    raise InvalidArgument(
        f"Image.reduceRegion: Need {reducer.n_inputs} bands for {reducer.name}, but the image has {k} bands.")


@algorithm("Image.reduceRegion")
def reduce_region(image: Any, reducer: Any, geometry: Any = None, scale: Any = None, crs: Any = None,
                  crsTransform: Any = None, bestEffort: bool = False,
                  maxPixels: float = DEFAULT_MAX_PIXELS, tileScale: float = 1) -> dict[str, Any]:
    """A dictionary of the reducer's outputs over the region (see the module docstring for the pixel rule)."""
    image = as_image(image)
    reducer = as_reducer(reducer)
    region = _region(image, geometry, "Image.reduceRegion")
    proj = working_projection(image, scale=scale, crs=crs, crs_transform=crsTransform)
    grid = region_grid(region, proj)
    max_pixels = float(maxPixels if maxPixels is not None else DEFAULT_MAX_PIXELS)
    if bestEffort:
        grid, proj = _best_effort(region, proj, grid, max_pixels)
    px = region_pixels(image, region, grid, max_pixels=max_pixels, weighted=True)
    return _reduce_pixels(reducer, image.band_names, px, single_band_raw=False)


def _best_effort(region: Geometry, proj: Projection, grid: Grid, max_pixels: float) -> tuple[Grid, Projection]:
    """Coarsens the projection (by whole factors) until the region fits in ``max_pixels``."""
    estimate = _estimate_pixels(region, grid)
    if estimate <= max_pixels:
        return grid, proj
    factor = math.ceil(math.sqrt(estimate / max_pixels) * 1.01)
    coarse = proj.scaled(factor, factor)
    return region_grid(region, coarse), coarse


@algorithm("Image.reduceRegions")
def reduce_regions(image: Any, collection: Any, reducer: Any, scale: Any = None, crs: Any = None,
                   crsTransform: Any = None, tileScale: float = 1,
                   maxPixelsPerRegion: float | None = None) -> FeatureCollection:
    """Each feature with the reducer's outputs added as properties (a one-band image gives raw output names)."""
    image = as_image(image)
    reducer = as_reducer(reducer)
    proj = working_projection(image, scale=scale, crs=crs, crs_transform=crsTransform)
    features = _features(collection)
    if any(feature.geometry is None for feature in features.features):
        raise InvalidArgument("Image.reduceRegions: a feature has no geometry.")
    grids = [region_grid(feature.geometry, proj) for feature in features.features]
    points = _point_pixels(image, [f.geometry for f in features.features], grids)
    out = []
    for i, (feature, grid) in enumerate(zip(features.features, grids)):
        px = points[i] if points is not None else region_pixels(
            image, feature.geometry, grid, max_pixels=maxPixelsPerRegion, what="Image.reduceRegions", weighted=True)
        props = dict(feature.properties)
        props.update(_reduce_pixels(reducer, image.band_names, px, single_band_raw=True))
        out.append(feature.with_properties(props))
    return features.with_features(out)


# Points read together: the image is evaluated once over the grid covering every point when that grid is at most
# this many pixels (a collection of nearby points); farther apart, each point is read on its own grid.
POINT_BATCH_PIXELS = 1 << 18


def _point_pixels(image: Image, geometries: Sequence[Geometry], grids: Sequence[Grid]) -> list[RegionPixels] | None:
    """Each point's pixels as ``region_pixels(..., weighted=True)`` gives them, from one evaluation of the image over
    the grid covering them all; None when a geometry is not a point or that grid is too large.

    A point's own grid (1 x 1, or up to 2 x 2 on a pixel corner) is a window of the shared grid, since both keep the
    projection's pixel lattice; its pixels are the ones the point touches, weight 1, as :func:`coverage` makes them.
    """
    if len(geometries) < 2 or any(g.shape.geom_type != "Point" for g in geometries):
        return None
    a, _, c, _, e, f = grids[0].transform
    offsets = [(round((g.transform[5] - f) / e), round((g.transform[2] - c) / a)) for g in grids]
    row0, col0 = min(r for r, _ in offsets), min(c_ for _, c_ in offsets)
    row1 = max(r + g.height for (r, _), g in zip(offsets, grids))
    col1 = max(c_ + g.width for (_, c_), g in zip(offsets, grids))
    if (row1 - row0) * (col1 - col0) > POINT_BATCH_PIXELS:
        return None
    shared = Grid(Projection(grids[0].crs, (a, 0.0, c + a * col0, 0.0, e, f + e * row0)), col1 - col0, row1 - row0)
    indexes = list(range(len(image.bands)))
    dtype = np.result_type(*[band.pixel_type.dtype for band in image.bands]) if indexes else np.float64
    computed = [(np.broadcast_to(v, shared.shape), np.broadcast_to(m, shared.shape))
                for v, m in (image.compute(shared, indexes) if indexes else [])]
    for v, _ in computed:
        if np.ndim(v) > 2:
            return None  # array-valued pixels: region_pixels says why
    # (H, W, k) stacks: each point's pixels are then one fancy index, not one per band.
    stacked_values = np.empty((*shared.shape, len(indexes)), dtype)
    stacked_valid = np.empty((*shared.shape, len(indexes)), bool)
    for j, (v, m) in enumerate(computed):
        stacked_values[..., j] = v
        stacked_valid[..., j] = m
    out = []
    for geometry, grid, (r, c_) in zip(geometries, grids, offsets):
        rr, cc = _touched(geometry.in_crs(grid.crs), grid)
        rows, cols = rr + (r - row0), cc + (c_ - col0)
        values = stacked_values[rows, cols]
        valid = stacked_valid[rows, cols]
        out.append(RegionPixels(values, valid, rr.astype(np.int64), cc.astype(np.int64), grid,
                                np.ones(len(rr)), np.ones(len(rr), bool)))
    return out


def _touched(point: Any, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the grid's pixels a point touches: the one holding it, by arithmetic; a point within a hair of
    a pixel edge goes through :func:`coverage` (rasterised, all touched), so both paths pick the same pixels."""
    a, _, c, _, e, f = grid.transform
    col, row = (point.x - c) / a, (point.y - f) / e
    if min(abs(col - round(col)), abs(row - round(row))) > 1e-6:
        col_i, row_i = math.floor(col), math.floor(row)
        if 0 <= row_i < grid.height and 0 <= col_i < grid.width:
            return np.array([row_i]), np.array([col_i])
    touched, _ = coverage(point, grid)
    return np.nonzero(touched)


def _features(collection: Any) -> FeatureCollection:
    if isinstance(collection, FeatureCollection):
        return collection
    if isinstance(collection, Feature):
        return FeatureCollection([collection])
    if isinstance(collection, Geometry):
        return FeatureCollection([Feature(collection, {"system:index": "0"})])
    raise InvalidArgument(f"Expected a FeatureCollection; got {type(collection).__name__}.")


# --- sampling --------------------------------------------------------------------------------------------

def _python(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _sample_features(image: Image, px: RegionPixels, *, drop_nulls: bool, geometries: bool,
                     base_props: Sequence[dict] | None = None, ids: Sequence[str] | None = None) -> list[Feature]:
    from shapely.geometry import Point

    names = image.band_names
    keep = px.valid.all(axis=1) if drop_nulls else np.ones(len(px.values), bool)
    lon = lat = None
    if geometries:
        lon, lat = px.lonlat()
    out = []
    rows = np.nonzero(keep)[0]
    values = px.values[rows].tolist()
    valid = px.valid[rows]
    for n, i in enumerate(rows):
        props = dict(base_props[i]) if base_props is not None else {}
        for j, name in enumerate(names):
            props[name] = _python(values[n][j]) if valid[n, j] else None
        props["system:index"] = ids[i] if ids is not None else str(i)
        geometry = Geometry(Point(float(lon[i]), float(lat[i]))) if geometries else None
        out.append(Feature(geometry, props))
    return out


def _sample_grid(image: Image, region: Any, scale: Any, projection: Any, what: str) -> tuple[Geometry, Grid]:
    geom = _region(image, region, what)
    proj = working_projection(image, scale=scale, crs=_projection_arg(projection))
    grid = region_grid(geom, proj)
    estimate = _estimate_pixels(geom, grid)
    if estimate > MAX_SAMPLE_PIXELS:
        raise InvalidArgument(
            f"{what}: Too many pixels in the region (about {estimate:.3g}); the local engine samples regions of at "
            f"most {MAX_SAMPLE_PIXELS:.0e} pixels. Use a larger scale or a smaller region.")
    return geom, grid


def _inside_linear(geometry: Geometry, grid: Grid) -> np.ndarray:
    """Linear indexes (row * width + col) of the region's pixels, sorted."""
    parts = []
    for r0, _, inside in _inside_positions(geometry, grid):
        rr, cc = np.nonzero(inside)
        parts.append((rr + r0).astype(np.int64) * grid.width + cc)
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


@algorithm("Image.sample")
def sample(image: Any, region: Any = None, scale: Any = None, projection: Any = None, factor: float | None = None,
           numPixels: int | None = None, seed: int = 0, dropNulls: bool = True, tileScale: float = 1,
           geometries: bool = False) -> FeatureCollection:
    """Pixels of the region as features (band values as properties).

    ``numPixels`` draws exactly min(numPixels, N) pixels without replacement (Earth Engine draws about that many);
    ``factor`` keeps each pixel with that probability. Both are seeded and deterministic.
    """
    image = as_image(image)
    geom, grid = _sample_grid(image, region, scale, projection, "Image.sample")
    picks = None
    if numPixels is not None or factor is not None:
        linear = _inside_linear(geom, grid)
        rng = np.random.default_rng(int(seed))
        if numPixels is not None:
            n = min(int(numPixels), len(linear))
            picks = np.sort(rng.choice(linear, size=n, replace=False)) if n else linear[:0]
        else:
            if not 0 < float(factor) <= 1:
                raise InvalidArgument(f"Image.sample: factor must be in (0, 1]; got {factor}.")
            picks = linear[rng.random(len(linear)) < float(factor)]
    px = region_pixels(image, geom, grid, picks=picks, what="Image.sample")
    features = _sample_features(image, px, drop_nulls=bool(dropNulls), geometries=bool(geometries))
    return FeatureCollection(features, {})


@algorithm("Image.sampleRegions")
def sample_regions(image: Any, collection: Any, properties: Sequence[str] | None = None, scale: Any = None,
                   projection: Any = None, tileScale: float = 1, geometries: bool = False) -> FeatureCollection:
    """The pixels of each feature (points: the pixel holding it), with the feature's properties copied.

    Pixels masked in any band are dropped. Ids are ``<feature id>_<n>``.
    """
    image = as_image(image)
    proj = working_projection(image, scale=scale, crs=_projection_arg(projection))
    features = _features(collection)
    out: list[Feature] = []
    for f_i, feature in enumerate(features.features):
        if feature.geometry is None:
            continue
        grid = region_grid(feature.geometry, proj)
        px = region_pixels(image, feature.geometry, grid, what="Image.sampleRegions")
        src = feature.properties
        if properties is None:
            copied = {k: v for k, v in src.items() if not k.startswith("system:")}
        else:
            copied = {k: src.get(k) for k in properties}
        fid = str(src.get("system:index", f_i))
        n = len(px.values)
        kept = np.nonzero(px.valid.all(axis=1))[0]
        ids = [""] * n
        for j, i in enumerate(kept):
            ids[i] = f"{fid}_{j}"
        out.extend(_sample_features(image, px, drop_nulls=True, geometries=bool(geometries),
                                    base_props=[copied] * n, ids=ids))
    return FeatureCollection(out, {})


@algorithm("Image.stratifiedSample")
def stratified_sample(image: Any, numPoints: int, classBand: str | None = None, region: Any = None,
                      scale: Any = None, projection: Any = None, seed: int = 0,
                      classValues: Sequence[Any] | None = None, classPoints: Sequence[int] | None = None,
                      dropNulls: bool = True, tileScale: float = 1,
                      geometries: bool = False) -> FeatureCollection:
    """Up to ``numPoints`` random pixels per class of ``classBand`` (``classPoints`` for listed ``classValues``)."""
    image = as_image(image)
    names = image.band_names
    band = classBand if classBand is not None else (names[0] if names else None)
    if band not in names:
        raise NotFound(f"Image.stratifiedSample: Band '{band}' not found. Available bands: {names}")
    if (classValues is None) != (classPoints is None) or (
            classValues is not None and len(classValues) != len(classPoints)):  # type: ignore[arg-type]
        raise InvalidArgument("Image.stratifiedSample: classValues and classPoints must be given together, with "
                              "equally many entries.")
    targets = {float(v): int(p) for v, p in zip(classValues or [], classPoints or [])}
    geom, grid = _sample_grid(image, region, scale, projection, "Image.stratifiedSample")
    classes = region_pixels(image, geom, grid, [names.index(band)], what="Image.stratifiedSample")
    ok = classes.valid[:, 0]
    linear = classes.rows[ok] * grid.width + classes.cols[ok]
    labels = classes.values[ok, 0].astype(np.float64)
    rng = np.random.default_rng(int(seed))
    chosen = []
    for label in np.unique(labels):
        members = linear[labels == label]
        n = min(targets.get(float(label), int(numPoints)), len(members))
        if n > 0:
            chosen.append(rng.choice(members, size=n, replace=False))
    picks = np.sort(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)
    px = region_pixels(image, geom, grid, picks=picks, what="Image.stratifiedSample")
    px = _reorder_by_class(px, names.index(band))
    features = _sample_features(image, px, drop_nulls=bool(dropNulls), geometries=bool(geometries))
    return FeatureCollection(features, {})


def _reorder_by_class(px: RegionPixels, class_index: int) -> RegionPixels:
    """Samples grouped by class (stable), as Earth Engine lists them."""
    order = np.argsort(px.values[:, class_index], kind="stable")
    return RegionPixels(px.values[order], px.valid[order], px.rows[order], px.cols[order], px.grid)


# --- getRegion -------------------------------------------------------------------------------------------

@algorithm("ImageCollection.getRegion")
def get_region(collection: Any, geometry: Any, scale: Any = None, crs: Any = None,
               crsTransform: Any = None) -> list[list[Any]]:
    """``[["id", "longitude", "latitude", "time", bands...], rows...]``: one row per image and pixel of the region
    inside the image's footprint, masked values as null. Works on an ImageCollection or a single Image.

    The default working projection is EPSG:4326 (1 degree, or ``scale`` metres at the equator).
    """
    images = list(collection.images) if isinstance(collection, ImageCollection) else [as_image(collection)]
    region = as_geometry(geometry)
    if crsTransform is None and crs is None:
        proj = Projection("EPSG:4326").at_scale(float(scale) if scale is not None else 111319.49079327357)
    else:
        proj = working_projection(None, scale=scale, crs=_projection_arg(crs) if not isinstance(crs, str) else crs,
                                  crs_transform=crsTransform)
    names = images[0].band_names if images else []
    header: list[Any] = ["id", "longitude", "latitude", "time", *names]
    if not images:
        return [header]
    grid = region_grid(region, proj)
    linear = _inside_linear(region, grid)
    total = len(linear) * max(1, len(names)) * len(images)
    if total > GET_REGION_MAX_VALUES:
        raise InvalidArgument(
            f"ImageCollection.getRegion: Too many values: {len(linear)} points x {len(names)} bands x "
            f"{len(images)} images > {GET_REGION_MAX_VALUES}.")
    rows: list[list[Any]] = [header]
    if not len(linear):
        return rows
    rr, cc = linear // grid.width, linear % grid.width
    r0, c0 = int(rr.min()), int(cc.min())
    window = grid.window(r0, int(rr.max()) + 1, c0, int(cc.max()) + 1)
    lon, lat = RegionPixels(np.empty((len(rr), 0)), np.empty((len(rr), 0), bool), rr, cc, grid).lonlat()
    requests = [(i, image.band_names.index(n)) for i, image in enumerate(images) for n in names
                if n in image.band_names]
    pixels = compute_many(images, requests, window)
    local_r, local_c = rr - r0, cc - c0
    for i, image in enumerate(images):
        columns = []
        for n in names:
            if n not in image.band_names:
                columns.append(None)
                continue
            v, m = pixels[(i, image.band_names.index(n))]
            columns.append((np.broadcast_to(v, window.shape)[local_r, local_c].tolist(),
                            np.broadcast_to(m, window.shape)[local_r, local_c]))
        inside = np.ones(len(rr), bool)
        if image.footprint is not None:
            import shapely

            inside = shapely.contains_xy(image.footprint, lon, lat)
            for col in columns:
                if col is not None:
                    inside |= col[1]
        time = _python(image.properties.get("system:time_start"))
        index = image.properties.get("system:index")
        for p in np.nonzero(inside)[0]:
            rows.append([index, float(lon[p]), float(lat[p]), time,
                         *[None if col is None or not col[1][p] else _python(col[0][p]) for col in columns]])
    return rows
