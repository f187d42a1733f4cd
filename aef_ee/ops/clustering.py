"""Unsupervised clustering of embeddings: sample pixels in a region, train k-means, cluster the image."""

from __future__ import annotations

import dataclasses
from typing import Any

from aef_ee.fields.collection import EMBEDDING_BANDS, NATIVE_SCALE_M
from aef_ee.errors import AefValueError

__all__ = ["ClusterResult", "cluster", "cluster_areas", "DEFAULT_PALETTE"]

# A qualitative palette (Tableau 10) for up to ten clusters; longer legends cycle it.
DEFAULT_PALETTE = ["4e79a7", "f28e2b", "e15759", "76b7b2", "59a14f", "edc948", "b07aa1", "ff9da7", "9c755f", "bab0ac"]


@dataclasses.dataclass(frozen=True)
class ClusterResult:
    """What :func:`cluster` built: the cluster image (band ``cluster``), the trained clusterer, the samples."""

    image: Any
    clusterer: Any
    samples: Any
    n_clusters: int | tuple[int, int]

    def legend(self, palette: list[str] | None = None) -> dict[str, str]:
        """Cluster number -> hex colour, for a map legend (for a cascade, the range's upper bound)."""
        palette = palette or DEFAULT_PALETTE
        n = self.n_clusters if isinstance(self.n_clusters, int) else self.n_clusters[1]
        return {f"cluster {i}": palette[i % len(palette)] for i in range(n)}


def cluster(
    embeddings: Any,
    region: Any,
    *,
    n_clusters: int | tuple[int, int] = 8,
    num_pixels: int = 5000,
    scale: float = NATIVE_SCALE_M,
    seed: int = 0,
    max_iterations: int | None = None,
) -> ClusterResult:
    """Clusters the embeddings in ``region`` with k-means (``n_clusters`` an int) or cascade k-means (a range).

    Args:
      embeddings: ``ee.Image`` with bands A00..A63.
      region: where to sample training pixels (``ee.Geometry``).
      n_clusters: k, or (min_k, max_k) for Earth Engine's cascade k-means, which picks k by the Calinski-Harabasz
        criterion.
      num_pixels: how many pixels to sample for training.
      scale: sampling scale, metres.
      seed: makes sampling and initialisation repeatable.
    """
    import ee

    if isinstance(n_clusters, int):
        if n_clusters < 2:
            raise AefValueError(f"n_clusters must be at least 2; got {n_clusters!r}")
    elif not (isinstance(n_clusters, tuple) and len(n_clusters) == 2 and 2 <= n_clusters[0] <= n_clusters[1]):
        raise AefValueError(f"n_clusters must be an int >= 2 or a (min, max) range; got {n_clusters!r}")
    if num_pixels < 1:
        raise AefValueError(f"num_pixels must be positive; got {num_pixels!r}")
    image = ee.Image(embeddings).select(EMBEDDING_BANDS)
    samples = image.sample(region=region, scale=scale, numPixels=num_pixels, seed=seed, geometries=False)
    if isinstance(n_clusters, int):
        kwargs: dict[str, Any] = {"nClusters": n_clusters, "seed": seed}
        if max_iterations is not None:
            kwargs["maxIterations"] = max_iterations
        clusterer = ee.Clusterer.wekaKMeans(**kwargs)
    else:
        clusterer = ee.Clusterer.wekaCascadeKMeans(minClusters=n_clusters[0], maxClusters=n_clusters[1])
    trained = clusterer.train(samples, EMBEDDING_BANDS)
    return ClusterResult(image.cluster(trained, "cluster"), trained, samples, n_clusters)


def cluster_areas(cluster_image: Any, region: Any, *, scale: float = NATIVE_SCALE_M,
                  band: str = "cluster", max_pixels: float = 1e9) -> Any:
    """Area per cluster (or class) in square metres: an ``ee.Dictionary`` {label: area_m2}."""
    import ee

    labels = ee.Image(cluster_image).select(band)
    grouped = ee.Image.pixelArea().addBands(labels).reduceRegion(
        reducer=ee.Reducer.sum().group(groupField=1, groupName="label"), geometry=region, scale=scale,
        crs=labels.projection(), maxPixels=max_pixels)  # pixelArea() comes first: work on the labels' grid
    groups = ee.List(grouped.get("groups"))
    keys = groups.map(lambda g: ee.Number(ee.Dictionary(g).get("label")).format("%d"))
    values = groups.map(lambda g: ee.Dictionary(g).get("sum"))
    return ee.Dictionary.fromLists(keys, values)
