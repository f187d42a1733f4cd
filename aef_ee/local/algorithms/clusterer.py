"""Unsupervised clusterers (``ee.Clusterer``) backed by scikit-learn's k-means.

- ``wekaKMeans``: k-means on inputs rescaled to [0, 1] per attribute with the training minimum and maximum, as
  Weka's EuclideanDistance normalises them; seeded random, k-means++ or farthest-first initialisation.
- ``wekaCascadeKMeans``: k-means for every k in [minClusters, maxClusters] (``restarts`` seeded starts each), keeping
  the k with the largest Calinski-Harabasz score, the criterion Weka's cascade k-means uses.
- ``wekaXMeans``: k-means for every k in [minClusters, maxClusters], keeping the k with the best Bayesian
  information criterion (Pelleg and Moore's formula) instead of X-means' recursive splitting.

Cluster numbers are 0 .. k-1. A fixed seed gives the same clusters on every run. ``docs/classifiers.md`` lists the
differences from Weka.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.model_value import ModelValue
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.algorithms.training_table import (
    FitCache,
    default_inputs,
    digest,
    feature_table,
    model_image,
    predict_features,
    subsample,
)
from aef_ee.local.errors import InvalidArgument, Unimplemented
from aef_ee.local.raster import Image, PixelType
from aef_ee.local.values import FeatureCollection

__all__ = ["Clusterer", "FittedClusters"]

_FITS = FitCache()
# Weka's SimpleKMeans runs until assignments stop changing, with this iteration cap by default.
WEKA_MAX_ITERATIONS = 500


@dataclasses.dataclass(frozen=True, eq=False)
class ClusterTraining:
    """The training table x (n, d) float64, columns in ``names`` order."""

    x: np.ndarray
    names: tuple[str, ...]

    @functools.cached_property
    def key(self) -> str:
        return digest(self.x, extra=self.names)


@dataclasses.dataclass(frozen=True)
class FittedClusters:
    """A fitted k-means: the rescaling (offset, scale) and the scikit-learn model on rescaled inputs."""

    offset: np.ndarray
    scale: np.ndarray
    model: Any

    @property
    def n_clusters(self) -> int:
        return int(self.model.n_clusters)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict((x - self.offset) / self.scale).astype(np.int64)


@dataclasses.dataclass(frozen=True, eq=False)
class Clusterer(ModelValue[ClusterTraining]):
    """An Earth Engine clusterer value (untrained when ``training`` is None)."""

    KIND: ClassVar[str] = "Clusterer"

    def fitted(self, where: str) -> FittedClusters:
        training = self.require_training(where)
        return _FITS.get(self.fit_key(), lambda: _fit(self, training, where))


# --- fitting ---------------------------------------------------------------------------------------------

def _rescaling(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weka's attribute normalisation: (x - min) / (max - min); constant attributes are left as they are."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = hi - lo
    return lo, np.where(span > 0, span, 1.0)


def _farthest_first(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Weka's farthest-first initialisation: a seeded random first centre, then the point farthest from all chosen."""
    rng = np.random.default_rng(seed)
    centres = [int(rng.integers(len(x)))]
    nearest = np.linalg.norm(x - x[centres[0]], axis=1)
    for _ in range(1, k):
        centres.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.linalg.norm(x - x[centres[-1]], axis=1))
    return x[centres]


def _kmeans(x: np.ndarray, k: int, *, init: str | np.ndarray, seed: int, max_iter: int, n_init: int = 1) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, init=init, n_init=n_init, max_iter=max_iter, random_state=seed).fit(x)


def _check_distance(options: dict[str, Any], where: str) -> None:
    distance = str(options.get("distanceFunction") or "Euclidean")
    if distance != "Euclidean":
        raise Unimplemented(f"{where}: distanceFunction '{distance}' is not supported by the local engine (only "
                            "'Euclidean'; Weka's Manhattan k-means uses medians, which scikit-learn lacks).")


def _cluster_range(options: dict[str, Any], n: int, where: str, default_max: int) -> range:
    lo = int(options.get("minClusters") or 2)
    hi = int(options.get("maxClusters") or default_max)
    if lo < 1 or hi < lo:
        raise InvalidArgument(f"{where}: need 1 <= minClusters <= maxClusters; got {lo} and {hi}.")
    hi = min(hi, n)
    if hi < lo:
        raise InvalidArgument(f"{where}: {n} training features are fewer than minClusters={lo}.")
    return range(lo, hi + 1)


def _bic(x: np.ndarray, model: Any) -> float:
    """Pelleg and Moore's BIC of a k-means model (spherical Gaussians with one shared variance); larger is better."""
    n, d = x.shape
    k = model.n_clusters
    if n <= k:
        return -np.inf
    variance = max(float(model.inertia_) / (d * (n - k)), 1e-12)
    counts = np.bincount(model.labels_, minlength=k).astype(np.float64)
    counts = counts[counts > 0]
    log_likelihood = float(np.sum(counts * np.log(counts) - counts * np.log(n)
                                  - counts * d / 2 * np.log(2 * np.pi * variance)) - d * (n - k) / 2)
    parameters = k * (d + 1)
    return log_likelihood - parameters / 2 * np.log(n)


def _fit(clusterer: Clusterer, training: ClusterTraining, where: str) -> FittedClusters:
    from sklearn.metrics import calinski_harabasz_score

    options = clusterer.options
    _check_distance(options, where)
    x = training.x
    if len(x) == 0:
        raise InvalidArgument(f"{where}: no training features with values for {list(training.names)}.")
    offset, scale = _rescaling(x)
    z = (x - offset) / scale
    max_iter = int(options.get("maxIterations") or WEKA_MAX_ITERATIONS)
    seed = int(options.get("seed") if options.get("seed") is not None else 10)
    name = clusterer.name
    if name == "Clusterer.wekaKMeans":
        k = int(options["nClusters"])
        if not 1 <= k <= len(z):
            raise InvalidArgument(f"{where}: nClusters={k} must be between 1 and the number of training features "
                                  f"({len(z)}).")
        init_method = int(options.get("init") or 0)
        if options.get("canopies") or init_method == 2:
            raise Unimplemented(f"{where}: canopy clustering is not supported by the local engine.")
        init: str | np.ndarray = {0: "random", 1: "k-means++"}.get(init_method, "random")
        if init_method == 3:
            init = _farthest_first(z, k, seed)
        elif init_method not in (0, 1):
            raise InvalidArgument(f"{where}: init must be 0 (random), 1 (k-means++), 2 (canopy) or 3 (farthest "
                                  f"first); got {init_method}.")
        return FittedClusters(offset, scale, _kmeans(z, k, init=init, seed=seed, max_iter=max_iter))
    if name == "Clusterer.wekaCascadeKMeans":
        restarts = max(1, int(options.get("restarts") or 10))
        init = "k-means++" if options.get("init") else "random"
        best, best_score = None, -np.inf
        for k in _cluster_range(options, len(z), where, 10):
            model = _kmeans(z, k, init=init, seed=seed, max_iter=max_iter, n_init=restarts)
            distinct = len(np.unique(model.labels_))
            score = calinski_harabasz_score(z, model.labels_) if 1 < distinct < len(z) else -np.inf
            if best is None or score > best_score:
                best, best_score = model, score
        return FittedClusters(offset, scale, best)
    # wekaXMeans
    best, best_bic = None, -np.inf
    for k in _cluster_range(options, len(z), where, 8):
        model = _kmeans(z, k, init="k-means++", seed=seed, max_iter=max_iter)
        bic = _bic(z, model)
        if best is None or bic > best_bic:
            best, best_bic = model, bic
    return FittedClusters(offset, scale, best)


# --- algorithms ------------------------------------------------------------------------------------------

@algorithm("Clusterer.wekaKMeans")
def weka_kmeans(nClusters: int, init: int = 0, canopies: bool = False, maxCandidates: int = 100,
                periodicPruning: int = 10000, minDensity: int = 2, t1: float = -1.5, t2: float = -1.0,
                distanceFunction: str = "Euclidean", maxIterations: int | None = None, preserveOrder: bool = False,
                fast: bool = False, seed: int = 10) -> Clusterer:
    if int(nClusters) < 1:
        raise InvalidArgument(f"Clusterer.wekaKMeans: nClusters must be positive; got {nClusters!r}.")
    return Clusterer.create("Clusterer.wekaKMeans", nClusters=int(nClusters), init=init, canopies=canopies,
                            distanceFunction=distanceFunction, maxIterations=maxIterations, seed=seed)


@algorithm("Clusterer.wekaCascadeKMeans")
def weka_cascade_kmeans(minClusters: int = 2, maxClusters: int = 10, restarts: int = 10,
                        manual: bool = False, init: bool = False, distanceFunction: str = "Euclidean",
                        maxIterations: int | None = None) -> Clusterer:
    return Clusterer.create("Clusterer.wekaCascadeKMeans", minClusters=minClusters, maxClusters=maxClusters,
                            restarts=restarts, init=init, distanceFunction=distanceFunction,
                            maxIterations=maxIterations)


@algorithm("Clusterer.wekaXMeans")
def weka_xmeans(minClusters: int = 2, maxClusters: int = 8, maxIterations: int = 3, maxKMeans: int = 1000,
                maxForChildren: int = 1000, useKD: bool = False, cutoffFactor: float = 0.0,
                distanceFunction: str = "Euclidean", seed: int = 10) -> Clusterer:
    # X-means' maxIterations counts improve-structure rounds, not k-means iterations; k-means runs to convergence.
    return Clusterer.create("Clusterer.wekaXMeans", minClusters=minClusters, maxClusters=maxClusters,
                            distanceFunction=distanceFunction, seed=seed)


@algorithm("Clusterer.train")
def clusterer_train(clusterer: Any, features: Any, inputProperties: Sequence[str] | None = None,
                    subsampling: float = 1.0, subsamplingSeed: int = 0) -> Clusterer:
    where = "Clusterer.train"
    model = Clusterer.of(clusterer, where)
    if not isinstance(features, FeatureCollection):
        raise InvalidArgument(f"{where}: expected a FeatureCollection; got {type(features).__name__}.")
    rows = list(features.features)
    if not rows:
        raise InvalidArgument(f"{where}: the training collection is empty.")
    names = list(inputProperties) if inputProperties is not None else default_inputs(rows)
    if not names:
        raise InvalidArgument(f"{where}: the training features have no numeric properties.")
    x, _, _ = feature_table(rows, names, where=where)
    keep = subsample(len(x), float(subsampling), int(subsamplingSeed or 0), where=where)
    training = ClusterTraining(x[keep], tuple(names))
    if not len(training.x):
        raise InvalidArgument(f"{where}: no training features have values for every input in {names}.")
    return dataclasses.replace(model, training=training)


@algorithm("Clusterer.schema")
def clusterer_schema(clusterer: Any) -> list[str]:
    return list(Clusterer.of(clusterer, "Clusterer.schema").require_training("Clusterer.schema").names)


@algorithm("Image.cluster")
def image_cluster(image: Any, clusterer: Any, outputName: str = "cluster") -> Image:
    where = "Image.cluster"
    model = Clusterer.of(clusterer, where)
    training = model.require_training(where)
    fitted = model.fitted(where)  # fit now, so errors surface on this request
    return model_image(as_image(image), training.names, fitted.predict, output_name=outputName or "cluster",
                       pixel_type=PixelType("int", 0, max(fitted.n_clusters - 1, 0)), where=where)


@algorithm("FeatureCollection.cluster")
def features_cluster(features: Any, clusterer: Any, outputName: str = "cluster") -> FeatureCollection:
    where = "FeatureCollection.cluster"
    model = Clusterer.of(clusterer, where)
    training = model.require_training(where)
    fitted = model.fitted(where)
    return predict_features(features, training.names, fitted.predict, outputName or "cluster", where, int)
