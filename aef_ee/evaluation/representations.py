"""Representations: named (n_samples, n_features) matrices aligned row by row with the labels.

A representation comes from a table (e.g. an Earth Engine CSV export with ``A00``..``A63``), from arrays
(baselines computed here, embeddings from a checkpoint), or from an Earth Engine image sampled at the label
points on the server (``image.sampleRegions``) and fetched with ``getInfo``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from aef_ee.errors import AefIOError, AefKeyError, AefValueError

if TYPE_CHECKING:
    import ee

__all__ = [
    "EE_ROW_PROPERTY",
    "Representation",
    "expand_columns",
    "from_array",
    "from_ee_image",
    "from_table",
    "read_table",
    "standardize_columns",
]

logger = logging.getLogger(__name__)

# Property carrying the label row number through sampleRegions, so results realign whatever order they return in.
EE_ROW_PROPERTY = "aef_row"
# Points per sampleRegions request: the point collection travels inside the request body as a literal.
EE_POINTS_PER_REQUEST = 1000

KINDS = ("embedding", "baseline")


@dataclass(frozen=True)
class Representation:
    """A named feature matrix aligned with the label rows.

    Attributes:
        name: short name used in results tables and plots.
        values: (n_samples, n_features) float64; NaN marks a row with no value (masked pixel, missing sample).
        feature_names: one name per column.
        kind: "embedding" (a learned representation) or "baseline" (designed features).
        note: what it is and how it was made, carried into the results caveats.
    """

    name: str
    values: np.ndarray
    feature_names: tuple[str, ...]
    kind: str = "embedding"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 2:
            raise AefValueError(f"representation {self.name!r} must be (n_samples, n_features), got {values.shape}")
        if len(self.feature_names) != values.shape[1]:
            raise AefValueError(
                f"representation {self.name!r}: {len(self.feature_names)} feature names for {values.shape[1]} columns"
            )
        if self.kind not in KINDS:
            raise AefValueError(f"representation kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "values", values)

    @property
    def n_samples(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.values.shape[1])

    @property
    def valid_rows(self) -> np.ndarray:
        """(n_samples,) bool: rows whose every feature is finite."""
        return np.all(np.isfinite(self.values), axis=1)


def standardize_columns(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Z-score every column over all rows (label-free), then fill missing values with 0 (the column mean).

    Baselines mix units (reflectance, dB, kelvin, metres); kNN and least squares need comparable scales.
    Constant columns become 0.

    Args:
        values: (n_samples, n_features) float, NaN for missing.

    Returns:
        The standardised (n_samples, n_features) float64 matrix and the number of values that were filled.
    """
    values = np.asarray(values, dtype=np.float64)
    missing = ~np.isfinite(values)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(missing, np.nan, values), axis=0) if values.size else np.zeros(values.shape[1])
        std = np.nanstd(np.where(missing, np.nan, values), axis=0) if values.size else np.ones(values.shape[1])
    mean = np.nan_to_num(mean)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    scaled = (values - mean) / std
    scaled[missing] = 0.0
    return scaled, int(missing.sum())


def from_array(
    name: str,
    values: np.ndarray,
    *,
    feature_names: Sequence[str] | None = None,
    kind: str = "embedding",
    note: str = "",
    standardize: bool = False,
) -> Representation:
    """Wrap an (n_samples, n_features) array; optionally z-score it (see :func:`standardize_columns`)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if feature_names is None:
        feature_names = [f"{name}_{i}" for i in range(values.shape[1] if values.ndim == 2 else 0)]
    if standardize:
        values, filled = standardize_columns(values)
        if filled:
            note = f"{note}; {filled} missing values filled with the column mean".lstrip("; ")
    return Representation(name=name, values=values, feature_names=tuple(feature_names), kind=kind, note=note)


_RANGE = re.compile(r"^(?P<prefix>\D*)(?P<start>\d+)\.\.(?P=prefix)(?P<stop>\d+)$")


def expand_columns(spec: str | Sequence[str], available: Sequence[str]) -> list[str]:
    """Expand a column spec: a list, or a string of comma-separated names and ranges like ``A00..A63``.

    Raises:
        AefKeyError: a named column is not in ``available``.
        AefValueError: the spec is empty.
    """
    parts = [p.strip() for p in spec.split(",")] if isinstance(spec, str) else list(spec)
    columns: list[str] = []
    for part in parts:
        if not part:
            continue
        match = _RANGE.match(part)
        if match:
            width = len(match["start"])
            lo, hi = int(match["start"]), int(match["stop"])
            columns.extend(f"{match['prefix']}{i:0{width}d}" for i in range(lo, hi + 1))
        else:
            columns.append(part)
    if not columns:
        raise AefValueError(f"empty column spec {spec!r}")
    missing = [c for c in columns if c not in set(available)]
    if missing:
        raise AefKeyError(f"columns {missing!r} are not in the table (it has {list(available)[:12]!r}...)")
    return columns


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table of labels and/or features.

    Raises:
        AefIOError: the file is missing or cannot be parsed.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise AefIOError(f"cannot read table {str(path)!r}: {error}") from error


def from_table(
    table: pd.DataFrame | str | Path,
    columns: str | Sequence[str],
    *,
    name: str,
    kind: str = "embedding",
    note: str = "",
    standardize: bool = False,
) -> Representation:
    """Take columns of a table (e.g. ``"A00..A63"`` of an Earth Engine CSV export) as a representation."""
    frame = table if isinstance(table, pd.DataFrame) else read_table(table)
    names = expand_columns(columns, list(frame.columns))
    values = frame[names].to_numpy(dtype=np.float64)
    return from_array(name, values, feature_names=names, kind=kind, note=note, standardize=standardize)


def from_ee_image(
    image: "ee.Image",
    longitudes: Sequence[float],
    latitudes: Sequence[float],
    *,
    name: str,
    scale: float | None,
    projection: "ee.Projection | None" = None,
    kind: str = "embedding",
    note: str = "",
    points_per_request: int = EE_POINTS_PER_REQUEST,
) -> Representation:
    """Sample an Earth Engine image at label points on the server and fetch the values.

    Uses ``image.sampleRegions`` over a point FeatureCollection (each point carries its row number in
    ``aef_row``), then ``getInfo``. Works against Earth Engine or the local engine, through the ``ee`` client
    that the caller initialised.

    Args:
        image: the image to sample (e.g. one year of ``GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL``).
        longitudes, latitudes: (n_samples,) WGS 84 degrees of the label points.
        name: representation name.
        scale: sampling scale in metres (10 for the embedding fields); None samples at the projection's own
            scale.
        projection: the sampling grid (e.g. a source image's ``projection()``, so points at pixel centres read
            exactly those pixels); None uses the projection of the image's first band.
        points_per_request: points sent per request.

    Returns:
        A representation with one column per band, in the image's band order; rows whose pixel is masked
        (no feature returned) are NaN.

    Raises:
        AefValueError: coordinate arrays differ in length.
    """
    import ee  # the plugin's client; imported here so table-only use does not need it

    lons = np.asarray(longitudes, dtype=np.float64)
    lats = np.asarray(latitudes, dtype=np.float64)
    if lons.shape != lats.shape or lons.ndim != 1:
        raise AefValueError(f"longitudes and latitudes must be equal 1-D arrays, got {lons.shape} and {lats.shape}")
    bands = [str(b) for b in image.bandNames().getInfo()]
    values = np.full((lons.size, len(bands)), np.nan)
    for start in range(0, lons.size, points_per_request):
        stop = min(start + points_per_request, lons.size)
        points = ee.FeatureCollection(
            [
                ee.Feature(ee.Geometry.Point([float(lons[i]), float(lats[i])]), {EE_ROW_PROPERTY: int(i)})
                for i in range(start, stop)
            ]
        )
        sampled = image.sampleRegions(
            collection=points, properties=[EE_ROW_PROPERTY], scale=scale, projection=projection, geometries=False
        )
        for feature in sampled.getInfo()["features"]:
            properties = feature["properties"]
            row = int(properties[EE_ROW_PROPERTY])
            values[row] = [np.nan if properties.get(b) is None else float(properties[b]) for b in bands]
    missing = int((~np.all(np.isfinite(values), axis=1)).sum())
    if missing:
        logger.warning("%s: %d of %d points returned no sample (masked pixels)", name, missing, lons.size)
        note = f"{note}; {missing} of {lons.size} points masked".lstrip("; ")
    return Representation(name=name, values=values, feature_names=tuple(bands), kind=kind, note=note)
