"""Scores of the low-shot protocol, one value per repeat."""

from __future__ import annotations

import numpy as np

from aef_ee.errors import AefValueError

__all__ = ["balanced_accuracy", "r2_score"]


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean per-class recall of every repeat.

    Classes with no true sample in a repeat are left out of that repeat's mean (as scikit-learn does).

    Args:
        truth: (repeats, n_eval) integer class codes 0..n_classes-1.
        predicted: (repeats, n_eval) integer class codes.
        n_classes: number of classes.

    Returns:
        (repeats,) float64 balanced accuracy in [0, 1].
    """
    truth = np.asarray(truth)
    predicted = np.asarray(predicted)
    if truth.shape != predicted.shape or truth.ndim != 2:
        raise AefValueError(f"truth and predicted must be equal 2-D shapes, got {truth.shape} and {predicted.shape}")
    classes = np.arange(n_classes)
    is_class = truth[..., None] == classes  # (repeats, n_eval, n_classes)
    support = is_class.sum(axis=1)
    hits = (is_class & (predicted[..., None] == classes)).sum(axis=1)
    present = support > 0
    recall = np.where(present, hits / np.maximum(support, 1), 0.0)
    return recall.sum(axis=1) / present.sum(axis=1)


def r2_score(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Coefficient of determination of every repeat.

    Args:
        truth: (repeats, n_eval) float targets.
        predicted: (repeats, n_eval) float predictions.

    Returns:
        (repeats,) float64 R² (1 is perfect, 0 is the evaluation-set mean, negative is worse); NaN where the
        evaluation targets are constant.
    """
    truth = np.asarray(truth, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if truth.shape != predicted.shape or truth.ndim != 2:
        raise AefValueError(f"truth and predicted must be equal 2-D shapes, got {truth.shape} and {predicted.shape}")
    residual = ((truth - predicted) ** 2).sum(axis=1)
    total = ((truth - truth.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1.0 - residual / total, np.nan)
