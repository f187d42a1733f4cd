"""The shipped model's training videos: every real image series in the repository's ``data/`` as site videos.

    python -m aef_ee_training.shipped_data --out outputs/shipped_videos            # all of it (default)
    python -m aef_ee_training.shipped_data --out outputs/cube_videos --only cube   # the Belgian cube alone

- ``cube``: the WorldCereal Belgium cube (12 monthly composites 2020-11 .. 2021-10 of S2 L2A, S1, AgERA5, DEM;
  100 x 100 px) as 25 overlapping 48 px sites every 13 px.
- ``slovenia``: the eo-learn Slovenia patch's five Sentinel-2 *L1C* reference scenes (2017) with the patch's cloud
  mask (101 x 100 px), as 25 overlapping 48 px sites every 13 px; no other source.
- ``bigearthnet``: the six BigEarthNet S2 L2A patches (one cloud-free date each, 120 x 120 px; the 20 m bands
  repeated to 10 m) with the Sentinel-1 patch of the same place (VV/VH dB) where BigEarthNet pairs one.

Sites wider than the config's L let ``RandomCrop`` draw a random L x L window per example; sources a site lacks are
masked in training, never an error. No text: the repository has no geotagged text for these places.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from aef_ee.demo.belgium_cube import S2_BANDS, cube_video
from aef_ee.paths import data_dir
from aef_ee.videos.format import SiteVideo, SourceFrames, VideoWriter

__all__ = ["PARTS", "cube_sites", "slovenia_sites", "bigearthnet_sites", "write_shipped_data", "main"]

SITE = 48
STRIDE = 13
#: the model's Sentinel-2 bands (the cube's), in order
MODEL_S2_BANDS = tuple(S2_BANDS.values())
_DAY_MS = 86_400_000


def _windows(video: SiteVideo, *, site: int = SITE, stride: int = STRIDE) -> Iterator[SiteVideo]:
    """Overlapping ``site`` px sites every ``stride`` px of one video (ids from the sites' upper-left corners)."""
    h, w = next(iter(video.sources.values())).frames.shape[1:3]
    a, _, x0, _, e, y0 = video.transform
    for oy in range(0, h - site + 1, stride):
        for ox in range(0, w - site + 1, stride):
            window = np.s_[:, oy : oy + site, ox : ox + site]
            cut = {n: SourceFrames(s.frames[window], s.mask[window], s.timestamps_ms, s.bands)
                   for n, s in video.sources.items()}
            left, top = x0 + a * ox, y0 + e * oy
            yield dataclasses.replace(video, site_id=f"{video.site_id}_{oy}_{ox}", sources=cut,
                                      transform=(a, 0.0, left, 0.0, e, top))


def cube_sites() -> list[SiteVideo]:
    """25 overlapping 48 px sites of the Belgian cube."""
    return list(_windows(cube_video()))


def slovenia_sites() -> list[SiteVideo]:
    """25 overlapping 48 px sites of the Slovenia patch's L1C reference scenes (S2 only)."""
    from aef_ee_training.embed_shipped import slovenia_video

    return list(_windows(slovenia_video(list(MODEL_S2_BANDS))))


def _utc_ms(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def bigearthnet_sites() -> list[SiteVideo]:
    """One 120 px site per BigEarthNet S2 patch, with its paired S1 patch when there is one."""
    import rasterio
    from pyproj import Transformer

    root = data_dir() / "bigearthnet_examples"
    s1_dirs = {"_".join(d.name.split("_")[-2:]) + "_" + d.name.split("_")[-3]: d
               for d in (root / "BigEarthNet-S1-Example").iterdir() if d.is_dir()}
    sites = []
    for patch_dir in sorted((root / "BigEarthNet-S2-Example").iterdir()):
        patch = patch_dir.name  # S2A_MSIL2A_20170613T101031_87_48
        meta = json.loads((patch_dir / f"{patch}_labels_metadata.json").read_text())
        sensed = dt.datetime.strptime(meta["acquisition_date"], "%Y-%m-%d %H:%M:%S")
        bands = []
        for band in MODEL_S2_BANDS:
            suffix = "B" + band[1:].zfill(2)  # B2 -> B02, B11 -> B11
            with rasterio.open(patch_dir / f"{patch}_{suffix}.tif") as src:
                values = src.read(1).astype(np.float32) / 1e4
                if src.res[0] == 10.0:
                    transform, crs = src.transform, src.crs.to_string()
            factor = 120 // values.shape[0]
            bands.append(np.repeat(np.repeat(values, factor, axis=0), factor, axis=1))
        s2 = np.stack(bands, axis=-1)[None]  # (1, 120, 120, 9)
        t = _utc_ms(sensed)
        sources = {"s2": SourceFrames(s2, np.all(s2 > 0, axis=-1), np.array([t]), MODEL_S2_BANDS)}
        tile = meta["tile_source"].split("_")[5][1:]  # ..._T33UUP_... -> 33UUP
        s1_dir = s1_dirs.get("_".join(patch.split("_")[-2:]) + "_" + tile)
        if s1_dir is not None:
            s1_meta = json.loads((s1_dir / f"{s1_dir.name}_labels_metadata.json").read_text())
            start = dt.datetime.strptime(s1_meta["scene_source"].split("_")[4], "%Y%m%dT%H%M%S")
            db = []
            for band in ("VV", "VH"):
                with rasterio.open(s1_dir / f"{s1_dir.name}_{band}.tif") as src:
                    db.append(src.read(1).astype(np.float32))
            s1 = np.stack(db, axis=-1)[None]
            sources["s1"] = SourceFrames(s1, np.all(np.isfinite(s1), axis=-1), np.array([_utc_ms(start)]),
                                         ("VV", "VH"))
        centre = transform @ (60, 60)
        lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(*centre)
        # a 300-day period centred on the one date, so that training's 300-day crops keep it
        sites.append(SiteVideo(f"bigearthnet_{patch}", crs, tuple(transform)[:6], (lon, lat),
                               (t - 150 * _DAY_MS, t + 150 * _DAY_MS), sources,
                               properties={"origin": f"BigEarthNet {patch}", "labels": meta["labels"]}))
    return sites


PARTS = {"cube": cube_sites, "slovenia": slovenia_sites, "bigearthnet": bigearthnet_sites}


def write_shipped_data(out: str | Path, parts: tuple[str, ...] = tuple(PARTS)) -> dict[str, int]:
    """Writes the chosen parts' sites to ``out`` (5 sites per shard); returns the number of sites per part."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown parts {unknown}; choose from {sorted(PARTS)}")
    counts = {}
    with VideoWriter(Path(out), sites_per_shard=5) as writer:
        for part in parts:
            sites = PARTS[part]()
            for video in sites:
                writer.write(video)
            counts[part] = len(sites)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aef_ee_training.shipped_data",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="dataset folder to write (ArrayRecord shards + index.json)")
    parser.add_argument("--only", nargs="+", choices=sorted(PARTS), default=list(PARTS), metavar="PART",
                        help=f"parts to write (default: all of {', '.join(PARTS)})")
    args = parser.parse_args(argv)
    counts = write_shipped_data(args.out, tuple(args.only))
    print(f"{sum(counts.values())} sites ({', '.join(f'{k} {v}' for k, v in counts.items())}) -> {args.out}")


if __name__ == "__main__":
    main()
