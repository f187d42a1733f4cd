"""Our model's embeddings for the evaluation's shipped datasets (the ``--embeddings`` hook of
``python -m aef_ee.evaluation.shipped``).

    python -m aef_ee_training.embed_shipped --workdir training/checkpoints/tiny-belgium --out outputs/eval-embeddings
    python -m aef_ee.evaluation.shipped --out docs/evaluation --docs docs/evaluation.md \\
        --embeddings worldcereal_label_full=outputs/eval-embeddings/worldcereal.npy \\
        worldcereal_finetune_class=outputs/eval-embeddings/worldcereal.npy \\
        slovenia_lulc_pixels=outputs/eval-embeddings/slovenia.npy \\
        slovenia_lulc_polygons=outputs/eval-embeddings/slovenia.npy \\
        belgium_cropland=outputs/eval-embeddings/belgium.npy

- WorldCereal points (Uganda / South Sudan): each row's 12 monthly Sentinel-2 L2A (9 of its bands) and Sentinel-1
  VV/VH composites become a one-pixel site (decoded as in data/PROVENANCE.md: reflectance x 1e4, dB = 20 log10(DN)
  - 83, nodata 65535); the encoder sees that pixel alone (repeated over 2 x 2 pixels; no spatial context),
  padded to its window.
- Slovenia patch: the five Sentinel-2 *L1C* reference scenes (top-of-atmosphere; the model was trained on L2A
  surface reflectance) at the dates the demo catalog recovers, with the patch's cloud mask; no Sentinel-1.
- Belgian cube: the whole 100 x 100 px cube (:func:`aef_ee.demo.belgium_cube.cube_video`), the shipped model's own
  (self-supervised) training data.
The first two are out of the shipped model's training distribution (the Belgian cube only); the rows are reported
as such.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from aef_ee.atomic import atomic_path
from aef_ee.demo.belgium_cube import cube_video
from aef_ee.paths import data_dir
from aef_ee.videos.format import SiteVideo, SourceFrames

__all__ = ["worldcereal_videos", "slovenia_video", "main"]

WORLDCEREAL_NODATA = 65535
S2_COLUMNS = {"B2": "B02", "B3": "B03", "B4": "B04", "B5": "B05", "B6": "B06", "B7": "B07", "B8": "B08",
              "B11": "B11", "B12": "B12"}
_DAY_MS = 86_400_000


def _ms(day: dt.datetime) -> int:
    return int(day.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def _column(table: pd.DataFrame, sensor: str, band: str, step: int) -> np.ndarray:
    matches = [c for c in table.columns if c.startswith(f"{sensor}-{band}-ts{step}-")]
    if len(matches) != 1:
        raise KeyError(f"no single column for {sensor}-{band}-ts{step}: {matches}")
    return table[matches[0]].to_numpy(np.float64)


def worldcereal_videos(s2_bands: list[str], s1_bands: list[str]) -> list[SiteVideo]:
    """One 1 x 1 pixel video per row of ``test_public_extractions.parquet``, in row order."""
    table = pd.read_parquet(data_dir() / "worldcereal" / "test_public_extractions.parquet")
    steps = 12
    s2_all = np.stack([np.stack([_column(table, "OPTICAL", S2_COLUMNS[b], k) for b in s2_bands], axis=-1)
                       for k in range(steps)], axis=1)  # (N, T, C)
    s1_all = np.stack([np.stack([_column(table, "SAR", b, k) for b in s1_bands], axis=-1)
                       for k in range(steps)], axis=1)
    videos = []
    for i, row in enumerate(table.itertuples(index=False)):
        start = pd.Timestamp(str(row.start_date)[:10])
        times = np.array([_ms((start + pd.DateOffset(months=k)).to_pydatetime()) for k in range(steps)], np.int64)
        s2 = s2_all[i]
        s2_valid = (s2 != WORLDCEREAL_NODATA).all(axis=1)
        s1_dn = s1_all[i]
        s1_valid = ((s1_dn != WORLDCEREAL_NODATA) & (s1_dn > 0)).all(axis=1)
        with np.errstate(divide="ignore"):
            s1_db = np.where(s1_valid[:, None], 20 * np.log10(np.maximum(s1_dn, 1)) - 83, 0.0)

        # A 1 x 1 grid reads as a static source, so the pixel's series is repeated over 2 x 2 pixels.
        def grid(values: np.ndarray, valid: np.ndarray, bands: list[str], times=times) -> SourceFrames:
            frames = np.broadcast_to(values[:, None, None, :], (steps, 2, 2, values.shape[1]))
            return SourceFrames(frames, np.broadcast_to(valid[:, None, None], (steps, 2, 2)), times, tuple(bands))

        sources = {"s2": grid(np.where(s2_valid[:, None], s2 / 1e4, 0.0), s2_valid, s2_bands),
                   "s1": grid(s1_db, s1_valid, s1_bands)}
        videos.append(SiteVideo(f"worldcereal_{i}", "EPSG:4326", (1e-4, 0, row.lon, 0, -1e-4, row.lat),
                                (float(row.lon), float(row.lat)), (int(times[0]), int(times[-1]) + 31 * _DAY_MS),
                                sources))
    return videos


def slovenia_video(s2_bands: list[str]) -> SiteVideo:
    """The Slovenia patch's five L1C reference scenes as one (5, 101, 100, C) video with the cloud mask."""
    from aef_ee.demo.catalog import _match_reference_times

    root = data_dir() / "eolearn_slovenia"
    patch = root / "TestEOPatch"
    scenes = np.load(root / "REFERENCE_SCENES.npy")  # (5, 101, 100, 13)
    timestamps = json.loads((patch / "timestamps.json").read_text())
    indices = _match_reference_times(scenes, np.load(patch / "data" / "NDVI.npy"), timestamps)
    order = np.argsort(indices)
    l1c = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    frames = scenes[order][..., [l1c.index(b) for b in s2_bands]].astype(np.float32)
    clouds = np.load(patch / "mask" / "CLM.npy")[..., 0].astype(bool)
    valid = np.load(patch / "mask" / "IS_VALID.npy")[..., 0].astype(bool)
    idx = np.asarray(indices)[order]
    mask = valid[idx] & ~clouds[idx]
    times = np.array([_ms(dt.datetime.fromisoformat(timestamps[k]).replace(tzinfo=None)) for k in idx], np.int64)
    period = (_ms(dt.datetime(2015, 1, 1)), _ms(dt.datetime(2016, 1, 1)))
    return SiteVideo("slovenia_patch", "EPSG:32633", (10, 0, 0, 0, -10, 0), (14.5, 46.0), period,
                     {"s2": SourceFrames(frames, mask, times, tuple(s2_bands))})


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def main(argv: list[str] | None = None) -> None:
    from tqdm.auto import tqdm

    from aef_ee_training.infer import embed_video, load_inference

    parser = argparse.ArgumentParser(prog="python -m aef_ee_training.embed_shipped",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="checkpoint folder (with inference.json)")
    parser.add_argument("--data", default=None, help="training dataset for its statistics (default: inference.json)")
    parser.add_argument("--config", default=None, help="config name (default: inference.json)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    model, config, stats, step = load_inference(args.workdir, config=args.config, data=args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    s2_bands, s1_bands = list(stats["s2"].bands), list(stats["s1"].bands)
    rows = [embed_video(model, v, config, stats)[0, 0] for v in tqdm(worldcereal_videos(s2_bands, s1_bands),
                                                                  desc="worldcereal points", unit="point")]
    _save_npy(out / "worldcereal.npy", np.stack(rows).astype(np.float32))
    field = embed_video(model, slovenia_video(s2_bands), config, stats)
    _save_npy(out / "slovenia.npy", field.astype(np.float32))
    cube = embed_video(model, cube_video(), config, stats)
    _save_npy(out / "belgium.npy", cube.astype(np.float32))
    print(f"checkpoint step {step}: worldcereal {len(rows)} x 64, slovenia {field.shape}, belgium {cube.shape} "
          f"-> {out}")


if __name__ == "__main__":
    main()
