"""Embedding evaluation: the AlphaEarth Foundations low-shot protocol, with designed-feature baselines.

Entry point: :func:`evaluate_classification` (or :func:`evaluate_regression`) on labels and a list of
:class:`Representation` objects; :mod:`aef_ee.evaluation.report` writes the tidy CSV and the plot, and
``aef-ee evaluate`` (:mod:`aef_ee.cli.evaluate`) runs it all from the command line.
"""

from __future__ import annotations

from aef_ee.evaluation.draws import Draws, draw_class_balanced, draw_random, repeat_count
from aef_ee.evaluation.protocol import EvaluationResult, ProtocolConfig, evaluate_classification, evaluate_regression
from aef_ee.evaluation.representations import Representation, from_array, from_ee_image, from_table

__all__ = [
    "Draws",
    "EvaluationResult",
    "ProtocolConfig",
    "Representation",
    "draw_class_balanced",
    "draw_random",
    "evaluate_classification",
    "evaluate_regression",
    "from_array",
    "from_ee_image",
    "from_table",
    "repeat_count",
]
