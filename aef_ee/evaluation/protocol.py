"""The AlphaEarth Foundations low-shot evaluation protocol.

For each labelled dataset: class-balanced training sets of 1, 10 and the maximum number of samples per class
(capped per dataset; the remaining samples are the evaluation set), each drawn
``k = 1000 / (2 * log10(c'))`` times (see :func:`~aef_ee.evaluation.draws.repeat_count`); kNN (k = 1, 3) and an
unregularised linear classifier on every representation, scored by balanced accuracy (R² for regression),
reported as mean and standard deviation over the repeats. All representations of a dataset see the same
draws. Everything the protocol had to leave out (small classes, shots without enough samples, rows without a
value) is returned as caveats next to the scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from aef_ee.errors import AefValueError
from aef_ee.evaluation import metrics, predictors
from aef_ee.evaluation.draws import Draws, draw_class_balanced, draw_random, repeat_count
from aef_ee.evaluation.representations import Representation

__all__ = [
    "CAVEAT_COLUMNS",
    "EvaluationResult",
    "ProtocolConfig",
    "SCORE_COLUMNS",
    "evaluate_classification",
    "evaluate_regression",
]

logger = logging.getLogger(__name__)

SCORE_COLUMNS = [
    "dataset", "task", "representation", "kind", "n_features", "predictor", "shot", "shots_per_class",
    "repeats", "n_classes", "n_train", "n_eval", "metric", "mean", "std", "seed",
]  # fmt: skip
CAVEAT_COLUMNS = ["dataset", "representation", "shot", "caveat", "detail"]

MAX_SHOT = "max"
# Below this many evaluation samples, a class's recall moves in steps of 10 % or more: flagged as a caveat.
SMALL_EVAL_CLASS = 10


@dataclass(frozen=True)
class ProtocolConfig:
    """Settings of one protocol run.

    Attributes:
        shots: training samples per class (classification) or in total (regression); "max" means the
            largest count the dataset allows, capped by ``max_shots``.
        max_shots: cap on the "max" shot.
        max_repeats: cap on the repeat count; it decides the count for 1 shot, where the formula divides by
            log10(1) = 0, and for 2 and 3 shots (formula: 1661 and 1048).
        min_class_size: classes with fewer samples are dropped from the dataset (and reported).
        min_eval_per_class: a shot runs only if every class keeps at least this many evaluation samples.
        knn_ks: neighbour counts of the kNN predictors.
        linear: also run the unregularised linear predictor.
        seed: base seed; shot ``n`` draws with seed ``(seed, n)``, identical for every representation.
        memory_budget: bytes of working memory per chunk of repeats.
        progress: show a tqdm bar.
    """

    shots: tuple[int | str, ...] = (1, 10, MAX_SHOT)
    max_shots: int = 100
    max_repeats: int = 1000
    min_class_size: int = 2
    min_eval_per_class: int = 1
    knn_ks: tuple[int, ...] = (1, 3)
    linear: bool = True
    seed: int = 0
    memory_budget: int = predictors.DEFAULT_MEMORY_BUDGET
    progress: bool = False

    def __post_init__(self) -> None:
        for shot in self.shots:
            if shot != MAX_SHOT and (not isinstance(shot, (int, np.integer)) or shot < 1):
                raise AefValueError(f"shots must be integers >= 1 or {MAX_SHOT!r}, got {shot!r}")
        if self.max_shots < 1 or self.max_repeats < 1 or self.min_eval_per_class < 1 or self.min_class_size < 1:
            raise AefValueError(f"max_shots, max_repeats, min_class_size, min_eval_per_class must be >= 1: {self!r}")
        if any(k < 1 for k in self.knn_ks):
            raise AefValueError(f"knn_ks must be >= 1, got {self.knn_ks!r}")


@dataclass
class EvaluationResult:
    """Scores (one row per representation x predictor x shot) and caveats (what was left out, and why)."""

    scores: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCORE_COLUMNS))
    caveats: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CAVEAT_COLUMNS))

    @staticmethod
    def concat(results: Sequence["EvaluationResult"]) -> "EvaluationResult":
        if not results:
            return EvaluationResult()
        return EvaluationResult(
            scores=pd.concat([r.scores for r in results], ignore_index=True),
            caveats=pd.concat([r.caveats for r in results], ignore_index=True),
        )


class _Log:
    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.scores: list[dict] = []
        self.caveats: list[dict] = []

    def caveat(self, caveat: str, detail: str, *, representation: str = "", shot: str = "") -> None:
        logger.info("%s %s %s: %s: %s", self.dataset, representation, shot, caveat, detail)
        self.caveats.append({"dataset": self.dataset, "representation": representation, "shot": shot,
                             "caveat": caveat, "detail": detail})  # fmt: skip

    def result(self) -> EvaluationResult:
        return EvaluationResult(
            scores=pd.DataFrame(self.scores, columns=SCORE_COLUMNS),
            caveats=pd.DataFrame(self.caveats, columns=CAVEAT_COLUMNS),
        )


def _common_rows(
    targets_valid: np.ndarray, representations: Sequence[Representation], log: _Log
) -> np.ndarray:
    """Rows with a target and a value in every representation, so all are compared on the same samples."""
    keep = targets_valid.copy()
    if not representations:
        raise AefValueError("no representations to evaluate")
    for rep in representations:
        if rep.n_samples != keep.size:
            raise AefValueError(f"representation {rep.name!r} has {rep.n_samples} rows for {keep.size} labels")
        missing = ~rep.valid_rows & targets_valid
        if missing.any():
            log.caveat("rows_without_value", f"{int(missing.sum())} labelled rows have no value; dropped for all",
                       representation=rep.name)  # fmt: skip
        keep &= rep.valid_rows
    if (~targets_valid).any():
        log.caveat("rows_without_label", f"{int((~targets_valid).sum())} rows have no label; dropped")
    return keep


def _resolve_shots(config: ProtocolConfig, smallest: int, log: _Log, unit: str) -> list[tuple[str, int]]:
    """Turn the requested shots into (label, count) pairs the data supports; report the others."""
    largest = smallest - config.min_eval_per_class
    resolved: list[tuple[str, int]] = []
    for shot in config.shots:
        label = str(shot)
        count = min(config.max_shots, largest) if shot == MAX_SHOT else int(shot)
        if count < 1 or count > largest:
            log.caveat(
                "shot_skipped",
                f"{label} {unit} needs {count if count >= 1 else 1} + {config.min_eval_per_class} evaluation "
                f"samples; the smallest {'class has' if unit == 'per class' else 'dataset has'} {smallest}",
                shot=label,
            )
            continue
        if any(count == c for _, c in resolved):
            log.caveat("shot_duplicate", f"{label} resolves to {count} {unit}, already run", shot=label)
            continue
        resolved.append((label, count))
    return resolved


def _score_row(log: _Log, rep: Representation, task: str, predictor: str, label: str, count: int,
               draws: Draws, n_classes: int, metric: str, values: np.ndarray, seed: int) -> None:  # fmt: skip
    log.scores.append({
        "dataset": log.dataset, "task": task, "representation": rep.name, "kind": rep.kind,
        "n_features": rep.n_features, "predictor": predictor, "shot": label, "shots_per_class": count,
        "repeats": draws.repeats, "n_classes": n_classes, "n_train": draws.train.shape[1],
        "n_eval": draws.evaluation.shape[1], "metric": metric, "mean": float(np.nanmean(values)),
        "std": float(np.nanstd(values)), "seed": seed,
    })  # fmt: skip


def evaluate_classification(
    dataset: str,
    labels: Sequence | np.ndarray,
    representations: Sequence[Representation],
    config: ProtocolConfig = ProtocolConfig(),
) -> EvaluationResult:
    """Run the low-shot classification protocol on every representation, with shared draws.

    Args:
        dataset: dataset name for the results.
        labels: (n_samples,) class labels (any hashable type; None/NaN for unlabelled rows).
        representations: feature matrices aligned with ``labels``.
        config: protocol settings.

    Returns:
        Scores (balanced accuracy, mean and std over repeats) and caveats: class counts, dropped classes,
        skipped shots and predictors, rows without a value.
    """
    log = _Log(dataset)
    labels = pd.Series(np.asarray(labels, dtype=object))
    keep = _common_rows(labels.notna().to_numpy(), representations, log)
    kept_labels = labels[keep].astype(str).to_numpy()
    names, counts = np.unique(kept_labels, return_counts=True)
    log.caveat("class_counts", "; ".join(f"{n}: {c}" for n, c in zip(names, counts)))
    small = counts < config.min_class_size
    if small.any():
        log.caveat(
            "class_dropped",
            f"fewer than {config.min_class_size} samples: "
            + "; ".join(f"{n}: {c}" for n, c in zip(names[small], counts[small])),
        )
    names, counts = names[~small], counts[~small]
    if names.size < 2:
        log.caveat("dataset_skipped", f"{names.size} class(es) left after dropping small classes")
        return log.result()
    in_kept_class = np.isin(kept_labels, names)
    codes = np.searchsorted(names, kept_labels[in_kept_class])
    row_index = np.flatnonzero(keep)[in_kept_class]
    matrices = {rep.name: rep.values[row_index] for rep in representations}
    shots = _resolve_shots(config, int(counts.min()), log, "per class")
    for label, count in shots:
        small = counts - count < SMALL_EVAL_CLASS
        if small.any():
            log.caveat(
                "small_class",
                f"fewer than {SMALL_EVAL_CLASS} evaluation samples: "
                + "; ".join(f"{n}: {c - count}" for n, c in zip(names[small], counts[small])),
                shot=label,
            )
    jobs = [(label, count, rep) for label, count in shots for rep in representations]
    draws_by_shot: dict[int, Draws] = {}
    for label, count, rep in tqdm(jobs, desc=dataset, disable=not config.progress, leave=False):
        if count not in draws_by_shot:
            draws_by_shot.clear()
            repeats = repeat_count(count, max_repeats=config.max_repeats)
            draws_by_shot[count] = draw_class_balanced(codes, count, repeats, seed=(config.seed, count))
        draws = draws_by_shot[count]
        features = matrices[rep.name]
        n_train = draws.train.shape[1]
        for k in config.knn_ks:
            if k > n_train:
                log.caveat("predictor_skipped", f"knn{k} needs {k} training samples, the draw has {n_train}",
                           representation=rep.name, shot=label)  # fmt: skip
                continue
            predicted = predictors.knn_classify(
                features, codes, draws, n_classes=names.size, k=k, memory_budget=config.memory_budget
            )
            score = metrics.balanced_accuracy(codes[draws.evaluation], predicted, names.size)
            _score_row(log, rep, "classification", f"knn{k}", label, count, draws, names.size,
                       "balanced_accuracy", score, config.seed)  # fmt: skip
        if config.linear:
            predicted = predictors.linear_classify(
                features, codes, draws, n_classes=names.size, memory_budget=config.memory_budget
            )
            score = metrics.balanced_accuracy(codes[draws.evaluation], predicted, names.size)
            _score_row(log, rep, "classification", "linear", label, count, draws, names.size,
                       "balanced_accuracy", score, config.seed)  # fmt: skip
    return log.result()


def evaluate_regression(
    dataset: str,
    targets: Sequence[float] | np.ndarray,
    representations: Sequence[Representation],
    config: ProtocolConfig = ProtocolConfig(shots=(10, MAX_SHOT)),
) -> EvaluationResult:
    """Run the low-shot regression protocol (kNN and linear regression, R²) with shared draws.

    Here a shot is the total number of training samples (there are no classes); the repeat formula uses it
    as ``c'``. "max" is ``min(max_shots, n_samples - min_eval_per_class)``.

    Returns:
        Scores (R², mean and std over repeats) and caveats.
    """
    log = _Log(dataset)
    targets = np.asarray(targets, dtype=np.float64)
    keep = _common_rows(np.isfinite(targets), representations, log)
    row_index = np.flatnonzero(keep)
    y = targets[row_index]
    matrices = {rep.name: rep.values[row_index] for rep in representations}
    shots = _resolve_shots(config, int(y.size), log, "in total")
    regress: dict[str, Callable[[np.ndarray, Draws], np.ndarray]] = {}
    for k in config.knn_ks:
        regress[f"knn{k}"] = lambda x, d, k=k: predictors.knn_regress(x, y, d, k=k, memory_budget=config.memory_budget)
    if config.linear:
        regress["linear"] = lambda x, d: predictors.linear_regress(x, y, d, memory_budget=config.memory_budget)
    for label, count in shots:
        repeats = repeat_count(count, max_repeats=config.max_repeats)
        draws = draw_random(y.size, count, repeats, seed=(config.seed, count))
        for rep in representations:
            for name, predict in regress.items():
                if name.startswith("knn") and int(name[3:]) > count:
                    log.caveat("predictor_skipped", f"{name} needs {name[3:]} training samples, the draw has {count}",
                               representation=rep.name, shot=label)  # fmt: skip
                    continue
                score = metrics.r2_score(y[draws.evaluation], predict(matrices[rep.name], draws))
                _score_row(log, rep, "regression", name, label, count, draws, 0, "r2", score, config.seed)
    return log.result()
