"""Predictors of the low-shot protocol without hyper-parameter search, batched over repeats.

Every function takes the whole feature matrix and a :class:`~aef_ee.evaluation.draws.Draws`, fits one model
per repeat on the repeat's training rows and predicts its evaluation rows. Repeats are processed in chunks
whose working set stays under ``memory_budget`` bytes, with batched matrix products (distances) and batched
pseudo-inverses (least squares), so no Python loop runs per repeat.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from aef_ee.errors import AefValueError
from aef_ee.evaluation.draws import Draws

__all__ = ["DEFAULT_MEMORY_BUDGET", "knn_classify", "knn_regress", "linear_classify", "linear_regress"]

# Working-set budget per chunk of repeats; 256 MiB keeps a 2-core, 24 GiB machine comfortable.
DEFAULT_MEMORY_BUDGET = 256 * 2**20


# BLAS threads while predicting. The batched products and pseudo-inverses are many small matrices, which
# numpy hands to BLAS one by one: extra threads barely help them, and when the cores are shared they spin and
# wait (measured 40x slower with 2 OpenBLAS threads on a loaded 2-core machine). Needs threadpoolctl (a
# scikit-learn dependency); without it BLAS keeps its own setting.
BLAS_THREADS = 1


@contextlib.contextmanager
def _blas_threads(limit: int | None = BLAS_THREADS) -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


def _repeat_chunks(draws: Draws, n_features: int, memory_budget: int) -> Iterator[slice]:
    n_train = draws.train.shape[1]
    n_eval = draws.evaluation.shape[1]
    per_repeat = 8 * (n_eval * n_train * 2 + (n_eval + n_train) * (n_features + 1))
    step = max(1, int(memory_budget // max(per_repeat, 1)))
    for start in range(0, draws.repeats, step):
        yield slice(start, min(start + step, draws.repeats))


def _check(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise AefValueError(f"features must be (n_samples, n_features), got shape {features.shape}")
    if targets.shape[0] != features.shape[0]:
        raise AefValueError(f"{targets.shape[0]} targets for {features.shape[0]} feature rows")
    if not np.all(np.isfinite(features)):
        raise AefValueError("features contain NaN or infinite values; drop or impute those rows first")
    return features


def _nearest(features: np.ndarray, draws: Draws, k: int, memory_budget: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (repeat slice, (r, n_eval, k) global row indices of the k nearest training rows).

    Squared Euclidean distances by expansion (|a|² + |b|² - 2 a·b, as scikit-learn's brute-force search).
    When the (n_samples, n_samples) Gram matrix fits in half the budget, it is computed once and every
    repeat's distances are gathered from it, so the per-repeat cost no longer grows with n_features.
    """
    n_samples, n_features = features.shape
    n_train = draws.train.shape[1]
    if not 1 <= k <= n_train:
        raise AefValueError(f"k={k!r} nearest neighbours need 1 <= k <= n_train={n_train}")
    gram = features @ features.T if 8 * n_samples**2 <= memory_budget // 2 else None
    squared_norms = np.einsum("nd,nd->n", features, features)
    for chunk in _repeat_chunks(draws, 0 if gram is not None else n_features, memory_budget // 2):
        train_rows = draws.train[chunk]
        eval_rows = draws.evaluation[chunk]
        if gram is not None:
            products = gram[eval_rows[:, :, None], train_rows[:, None, :]]
        else:
            products = features[eval_rows] @ features[train_rows].transpose(0, 2, 1)
        distances = squared_norms[eval_rows][:, :, None] + squared_norms[train_rows][:, None, :] - 2.0 * products
        if k == 1:
            local = distances.argmin(axis=2)[:, :, None]
        else:
            local = np.argpartition(distances, k - 1, axis=2)[:, :, :k]
        yield chunk, np.take_along_axis(train_rows[:, None, :], local, axis=2)


def knn_classify(
    features: np.ndarray,
    codes: np.ndarray,
    draws: Draws,
    *,
    n_classes: int,
    k: int,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> np.ndarray:
    """k-nearest-neighbour majority vote (Euclidean, uniform weights) per repeat.

    Vote ties go to the smallest class code, as in scikit-learn's ``KNeighborsClassifier``.

    Args:
        features: (n_samples, n_features) float features.
        codes: (n_samples,) integer class codes 0..n_classes-1.
        draws: the repeats' training and evaluation rows.
        n_classes: number of classes.
        k: number of neighbours, 1 <= k <= n_train.
        memory_budget: bytes of working memory per chunk of repeats.

    Returns:
        (repeats, n_eval) int64 predicted class codes of the evaluation rows.
    """
    codes = np.asarray(codes)
    features = _check(features, codes)
    predicted = np.empty(draws.evaluation.shape, dtype=np.int64)
    classes = np.arange(n_classes)
    with _blas_threads():
        for chunk, neighbours in _nearest(features, draws, k, memory_budget):
            votes = (codes[neighbours][..., None] == classes).sum(axis=2)  # (r, n_eval, n_classes)
            predicted[chunk] = votes.argmax(axis=2)
    return predicted


def knn_regress(
    features: np.ndarray, targets: np.ndarray, draws: Draws, *, k: int, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> np.ndarray:
    """k-nearest-neighbour mean of the targets (Euclidean, uniform weights) per repeat.

    Returns:
        (repeats, n_eval) float64 predictions of the evaluation rows.
    """
    targets = np.asarray(targets, dtype=np.float64)
    features = _check(features, targets)
    predicted = np.empty(draws.evaluation.shape, dtype=np.float64)
    with _blas_threads():
        for chunk, neighbours in _nearest(features, draws, k, memory_budget):
            predicted[chunk] = targets[neighbours].mean(axis=2)
    return predicted


def _least_squares(
    features: np.ndarray, targets: np.ndarray, draws: Draws, memory_budget: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (repeat slice, (r, n_eval, n_targets) predictions) of unregularised least squares with intercept.

    Like scikit-learn's ``LinearRegression``: centre features and targets on the training rows, take the
    minimum-norm least-squares solution (pseudo-inverse, singular values below ``eps * max(n, d)`` of the
    largest treated as zero), and put the means back into the intercept.
    """
    n_train = draws.train.shape[1]
    rtol = np.finfo(np.float64).eps * max(n_train, features.shape[1])
    for chunk in _repeat_chunks(draws, features.shape[1], memory_budget):
        train = features[draws.train[chunk]]  # (r, n, d)
        train_targets = targets[draws.train[chunk]]  # (r, n, t)
        feature_mean = train.mean(axis=1, keepdims=True)
        target_mean = train_targets.mean(axis=1, keepdims=True)
        weights = np.linalg.pinv(train - feature_mean, rtol=rtol) @ (train_targets - target_mean)  # (r, d, t)
        evaluation = features[draws.evaluation[chunk]]
        yield chunk, (evaluation - feature_mean) @ weights + target_mean


def linear_classify(
    features: np.ndarray,
    codes: np.ndarray,
    draws: Draws,
    *,
    n_classes: int,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> np.ndarray:
    """Linear (ridge with zero regularisation) classifier: least squares on one-hot targets, argmax.

    Returns:
        (repeats, n_eval) int64 predicted class codes of the evaluation rows.
    """
    codes = np.asarray(codes)
    features = _check(features, codes)
    one_hot = (codes[:, None] == np.arange(n_classes)).astype(np.float64)
    predicted = np.empty(draws.evaluation.shape, dtype=np.int64)
    with _blas_threads():
        for chunk, scores in _least_squares(features, one_hot, draws, memory_budget):
            predicted[chunk] = scores.argmax(axis=2)
    return predicted


def linear_regress(
    features: np.ndarray, targets: np.ndarray, draws: Draws, *, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> np.ndarray:
    """Ordinary least-squares linear regression with intercept per repeat.

    Returns:
        (repeats, n_eval) float64 predictions of the evaluation rows.
    """
    targets = np.asarray(targets, dtype=np.float64)
    features = _check(features, targets)
    predicted = np.empty(draws.evaluation.shape, dtype=np.float64)
    with _blas_threads():
        for chunk, scores in _least_squares(features, targets[:, None], draws, memory_budget):
            predicted[chunk] = scores[:, :, 0]
    return predicted
