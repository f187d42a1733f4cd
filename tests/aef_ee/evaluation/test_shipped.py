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
    ("slovenia_lulc_polygons", ["ours", "composites", "mosaiks_rcf"], ("max",)),  # ours can change which polygons count
    ("worldcereal_label_full", ["xyz", "mosaiks_time_rcf"], (10,)),
]


@pytest.fixture(scope="module")
def docs_table():
    table = report.parse_markdown_scores((repo_root() / "docs" / "evaluation.md").read_text())
    assert not table.empty, "docs/evaluation.md has no generated results table"
    return table.set_index(["dataset", "representation", "predictor", "shot"]).sort_index()


@pytest.mark.parametrize(("dataset", "representations", "shots"), SLICES)
def test_slice_matches_the_docs(docs_table, dataset: str, representations: list[str], shots: tuple) -> None:
    # The docs table was made with our embeddings joined (see docs/evaluation.md); they can change which samples
    # are kept, so the slice joins them too.
    ours = repo_root() / "docs" / "evaluation" / "ours"
    embeddings = {"slovenia_lulc_pixels": ours / "slovenia.npy", "slovenia_lulc_polygons": ours / "slovenia.npy",
                  "worldcereal_label_full": ours / "worldcereal.npy",
                  "worldcereal_finetune_class": ours / "worldcereal.npy"}
    result = run_shipped(data_dir(), datasets=[dataset], representations=representations, shots=shots,
                         embeddings={k: v for k, v in embeddings.items() if k == dataset})
    assert len(result.scores) == len(representations) * 3 * len(shots)
    for row in result.scores.itertuples():
        documented = docs_table.loc[(f"{row.dataset}", row.representation, row.predictor, row.shot)]
        # The docs print 4 decimals.
        where = f"{row.dataset} {row.representation} {row.predictor} {row.shot}"
        np.testing.assert_allclose([row.mean, row.std], documented[["mean", "std"]].to_numpy(dtype=float),
                                   atol=5.1e-5, err_msg=where)  # fmt: skip
    # Label caveats travel with the results.
    assert (result.caveats["caveat"] == "label_caveat").any()
