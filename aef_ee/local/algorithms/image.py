"""Image construction and band bookkeeping: load, constant, select, rename, addBands, metadata, properties."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms._selectors import match_names
from aef_ee.local.algorithms.pixel_types import constant_type
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.context import current_context
from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.ingest import bands_from_files, resolve_uri
from aef_ee.local.projection import Projection, normalize_crs, transformer
from aef_ee.local.raster import (
    ANY_LATTICE,
    DEFAULT_PROJECTION,
    BandSpec,
    FileBand,
    Image,
    PixelType,
    constant_image,
    file_image,
    true_mask,
)
from aef_ee.local.safe_regex import compile_pattern
from aef_ee.local.values import Date, Geometry

__all__ = ["load_image", "image_from_record", "select_by_names", "as_image"]


# --- loading from the catalog ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _file_meta(path: str, mtime_key: float) -> tuple[Projection, tuple[int, int], Any]:
    """(projection, (width, height), footprint in EPSG:4326) of a raster file."""
    import rasterio
    from shapely.geometry import box

    try:
        with rasterio.open(path) as ds:
            crs = normalize_crs(ds.crs.to_string()) if ds.crs else "EPSG:4326"
            t = ds.transform
            proj = Projection(crs, (t.a, t.b, t.c, t.d, t.e, t.f))
            dims = (ds.width, ds.height)
            left, bottom, right, top = ds.bounds
    except rasterio.errors.RasterioIOError as exc:
        raise NotFound(f"Cannot read raster file {path!r}: {exc}") from exc
    footprint = box(left, bottom, right, top)
    if crs != "EPSG:4326":
        from shapely.geometry import Polygon

        ring = footprint.exterior.segmentize(max(right - left, top - bottom) / 16)
        xs, ys = transformer(crs, "EPSG:4326").transform(*np.asarray(ring.coords).T)
        footprint = Polygon(zip(xs, ys))
    return proj, dims, footprint


def _mtime(path: str) -> float:
    import os

    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def image_from_record(catalog: Any, record: Any, settings: Any = None) -> Image:
    """The lazy image of an IMAGE asset record.

    Bands stored as ``gs://`` URIs (Cloud-GeoTIFF-backed images) are resolved when loaded, through the engine's
    settings (its local bucket folder or Cloud Storage), so they are read in place.
    """
    manifest = record.manifest
    bands = []
    footprint = None
    for band in manifest.get("bands", []):
        path = catalog.band_path(record, band)
        if path.startswith("gs://"):
            if settings is None:
                try:
                    settings = current_context().settings
                except RuntimeError:
                    settings = {}
            path = resolve_uri(path, dict(settings), catalog)
        proj, dims, fp = _file_meta(path, _mtime(path))
        footprint = footprint or fp
        dtype = np.dtype(band.get("data_type") or "float32")
        ptype = PixelType.from_dtype(dtype)
        bands.append((band["id"], FileBand(path, int(band.get("band", 1)), band.get("nodata")), ptype, proj, dims))
    properties = dict(manifest.get("properties") or {})
    properties["system:id"] = record.id
    properties.setdefault("system:index", record.id.rsplit("/", 1)[-1])
    return file_image(bands, properties, footprint=footprint)


@algorithm("Image.load")
def load_image(id: str, version: int | None = None) -> Image:
    context = current_context()
    record = context.catalog.get(id)
    if record.type != "IMAGE":
        raise InvalidArgument(f"Asset '{id}' is not an Image (it is a {record.type}).")
    return image_from_record(context.catalog, record)


# --- constants and coercion ------------------------------------------------------------------------------

def _constants(values: Sequence[Any]) -> Image:
    """Constant bands typed as Earth Engine types constants (:func:`pixel_types.constant_type`)."""
    return constant_image(list(values), types=[constant_type(v) for v in values])


def as_image(value: Any) -> Image:
    """Numbers and lists of numbers become constant images, as Earth Engine promotes them."""
    if isinstance(value, Image):
        return value
    if isinstance(value, (int, float, np.number, bool)):
        return _constants([value])
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, np.number)) for v in value):
        return _constants(list(value))
    if isinstance(value, (list, tuple)) and all(isinstance(v, Image) for v in value):
        return cat(value)
    raise InvalidArgument(f"Expected an Image or a number; got {type(value).__name__}.")


def _array_constant(value: np.ndarray) -> Image:
    """``ee.Image(ee.Array(...))``: one band ``constant`` holding the array at every pixel (values (H, W, *shape)),
    unbounded and never masked, typed int over the values' range or double."""
    data = np.asarray(value)
    if data.dtype.kind in "biu":
        data = data.astype(np.int64)
        ptype = PixelType("int", int(data.min()), int(data.max())) if data.size else PixelType("int", 0, 0)
    else:
        data, ptype = data.astype(np.float64), PixelType("double")
    spec = BandSpec("constant", ptype, DEFAULT_PROJECTION, None, True)

    def read(grid, indexes):
        return [(np.broadcast_to(data, grid.shape + data.shape), true_mask(grid.shape)) for _ in indexes]

    return Image([spec], read, pixelwise=ANY_LATTICE)


@algorithm("Image.constant")
def image_constant(value: Any) -> Image:
    if isinstance(value, np.ndarray) and value.ndim >= 1:  # an ee.Array: an array image
        return _array_constant(value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise InvalidArgument("Image.constant: the list of values is empty.")
        if not all(isinstance(v, (int, float, np.number, bool)) for v in value):
            raise InvalidArgument(f"Image.constant: expected numbers; got {value!r}.")
        return _constants(list(value))
    if not isinstance(value, (int, float, np.number, bool)):
        raise InvalidArgument(f"Image.constant: expected a number or a list of numbers; got {value!r}.")
    return _constants([value])


@algorithm("Image.cat")
def cat(images: Sequence[Any]) -> Image:
    result: Image | None = None
    for img in images:
        result = as_image(img) if result is None else add_bands(result, as_image(img))
    if result is None:
        return Image([], lambda grid, idx: [])
    return result


# --- band selection --------------------------------------------------------------------------------------

def _matches(pattern: str, names: Sequence[str]) -> list[int]:
    """Indexes of the bands ``pattern`` selects (see :func:`match_names`)."""
    return [names.index(n) for n in match_names(pattern, names, where="Image.select")]


def _subset(image: Image, indexes: Sequence[int], new_names: Sequence[str] | None = None) -> Image:
    indexes = list(indexes)
    specs = [image.bands[i] for i in indexes]
    if new_names is not None:
        if len(new_names) != len(specs):
            raise InvalidArgument(
                f"Image.select: The number of new names ({len(new_names)}) does not match the number of selected "
                f"bands ({len(specs)}).")
        specs = [s.renamed(n) for s, n in zip(specs, new_names)]
    parent = image

    def read(grid, wanted):
        return parent.compute(grid, [indexes[w] for w in wanted])

    out = image.with_bands(specs, read)
    out.pixelwise = image.pixelwise  # picking or renaming bands keeps an image pixel-wise
    constants = getattr(image, "constant_values", None)
    if constants is not None:  # renamed constants are still constants (ee.Image.constant(v).rename(names))
        out.constant_values = tuple(constants[i] for i in indexes)  # type: ignore[attr-defined]
    return out


def select_by_names(image: Image, selectors: Sequence[Any], new_names: Sequence[str] | None = None) -> Image:
    names = image.band_names
    indexes: list[int] = []
    for sel in selectors:
        if isinstance(sel, (int, np.integer)) and not isinstance(sel, bool):
            if not 0 <= sel < len(names):
                raise NotFound(f"Image.select: Band index {sel} out of bounds. Available bands: {names}")
            found = [int(sel)]
        else:
            found = _matches(str(sel), names)
        if not found:
            raise InvalidArgument(f"Image.select: Pattern '{sel}' did not match any bands. Available bands: {names}")
        indexes.extend(i for i in found if i not in indexes)
    return _subset(image, indexes, new_names)


@algorithm("Image.select")
def image_select(input: Image, bandSelectors: Sequence[Any], newNames: Sequence[str] | None = None) -> Image:
    if not isinstance(bandSelectors, (list, tuple)):
        bandSelectors = [bandSelectors]
    return select_by_names(as_image(input), bandSelectors, newNames)


@algorithm("Image.rename")
def image_rename(input: Image, names: Sequence[str]) -> Image:
    if isinstance(names, str):
        names = [names]
    image = as_image(input)
    if len(names) != len(image.bands):
        raise InvalidArgument(
            f"Image.rename: Can't rename {len(image.bands)} bands to {len(names)} names ({list(names)}).")
    return _subset(image, range(len(image.bands)), list(names))


# Java's group references in a replacement ($1, $12) as Python's (\g<1>).
_JAVA_GROUP = re.compile(r"\$(\d+)")


@algorithm("Image.regexpRename")
def regexp_rename(input: Image, regex: str, replacement: str, all: bool = True) -> Image:
    image = as_image(input)
    pattern = compile_pattern(regex, where="Image.regexpRename")
    template = _JAVA_GROUP.sub(r"\\g<\1>", str(replacement))
    names = [pattern.sub(template, n, count=0 if all else 1) for n in image.band_names]
    return _subset(image, range(len(image.bands)), names)


def _unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2``... whichever is first free (Earth Engine's renaming in addBands)."""
    if name not in taken:
        return name
    k = 1
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


@algorithm("Image.addBands")
def add_bands(dstImg: Image, srcImg: Image, names: Sequence[str] | None = None,
              overwrite: bool = False) -> Image:
    """Earth Engine's ``Image.addBands``: every band of ``dstImg``, then the (selected) bands of ``srcImg``.

    A source band whose name is taken replaces the destination band with ``overwrite``; otherwise it is renamed
    with a numerical suffix, as Earth Engine documents: "the new band will be renamed with a numerical suffix
    (`foo` to `foo_1` unless `foo_1` exists, then `foo_2` unless it exists, etc)". So ``image.addBands(image)``
    doubles the bands. The result keeps ``dstImg``'s properties and footprint.
    """
    dst = as_image(dstImg)
    src = as_image(srcImg)
    if names is not None:
        src = select_by_names(src, list(names))
    src_names = src.band_names
    keep_dst = [i for i, n in enumerate(dst.band_names) if not (overwrite and n in src_names)]
    taken = {dst.band_names[i] for i in keep_dst}
    renamed = []
    for band in src.bands:
        new_name = band.name if overwrite else _unique_name(band.name, taken)
        taken.add(new_name)
        renamed.append(band.renamed(new_name))
    specs = [dst.bands[i] for i in keep_dst] + renamed
    n_dst = len(keep_dst)

    def read(grid, wanted):
        from_dst = [keep_dst[w] for w in wanted if w < n_dst]
        from_src = [w - n_dst for w in wanted if w >= n_dst]
        dst_px = iter(dst.compute(grid, from_dst))
        src_px = iter(src.compute(grid, from_src))
        return [next(dst_px) if w < n_dst else next(src_px) for w in wanted]

    footprint = dst.footprint if dst.footprint is not None else src.footprint
    return Image(specs, read, dst.properties, footprint=footprint)


# --- metadata --------------------------------------------------------------------------------------------

@algorithm("Image.bandNames")
def band_names(image: Image) -> list[str]:
    return as_image(image).band_names


@algorithm("Image.bandTypes")
def band_types(image: Image) -> dict[str, Any]:
    return {b.name: b.pixel_type.to_info() for b in as_image(image).bands}


@algorithm("Image.projection")
def image_projection(image: Image) -> Projection:
    image = as_image(image)
    projections = {b.projection for b in image.bands}
    if len(projections) > 1:
        raise InvalidArgument(
            "Image.projection: The bands of the specified image contains different projections. "
            "Use Image.select to pick a single band.")
    return image.default_projection()


@algorithm("Image.date")
def image_date(image: Image) -> Date:
    props = as_image(image).properties
    if "system:time_start" not in props:
        raise NotFound("Image.date: Image has no 'system:time_start' property.")
    return Date(float(props["system:time_start"]))


@algorithm("Image.id")
def image_id(image: Image) -> str | None:
    return as_image(image).properties.get("system:id")


@algorithm("Image.geometry")
def image_geometry(feature: Image, maxError: Any = None, proj: Any = None, geodesics: Any = None) -> Any:
    from shapely.geometry import box

    image = as_image(feature)
    if image.footprint is None:  # unbounded: Earth Engine returns the whole world
        return Geometry(box(-180, -90, 180, 90), geodesic=False)
    return Geometry(image.footprint, geodesic=False)


# --- Element properties (shared by images, features and collections) -------------------------------------

@algorithm("Element.get")
def element_get(object: Any, property: str) -> Any:
    return object.properties.get(property)


@algorithm("Element.set")
def element_set(object: Any, key: str, value: Any = None) -> Any:
    props = dict(object.properties)
    props[key] = value
    return object.with_properties(props)


@algorithm("Element.setMulti")
def element_set_multi(object: Any, properties: dict[str, Any]) -> Any:
    props = dict(object.properties)
    props.update(properties or {})
    return object.with_properties(props)


@algorithm("Element.propertyNames")
def element_property_names(element: Any) -> list[str]:
    return list(element.properties)


@algorithm("Element.toDictionary")
def element_to_dictionary(element: Any, properties: Sequence[str] | None = None) -> dict[str, Any]:
    props = element.properties
    if properties is None:
        return {k: v for k, v in props.items() if not k.startswith("system:")}
    return {k: props[k] for k in properties if k in props}


@algorithm("Element.copyProperties")
def element_copy_properties(destination: Any = None, source: Any = None, properties: Sequence[str] | None = None,
                            exclude: Sequence[str] | None = None) -> Any:
    if destination is None or source is None:
        raise InvalidArgument("Element.copyProperties: destination and source are required.")
    src = source.properties
    if properties is None:
        chosen = {k: v for k, v in src.items() if not k.startswith("system:") and k not in (exclude or [])}
    else:
        chosen = {k: src[k] for k in properties if k in src}
    props = dict(destination.properties)
    props.update(chosen)
    return destination.with_properties(props)


@algorithm("Element.getNumber")
def element_get_number(object: Any, property: str) -> Any:
    return object.properties.get(property)


@algorithm("Element.getString")
def element_get_string(object: Any, property: str) -> Any:
    value = object.properties.get(property)
    return None if value is None else str(value)


@algorithm("Element.getArray")
def element_get_array(object: Any, property: str) -> Any:
    return object.properties.get(property)


@algorithm("Image.loadGeoTIFF")
def load_geotiff(uri: str) -> Image:
    """An image read in place from a Cloud GeoTIFF (``gs://``) or local GeoTIFF."""
    context = current_context()
    path = resolve_uri(uri, dict(context.settings), context.catalog)
    bands = []
    footprint = None
    for entry in bands_from_files([path]):
        proj, dims, fp = _file_meta(path, _mtime(path))
        footprint = footprint or fp
        bands.append((entry["id"], FileBand(path, entry["band"], entry["nodata"]),
                      PixelType.from_dtype(entry["data_type"]), proj, dims))
    return file_image(bands, {"system:index": uri.rsplit("/", 1)[-1]}, footprint=footprint)


@algorithm("Image.metadata")
def image_metadata(image: Image, property: str, name: str | None = None) -> Image:
    """Earth Engine's ``Image.metadata``: "a constant image of type double from a metadata property", band named
    ``name`` or the property. Unbounded, in the default projection, like every constant."""
    src = as_image(image)
    if property not in src.properties:
        raise NotFound(f"Image.metadata: the image has no property '{property}'.")
    value = src.properties[property]
    if isinstance(value, Date):
        value = value.millis
    if not isinstance(value, (int, float, np.number, bool)):
        raise InvalidArgument(f"Image.metadata: property '{property}' is not a number: {value!r}.")
    return constant_image([float(value)], [name or property], types=[PixelType("double")])
