"""A slice of the shipped-data evaluation reproduces the numbers checked into docs/evaluation.md."""

from __future__ import annotations

import numpy as np
import pytest

from aef_ee.evaluation import report
from aef_ee.evaluation.shipped import run_shipped
from aef_ee.paths import data_dir, repo_root

# (dataset, representations, shots): cheap slices that still cover every kind of source.
SLICES = [
    ("alphaearth_iowa_ag", ["google_aef_2024", "xy"], (1, "max")),
    ("slovenia_lulc_polygons", ["composites", "mosaiks_rcf"], ("max",)),
    ("worldcereal_label_full", ["xyz", "mosaiks_time_rcf"], (10,)),
]


@pytest.fixture(scope="module")
def docs_table():
    table = report.parse_markdown_scores((repo_root() / "docs" / "evaluation.md").read_text())
    assert not table.empty, "docs/evaluation.md has no generated results table"
    return table.set_index(["dataset", "representation", "predictor", "shot"]).sort_index()


@pytest.mark.parametrize(("dataset", "representations", "shots"), SLICES)
def test_slice_matches_the_docs(docs_table, dataset: str, representations: list[str], shots: tuple) -> None:
    result = run_shipped(data_dir(), datasets=[dataset], representations=representations, shots=shots)
    assert len(result.scores) == len(representations) * 3 * len(shots)
    for row in result.scores.itertuples():
        documented = docs_table.loc[(f"{row.dataset}", row.representation, row.predictor, row.shot)]
        # The docs print 4 decimals.
        where = f"{row.dataset} {row.representation} {row.predictor} {row.shot}"
        np.testing.assert_allclose([row.mean, row.std], documented[["mean", "std"]].to_numpy(dtype=float),
                                   atol=5.1e-5, err_msg=where)  # fmt: skip
    # Label caveats travel with the results.
    assert (result.caveats["caveat"] == "label_caveat").any()
