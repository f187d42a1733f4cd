"""A small embedding collection for examples on the local engine, built from real AlphaEarth embedding vectors.

Google's ``GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL`` is not available offline, so the notebooks and examples that need
an embedding field on the local engine build this one: a 40 x 40 field of 10 m pixels in UTM zone 15N (fields in
Iowa, the area of ``docs/workflows.md``), one image per year. Each quadrant holds one Dynamic World class, and
every pixel is a real 2024 AlphaEarth embedding of that class drawn from ``data/alphaearth_samples`` (Iowa). In the
later year the north-west quadrant (water in the first year) turns into built-up land, so change detection has
something to find. The COGs are int8-quantised as the public dataset stores them and carry the tags
:func:`aef_ee.fields.register.register_embeddings` reads; registration goes through the ``ee`` client like any other.

It is the same field (same seed, same draws) as the workflow tests' fixture in ``tests/aef_ee/embedding_field.py``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aef_ee.fields.collection import EMBEDDING_BANDS
from aef_ee.errors import AefValueError

__all__ = [
    "SAMPLE_COLLECTION",
    "SAMPLE_CRS",
    "SAMPLE_ORIGIN",
    "SAMPLE_SIZE",
    "SAMPLE_YEARS",
    "SAMPLE_CLASSES",
    "sample_classes",
    "sample_embedding_field",
    "build_sample_embedding_collection",
]

SAMPLE_COLLECTION = "projects/local/assets/sample_embeddings"
SAMPLE_CRS = "EPSG:32615"
SAMPLE_ORIGIN = (250000.0, 4640000.0)  # (left, top) in metres, UTM 15N
SAMPLE_SIZE = 40  # pixels per side, 10 m each
SAMPLE_YEARS = (2023, 2024)
# Dynamic World labels of the quadrants in the first year; the north-west one becomes built (6) in the second.
SAMPLE_CLASSES = {"nw": 0, "ne": 1, "sw": 4, "se": 6}
_BUILT = 6
_SAMPLES_CSV = "alphaearth_s1_dw_samples_iowa_ag_2024.csv"
_SEED = 2024
_VECTORS_PER_CLASS = 80  # the Iowa table holds at least this many vectors of each of the four classes


def sample_classes(year: int, *, first_year: int = SAMPLE_YEARS[0], size: int = SAMPLE_SIZE) -> np.ndarray:
    """(size, size) int64 Dynamic World class per pixel of ``year`` (quadrants; the north-west one changes)."""
    half = size // 2
    mapping = dict(SAMPLE_CLASSES)
    if year > first_year:
        mapping["nw"] = _BUILT
    classes = np.empty((size, size), np.int64)
    classes[:half, :half] = mapping["nw"]
    classes[:half, half:] = mapping["ne"]
    classes[half:, :half] = mapping["sw"]
    classes[half:, half:] = mapping["se"]
    return classes


def sample_embedding_field(years: Sequence[int] = SAMPLE_YEARS, *, size: int = SAMPLE_SIZE,
                           seed: int = _SEED) -> dict[int, np.ndarray]:
    """The field's float64 embedding vectors per year, (size, size, 64), unit length as the source vectors.

    Raises:
      AefValueError: fewer than one year, or a size under 2.
      AefIOError: the data folder is missing (see :func:`aef_ee.paths.data_dir`).
    """
    import pandas as pd

    from aef_ee.paths import data_dir

    years = [int(y) for y in years]
    if not years or size < 2:
        raise AefValueError(f"need at least one year and size >= 2; got years={years!r}, size={size!r}")
    table = pd.read_csv(data_dir() / "alphaearth_samples" / _SAMPLES_CSV)
    vectors = {c: table.loc[table.dw_label == c, EMBEDDING_BANDS].to_numpy(np.float64)
               for c in sorted(set(SAMPLE_CLASSES.values()))}
    picks = np.random.default_rng(seed).integers(0, _VECTORS_PER_CLASS, (size, size))
    fields = {}
    for year in years:
        classes = sample_classes(year, first_year=years[0], size=size)
        fields[year] = np.stack([vectors[c][i] for c, i in zip(classes.ravel(), picks.ravel(), strict=True)]).reshape(
            size, size, len(EMBEDDING_BANDS))
    return fields


def build_sample_embedding_collection(
    cog_dir: str | os.PathLike[str] | None = None,
    *,
    collection: str = SAMPLE_COLLECTION,
    years: Sequence[int] = SAMPLE_YEARS,
    progress: bool = False,
) -> list[str]:
    """Writes the sample field's COGs (one per year) under ``cog_dir`` and registers them as ``collection``.

    Needs the ``ee`` client initialised against the local engine (which registers local files). Files already
    written are kept and images already registered are skipped, so calling it again is cheap and changes nothing.

    Args:
      cog_dir: folder for the COGs (``sample_<year>.tif``); they must stay there while the collection is used.
        Default: ``sample-embeddings`` in aef-ee's state folder (:func:`aef_ee.paths.state_dir`).
      collection: the ImageCollection asset ID.
      years: the years to write, first year first.

    Returns:
      The image asset IDs of the collection's sample images, one per year.
    """
    from aef_ee import __version__
    from aef_ee.fields.register import cog_tags, register_embeddings
    from aef_ee.fields.cog import write_embedding_cog

    from aef_ee.paths import state_dir

    cog_dir = Path(cog_dir if cog_dir is not None else state_dir() / "sample-embeddings").absolute()
    left, top = SAMPLE_ORIGIN
    transform = (10.0, 0.0, left, 0.0, -10.0, top)
    paths = [cog_dir / f"sample_{int(y)}.tif" for y in years]
    missing = [(y, p) for y, p in zip(years, paths, strict=True) if not p.exists()]
    if missing:
        fields = sample_embedding_field(years)
        for year, path in missing:
            tags = cog_tags(int(year), "15N", model_version="alphaearth-samples",
                            software_version=f"aef-ee {__version__}", dataset_version="aef-ee-sample-1")
            write_embedding_cog(path, fields[int(year)], transform=transform, crs=SAMPLE_CRS, tags=tags)
    register_embeddings(collection, [str(p) for p in paths], progress=progress,
                        properties={"description": "sample embeddings from real AlphaEarth vectors (Iowa)"})
    return [f"{collection}/{p.stem}" for p in paths]
