"""Claim: the low-shot protocol is vectorised over repeats, so the whole shipped run takes minutes on 2 cores.

Measures, on the AlphaEarth Iowa points (Google's 64-D embeddings, 9 classes x 80) at 1, 10 and 50 shots
per class (1000, 500 and 295 repeats):

- ``vectorised``: aef_ee.evaluation.predictors (kNN k=1, k=3, least squares), all repeats;
- ``floor``: the irreducible arithmetic of the same work — one batched matrix product of every repeat's
  evaluation x training features (the distance term) plus one batched pseudo-inverse of the training
  features — timed in the same run;
- ``loop``: the straightforward per-repeat scikit-learn loop (KNeighborsClassifier x2, LinearRegression),
  timed on the first ``LOOP_REPEATS`` repeats and scaled linearly to all of them.

All three run with one BLAS thread (as the predictors do), so the ratios compare arithmetic, not thread
contention on a shared machine.

Prints ``vectorised / floor`` and ``loop / vectorised`` per shot, then (``--full``) the wall time of the whole
shipped evaluation. Run: ``python benchmarks/evaluation_speed.py [--full]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from aef_ee.evaluation import predictors
from aef_ee.evaluation.datasets import load_dataset
from aef_ee.evaluation.draws import draw_class_balanced, repeat_count
from aef_ee.paths import data_dir

LOOP_REPEATS = 100


def _best_of(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also time the whole shipped evaluation")
    args = parser.parse_args()
    from sklearn.linear_model import LinearRegression
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")

    dataset = load_dataset("alphaearth_iowa_ag", data_dir())
    x = dataset.representations[0].values
    names, codes = np.unique(dataset.labels.astype(str), return_inverse=True)
    n_classes = names.size
    one_hot = np.eye(n_classes)[codes]
    header = ("shots", "repeats", "vectorised s", "floor s", "loop s", "vec/floor", "loop/vec")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 7, 12, 8, 7, 9, 8))))
    for shots in (1, 10, 50):
        draws = draw_class_balanced(codes, shots, repeat_count(shots), seed=(0, shots))

        def vectorised(draws=draws) -> None:
            for k in (1, 3):
                predictors.knn_classify(x, codes, draws, n_classes=n_classes, k=k)
            predictors.linear_classify(x, codes, draws, n_classes=n_classes)

        def floor(draws=draws) -> None:
            train, evaluation = x[draws.train], x[draws.evaluation]
            evaluation @ train.transpose(0, 2, 1)
            np.linalg.pinv(train)

        def loop(draws=draws) -> None:
            for train, evaluation in zip(draws.train[:LOOP_REPEATS], draws.evaluation[:LOOP_REPEATS]):
                for k in (1, 3):
                    if k <= train.size:
                        model = KNeighborsClassifier(n_neighbors=k, algorithm="brute")
                        model.fit(x[train], codes[train]).predict(x[evaluation])
                LinearRegression().fit(x[train], one_hot[train]).predict(x[evaluation]).argmax(axis=1)

        t_vec, t_floor = _best_of(vectorised), _best_of(floor)
        t_loop = _best_of(loop, runs=1) * draws.repeats / min(LOOP_REPEATS, draws.repeats)
        print(f"{shots:>5} {draws.repeats:>7} {t_vec:>12.3f} {t_floor:>8.3f} {t_loop:>7.2f} "
              f"{t_vec / t_floor:>9.2f} {t_loop / t_vec:>8.1f}")  # fmt: skip
    if args.full:
        from aef_ee.evaluation.shipped import run_shipped

        start = time.perf_counter()
        result = run_shipped(data_dir())
        print(f"whole shipped evaluation: {time.perf_counter() - start:.1f} s, {len(result.scores)} score rows")


if __name__ == "__main__":
    main()
