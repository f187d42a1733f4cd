"""Point time series in, embeddings out: a table of per-point observations -> a row-aligned 64-D table.

    aef-ee embed-points data/worldcereal/test_public_extractions.parquet --out points.parquet

Accepted layouts (:func:`read_series` recognises them from the columns):

- **long**: one row per point, sensor and date: ``id`` (or ``point_id``, ``system:index``), ``date``, ``sensor``
  (a source name: ``s2``, ``s1``, ...) and one column per band (``B2``..``B12``, ``VV``, ``VH``, ...); optional
  ``lon``/``lat`` or an Earth Engine ``.geo`` GeoJSON column. An Earth Engine CSV export of ``sampleRegions`` over an
  image collection has this form (add a ``sensor`` column, or pass ``sensor=``).
- **wide**: one row per point, columns ``<sensor>:<band>:<YYYY-MM-DD>`` (e.g. ``s2:B4:2021-03-15``).
- **WorldCereal extractions** (``data/worldcereal/*.parquet``): ``OPTICAL-B02-ts0-10m`` ... ``SAR-VV-ts11-20m`` monthly
  composites from ``start_date`` (DN: reflectance x 1e4, SAR 20 log10 DN - 83 dB, nodata 65535; the decoding of
  :mod:`aef_ee_training.embed_shipped`).

Values are physical units (reflectance 0..1, dB); Sentinel-2 digital numbers (a median above 2) are divided by 1e4.
Each point's series becomes a uniform L x L window (the same series at every pixel: a homogeneous parcel, no
neighbours) and the centre pixel's embedding is returned; the valid period is the year from the first observation
(or ``period=(start, end)``). Rows come back in the input's order and index; a point with no usable observation
gets NaN.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aef_ee.videos.format import SiteVideo, SourceFrames
from aef_ee_training.errors import TrainingError

__all__ = ["read_series", "embed_points", "EMBEDDING_COLUMNS"]

EMBEDDING_COLUMNS = [f"A{i:02d}" for i in range(64)]
ID_COLUMNS = ("id", "point_id", "system:index")
WIDE = re.compile(r"^(?P<sensor>[a-z0-9_]+):(?P<band>[^:]+):(?P<date>\d{4}-\d{2}-\d{2})$")
WORLDCEREAL = re.compile(r"^(?P<group>OPTICAL|SAR)-(?P<band>[A-Z0-9]+)-ts(?P<step>\d+)-")
DN_MEDIAN = 2.0  # Sentinel-2 reflectance above this median is taken as digital numbers (x 1e4)
_DAY_MS = 86_400_000
BATCH = 32  # points per compiled call


def _worldcereal_long(table: pd.DataFrame) -> pd.DataFrame:
    from aef_ee_training.embed_shipped import S2_COLUMNS, WORLDCEREAL_NODATA

    to_ours = {v: k for k, v in S2_COLUMNS.items()}
    rows = []
    steps = sorted({int(m["step"]) for c in table.columns if (m := WORLDCEREAL.match(c))})
    for group, sensor in (("OPTICAL", "s2"), ("SAR", "s1")):
        cols = {}
        for c in table.columns:
            m = WORLDCEREAL.match(c)
            if m and m["group"] == group and (sensor == "s1" or m["band"] in to_ours):
                cols[(int(m["step"]), to_ours.get(m["band"], m["band"]))] = c
        bands = sorted({b for _, b in cols}, key=lambda b: list(to_ours.values()).index(b) if b in to_ours.values()
                       else ["VV", "VH"].index(b) if b in ("VV", "VH") else 99)
        for k in steps:
            part = pd.DataFrame({"id": table.index, "sensor": sensor,
                                 "date": pd.to_datetime(table["start_date"].astype(str).str[:10])
                                 + pd.DateOffset(months=k)})
            for b in bands:
                v = table[cols[(k, b)]].to_numpy(np.float64) if (k, b) in cols else np.full(len(table), np.nan)
                v = np.where(v == WORLDCEREAL_NODATA, np.nan, v)
                if sensor == "s2":
                    v = v / 1e4
                else:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        v = np.where(v > 0, 20 * np.log10(v) - 83, np.nan)
                part[b] = v
            rows.append(part)
    return pd.concat(rows, ignore_index=True)


def _wide_long(table: pd.DataFrame) -> pd.DataFrame:
    records = []
    for c in table.columns:
        m = WIDE.match(str(c))
        if m:
            records.append(pd.DataFrame({"id": table.index, "sensor": m["sensor"], "date": pd.Timestamp(m["date"]),
                                         "band": m["band"], "value": table[c].to_numpy(np.float64)}))
    long = pd.concat(records, ignore_index=True)
    return long.pivot_table(index=["id", "sensor", "date"], columns="band", values="value",
                            dropna=False).reset_index()


def read_series(table: pd.DataFrame | str | Path, *, sensor: str | None = None) -> tuple[pd.DataFrame, pd.Index]:
    """Any accepted layout -> (long table with ``id``, ``sensor``, ``date`` and band columns, the rows' ids in the
    input order).

    Raises:
      TrainingError: the layout is not recognised, or a column is missing.
    """
    if not isinstance(table, pd.DataFrame):
        path = Path(table)
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if any(WORLDCEREAL.match(str(c)) for c in table.columns):
        if "start_date" not in table.columns:
            raise TrainingError("a WorldCereal extraction table needs its start_date column")
        return _worldcereal_long(table), table.index
    if any(WIDE.match(str(c)) for c in table.columns):
        return _wide_long(table), table.index
    ids = next((c for c in ID_COLUMNS if c in table.columns), None)
    if ids is None or "date" not in table.columns:
        raise TrainingError(f"unrecognised table: a long table needs an id column (one of {ID_COLUMNS}) and 'date'; "
                            f"a wide one '<sensor>:<band>:<YYYY-MM-DD>' columns; got {list(table.columns)[:12]}")
    long = table.rename(columns={ids: "id"}).copy()
    if "sensor" not in long.columns:
        if sensor is None:
            raise TrainingError("the long table has no 'sensor' column; pass sensor= (e.g. 's2')")
        long["sensor"] = sensor
    long["date"] = pd.to_datetime(long["date"])
    order = pd.Index(pd.unique(long["id"]))
    return long, order


def _video(point: Any, group: pd.DataFrame, stats: dict, size: int, period: tuple[int, int] | None) -> SiteVideo:
    sources = {}
    for sensor, rows in group.groupby("sensor"):
        if sensor not in stats:
            continue
        bands = [b for b in stats[sensor].bands if b in rows.columns]
        if not bands:
            continue
        rows = rows.sort_values("date")
        values = rows[bands].to_numpy(np.float64)
        if sensor == "s2" and np.nanmedian(values) > DN_MEDIAN:
            values = values / 1e4
        valid = np.isfinite(values).all(axis=1)
        times = (rows["date"].to_numpy("datetime64[ms]").astype(np.int64))
        frames = np.broadcast_to(np.nan_to_num(values)[:, None, None, :], (len(rows), size, size, len(bands)))
        mask = np.broadcast_to(valid[:, None, None], (len(rows), size, size))
        sources[sensor] = SourceFrames(frames, mask, times, tuple(bands))
    if not sources:
        raise TrainingError(f"point {point!r}: no sensor with the model's bands")
    if period is None:
        first = min(int(s.timestamps_ms.min()) for s in sources.values())
        period = (first, first + 365 * _DAY_MS)
    return SiteVideo(f"point_{point}", "EPSG:4326", (1e-4, 0.0, 0.0, 0.0, -1e-4, 0.0), (0.0, 0.0), period, sources)


def embed_points(
    table: pd.DataFrame | str | Path,
    *,
    workdir: str | Path,
    sensor: str | None = None,
    period: tuple[str, str] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Embeds every point of ``table`` with the checkpoint in ``workdir`` (see the module docstring).

    Args:
      table: a DataFrame or a .csv / .parquet path in one of the accepted layouts.
      workdir: a training workdir with ``inference.json`` (config and statistics).
      sensor: the source of a long table without a ``sensor`` column.
      period: (start, end) ISO dates of the valid period; default the year from each point's first observation.

    Returns:
      DataFrame (n_points, 64) float32, columns ``A00``..``A63``, indexed like the input's points (its rows, or
      its ids for a long table), unit vectors; NaN rows for points without a usable observation.
    """
    import jax
    import jax.numpy as jnp
    from tqdm.auto import tqdm

    from aef_ee_training import input_pipeline
    from aef_ee_training.infer import _embed, load_inference

    model, config, stats, _ = load_inference(workdir)
    long, order = read_series(table, sensor=sensor)
    span = None
    if period is not None:
        span = tuple(int(pd.Timestamp(d).value // 1_000_000) for d in period)
    size, centre = config.site_size, config.site_size // 2
    out = np.full((len(order), config.model.embedding_dim), np.nan, np.float32)
    groups = dict(tuple(long.groupby("id", sort=False)))
    examples, slots = [], []

    def flush() -> None:
        if not examples:
            return
        # Padded to a full batch by repeating the last point: one compiled shape for the whole table.
        padded = examples + [examples[-1]] * (BATCH - len(examples))
        batch = jax.tree.map(lambda *xs: np.stack(xs), *padded)
        fields = np.asarray(_embed(model, batch["inputs"], jnp.asarray(batch["period_days"])))
        out[slots] = fields[: len(slots), centre, centre]
        examples.clear()
        slots.clear()

    for i, point in enumerate(tqdm(order, desc="points", unit="point", disable=not progress)):
        group = groups.get(point)
        if group is None:
            continue
        try:
            video = _video(point, group, stats, size, span)
        except TrainingError:
            continue
        example = input_pipeline.inference_example(video, config, stats, y=0, x=0)
        if not any(example["inputs"][s]["frame_mask"].any() for s in config.input_sources):
            continue
        examples.append(example)
        slots.append(i)
        if len(examples) == BATCH:
            flush()
    flush()
    return pd.DataFrame(out, index=order, columns=EMBEDDING_COLUMNS[: out.shape[1]])
