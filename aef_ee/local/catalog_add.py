"""Adding a user's own files to a local catalog (the logic behind ``aef-ee catalog add``).

- Rasters (``.tif``/``.tiff``, e.g. an Earth Engine GeoTIFF export) become one IMAGE: the file is copied into the
  asset's own ``_data/<version>/`` as a DEFLATE-compressed COG and every file band becomes a band entry, named by
  its band description (Earth Engine exports write band names there) or ``b1``, ``b2``... when it has none.
- Tables become a TABLE backed by a GeoJSON FeatureCollection in EPSG:4326: a CSV with a ``.geo`` column as
  Earth Engine's CSV export writes it (``system:index`` becomes the feature id), GeoJSON, or GeoPackage.

Also the small writers the demo catalog shares: :func:`write_geotiff` and :func:`write_feature_collection`.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from aef_ee.atomic import DEFAULT_MODE, atomic_path, write_text_atomic
from aef_ee.local.catalog import FOLDER, IMAGE_COLLECTION, AssetRecord, Catalog
from aef_ee.local.crash_points import crash_point
from aef_ee.local.errors import AlreadyExists, InvalidArgument

__all__ = [
    "RASTER_SUFFIXES",
    "TABLE_SUFFIXES",
    "add_to_catalog",
    "parse_time",
    "parse_time_range",
    "parse_property",
    "parse_properties",
    "write_geotiff",
    "write_feature_collection",
    "read_table_features",
]

logger = logging.getLogger(__name__)

RASTER_SUFFIXES = (".tif", ".tiff")
TABLE_SUFFIXES = (".csv", ".geojson", ".json", ".gpkg")
# Tiles of 256 x 256 suit both windowed reads and the 256 px map tiles the engine renders.
BLOCK_SIZE = 256
# Overviews only pay off above a few tiles.
OVERVIEW_MIN_SIZE = 2 * BLOCK_SIZE
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_EPSG4326_NAMES = {"EPSG:4326", "urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4326", "OGC:CRS84"}


# ----- parsing command-line values -----

def parse_time(value: str | int | datetime.datetime | datetime.date) -> int:
    """Milliseconds since the epoch (UTC) from an ISO date (``2020``, ``2020-06``, ``2020-06-01``,
    ``2020-06-01T10:30:00[Z|+02:00]``; a time without offset is UTC), a datetime, or an int already in ms.

    Raises:
        InvalidArgument: the value is not one of these (the message quotes it).
    """
    if isinstance(value, bool):
        raise InvalidArgument(f"Bad time {value!r}: expected an ISO date such as 2020-06-01")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if re.fullmatch(r"\d{4}", text):
                moment = datetime.datetime(int(text), 1, 1)
            elif re.fullmatch(r"\d{4}-\d{2}", text):
                moment = datetime.datetime(int(text[:4]), int(text[5:]), 1)
            else:
                moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError as e:
            raise InvalidArgument(f"Bad time {value!r}: expected an ISO date such as 2020-06-01 or "
                                  f"2020-06-01T10:30:00Z ({e})") from e
    else:
        raise InvalidArgument(f"Bad time {value!r}: expected an ISO date string, a datetime or ms since epoch")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(round(moment.timestamp() * 1000))


def parse_time_range(text: str) -> tuple[int, int | None]:
    """``start[/end]`` ISO dates (the ``--time`` option) to (start ms, end ms or None).

    Raises:
        InvalidArgument: a bad date, more than one ``/``, or an end before the start.
    """
    parts = str(text).split("/")
    if len(parts) > 2 or not parts[0].strip():
        raise InvalidArgument(f"Bad time range {text!r}: expected START or START/END, e.g. 2020-01-01/2021-01-01")
    start = parse_time(parts[0])
    end = parse_time(parts[1]) if len(parts) == 2 and parts[1].strip() else None
    if end is not None and end < start:
        raise InvalidArgument(f"Bad time range {text!r}: the end is before the start")
    return start, end


def parse_property(text: str) -> tuple[str, int | float | str]:
    """``key=value`` (the ``--property`` option); the value becomes an int or float when it reads as one.

    Raises:
        InvalidArgument: no ``=`` or an empty key (the message quotes the text).
    """
    key, sep, value = str(text).partition("=")
    key = key.strip()
    if not sep or not key:
        raise InvalidArgument(f"Bad property {text!r}: expected KEY=VALUE, e.g. cloud_cover=12.5")
    if _INTEGER.fullmatch(value.strip()):
        return key, int(value)
    if _NUMBER.fullmatch(value.strip()):
        return key, float(value)
    return key, value


def parse_properties(properties: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    """A dict as given, or ``key=value`` strings parsed with :func:`parse_property`; None gives {}."""
    if properties is None:
        return {}
    if isinstance(properties, Mapping):
        return dict(properties)
    if isinstance(properties, str):
        properties = [properties]
    return dict(parse_property(item) for item in properties)


# ----- writers shared with the demo catalog -----

def write_geotiff(path: str | Path, data: np.ndarray, *, transform: Any, crs: Any, nodata: float | None = None,
                  descriptions: Sequence[str] | None = None) -> Path:
    """Write a tiled, DEFLATE-compressed GeoTIFF atomically.

    One band: a Cloud-Optimized GeoTIFF (GDAL's COG driver). Several bands: a tiled, *band-interleaved* GeoTIFF
    with internal overviews when large, so that reading one band of a many-band file (the 744-hour ERA5 stack)
    decompresses only that band; GDAL 3.10's COG driver only writes pixel interleaving.

    Args:
        data: (bands, height, width) or (height, width) array; its dtype is the file's.
        transform: affine pixel-to-CRS transform; crs: anything rasterio accepts ("EPSG:32631").
        nodata: the value marking masked pixels, or None.
        descriptions: one band name per band (Earth Engine band ids), stored as band descriptions.
    """
    import rasterio
    from rasterio.enums import Resampling

    path = Path(path)
    array = data[None] if data.ndim == 2 else data
    count, height, width = array.shape
    predictor = 3 if array.dtype.kind == "f" else 2
    # Small rasters get one tile (GDAL's COG driver wants at least 128).
    tile = BLOCK_SIZE if max(height, width) > BLOCK_SIZE // 2 else BLOCK_SIZE // 2
    profile = dict(width=width, height=height, count=count, dtype=array.dtype.name, crs=crs, transform=transform,
                   nodata=nodata, compress="DEFLATE", predictor=predictor)
    if count == 1:
        profile.update(driver="COG", blocksize=tile, overview_resampling="nearest")
    else:
        profile.update(driver="GTiff", tiled=True, blockxsize=tile, blockysize=tile, interleave="band")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(array)
        if descriptions is not None:
            for index, name in enumerate(descriptions, start=1):
                dst.set_band_description(index, name)
        if count > 1 and max(height, width) >= OVERVIEW_MIN_SIZE:
            factors = [2 ** k for k in range(1, 12) if max(height, width) / 2 ** k >= BLOCK_SIZE // 2]
            dst.build_overviews(factors, Resampling.nearest)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas.Timestamp
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    return value


def write_feature_collection(path: str | Path, geometries: Sequence[dict | None],
                             properties: Sequence[Mapping[str, Any]], ids: Sequence[Any] | None = None) -> Path:
    """Write a GeoJSON FeatureCollection (EPSG:4326 coordinates, as given) atomically.

    Args:
        geometries: GeoJSON geometry dicts (or None), one per feature.
        properties: one mapping per feature; numpy scalars become Python numbers, NaN becomes null.
        ids: feature ids (become ``system:index``), converted to strings; default "0", "1", ...
    """
    path = Path(path)
    if len(geometries) != len(properties) or (ids is not None and len(ids) != len(geometries)):
        raise InvalidArgument(f"{len(geometries)} geometries, {len(properties)} property rows and "
                              f"{None if ids is None else len(ids)} ids do not match")
    features = []
    for index, (geometry, props) in enumerate(zip(geometries, properties)):
        features.append({
            "type": "Feature",
            "id": str(ids[index]) if ids is not None else str(index),
            "geometry": geometry,
            "properties": {str(k): _jsonable(v) for k, v in props.items()},
        })
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({"type": "FeatureCollection", "features": features}, allow_nan=False))
    return path


# ----- reading user tables -----

def _read_ee_csv(path: Path) -> tuple[list[dict | None], list[dict], list[str]]:
    import pandas as pd

    frame = pd.read_csv(path)
    if ".geo" not in frame.columns:
        raise InvalidArgument(f"CSV {str(path)!r} has no '.geo' column (Earth Engine's CSV export writes the "
                              f"geometry there as GeoJSON); columns: {list(frame.columns)[:20]}")
    geometries: list[dict | None] = []
    for row, text in enumerate(frame[".geo"].tolist()):
        if not isinstance(text, str) or not text.strip():
            geometries.append(None)
            continue
        try:
            geometry = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidArgument(f"CSV {str(path)!r} row {row + 1}: '.geo' is not GeoJSON: {text[:80]!r}") from e
        if not isinstance(geometry, dict) or "type" not in geometry:
            raise InvalidArgument(f"CSV {str(path)!r} row {row + 1}: '.geo' is not a GeoJSON geometry: {text[:80]!r}")
        geometry.pop("geodesic", None)  # Earth Engine's flag, not GeoJSON
        geometries.append(geometry)
    if "system:index" in frame.columns:
        ids = [str(v) for v in frame["system:index"].tolist()]
    else:
        ids = [str(i) for i in range(len(frame))]
    columns = [c for c in frame.columns if c not in (".geo", "system:index")]
    rows = [dict(zip(columns, values)) for values in frame[columns].itertuples(index=False, name=None)]
    return geometries, rows, ids


def _read_with_geopandas(path: Path, layer: str | None) -> tuple[list[dict | None], list[dict], list[str]]:
    import geopandas as gpd
    import shapely.geometry

    kwargs: dict[str, Any] = {"fid_as_index": True}
    if layer is not None:
        kwargs["layer"] = layer
    frame = gpd.read_file(path, **kwargs)
    if frame.crs is None:
        raise InvalidArgument(f"Table {str(path)!r} has no CRS; cannot convert it to EPSG:4326")
    frame = frame.to_crs(4326)
    geometries = [None if g is None or g.is_empty else json.loads(json.dumps(shapely.geometry.mapping(g)))
                  for g in frame.geometry]
    columns = [c for c in frame.columns if c != frame.geometry.name]
    rows = [dict(zip(columns, values)) for values in frame[columns].itertuples(index=False, name=None)]
    return geometries, rows, [str(i) for i in frame.index]


def _read_geojson(path: Path) -> tuple[list[dict | None], list[dict], list[str]]:
    with open(path, encoding="utf-8") as f:
        try:
            document = json.load(f)
        except json.JSONDecodeError as e:
            raise InvalidArgument(f"{str(path)!r} is not valid JSON: {e}") from e
    crs_name = (document.get("crs") or {}).get("properties", {}).get("name") if isinstance(document, dict) else None
    if crs_name is not None and crs_name not in _EPSG4326_NAMES:
        return _read_with_geopandas(path, None)
    if isinstance(document, dict) and document.get("type") == "Feature":
        document = {"type": "FeatureCollection", "features": [document]}
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise InvalidArgument(f"{str(path)!r} is not a GeoJSON FeatureCollection (type "
                              f"{document.get('type') if isinstance(document, dict) else type(document).__name__!r})")
    features = document.get("features", [])
    ids = [str(f.get("id", i)) for i, f in enumerate(features)]
    return [f.get("geometry") for f in features], [f.get("properties") or {} for f in features], ids


def read_table_features(path: str | Path, *, layer: str | None = None) -> tuple[list[dict | None], list[dict],
                                                                              list[str]]:
    """(geometries in EPSG:4326 as GeoJSON dicts, property dicts, feature ids) of a CSV / GeoJSON / GeoPackage.

    Raises:
        InvalidArgument: an unknown extension, a CSV without ``.geo``, malformed GeoJSON.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_ee_csv(path)
    if suffix in (".geojson", ".json"):
        return _read_geojson(path)
    if suffix == ".gpkg":
        return _read_with_geopandas(path, layer)
    raise InvalidArgument(f"Unknown table extension {path.suffix!r} of {str(path)!r}; expected one of "
                          f"{('.csv', '.geojson', '.json', '.gpkg')}")


# ----- the command -----

def _band_ids(descriptions: Sequence[str | None], path: Path) -> list[str]:
    ids = [d if d else f"b{i}" for i, d in enumerate(descriptions, start=1)]
    duplicates = sorted({b for b in ids if ids.count(b) > 1})
    if duplicates:
        raise InvalidArgument(f"Raster {str(path)!r} has duplicate band descriptions {duplicates}; band ids must "
                              "be unique")
    return ids


def _add_raster(catalog: Catalog, cid: str, source: Path, properties: dict, *, overwrite: bool,
                parent_type: str) -> AssetRecord:
    import rasterio
    import rasterio.shutil

    with rasterio.open(source) as src:
        if src.crs is None:
            raise InvalidArgument(f"Raster {str(source)!r} has no CRS")
        band_ids = _band_ids(src.descriptions, source)
        dtypes, nodatas = src.dtypes, src.nodatavals
    name = f"{cid.rsplit('/', 1)[-1]}.tif"
    with catalog.stage() as stage:
        rasterio.shutil.copy(source, stage.file(name), driver="COG", compress="DEFLATE", blocksize=BLOCK_SIZE,
                             overview_resampling="nearest")
        os.chmod(stage.file(name), DEFAULT_MODE)
        crash_point("add.staged")
        bands = [{"id": band_id, "path": stage.ref(name), "band": index, "data_type": dtypes[index - 1],
                  "nodata": None if nodatas[index - 1] is None else _jsonable(nodatas[index - 1])}
                 for index, band_id in enumerate(band_ids, start=1)]
        return catalog.write_image(cid, bands, properties, overwrite=overwrite, make_parents=True,
                                   parent_type=parent_type, data=stage)


def _add_table(catalog: Catalog, cid: str, source: Path, properties: dict, *, overwrite: bool) -> AssetRecord:
    geometries, rows, ids = read_table_features(source)
    name = f"{cid.rsplit('/', 1)[-1]}.geojson"
    with catalog.stage() as stage:
        write_feature_collection(stage.file(name), geometries, rows, ids)
        crash_point("add.staged")
        return catalog.write_table(cid, stage.ref(name), properties, overwrite=overwrite, make_parents=True,
                                   data=stage)


def add_to_catalog(catalog_root: str | Path, asset_id: str, file: str | Path, *,
                   time_start: str | int | datetime.datetime | None = None,
                   time_end: str | int | datetime.datetime | None = None,
                   properties: Mapping[str, Any] | Iterable[str] | None = None,
                   overwrite: bool = False, collection: bool = False) -> AssetRecord:
    """Add a raster (IMAGE) or a table (TABLE) from ``file`` to the catalog at ``catalog_root``, in one commit: a
    kill at any moment leaves the catalog as it was or with the new asset (see :mod:`aef_ee.local.catalog_commit`).

    Args:
        catalog_root: the catalog directory.
        asset_id: e.g. ``projects/local/assets/my_export``; missing parent folders are created.
        file: a GeoTIFF (``.tif``/``.tiff``), or a table: CSV with a ``.geo`` column, GeoJSON, GeoPackage.
        time_start, time_end: ISO dates (or ms since epoch) stored as ``system:time_start``/``system:time_end``;
            ``time_start`` may also be the ``--time`` option's ``START/END``.
        properties: a dict, or ``key=value`` strings (numbers are parsed).
        overwrite: replace an existing image or table of that ID.
        collection: the asset's parent is an IMAGE_COLLECTION: created as one if missing (its missing parents as
            FOLDERs), refused if it exists as a FOLDER. Only for rasters.

    Returns:
        The new asset's record.

    Raises:
        InvalidArgument: unknown extension, missing ``.geo``, bad time or property (the message names the value), a
            table with ``collection``, or a parent of the wrong type.
        AlreadyExists: the asset exists and ``overwrite`` is False.
        FileNotFoundError: ``file`` does not exist.
    """
    source = Path(file).expanduser()
    suffix = source.suffix.lower()
    if suffix not in RASTER_SUFFIXES + TABLE_SUFFIXES:
        raise InvalidArgument(f"Unknown file extension {source.suffix!r} of {str(source)!r}; expected a raster "
                              f"{RASTER_SUFFIXES} or a table {TABLE_SUFFIXES}")
    if not source.is_file():
        raise FileNotFoundError(f"No such file: {str(source)!r}")
    props = parse_properties(properties)
    if isinstance(time_start, str) and "/" in time_start:
        if time_end is not None:
            raise InvalidArgument(f"Bad time {time_start!r}: give START/END or time_end, not both")
        start_ms, end_ms = parse_time_range(time_start)
        time_start, time_end = start_ms, end_ms
    if time_start is not None:
        props["system:time_start"] = parse_time(time_start)
    if time_end is not None:
        props["system:time_end"] = parse_time(time_end)
    start, end = props.get("system:time_start"), props.get("system:time_end")
    if start is not None and end is not None and end < start:
        raise InvalidArgument(f"Bad time range: end {time_end!r} is before start {time_start!r}")
    catalog = Catalog(catalog_root)
    cid = catalog.canonical_id(asset_id)
    if catalog.exists(cid) and not overwrite:
        raise AlreadyExists(f"Asset '{cid}' already exists; pass overwrite=True (--overwrite) to replace it.")
    parent = cid.rsplit("/", 1)[0] if "/" in cid else None
    if suffix in TABLE_SUFFIXES and (collection or (parent is not None and catalog.exists(parent)
                                                    and catalog.get(parent).type == IMAGE_COLLECTION)):
        raise InvalidArgument(f"Cannot add table '{cid}': an IMAGE_COLLECTION holds only images "
                              f"(parent '{parent}').")
    if suffix in RASTER_SUFFIXES:
        record = _add_raster(catalog, cid, source, props, overwrite=overwrite,
                             parent_type=IMAGE_COLLECTION if collection else FOLDER)
    else:
        record = _add_table(catalog, cid, source, props, overwrite=overwrite)
    logger.info("added %s %s from %s", record.type, record.id, source)
    return record
