"""The shipped datasets: labels and representations as read from data/, and the hook for our embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aef_ee.evaluation.datasets import SLOVENIA_LULC, load_dataset
from aef_ee.paths import data_dir


def test_alphaearth_labels_and_embeddings() -> None:
    dataset = load_dataset("alphaearth_iowa_ag", data_dir())
    raw = pd.read_csv(data_dir() / "alphaearth_samples" / "alphaearth_s1_dw_samples_iowa_ag_2024.csv")
    assert pd.Series(dataset.labels).value_counts().to_dict() == {name: 80 for name in pd.unique(dataset.labels)}
    assert dataset.labels[0] == ["water", "trees", "grass", "flooded_vegetation", "crops", "shrub_and_scrub",
                                 "built", "bare", "snow_and_ice"][raw["dw_label"].iloc[0]]  # fmt: skip
    google = dataset.representations[0]
    np.testing.assert_array_equal(google.values, raw[[f"A{i:02d}" for i in range(64)]].to_numpy())
    assert any("model output" in c for c in dataset.caveats)


def test_worldcereal_series_decoding() -> None:
    dataset = load_dataset("worldcereal_label_full", data_dir())
    raw = pd.read_parquet(data_dir() / "worldcereal" / "test_public_extractions.parquet")
    assert dataset.labels.tolist() == raw["label_full"].tolist()
    from aef_ee.evaluation.datasets import _worldcereal_series

    series, bands = _worldcereal_series(raw)
    assert series.shape == (500, 12, 14)
    dn = raw["SAR-VV-ts3-20m"].to_numpy(dtype=float)
    ok = (dn > 0) & (dn != 65535)
    np.testing.assert_allclose(series[ok, 3, bands.index("VV")], 20 * np.log10(dn[ok]) - 83)
    assert np.isnan(series[raw["OPTICAL-B02-ts4-10m"].to_numpy() == 65535, 4, 0]).all()


def test_slovenia_embedding_hook_samples_the_field(tmp_path: Path) -> None:
    # Stand-in for a checkpoint's (H, W, F) field: the median reference scene (real data, unique values).
    scenes = np.load(data_dir() / "eolearn_slovenia" / "REFERENCE_SCENES.npy")
    field = np.median(scenes, axis=0)
    np.save(tmp_path / "field.npy", field)
    dataset = load_dataset("slovenia_lulc_pixels", data_dir(), embeddings=tmp_path / "field.npy")
    ours = next(r for r in dataset.representations if r.name == "ours")
    assert ours.kind == "embedding" and ours.n_features == 13
    lulc = np.load(data_dir() / "eolearn_slovenia" / "TestEOPatch" / "mask_timeless" / "LULC.npy")[..., 0].ravel()
    flat = field.reshape(-1, 13).astype(np.float64)
    lookup = {row.tobytes(): i for i, row in enumerate(flat)}
    for values, label in zip(ours.values, dataset.labels):
        pixel = lookup[values.tobytes()]  # the value is exactly one pixel of the field...
        assert SLOVENIA_LULC[int(lulc[pixel])] == label  # ...and that pixel carries the sample's label
    assert not any("our embeddings not evaluated" in c for c in dataset.caveats)


def test_belgium_cropland_samples_labelled_pixels_and_the_embedding_hook(tmp_path: Path) -> None:
    from aef_ee.demo.belgium_cube import cropland_labels, read_cube

    cube = read_cube()
    # Stand-in for an (H, W, F) field: the raw B04 series of the cube (unique values per pixel, real data).
    field = np.moveaxis(cube["S2-L2A-B04"].astype(np.float64), 0, -1)
    np.save(tmp_path / "field.npy", field)
    dataset = load_dataset("belgium_cropland", data_dir(), embeddings=tmp_path / "field.npy")
    assert pd.Series(dataset.labels).value_counts().to_dict() == {"cropland": 500, "other": 500}
    names = [r.name for r in dataset.representations]
    assert names == ["ours", "composites", "pca64", "xy", "xyz"]
    ours = dataset.representations[0]
    labels = cropland_labels().ravel()
    lookup = {row.tobytes(): i for i, row in enumerate(field.reshape(-1, field.shape[-1]))}
    for values, label in zip(ours.values, dataset.labels):
        assert ("cropland" if labels[lookup[values.tobytes()]] == 1 else "other") == label
    pca = dataset.representations[2]
    assert pca.n_features == 64 and pca.kind == "baseline"


def test_every_series_dataset_has_a_pca64_baseline() -> None:
    for name in ("worldcereal_label_full", "slovenia_lulc_pixels"):
        pca = next(r for r in load_dataset(name, data_dir()).representations if r.name == "pca64")
        assert pca.n_features == 64
        variance = np.nanvar(pca.values, axis=0)
        # not re-scaled to unit variance: the leading components keep far more variance than the last ones
        assert variance[:3].min() > 10 * variance[-3:].max()
