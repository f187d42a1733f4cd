"""Between rasters and vectors: ``Image.reduceToVectors`` and ``FeatureCollection.reduceToImage``.

``reduceToVectors`` turns each connected region of equal first-band value (4- or 8-connected) into a feature, with
the value under ``labelProperty`` and, by default, the region's pixel count under ``count`` (Earth Engine's default
reducer, ``countEvery``). With a reducer, the image's other bands are reduced over each region instead. Regions are
found with ``scipy.ndimage.label`` and traced into polygons along pixel edges with ``rasterio.features.shapes``.

``reduceToImage`` gives every pixel the reduction of a property over the features whose geometry covers it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, ResourceExhausted
from aef_ee.local.geometry_raster import as_geometry, geometry_mask
from aef_ee.local.projection import DEFAULT_PROJECTION, Grid, Projection, covering_grid, normalize_crs
from aef_ee.local.raster import BandSpec, Image, PixelType
from aef_ee.local.values import Feature, FeatureCollection, Geometry

__all__ = ["reduce_to_vectors", "reduce_to_image", "region_grid"]

GEOMETRY_TYPES = ("polygon", "bb", "centroid")


def _projection(image: Image, crs: Any, crs_transform: Sequence[float] | None, scale: float | None,
                where: str) -> Projection:
    """The output projection: ``crs`` (or the image's), with ``crsTransform`` or at ``scale`` metres."""
    if crs is None:
        base = image.default_projection()
    elif isinstance(crs, Projection):
        base = crs
    else:
        base = Projection(normalize_crs(str(crs)), image.default_projection().transform)
    if crs_transform is not None:
        if scale is not None:
            raise InvalidArgument(f"{where}: give scale or crsTransform, not both.")
        return Projection(base.crs, tuple(float(v) for v in crs_transform))
    if scale is not None:
        return base.at_scale(float(scale))
    native = image.default_projection()
    if base.crs != native.crs and not isinstance(crs, Projection):
        return base.at_scale(native.nominal_scale)  # another CRS at the image's pixel size
    return base


def region_grid(image: Image, geometry: Any, projection: Projection, *, max_pixels: float, best_effort: bool,
                where: str) -> tuple[Grid, Geometry]:
    """The grid of ``projection`` covering the region, coarsened under ``bestEffort`` to fit ``maxPixels``.

    Raises:
      InvalidArgument: no region (an unbounded image and no geometry).
      ResourceExhausted: over ``maxPixels`` without ``bestEffort`` (Earth Engine's message).
    """
    if geometry is not None:
        region = as_geometry(geometry)
    elif image.footprint is not None:
        region = Geometry(image.footprint, geodesic=False)
    else:
        raise InvalidArgument(f"{where}: the image is unbounded; give a geometry.")
    bounds = region.in_crs(projection.crs).bounds
    grid = covering_grid(projection, bounds)
    pixels = grid.width * grid.height
    if pixels > max_pixels:
        if not best_effort:
            raise ResourceExhausted(
                f"{where}: Too many pixels in the region. Found {pixels}, but maxPixels allows only "
                f"{int(max_pixels)}.")
        factor = math.ceil(math.sqrt(pixels / max_pixels))
        while True:
            grid = covering_grid(projection.scaled(factor, factor), bounds)
            if grid.width * grid.height <= max_pixels:
                break
            factor += 1
    return grid, region


def _components(labels: np.ndarray, valid: np.ndarray, eight: bool) -> tuple[np.ndarray, np.ndarray]:
    """Connected regions of equal label: (component ids (H, W) int32, 0 outside; the label of each id 1..n)."""
    from scipy import ndimage

    structure = np.ones((3, 3), bool) if eight else ndimage.generate_binary_structure(2, 1)
    ids = np.zeros(labels.shape, np.int32)
    values: list[Any] = []
    for value in np.unique(labels[valid]):
        component, count = ndimage.label(valid & (labels == value), structure=structure)
        if count:
            ids[component > 0] = component[component > 0] + len(values)
            values.extend([value] * count)
    return ids, np.asarray(values)


def _outlines(ids: np.ndarray, grid: Grid, eight: bool) -> dict[int, Any]:
    """The polygon of every component id, in the grid's CRS."""
    from rasterio.features import shapes
    from rasterio.transform import Affine
    from shapely.geometry import shape
    from shapely.ops import unary_union

    pieces: dict[int, list[Any]] = {}
    for geojson, value in shapes(ids, mask=ids > 0, connectivity=8 if eight else 4,
                                 transform=Affine(*grid.transform)):
        pieces.setdefault(int(value), []).append(shape(geojson))
    return {k: v[0] if len(v) == 1 else unary_union(v) for k, v in pieces.items()}


def _output_geometry(polygon: Any, geometry_type: str, crs: str, native: bool) -> Geometry:
    from shapely.geometry import box

    if geometry_type == "bb":
        polygon = box(*polygon.bounds)
    elif geometry_type == "centroid":
        polygon = polygon.centroid
    geometry = Geometry(polygon, crs, geodesic=False)
    if native or crs == "EPSG:4326":
        return geometry
    return Geometry(geometry.in_crs("EPSG:4326"), "EPSG:4326", geodesic=False)


@algorithm("Image.reduceToVectors")
def reduce_to_vectors(image: Any, reducer: Any = None, geometry: Any = None, scale: float | None = None,
                      geometryType: str = "polygon", eightConnected: bool = True,
                      labelProperty: str = "label", crs: Any = None,
                      crsTransform: Sequence[float] | None = None,
                      bestEffort: bool = False, maxPixels: float = 1e7, tileScale: float = 1.0,
                      geometryInNativeProjection: bool = False) -> FeatureCollection:
    """Polygons (or boxes, or centroids) of the connected regions of equal first-band value.

    Returns:
      One feature per region (ordered by label value, then by the raster position of the region's first pixel)
      with properties
      ``{labelProperty: value, "count": pixels}`` (or the reducer's outputs over the other bands).
    """
    where = "Image.reduceToVectors"
    src = as_image(image)
    if not src.bands:
        raise InvalidArgument(f"{where}: the image has no bands.")
    geometry_type = str(geometryType or "polygon")
    if geometry_type not in GEOMETRY_TYPES:
        raise InvalidArgument(f"{where}: unknown geometryType '{geometry_type}'; expected one of "
                              f"{list(GEOMETRY_TYPES)}.")
    first = src.bands[0]
    if first.pixel_type.precision != "int":
        raise InvalidArgument(f"{where}: the first band ('{first.name}') must have an integer type to be used as "
                              "labels; got float. Cast it with toInt().")
    extra = len(src.bands) - 1
    n_inputs = getattr(reducer, "n_inputs", 1) if reducer is not None else 0
    if reducer is not None and n_inputs != extra:
        raise InvalidArgument(f"{where}: the reducer needs {n_inputs} inputs but the image has {extra} band(s) "
                              "besides the label band.")
    if reducer is None and extra:
        raise InvalidArgument(f"{where}: the image has {extra} band(s) besides the label band; give a reducer "
                              "for them (or select the label band).")
    projection = _projection(src, crs, crsTransform, scale, where)
    grid, region = region_grid(src, geometry, projection, max_pixels=float(maxPixels), best_effort=bool(bestEffort),
                               where=where)
    pixels = src.compute(grid)
    labels, label_mask = pixels[0]
    valid = np.asarray(label_mask) & geometry_mask(region, grid)
    eight = bool(eightConnected)
    ids, values = _components(np.asarray(labels), valid, eight)
    outlines = _outlines(ids, grid, eight)
    counts = np.bincount(ids.ravel(), minlength=len(values) + 1)
    stats: list[dict[str, Any]] = [{"count": int(c)} for c in counts[1:]]
    if reducer is not None:
        stats = _reduce_regions(reducer, ids, pixels[1:], len(values))
    features = []
    for component in range(1, len(values) + 1):
        outline = outlines.get(component)
        if outline is None:
            continue
        props = {"system:index": str(len(features)), labelProperty or "label": _scalar(values[component - 1])}
        props.update(stats[component - 1])
        features.append(Feature(_output_geometry(outline, geometry_type, grid.crs,
                                                 bool(geometryInNativeProjection)), props))
    return FeatureCollection(features)


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _reduce_regions(reducer: Any, ids: np.ndarray, bands: Sequence[tuple[np.ndarray, np.ndarray]],
                    n_regions: int) -> list[dict[str, Any]]:
    """The reducer over each region's pixels where every extra band is valid."""
    keep = ids > 0
    for _, mask in bands:
        keep = keep & np.asarray(mask)
    region_of = ids[keep]
    table = np.stack([np.asarray(v)[keep] for v, _ in bands], axis=1).astype(np.float64) if bands else \
        np.zeros((int(keep.sum()), 0))  # a reducer of no inputs (countEvery) sees only the pixel count
    order = np.argsort(region_of, kind="stable")
    region_of, table = region_of[order], table[order]
    starts = np.searchsorted(region_of, np.arange(1, n_regions + 2))
    out = []
    for k in range(n_regions):
        rows = table[starts[k]:starts[k + 1]]
        result = reducer.reduce_samples(rows) if len(rows) else {name: None for name in reducer.output_names([])}
        out.append({name: _scalar(value) for name, value in result.items()})
    return out


@algorithm("Collection.reduceToImage")
def reduce_to_image(collection: Any, properties: Sequence[str], reducer: Any) -> Image:
    """Per pixel, ``reducer`` over ``properties`` of the features covering the pixel (masked where none does)."""
    from shapely.ops import unary_union

    where = "FeatureCollection.reduceToImage"
    if not isinstance(collection, FeatureCollection):
        raise InvalidArgument(f"{where}: expected a FeatureCollection; got {type(collection).__name__}.")
    names = [properties] if isinstance(properties, str) else list(properties)
    if len(names) != 1 or getattr(reducer, "n_inputs", 1) != 1:
        raise InvalidArgument(f"{where}: the local engine reduces one property with a one-input reducer; got "
                              f"{names}.")
    prop = names[0]
    items: list[tuple[Geometry, float]] = []
    for i, feature in enumerate(collection.features):
        value = feature.properties.get(prop)
        if feature.geometry is None or value is None:
            continue
        try:
            items.append((feature.geometry, float(value)))
        except (TypeError, ValueError):
            raise InvalidArgument(f"{where}: property '{prop}' of feature {i} is not a number: {value!r}.") from None
    outputs = reducer.output_names(names)
    types = reducer.output_types([PixelType("double")])
    specs = [BandSpec(name, ptype, DEFAULT_PROJECTION, None, True) for name, ptype in zip(outputs, types)]

    def read(grid: Grid, wanted: Sequence[int]):
        layers = [np.broadcast_to(np.float64(v), grid.shape) for _, v in items]
        masks = [geometry_mask(g, grid) for g, _ in items]
        if not layers:
            empty = (np.zeros(grid.shape), np.zeros(grid.shape, bool))
            return [empty for _ in wanted]
        reduced = reducer.reduce_stack(layers, masks)
        return [(reduced[w][0].astype(specs[w].pixel_type.dtype, copy=False), reduced[w][1]) for w in wanted]

    footprint = unary_union([g.in_crs("EPSG:4326") for g, _ in items]) if items else None
    return Image(specs, read, {}, footprint=footprint)
