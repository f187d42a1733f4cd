"""Repeat counts follow k = 1000 / (2 log10 c'); draws are class-balanced, disjoint and seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aef_ee.errors import AefValueError
from aef_ee.evaluation.draws import draw_class_balanced, draw_random, repeat_count


@pytest.mark.parametrize("shots", [2, 5, 10, 37, 100, 300, 1000, 5000])
def test_repeat_count_follows_the_formula(shots: int) -> None:
    expected = max(1, min(1000, math.ceil(1000 / (2 * math.log10(shots)))))
    assert repeat_count(shots) == expected


def test_repeat_count_published_examples_and_caps() -> None:
    assert repeat_count(300) == 202
    assert repeat_count(10) == 500
    assert repeat_count(100) == 250
    assert repeat_count(1) == 1000  # log10(1) = 0: the configurable cap decides
    assert repeat_count(1, max_repeats=50) == 50
    assert repeat_count(2) == 1000  # formula gives 1661, capped
    assert repeat_count(10, max_repeats=20) == 20
    assert repeat_count(10**12) == 42  # 1000 / 24 -> 41.7 -> 42: never below 1
    with pytest.raises(AefValueError, match="shots"):
        repeat_count(0)


def test_class_balanced_draws() -> None:
    codes = np.array([0] * 7 + [1] * 5 + [2] * 9)
    draws = draw_class_balanced(codes, 3, 40, seed=(0, 3))
    assert draws.train.shape == (40, 9)
    assert draws.evaluation.shape == (40, codes.size - 9)
    for train, evaluation in zip(draws.train, draws.evaluation):
        assert np.bincount(codes[train], minlength=3).tolist() == [3, 3, 3]
        assert sorted(np.concatenate([train, evaluation]).tolist()) == list(range(codes.size))
    # The draws actually vary between repeats.
    assert len({tuple(sorted(t)) for t in draws.train}) > 30
    again = draw_class_balanced(codes, 3, 40, seed=(0, 3))
    np.testing.assert_array_equal(draws.train, again.train)
    other = draw_class_balanced(codes, 3, 40, seed=(1, 3))
    assert not np.array_equal(draws.train, other.train)


def test_class_balanced_draw_needs_an_evaluation_sample() -> None:
    with pytest.raises(AefValueError, match="class 1 has 5 samples"):
        draw_class_balanced(np.array([0] * 7 + [1] * 5), 5, 3, seed=0)


def test_random_draws() -> None:
    draws = draw_random(20, 6, 11, seed=4)
    assert draws.train.shape == (11, 6) and draws.evaluation.shape == (11, 14)
    for train, evaluation in zip(draws.train, draws.evaluation):
        assert sorted(np.concatenate([train, evaluation]).tolist()) == list(range(20))
    with pytest.raises(AefValueError):
        draw_random(5, 5, 1, seed=0)
