"""Composites of image collections: ``ImageCollection.reduce`` and its ``reduce.*`` shortcuts (median, mean, ...),
``mosaic``, ``qualityMosaic``, ``toBands`` and ``combine``.

Composites follow Earth Engine: their bands are in the default projection (WGS84 at 1 degree) whatever the inputs'
projection, so a ``reduceRegion`` or export of a composite needs an explicit ``scale``/``crs`` — the classic pitfall,
reproduced on purpose. Pixels of a composite are pulled for the requested grid from only the images whose footprint
meets it; bands of images loaded straight from files are read together (one read per file); deep stacks are reduced
a few rows at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms import reducer as r
from aef_ee.local.algorithms.image import add_bands, as_image
from aef_ee.local.algorithms.reducer import Reducer, as_reducer, widen_types
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.projection import DEFAULT_PROJECTION, Grid, transformer
from aef_ee.local.raster import BandSpec, Image, file_image
from aef_ee.local.values import ImageCollection

__all__ = ["composite", "compute_many", "mosaic", "to_bands"]

# Layer values a composite holds at once (2^23 float64 values: 64 MiB), whatever the collection's depth.
STACK_VALUES = 2**23


def _grid_box_4326(grid: Grid) -> Any:
    """The grid's outline in EPSG:4326 (a shapely polygon), for footprint tests."""
    from shapely.geometry import Polygon, box

    xmin, ymin, xmax, ymax = grid.bounds()
    if grid.crs == "EPSG:4326":
        return box(xmin, ymin, xmax, ymax)
    xs = np.concatenate([np.linspace(xmin, xmax, 9), np.full(9, xmax), np.linspace(xmax, xmin, 9), np.full(9, xmin)])
    ys = np.concatenate([np.full(9, ymin), np.linspace(ymin, ymax, 9), np.full(9, ymax), np.linspace(ymax, ymin, 9)])
    lon, lat = transformer(grid.crs, "EPSG:4326").transform(xs, ys)
    ring = Polygon(zip(lon, lat))
    return ring if ring.is_valid else ring.buffer(0)


def _relevant(images: Sequence[Image], grid: Grid) -> list[int]:
    """Indexes of the images whose footprint meets the grid (unbounded images always do)."""
    if all(img.footprint is None for img in images):
        return list(range(len(images)))
    outline = _grid_box_4326(grid)
    return [i for i, img in enumerate(images) if img.footprint is None or img.footprint.intersects(outline)]


def _union_footprint(images: Sequence[Image]) -> Any:
    if not images or any(img.footprint is None for img in images):
        return None
    from shapely.ops import unary_union

    return unary_union([img.footprint for img in images])


def _band_sources(images: Sequence[Image], names: Sequence[str]) -> list[list[tuple[int, int]]]:
    """Per output band name, the (image index, band index) pairs of the images holding that band."""
    sources: list[list[tuple[int, int]]] = []
    for name in names:
        pairs = []
        for i, img in enumerate(images):
            bn = img.band_names
            if name in bn:
                pairs.append((i, bn.index(name)))
        sources.append(pairs)
    return sources


def compute_many(images: Sequence[Image], requests: Sequence[tuple[int, int]], grid: Grid
                 ) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Pixels of many (image index, band index) pairs on ``grid``.

    Bands of images loaded straight from files are read together, one read per file and projection (744 hourly
    ERA5 images stored as the bands of one file cost one read); other images are computed one by one.
    """
    out: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    by_image: dict[int, list[int]] = {}
    for i, b in requests:
        if b not in by_image.setdefault(i, []):
            by_image[i].append(b)
    batch: list[tuple[int, int]] = []
    for i, bands in by_image.items():
        if getattr(images[i], "_file_bands", None) is not None and getattr(images[i], "_resampling", "") == "nearest":
            batch.extend((i, b) for b in bands)
        else:
            for b, px in zip(bands, images[i].compute(grid, bands)):
                out[(i, b)] = px
    if batch:
        specs = []
        for n, (i, b) in enumerate(batch):
            location, projection, dims = images[i]._file_bands[b]  # type: ignore[attr-defined]
            specs.append((f"b{n}", location, images[i].bands[b].pixel_type, projection, dims))
        combined = file_image(specs, {})
        for key, px in zip(batch, combined.compute(grid)):
            out[key] = px
    return out


def _gather(images: Sequence[Image], sources: list[list[tuple[int, int]]], wanted: Sequence[int], grid: Grid,
            keep: set[int]) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """For each wanted output band, the (values, mask) of that band in every relevant image, in image order."""
    requests = [(i, b) for w in wanted for i, b in sources[w] if i in keep]
    pixels = compute_many(images, requests, grid)
    return [[pixels[(i, b)] for i, b in sources[w] if i in keep] for w in wanted]


def composite(
    collection: ImageCollection,
    reducer: Reducer,
    output_names: Callable[[str, list[str]], list[str]],
) -> Image:
    """Per-pixel reduction of each band over the images of ``collection``.

    Args:
      collection: the images; output bands follow the first image's band names.
      reducer: a single-input reducer (its raw outputs, e.g. ['p10', 'p90']).
      output_names: (band name, raw outputs) -> the output band names for that band.

    Returns:
      An image in the default projection (WGS84, 1 degree), as Earth Engine gives composites.
    """
    images = list(collection.images)
    if not images:
        return Image([], lambda grid, idx: [], {})
    if reducer.n_inputs != 1:
        return _composite_inputs(images, reducer)
    names = images[0].band_names
    sources = _band_sources(images, names)
    specs: list[BandSpec] = []
    owner: list[tuple[int, int]] = []  # (band position, output position)
    for pos, name in enumerate(names):
        types = [images[i].bands[b].pixel_type for i, b in sources[pos]]
        outs = output_names(name, reducer.output_names([name]))
        for k, (out_name, ptype) in enumerate(zip(outs, reducer.output_types(types))):
            specs.append(BandSpec(out_name, ptype, DEFAULT_PROJECTION, None, True))
            owner.append((pos, k))

    def read(grid: Grid, wanted: Sequence[int]):
        keep = set(_relevant(images, grid))
        bands = sorted({owner[w][0] for w in wanted})
        stacks = dict(zip(bands, _gather(images, sources, bands, grid, keep)))
        results: dict[int, list] = {}
        out = []
        for w in wanted:
            pos, k = owner[w]
            if pos not in results:
                stack = stacks[pos]
                if not stack:
                    empty = np.zeros(grid.shape, specs[w].pixel_type.dtype)
                    results[pos] = [(empty, np.zeros(grid.shape, bool))] * len(reducer.outputs)
                else:
                    results[pos] = reducer.reduce_stack([v for v, _ in stack], [m for _, m in stack])
            values, mask = results[pos][k]
            out.append((np.asarray(values).astype(specs[w].pixel_type.dtype, copy=False), mask))
        return out

    return Image(specs, _in_row_chunks(read, len(images) * max(1, len(names)), specs), {},
                 footprint=_union_footprint(images))


def _in_row_chunks(read: Callable, depth: int, specs: Sequence[BandSpec]) -> Callable:
    """A reader that computes a deep stack (``depth`` layers per pixel) a few rows at a time, so that at most
    ``STACK_VALUES`` layer values are held at once, whatever the requested grid."""

    def chunked(grid: Grid, wanted: Sequence[int]):
        rows = max(1, STACK_VALUES // max(1, depth * grid.width))
        if rows >= grid.height:
            return read(grid, wanted)
        values: list[np.ndarray | None] = [None] * len(wanted)
        masks = [np.empty(grid.shape, bool) for _ in wanted]
        for r0 in range(0, grid.height, rows):
            r1 = min(r0 + rows, grid.height)
            for k, (v, m) in enumerate(read(grid.window(r0, r1), wanted)):
                v = np.asarray(v)
                if values[k] is None:  # array-valued bands (a regression's coefficients) have trailing axes
                    values[k] = np.empty(grid.shape + v.shape[2:], specs[wanted[k]].pixel_type.dtype)
                values[k][r0:r1] = v
                masks[k][r0:r1] = m
        return list(zip(values, masks))

    return chunked


def _composite_inputs(images: list[Image], reducer: Reducer) -> Image:
    """A reducer of k inputs over a collection of k-band images (``linearFit`` of [x, y] bands): raw output names."""
    names = images[0].band_names
    if len(names) != reducer.n_inputs:
        raise InvalidArgument(
            f"ImageCollection.reduce: Need {reducer.n_inputs} bands for {reducer.name}, but the images have "
            f"{len(names)} bands ({names}).")
    sources = _band_sources(images, names)
    specs = [BandSpec(o, t, DEFAULT_PROJECTION, None, True)
             for o, t in zip(reducer.outputs, reducer.output_types([b.pixel_type for b in images[0].bands]))]

    def read(grid: Grid, wanted: Sequence[int]):
        keep = set(_relevant(images, grid))
        complete = [i for i in sorted(keep) if all(any(j == i for j, _ in src) for src in sources)]
        stacks = _gather(images, sources, range(len(names)), grid, set(complete))
        if not complete:
            return [(np.zeros(grid.shape, specs[w].pixel_type.dtype), np.zeros(grid.shape, bool)) for w in wanted]
        outs = reducer.reduce_inputs([[v for v, _ in st] for st in stacks], [[m for _, m in st] for st in stacks])
        return [(np.asarray(outs[w][0]).astype(specs[w].pixel_type.dtype, copy=False), outs[w][1]) for w in wanted]

    return Image(specs, _in_row_chunks(read, len(images) * len(names), specs), {},
                 footprint=_union_footprint(images))


@algorithm("ImageCollection.reduce")
def reduce_collection(collection: ImageCollection, reducer: Any, parallelScale: float = 1) -> Image:
    """Bands named ``<band>_<output>`` (``B4_mean``, ``B4_p10``)."""
    return composite(_images(collection), as_reducer(reducer), lambda band, outs: [f"{band}_{o}" for o in outs])


def _register_shortcut(op: str, factory: Callable[[], Reducer]) -> None:
    def impl(collection: ImageCollection) -> Image:
        reducer = factory()
        return composite(_images(collection), reducer,
                         lambda band, outs: [band] if len(outs) == 1 else [f"{band}_{o}" for o in outs])

    impl.__name__ = f"reduce_{op}"
    algorithm(f"reduce.{op}")(impl)


def _shortcuts() -> None:
    for op, factory in (("mean", r.mean), ("median", r.median), ("min", r.min_), ("max", r.max_), ("sum", r.sum_),
                        ("count", r.count), ("product", r.product), ("mode", r.mode), ("and", r.and_),
                        ("or", r.or_)):
        _register_shortcut(op, factory)


_shortcuts()


def _images(collection: Any) -> ImageCollection:
    if isinstance(collection, ImageCollection):
        return collection
    if isinstance(collection, Image):
        return ImageCollection([collection])
    if isinstance(collection, (list, tuple)):
        return ImageCollection([as_image(i) for i in collection])
    raise InvalidArgument(f"Expected an ImageCollection; got {type(collection).__name__}.")


@algorithm("ImageCollection.mosaic")
def mosaic(collection: ImageCollection) -> Image:
    """Later images on top: each pixel takes the last image (in collection order) where it is unmasked."""
    images = list(_images(collection).images)
    if not images:
        return Image([], lambda grid, idx: [], {})
    names = images[0].band_names
    sources = _band_sources(images, names)
    specs = [BandSpec(n, widen_types([images[i].bands[b].pixel_type for i, b in sources[p]]), DEFAULT_PROJECTION,
                      None, True) for p, n in enumerate(names)]

    def read(grid: Grid, wanted: Sequence[int]):
        keep = set(_relevant(images, grid))
        values = [np.zeros(grid.shape, specs[w].pixel_type.dtype) for w in wanted]
        masks = [np.zeros(grid.shape, bool) for _ in wanted]
        for i in sorted(keep, reverse=True):
            todo = [(k, w) for k, w in enumerate(wanted) if not masks[k].all()]
            if not todo:
                break
            need = [(k, names[w]) for k, w in todo if names[w] in images[i].band_names]
            if not need:
                continue
            idx = [images[i].band_names.index(n) for _, n in need]
            for (k, _), (v, m) in zip(need, images[i].compute(grid, idx)):
                fill = np.broadcast_to(m, grid.shape) & ~masks[k]
                np.copyto(values[k], np.broadcast_to(v, grid.shape), where=fill, casting="unsafe")
                masks[k] |= fill
        return list(zip(values, masks))

    return Image(specs, read, {}, footprint=_union_footprint(images))


@algorithm("ImageCollection.qualityMosaic")
def quality_mosaic(collection: ImageCollection, qualityBand: str) -> Image:
    """Each pixel from the image with the highest ``qualityBand`` value there (the first such image on ties)."""
    images = list(_images(collection).images)
    if not images:
        return Image([], lambda grid, idx: [], {})
    names = images[0].band_names
    if qualityBand not in names:
        raise NotFound(f"ImageCollection.qualityMosaic: Band '{qualityBand}' not found. Available bands: {names}")
    sources = _band_sources(images, names)
    specs = [BandSpec(n, widen_types([images[i].bands[b].pixel_type for i, b in sources[p]]), DEFAULT_PROJECTION,
                      None, True) for p, n in enumerate(names)]

    def read(grid: Grid, wanted: Sequence[int]):
        values = [np.zeros(grid.shape, specs[w].pixel_type.dtype) for w in wanted]
        masks = [np.zeros(grid.shape, bool) for _ in wanted]
        best = np.full(grid.shape, -np.inf)
        have = np.zeros(grid.shape, bool)
        for i in _relevant(images, grid):
            bn = images[i].band_names
            if qualityBand not in bn:
                continue
            idx = [bn.index(names[w]) if names[w] in bn else None for w in wanted]
            q_idx = bn.index(qualityBand)
            fetch = [q_idx] + [j for j in idx if j is not None]
            px = images[i].compute(grid, fetch)
            qv, qm = px[0]
            better = np.broadcast_to(qm, grid.shape) & (~have | (np.asarray(qv, np.float64) > best))
            if not better.any():
                continue
            best = np.where(better, qv, best)
            have |= better
            rest = iter(px[1:])
            for k, j in enumerate(idx):
                if j is None:
                    continue
                v, m = next(rest)
                np.copyto(values[k], np.broadcast_to(v, grid.shape), where=better, casting="unsafe")
                masks[k] = np.where(better, np.broadcast_to(m, grid.shape), masks[k])
        return list(zip(values, masks))

    return Image(specs, read, {}, footprint=_union_footprint(images))


@algorithm("ImageCollection.toBands")
def to_bands(collection: ImageCollection) -> Image:
    """One image holding every band of every image, named ``<system:index>_<band>``, each in its own projection."""
    images = list(_images(collection).images)
    specs: list[BandSpec] = []
    where: list[tuple[int, int]] = []
    for i, img in enumerate(images):
        prefix = str(img.properties.get("system:index", i))
        for b, band in enumerate(img.bands):
            specs.append(band.renamed(f"{prefix}_{band.name}"))
            where.append((i, b))

    def read(grid: Grid, wanted: Sequence[int]):
        pixels = compute_many(images, [where[w] for w in wanted], grid)
        return [pixels[where[w]] for w in wanted]

    return Image(specs, read, {}, footprint=_union_footprint(images))


@algorithm("ImageCollection.combine")
def image_collection_combine(primary: ImageCollection, secondary: ImageCollection,
                             overwrite: bool = False) -> ImageCollection:
    """Each primary image with the bands of the secondary image of the same ``system:index`` added (primary
    images without a match are dropped)."""
    by_index = {img.properties.get("system:index"): img for img in _images(secondary).images}
    out = []
    for img in _images(primary).images:
        match = by_index.get(img.properties.get("system:index"))
        if match is not None:
            out.append(add_bands(img, match, None, bool(overwrite)))
    return ImageCollection(out, dict(primary.properties))
