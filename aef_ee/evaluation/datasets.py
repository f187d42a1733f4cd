"""The labelled datasets the project ships in ``data/``, each with its representations and label caveats.

- AlphaEarth sample points (three regions): Dynamic World labels; Google's embeddings vs S1 composite vs XY.
- Slovenia eo-learn patch: land-cover pixels and polygons; composites (reference scenes, NDVI series),
  MOSAIKS-style random convolutional features, XY / XYZ (DEM); our embeddings through a hook.
- WorldCereal public extractions: crop types; composites and random features over the monthly time x band
  matrix, XY / XYZ.
- WorldCereal Belgium cube: cropland pixels; composites, XY / XYZ; our embedding field through a hook.

Every dataset with a time series also has PCA-64 of it: the linear compression an embedding has to beat.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from aef_ee.errors import AefIOError, AefValueError
from aef_ee.evaluation import baselines
from aef_ee.evaluation.representations import Representation, from_array, from_table, read_table

__all__ = ["DATASETS", "LabelledDataset", "load_dataset"]

logger = logging.getLogger(__name__)

DW_CLASSES = (
    "water", "trees", "grass", "flooded_vegetation", "crops", "shrub_and_scrub", "built", "bare", "snow_and_ice",
)  # fmt: skip
ALPHAEARTH_REGIONS = ("sf_bay_urban", "iowa_ag", "california_coast")
SLOVENIA_LULC = {1: "cultivated", 2: "forest", 3: "grassland", 4: "shrubland", 8: "artificial"}
# Pixels drawn per land-cover class (seeded) so the dense, autocorrelated raster stays a labelled *sample*.
SLOVENIA_PIXELS_PER_CLASS = 200
SLOVENIA_NDVI_YEAR = 2017
# Band order of REFERENCE_SCENES.npy (eo-learn's L1C request; B8A follows B8).
S2_L1C_BANDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
SEASON_MONTHS = {"djf": (12, 1, 2), "mam": (3, 4, 5), "jja": (6, 7, 8), "son": (9, 10, 11)}
WORLDCEREAL_NODATA = 65535
# Random-feature settings of the MOSAIKS-style baselines (no search; MOSAIKS itself uses thousands of filters).
RCF_FILTERS = 128
RCF_KERNEL = 3
RCF_POOL = 7
RCF_SEED = 0
PCA_COMPONENTS = 64
# Pixels drawn per cropland class of the Belgian cube (seeded), as for Slovenia.
BELGIUM_PIXELS_PER_CLASS = 500


@dataclass
class LabelledDataset:
    """Labels plus the representations to compare on them.

    Attributes:
        name: dataset name in the results.
        labels: (n_samples,) object class labels, None for unlabelled rows.
        representations: matrices aligned with ``labels``.
        protocol: overrides of :class:`~aef_ee.evaluation.protocol.ProtocolConfig` fields for this dataset.
        caveats: label caveats, reported with the results.
    """

    name: str
    labels: np.ndarray
    representations: list[Representation]
    protocol: dict = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)


def row_aligned_embeddings(path: Path, n_samples: int, name: str = "ours") -> Representation:
    """Our embeddings for a point dataset: a (n_samples, F) ``.npy`` or a CSV/Parquet with ``A00``.. columns."""
    if path.suffix == ".npy":
        values = np.load(path)
        representation = from_array(name, values, kind="embedding", note=f"our embeddings from {path.name}")
    else:
        table = read_table(path)
        columns = [c for c in table.columns if len(c) == 3 and c[0] == "A" and c[1:].isdigit()]
        representation = from_table(
            table, columns, name=name, kind="embedding", note=f"our embeddings from {path.name}"
        )
    if representation.n_samples != n_samples:
        raise AefValueError(f"{str(path)!r} has {representation.n_samples} rows, the dataset has {n_samples}")
    return representation


def _require(path: Path) -> Path:
    if not path.exists():
        raise AefIOError(f"shipped data file {str(path)!r} is missing (see data/PROVENANCE.md)")
    return path


# --- AlphaEarth sample points -------------------------------------------------------------------------------


def alphaearth(region: str, data_dir: Path, embeddings: Path | None = None) -> LabelledDataset:
    """720 points of one region, 80 per Dynamic World class, with Google's 2024 embeddings."""
    if region not in ALPHAEARTH_REGIONS:
        raise AefValueError(f"region must be one of {ALPHAEARTH_REGIONS}, got {region!r}")
    table = read_table(_require(data_dir / "alphaearth_samples" / f"alphaearth_s1_dw_samples_{region}_2024.csv"))
    labels = np.array([DW_CLASSES[int(c)] for c in table["dw_label"]], dtype=object)
    xy, names = baselines.coordinate_features(table["longitude"].to_numpy(), table["latitude"].to_numpy())
    representations = [
        from_table(table, "A00..A63", name="google_aef_2024", kind="embedding",
                   note="GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL 2024 at the points (Earth Engine CSV export)"),
        from_table(table, "S1_VV,S1_VH,S1_VV_div_VH", name="s1_median_2024", kind="baseline", standardize=True,
                   note="annual median Sentinel-1 VV, VH (dB) and VV/VH, z-scored"),
        from_array("xy", xy, feature_names=names, kind="baseline", standardize=True,
                   note="longitude, latitude (degrees), z-scored"),
    ]  # fmt: skip
    if embeddings is not None:
        representations.insert(0, row_aligned_embeddings(embeddings, len(table)))
    return LabelledDataset(
        name=f"alphaearth_{region}",
        labels=labels,
        representations=representations,
        protocol={"max_shots": 50, "min_eval_per_class": 5, "min_class_size": 20},
        caveats=[
            "labels are Dynamic World model output (dw_label), not ground truth; classes rare in the region "
            "(e.g. snow_and_ice, flooded_vegetation) were sampled to 80 points anyway and are mostly noise",
            "Dynamic World is a Sentinel-2 model and the embeddings see the same imagery: scores measure "
            "agreement with another model, not map accuracy",
        ],
    )


# --- Slovenia eo-learn patch --------------------------------------------------------------------------------


@dataclass
class _SloveniaPatch:
    lulc: np.ndarray  # (H, W) uint16 class ids, 0 = no data
    # name -> ((H*W, F) raw, names, kind, note, whether to z-score it)
    dense: dict[str, tuple[np.ndarray, list[str], str, str, bool]]
    transform: tuple[float, float, float, float]  # west, north, x pixel size, y pixel size (metres)
    crs: str


def _slovenia_patch(data_dir: Path, embeddings: Path | None) -> _SloveniaPatch:
    root = data_dir / "eolearn_slovenia"
    patch = root / "TestEOPatch"
    lulc = np.load(_require(patch / "mask_timeless" / "LULC.npy"))[..., 0]
    height, width = lulc.shape
    dem = np.load(_require(patch / "data_timeless" / "DEM.npy"))[..., 0].astype(np.float64)
    scenes = np.load(_require(root / "REFERENCE_SCENES.npy")).astype(np.float64)  # (5, H, W, 13)
    ndvi = np.load(_require(patch / "data" / "NDVI.npy"))[..., 0].astype(np.float64)  # (68, H, W)
    valid = np.load(patch / "mask" / "IS_VALID.npy")[..., 0].astype(bool)
    clear = valid & ~np.load(patch / "mask" / "CLM.npy")[..., 0].astype(bool)
    ndvi = np.where(clear, ndvi, np.nan)
    times = [datetime.fromisoformat(t) for t in json.loads((patch / "timestamps.json").read_text())]
    bbox = json.loads((patch / "bbox.geojson").read_text())
    xs = [p[0] for p in bbox["coordinates"][0]]
    ys = [p[1] for p in bbox["coordinates"][0]]
    west, north = min(xs), max(ys)
    dx, dy = (max(xs) - west) / width, (north - min(ys)) / height
    pixels = height * width

    s2_bands = S2_L1C_BANDS
    scene_series = scenes.transpose(1, 2, 0, 3).reshape(pixels, scenes.shape[0], scenes.shape[3])
    scene_composite, scene_names = baselines.composite_features(scene_series, s2_bands, percentiles=(25, 50, 75))
    year = [i for i, t in enumerate(times) if t.year == SLOVENIA_NDVI_YEAR]
    ndvi_series = ndvi[year].reshape(len(year), pixels).T[:, :, None]
    ndvi_annual, ndvi_names = baselines.composite_features(ndvi_series, ["ndvi"])
    seasons = {s: [j for j, i in enumerate(year) if times[i].month in months] for s, months in SEASON_MONTHS.items()}
    ndvi_seasonal, season_names = baselines.seasonal_composite_features(ndvi_series, ["ndvi"], seasons)
    pca, pca_names = baselines.pca_features(
        np.concatenate([scene_series.reshape(pixels, -1), ndvi_series[:, :, 0]], axis=1), n_components=PCA_COMPONENTS)
    median_scene = np.median(scenes, axis=0)
    rows, cols = np.divmod(np.arange(pixels), width)
    rcf, rcf_names = baselines.random_conv_image_features(
        median_scene, rows, cols, n_filters=RCF_FILTERS, kernel=RCF_KERNEL, pool=RCF_POOL, seed=RCF_SEED
    )
    x = west + (cols + 0.5) * dx
    y = north - (rows + 0.5) * dy
    dense = {
        "composites": (
            np.concatenate([scene_composite, ndvi_annual, ndvi_seasonal], axis=1),
            scene_names + ndvi_names + season_names,
            "baseline",
            "13-band p25/p50/p75 over the 5 reference scenes + NDVI 2017 p10..p90 and seasonal medians "
            "(cloud-masked), z-scored", True,
        ),
        "pca64": (
            pca, pca_names, "baseline",
            f"first {pca.shape[1]} principal components of the z-scored 5 reference scenes x 13 bands and the 2017 "
            "NDVI series (cloud-masked, filled with the mean), fitted on every pixel of the patch",
            False,  # principal components keep their variances: not re-scaled
        ),
        "mosaiks_rcf": (
            rcf, rcf_names, "baseline",
            f"{RCF_FILTERS} random {RCF_KERNEL}x{RCF_KERNEL}x13 patches of the median reference scene, ReLU(+/-), "
            f"{RCF_POOL}x{RCF_POOL} px average pool, seed {RCF_SEED}, z-scored", True,
        ),
        "xy": (np.stack([x, y], axis=1), ["x", "y"], "baseline", "UTM 33N pixel centre (m), z-scored",
               True),
        "xyz": (np.stack([x, y, dem.ravel()], axis=1), ["x", "y", "z"], "baseline",
                "UTM 33N (m) + DEM (m), z-scored", True),
    }  # fmt: skip
    if embeddings is not None:
        field_values = np.load(embeddings) if embeddings.suffix == ".npy" else _read_raster(embeddings)
        if field_values.shape[:2] != (height, width):
            raise AefValueError(
                f"embedding field {str(embeddings)!r} has shape {field_values.shape}, needs ({height}, {width}, F)"
            )
        dense["ours"] = (
            field_values.reshape(pixels, -1).astype(np.float64),
            [f"A{i:02d}" for i in range(field_values.shape[2])],
            "embedding",
            f"our embedding field from {embeddings.name}",
            False,
        )
    return _SloveniaPatch(lulc=lulc, dense=dense, transform=(west, north, dx, dy), crs="EPSG:32633")


def _read_raster(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as source:
        return source.read().transpose(1, 2, 0)


def _slovenia_representations(patch: _SloveniaPatch, rows: list[np.ndarray]) -> list[Representation]:
    """Average each dense feature map over each sample's pixels (one pixel, or a polygon's pixels)."""
    representations = []
    for name, (dense, names, kind, note, standardize) in patch.dense.items():
        values = np.stack([dense[r].mean(axis=0) if r.size else np.full(dense.shape[1], np.nan) for r in rows])
        representations.append(from_array(name, values, feature_names=names, kind=kind, note=note,
                                          standardize=standardize))
    return representations


def slovenia_pixels(data_dir: Path, embeddings: Path | None = None) -> LabelledDataset:
    """Up to 200 seeded pixels per land-cover class of the LULC raster."""
    patch = _slovenia_patch(data_dir, embeddings)
    flat = patch.lulc.ravel()
    rng = np.random.default_rng(RCF_SEED)
    chosen = []
    for code in SLOVENIA_LULC:
        rows = np.flatnonzero(flat == code)
        chosen.append(np.sort(rng.choice(rows, size=min(rows.size, SLOVENIA_PIXELS_PER_CLASS), replace=False)))
    chosen = np.concatenate(chosen)
    caveats = [
        f"pixels from one 1 km x 1 km patch, up to {SLOVENIA_PIXELS_PER_CLASS} per class (seeded): training and "
        "evaluation pixels are spatial neighbours, so scores are optimistic (XY kNN most of all)",
        "LULC raster is a rasterised land-use register (2017/18), not checked against the imagery",
    ]
    if "ours" not in patch.dense:
        caveats.append(
            "our embeddings not evaluated: no checkpoint yet (hook: --embeddings slovenia_lulc_pixels=FIELD.npy)"
        )
    return LabelledDataset(
        name="slovenia_lulc_pixels",
        labels=np.array([SLOVENIA_LULC[int(c)] for c in flat[chosen]], dtype=object),
        representations=_slovenia_representations(patch, [np.array([r]) for r in chosen]),
        protocol={"max_shots": 100, "min_class_size": 20, "min_eval_per_class": 20},
        caveats=caveats,
    )


def slovenia_polygons(data_dir: Path, embeddings: Path | None = None) -> LabelledDataset:
    """One sample per LULC polygon: features averaged over the polygon's pixels inside the patch."""
    import geopandas as gpd
    from rasterio.features import geometry_mask
    from rasterio.transform import from_origin

    patch = _slovenia_patch(data_dir, embeddings)
    polygons = gpd.read_file(_require(data_dir / "eolearn_slovenia" / "TestEOPatch" / "vector_timeless" / "LULC.gpkg"))
    west, north, dx, dy = patch.transform
    transform = from_origin(west, north, dx, dy)
    rows = [
        np.flatnonzero(geometry_mask([geom], out_shape=patch.lulc.shape, transform=transform, invert=True))
        for geom in polygons.geometry
    ]
    labels = np.array([SLOVENIA_LULC.get(int(c)) for c in polygons["LULC_ID"]], dtype=object)
    return LabelledDataset(
        name="slovenia_lulc_polygons",
        labels=labels,
        representations=_slovenia_representations(patch, rows),
        protocol={"max_shots": 100, "min_class_size": 5, "min_eval_per_class": 3},
        caveats=([] if embeddings else ["our embeddings not evaluated: no checkpoint yet "
                                        "(hook: --embeddings slovenia_lulc_polygons=FIELD.npy)"]) + [
            "88 register polygons clipped to one 1 km x 1 km patch; polygons with no pixel centre inside have no "
            "value, LULC_ID 0 has no class; very few polygons per class, so scores are noisy",
        ],
    )


# --- WorldCereal labelled points ----------------------------------------------------------------------------


WORLDCEREAL_BANDS = (
    ("OPTICAL", "B02", "10m"), ("OPTICAL", "B03", "10m"), ("OPTICAL", "B04", "10m"), ("OPTICAL", "B08", "10m"),
    ("OPTICAL", "B05", "20m"), ("OPTICAL", "B06", "20m"), ("OPTICAL", "B07", "20m"), ("OPTICAL", "B8A", "20m"),
    ("OPTICAL", "B11", "20m"), ("OPTICAL", "B12", "20m"), ("SAR", "VV", "20m"), ("SAR", "VH", "20m"),
    ("METEO", "temperature_mean", "100m"), ("METEO", "precipitation_flux", "100m"),
)  # fmt: skip
WORLDCEREAL_START_MONTH = 12  # ts0 is 2016-12


def _worldcereal_series(table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Decode the wide monthly columns into (n_points, 12, 14) physical values, NaN for no data."""
    steps = int(table["available_timesteps"].iloc[0])
    series = np.empty((len(table), steps, len(WORLDCEREAL_BANDS)))
    for b, (sensor, band, resolution) in enumerate(WORLDCEREAL_BANDS):
        raw = table[[f"{sensor}-{band}-ts{t}-{resolution}" for t in range(steps)]].to_numpy(dtype=np.float64, copy=True)
        raw[raw == WORLDCEREAL_NODATA] = np.nan
        if sensor == "OPTICAL":
            raw = raw / 1e4  # reflectance
        elif sensor == "SAR":
            with np.errstate(divide="ignore"):
                raw = np.where(raw > 0, 20.0 * np.log10(raw) - 83.0, np.nan)  # dB
        elif band == "temperature_mean":
            raw = raw / 100.0  # kelvin
        series[:, :, b] = raw
    return series, [band for _, band, _ in WORLDCEREAL_BANDS]


def worldcereal(data_dir: Path, label_column: str = "label_full", embeddings: Path | None = None) -> LabelledDataset:
    """500 field-survey points (Uganda, South Sudan, 2017): composites, random time features, XY(Z)."""
    table = read_table(_require(data_dir / "worldcereal" / "test_public_extractions.parquet"))
    if label_column not in table.columns:
        raise AefValueError(f"label column {label_column!r} is not in the WorldCereal table")
    series, bands = _worldcereal_series(table)
    steps = series.shape[1]
    month = [(WORLDCEREAL_START_MONTH - 1 + t) % 12 + 1 for t in range(steps)]
    seasons = {s: [t for t in range(steps) if month[t] in months] for s, months in SEASON_MONTHS.items()}
    annual, annual_names = baselines.composite_features(series, bands)
    seasonal, seasonal_names = baselines.seasonal_composite_features(series, bands, seasons)
    rcf, rcf_names = baselines.random_conv_series_features(series, n_filters=RCF_FILTERS, window=3, seed=RCF_SEED)
    pca, pca_names = baselines.pca_features(series, n_components=PCA_COMPONENTS)
    lon, lat, alt = (table[c].to_numpy(dtype=np.float64) for c in ("lon", "lat", "DEM-alt-20m"))
    xy, xy_names = baselines.coordinate_features(lon, lat)
    xyz, xyz_names = baselines.coordinate_features(lon, lat, alt)
    representations = [
        from_array("composites", np.concatenate([annual, seasonal], axis=1),
                   feature_names=annual_names + seasonal_names, kind="baseline", standardize=True,
                   note="14 bands (S2 L2A, S1 dB, AgERA5) p10..p90 over 12 months + seasonal medians, z-scored"),
        from_array("mosaiks_time_rcf", rcf, feature_names=rcf_names, kind="baseline", standardize=True,
                   note=f"{RCF_FILTERS} random 3-month x 14-band windows of the series, ReLU(+/-), mean over time "
                        "(a 1-pixel MOSAIKS patch is degenerate, so the convolution runs over time), z-scored"),
        from_array("pca64", pca, feature_names=pca_names, kind="baseline",
                   note=f"first {pca.shape[1]} principal components of the z-scored 12-month x 14-band series "
                        "(no data filled with the mean), fitted on all points"),
        from_array("xy", xy, feature_names=xy_names, kind="baseline", standardize=True, note="lon, lat, z-scored"),
        from_array("xyz", xyz, feature_names=xyz_names, kind="baseline", standardize=True,
                   note="lon, lat, DEM altitude (m), z-scored"),
    ]  # fmt: skip
    if embeddings is not None:
        representations.insert(0, row_aligned_embeddings(embeddings, len(table)))
    missing = float(np.isnan(series[:, :, :10]).mean())
    caveats = [
        f"{missing:.1%} of the monthly optical values are no data (clouds); composites ignore them, random "
        "features fill them with the band mean",
        "field-survey labels (WFP, Sen2Agri, RadiantEarth, One Acre Fund), several points may share a field",
    ]
    if embeddings is None:
        caveats.append("our embeddings not evaluated: the model cannot embed these point extractions yet "
                       "(hook: --embeddings worldcereal_...=PATH)")
    if label_column == "finetune_class":
        caveats.append(
            "finetune_class in this file is a coarse 4-class label (temporary_crops, trees, grasslands, "
            "built_up), not crop types as data/PROVENANCE.md says; crop types are in label_full"
        )
    return LabelledDataset(
        name=f"worldcereal_{label_column}",
        labels=table[label_column].astype(object).to_numpy(),
        representations=representations,
        protocol={"max_shots": 100, "min_class_size": 20, "min_eval_per_class": 5},
        caveats=caveats,
    )


# --- WorldCereal Belgium cube -------------------------------------------------------------------------------


def belgium_cropland(data_dir: Path, embeddings: Path | None = None) -> LabelledDataset:
    """Up to 500 seeded pixels per class of WorldCereal's cropland map of the Belgian cube (100 x 100 px)."""
    from aef_ee.demo.belgium_cube import cropland_labels, read_cube, decode_sources

    cube = read_cube(data_dir / "worldcereal" / "worldcereal_preprocessed_inputs.nc")
    sources = decode_sources(cube)
    labels = cropland_labels(data_dir / "worldcereal" / "worldcereal_cropland_classification.nc").ravel()
    height, width = cube["S2-L2A-B02"].shape[1:]
    rng = np.random.default_rng(RCF_SEED)
    chosen = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == c), size=min(int((labels == c).sum()), BELGIUM_PIXELS_PER_CLASS),
                   replace=False) for c in np.unique(labels)]))
    parts, names = [], []
    for name in ("s2", "s1"):
        src = sources[name]
        values = np.where(src.mask[..., None], src.frames, np.nan)  # (T, H, W, C)
        parts.append(np.moveaxis(values, 0, 2).reshape(height * width, values.shape[0], -1)[chosen])
        names.extend(src.bands)
    series = np.concatenate(parts, axis=2)  # (n, 12, 11): S2 reflectance, S1 dB
    annual, annual_names = baselines.composite_features(series, names)
    pca, pca_names = baselines.pca_features(series, n_components=PCA_COMPONENTS)
    rows, cols = np.divmod(chosen, width)
    x, y = cube["x"][cols], cube["y"][rows]
    dem = sources["dem"].frames[0, ..., 0].ravel()[chosen]
    representations = [
        from_array("composites", annual, feature_names=annual_names, kind="baseline", standardize=True,
                   note="11 bands (S2 L2A, S1 dB) p10..p90 over 12 monthly composites, z-scored"),
        from_array("pca64", pca, feature_names=pca_names, kind="baseline",
                   note=f"first {pca.shape[1]} principal components of the z-scored 12-month x 11-band series, "
                        "fitted on the sampled pixels"),
        from_array("xy", np.stack([x, y], 1), feature_names=["x", "y"], kind="baseline", standardize=True,
                   note="UTM 31N pixel centre (m), z-scored"),
        from_array("xyz", np.stack([x, y, dem], 1), feature_names=["x", "y", "z"], kind="baseline",
                   standardize=True, note="UTM 31N (m) + DEM (m), z-scored"),
    ]  # fmt: skip
    caveats = [
        f"pixels of one 1 km x 1 km cube, up to {BELGIUM_PIXELS_PER_CLASS} per class (seeded): training and "
        "evaluation pixels are spatial neighbours, so scores are optimistic (XY kNN most of all)",
        "labels are WorldCereal's own cropland classification (a model output), not field survey",
    ]
    if embeddings is not None:
        field_values = np.load(embeddings) if embeddings.suffix == ".npy" else _read_raster(embeddings)
        if field_values.shape[:2] != (height, width):
            raise AefValueError(
                f"embedding field {str(embeddings)!r} has shape {field_values.shape}, needs ({height}, {width}, F)")
        representations.insert(0, from_array(
            "ours", field_values.reshape(height * width, -1)[chosen].astype(np.float64),
            feature_names=[f"A{i:02d}" for i in range(field_values.shape[2])], kind="embedding",
            note=f"our embedding field from {embeddings.name}"))
        caveats.append("the shipped model was trained (self-supervised, without these labels) on this cube")
    else:
        caveats.append("our embeddings not evaluated (hook: --embeddings belgium_cropland=FIELD.npy)")
    return LabelledDataset(
        name="belgium_cropland",
        labels=np.where(labels[chosen] == 1, "cropland", "other").astype(object),
        representations=representations,
        protocol={"max_shots": 100, "min_class_size": 20, "min_eval_per_class": 20},
        caveats=caveats,
    )


# Each loader takes (data_dir, embeddings): ``embeddings`` is the hook for our model's output — an embedding
# field of the patch ((101, 100, F) .npy or GeoTIFF) for Slovenia, a row-aligned matrix for point datasets.
DATASETS: dict[str, Callable[[Path, Path | None], LabelledDataset]] = {
    **{f"alphaearth_{r}": (lambda d, e, r=r: alphaearth(r, d, e)) for r in ALPHAEARTH_REGIONS},
    "slovenia_lulc_pixels": slovenia_pixels,
    "slovenia_lulc_polygons": slovenia_polygons,
    "worldcereal_label_full": lambda d, e: worldcereal(d, "label_full", e),
    "worldcereal_finetune_class": lambda d, e: worldcereal(d, "finetune_class", e),
    "belgium_cropland": belgium_cropland,
}


def load_dataset(name: str, data_dir: str | Path, *, embeddings: str | Path | None = None) -> LabelledDataset:
    """Load one shipped dataset by name (see :data:`DATASETS`), optionally with our embeddings added."""
    if name not in DATASETS:
        raise AefValueError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name](Path(data_dir), None if embeddings is None else Path(embeddings))
