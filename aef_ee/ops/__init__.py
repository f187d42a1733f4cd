"""Server-side workflows on any embedding image: similarity, clustering, classification, change, export.

Every function builds Earth Engine expressions (``ee.Image``, ``ee.FeatureCollection``, ``ee.Classifier``) and
pulls nothing to the client unless its name says so (``*_report`` functions call ``getInfo``).
"""

from aef_ee.ops.change import change_areas, change_image
from aef_ee.ops.classification import (
    AccuracyReport,
    RegressionReport,
    accuracy_report,
    classify,
    regression_report,
    sample_labels,
    split_labels,
    train_classifier,
)
from aef_ee.ops.clustering import cluster, cluster_areas
from aef_ee.ops.tasks import export_image_to_drive, export_image_to_cloud_storage, export_table_to_drive, wait
from aef_ee.ops.similarity import reference_vector, similar_areas, similarity

__all__ = [
    "AccuracyReport",
    "RegressionReport",
    "accuracy_report",
    "change_areas",
    "change_image",
    "classify",
    "cluster",
    "cluster_areas",
    "export_image_to_cloud_storage",
    "export_image_to_drive",
    "export_table_to_drive",
    "reference_vector",
    "regression_report",
    "sample_labels",
    "similar_areas",
    "similarity",
    "split_labels",
    "train_classifier",
    "wait",
]
