"""The protocol on constructed cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from aef_ee.evaluation import ProtocolConfig, evaluate_classification, evaluate_regression, from_array, repeat_count

FAST = dict(max_repeats=40, max_shots=20)


def _separable(n_per_class: int = 30, n_classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([f"class{c}" for c in range(n_classes)], n_per_class)
    # Class c lives in a tight ball around 10 * e_c: any predictor that sees one sample per class separates them.
    centres = 10.0 * np.eye(n_classes, 8)
    codes = np.repeat(np.arange(n_classes), n_per_class)
    return centres[codes] + 0.1 * rng.normal(size=(codes.size, 8)), labels


def test_perfectly_separable_classes_score_one() -> None:
    x, labels = _separable()
    result = evaluate_classification("separable", labels, [from_array("ball", x)], ProtocolConfig(**FAST))
    scores = result.scores
    assert set(scores["shot"]) == {"1", "10", "max"}
    # knn3 with 1 shot votes among 3 different classes (ties go to the smallest code), so it is not perfect.
    perfect = scores[~((scores["predictor"] == "knn3") & (scores["shot"] == "1"))]
    np.testing.assert_array_equal(perfect["mean"].to_numpy(), 1.0)
    np.testing.assert_array_equal(perfect["std"].to_numpy(), 0.0)
    assert scores.loc[scores["shot"] == "max", "shots_per_class"].unique().tolist() == [20]


def test_shuffled_labels_score_near_chance() -> None:
    x, labels = _separable(n_per_class=60, n_classes=5)
    shuffled = np.random.default_rng(1).permutation(labels)
    config = ProtocolConfig(shots=(10, "max"), max_shots=30, max_repeats=60)
    scores = evaluate_classification("shuffled", shuffled, [from_array("ball", x)], config).scores
    chance = 1 / 5
    for row in scores.itertuples():
        # One repeat's balanced accuracy over n_eval samples has a binomial-like spread of
        # sqrt(p (1 - p) / n_eval); the mean over repeats is at least as tight, so 4 such spreads is generous.
        tolerance = 4 * math.sqrt(chance * (1 - chance) / row.n_eval)
        assert abs(row.mean - chance) < tolerance, row


def test_repeat_counts_and_sizes_follow_the_protocol() -> None:
    x, labels = _separable(n_per_class=40, n_classes=3)
    config = ProtocolConfig(shots=(1, 10, "max"), max_shots=25, max_repeats=700)
    scores = evaluate_classification("sizes", labels, [from_array("ball", x)], config).scores
    for row in scores.itertuples():
        assert row.repeats == repeat_count(row.shots_per_class, max_repeats=700)
        assert row.n_train == 3 * row.shots_per_class
        assert row.n_eval == 120 - row.n_train
    assert scores.set_index(["shot", "predictor"]).loc[("1", "knn1"), "repeats"] == 700
    assert scores.set_index(["shot", "predictor"]).loc[("10", "knn1"), "repeats"] == 500


def test_seed_makes_runs_repeatable() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat(["a", "b", "c"], 25)
    x = rng.normal(size=(75, 5)) + np.repeat(np.eye(3, 5), 25, axis=0)
    reps = [from_array("noisy", x), from_array("noisier", x + rng.normal(size=x.shape))]
    first = evaluate_classification("seeded", labels, reps, ProtocolConfig(**FAST, seed=11)).scores
    second = evaluate_classification("seeded", labels, reps, ProtocolConfig(**FAST, seed=11)).scores
    other = evaluate_classification("seeded", labels, reps, ProtocolConfig(**FAST, seed=12)).scores
    pd.testing.assert_frame_equal(first, second)
    assert not np.allclose(first["mean"], other["mean"])


def test_small_classes_skipped_shots_and_missing_rows_are_reported() -> None:
    rng = np.random.default_rng(4)
    labels = np.array(["big"] * 30 + ["mid"] * 8 + ["tiny"] * 2 + [None])
    x = rng.normal(size=(labels.size, 3))
    x[0, 1] = np.nan
    config = ProtocolConfig(shots=(1, 10, "max"), max_shots=50, max_repeats=10, min_class_size=5)
    result = evaluate_classification("honest", labels, [from_array("r", x)], config)
    caveats = result.caveats.set_index("caveat")["detail"]
    assert caveats["class_counts"] == "big: 29; mid: 8; tiny: 2"
    assert caveats["class_dropped"] == "fewer than 5 samples: tiny: 2"
    assert "10 per class needs 10 + 1 evaluation samples; the smallest class has 8" in caveats["shot_skipped"]
    assert "1 labelled rows have no value" in caveats["rows_without_value"]
    assert "1 rows have no label" in caveats["rows_without_label"]
    small = result.caveats[result.caveats["caveat"] == "small_class"].set_index("shot")["detail"]
    assert small.to_dict() == {
        "1": "fewer than 10 evaluation samples: mid: 7",
        "max": "fewer than 10 evaluation samples: mid: 1",
    }
    scores = result.scores
    assert sorted(set(scores["shot"])) == ["1", "max"]
    assert scores.loc[scores["shot"] == "max", "shots_per_class"].unique().tolist() == [7]
    assert set(scores["n_classes"]) == {2}
    # knn3 cannot run on a 1-shot draw of two classes (two training samples): reported, not hidden.
    skipped = result.caveats[result.caveats["caveat"] == "predictor_skipped"]
    assert skipped["shot"].tolist() == ["1"] and "knn3 needs 3" in skipped["detail"].iloc[0]


def test_regression_on_a_linear_target() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 3.0])
    noise = rng.normal(size=(200, 4))
    config = ProtocolConfig(shots=(10, "max"), max_shots=100, max_repeats=30)
    scores = evaluate_regression("linear", y, [from_array("x", x), from_array("noise", noise)], config).scores
    exact = scores[(scores["representation"] == "x") & (scores["predictor"] == "linear")]
    np.testing.assert_allclose(exact["mean"], 1.0, atol=1e-9)
    useless = scores[scores["representation"] == "noise"]
    assert (useless["mean"] < 0.1).all()
    assert set(scores["metric"]) == {"r2"}
