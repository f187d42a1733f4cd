"""How useful a checkpoint's embeddings are on the WorldCereal Belgium cube (100 x 100 px, 12 monthly composites):
kNN balanced accuracy on the cube's cropland map against the raw per-pixel series and PCA-64 of them, the
participation ratio against z-scored composites, and the field-quality metrics.

    python -m aef_ee_training.evaluate_cube --workdir training/checkpoints/tiny-belgium --out outputs/cube_eval.json
    python -m aef_ee_training.evaluate_cube --write-data outputs/cube_videos   # the cube alone as training videos

Labels: the ``classification`` band of ``worldcereal_cropland_classification.nc`` (WorldCereal's own cropland map
on the same grid, a model output used here as a reference). kNN: k = 3 (binary labels, no ties), ``shots`` pixels per
class drawn at random, tested on every other pixel, mean over ``repeats`` seeded draws.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.atomic import atomic_path
from aef_ee.fields.quality import period2_energy, seam_ratio
from aef_ee.demo.belgium_cube import cropland_labels, cube_video

__all__ = ["cube_video", "cropland_labels", "knn_balanced_accuracy", "participation_ratio", "evaluate", "main"]

K = 3


def raw_series(video: Any) -> np.ndarray:
    """(H*W, T*C) per-pixel S2 + S1 series, each feature z-scored; missing values 0 (the feature mean)."""
    parts = []
    for name in ("s2", "s1"):
        src = video.sources[name]
        x = np.where(src.mask[..., None], src.frames, np.nan)  # (T, H, W, C)
        parts.append(np.moveaxis(x, 0, 2).reshape(x.shape[1] * x.shape[2], -1))
    x = np.concatenate(parts, axis=1)
    x = (x - np.nanmean(x, 0)) / (np.nanstd(x, 0) + 1e-9)
    return np.nan_to_num(x)


def composites(video: Any) -> np.ndarray:
    """(H*W, F) z-scored percentile composites of S2 + S1 (``aef_ee.evaluation.baselines.composite_features``)."""
    from aef_ee.evaluation.baselines import composite_features

    feats = []
    for name in ("s2", "s1"):
        src = video.sources[name]
        x = np.where(src.mask[..., None], src.frames, np.nan)
        series = np.moveaxis(x, 0, 2).reshape(x.shape[1] * x.shape[2], x.shape[0], -1)
        feats.append(composite_features(series, list(src.bands))[0])
    f = np.concatenate(feats, axis=1)
    f = (f - np.nanmean(f, 0)) / (np.nanstd(f, 0) + 1e-9)
    return np.nan_to_num(f)


def pca(x: np.ndarray, dims: int) -> np.ndarray:
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:dims].T


def participation_ratio(x: np.ndarray) -> float:
    """(sum lambda)^2 / sum lambda^2 of the covariance eigenvalues: the effective number of dimensions."""
    lam = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False)), 0, None)
    return float(lam.sum() ** 2 / (lam**2).sum())


def knn_balanced_accuracy(features: np.ndarray, labels: np.ndarray, shots: int, *, repeats: int = 20) -> float:
    classes = np.unique(labels)
    scores = []
    for r in range(repeats):
        rng = np.random.default_rng(r)
        train = np.concatenate([rng.choice(np.flatnonzero(labels == c), shots, replace=False) for c in classes])
        test = np.setdiff1d(np.arange(labels.size), train)
        d = ((features[test, None, :] - features[None, train, :]) ** 2).sum(-1)
        nearest = labels[train][np.argsort(d, axis=1)[:, :K]]
        votes = np.stack([(nearest == c).sum(1) for c in classes], 1)
        pred = classes[votes.argmax(1)]
        scores.append(np.mean([(pred[labels[test] == c] == c).mean() for c in classes]))
    return float(np.mean(scores))


def uniformity(field: np.ndarray, *, pairs: int = 20000, seed: int = 0) -> float:
    """Mean |<e, e'>| over random pixel pairs (uniform vectors on S^63: 0.0997)."""
    e = field.reshape(-1, field.shape[-1])
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(e), pairs), rng.integers(0, len(e), pairs)
    return float(np.abs((e[i] * e[j]).sum(-1)).mean())


def evaluate(field: np.ndarray | None, video: Any, labels: np.ndarray, *, window: int = 32) -> dict[str, Any]:
    y = labels.reshape(-1)
    out: dict[str, Any] = {}
    rows = {"raw": raw_series(video)}
    rows["pca64"] = pca(rows["raw"], 64)
    if field is not None:
        rows["embedding"] = field.reshape(-1, field.shape[-1])
        out["participation_ratio_embedding"] = participation_ratio(rows["embedding"])
        out["uniformity_pairs"] = uniformity(field)
        out["seam_ratio"] = seam_ratio(field, window)
        out["period2_energy"] = period2_energy(field)
    out["participation_ratio_composites"] = participation_ratio(composites(video))
    for name, x in rows.items():
        for shots in (10, 50):
            out[f"knn{shots}_{name}"] = knn_balanced_accuracy(x, y, shots)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aef_ee_training.evaluate_cube",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None, help="checkpoint workdir (omit: baselines only)")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--data", default=None, help="training videos, for a checkpoint without its statistics")
    parser.add_argument("--out", default=None, help="JSON of the figures")
    parser.add_argument("--write-data", default=None, metavar="DIR",
                        help="write the cube as training videos (overlapping 48 px sites) to DIR and stop")
    args = parser.parse_args(argv)
    if args.write_data:
        from aef_ee_training.shipped_data import write_shipped_data

        counts = write_shipped_data(args.write_data, ("cube",))
        print(f"training videos ({counts['cube']} sites of the cube) -> {args.write_data}")
        return
    if not args.out:
        parser.error("--out is required")
    video = cube_video()
    field = None
    if args.workdir:
        from aef_ee_training.infer import embed_video, load_inference

        model, config, stats, _ = load_inference(args.workdir, config=args.config, data=args.data)
        field = embed_video(model, video, config, stats)
        np.save(Path(args.out).with_suffix(".npy"), field)
    figures = evaluate(field, video, cropland_labels())
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
