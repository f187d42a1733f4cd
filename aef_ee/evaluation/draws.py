"""Training/evaluation draws of the low-shot protocol, vectorised over repeats.

The AlphaEarth Foundations evaluation draws a class-balanced training set of ``c'`` samples per class and
evaluates on every remaining sample; the draw is repeated ``k = 1000 / (2 * log10(c'))`` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from aef_ee.errors import AefValueError

__all__ = ["Draws", "PAPER_REPEAT_BUDGET", "draw_class_balanced", "draw_random", "repeat_count"]

# The numerator of the published repeat formula k = 1000 / (2 * log10(c')).
PAPER_REPEAT_BUDGET = 1000.0


def repeat_count(shots: int, *, max_repeats: int = 1000) -> int:
    """Number of repeated draws for ``shots`` training samples per class.

    ``k = ceil(1000 / (2 * log10(shots)))``, at least 1 and at most ``max_repeats``. For ``shots == 1`` the
    formula divides by ``log10(1) = 0`` (infinitely many repeats); we use ``max_repeats`` there, and the cap
    also applies to the other small counts (2 and 3 per class give 1661 and 1048 with the formula).

    Args:
        shots: training samples per class (classification) or in total (regression), >= 1.
        max_repeats: cap on the repeat count, >= 1.

    Returns:
        The repeat count (e.g. 202 for 300 per class, 500 for 10 per class).

    Raises:
        AefValueError: ``shots`` or ``max_repeats`` is below 1.
    """
    if int(shots) != shots or shots < 1:
        raise AefValueError(f"shots must be an integer >= 1, got {shots!r}")
    if int(max_repeats) != max_repeats or max_repeats < 1:
        raise AefValueError(f"max_repeats must be an integer >= 1, got {max_repeats!r}")
    if shots == 1:
        return int(max_repeats)
    k = math.ceil(PAPER_REPEAT_BUDGET / (2.0 * math.log10(shots)))
    return int(max(1, min(max_repeats, k)))


@dataclass(frozen=True)
class Draws:
    """Row indices of repeated train/evaluation splits.

    Attributes:
        train: (repeats, n_train) int64 row indices of the training samples of each repeat.
        evaluation: (repeats, n_eval) int64 row indices of the evaluation samples (every row not in ``train``).
    """

    train: np.ndarray
    evaluation: np.ndarray

    @property
    def repeats(self) -> int:
        return int(self.train.shape[0])


def _rng(seed: int | Sequence[int]) -> np.random.Generator:
    return np.random.default_rng(list(seed) if isinstance(seed, (list, tuple)) else seed)


def draw_class_balanced(codes: np.ndarray, shots: int, repeats: int, *, seed: int | Sequence[int]) -> Draws:
    """Draw ``shots`` training rows from every class, ``repeats`` times; the rest is the evaluation set.

    Args:
        codes: (n_samples,) integer class codes 0..n_classes-1; every class must have more than ``shots`` rows.
        shots: training samples per class.
        repeats: number of independent draws.
        seed: seed (or seed sequence) of the numpy generator; the same seed gives the same draws.

    Returns:
        Draws with ``train`` of shape (repeats, n_classes * shots), ``evaluation`` of shape
        (repeats, n_samples - n_classes * shots), each grouped by class in code order.

    Raises:
        AefValueError: a class has ``shots`` rows or fewer, or an argument is out of range.
    """
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise AefValueError(f"codes must be 1-D, got shape {codes.shape}")
    if shots < 1 or repeats < 1:
        raise AefValueError(f"shots and repeats must be >= 1, got shots={shots!r}, repeats={repeats!r}")
    rng = _rng(seed)
    train_parts, eval_parts = [], []
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        if rows.size <= shots:
            raise AefValueError(
                f"class {code.item()!r} has {rows.size} samples, needs more than {shots} for a {shots}-shot draw"
            )
        order = np.argsort(rng.random((repeats, rows.size)), axis=1)
        shuffled = rows[order]
        train_parts.append(shuffled[:, :shots])
        eval_parts.append(shuffled[:, shots:])
    return Draws(
        train=np.concatenate(train_parts, axis=1).astype(np.int64),
        evaluation=np.concatenate(eval_parts, axis=1).astype(np.int64),
    )


def draw_random(n_samples: int, train_size: int, repeats: int, *, seed: int | Sequence[int]) -> Draws:
    """Draw ``train_size`` training rows out of ``n_samples`` (regression), ``repeats`` times.

    Returns:
        Draws with ``train`` (repeats, train_size) and ``evaluation`` (repeats, n_samples - train_size).

    Raises:
        AefValueError: ``train_size`` leaves no evaluation rows, or an argument is out of range.
    """
    if not 1 <= train_size < n_samples or repeats < 1:
        raise AefValueError(
            f"need 1 <= train_size < n_samples and repeats >= 1, got train_size={train_size!r}, "
            f"n_samples={n_samples!r}, repeats={repeats!r}"
        )
    order = np.argsort(_rng(seed).random((repeats, n_samples)), axis=1).astype(np.int64)
    return Draws(train=order[:, :train_size], evaluation=order[:, train_size:])
