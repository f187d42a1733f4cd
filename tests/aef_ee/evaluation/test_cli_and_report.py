"""aef-ee evaluate end to end on a real table, and the report files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aef_ee.evaluation import ProtocolConfig, evaluate_classification, from_array, report
from aef_ee.cli.evaluate import main
from aef_ee.paths import data_dir

ALPHAEARTH = data_dir() / "alphaearth_samples" / "alphaearth_s1_dw_samples_california_coast_2024.csv"


def test_cli_writes_scores_caveats_and_plot(tmp_path: Path) -> None:
    embeddings = pd.read_csv(ALPHAEARTH)[[f"A{i:02d}" for i in range(64)]].to_numpy()
    np.save(tmp_path / "emb.npy", embeddings)
    out = tmp_path / "out"
    status = main([
        "--labels", str(ALPHAEARTH), "--class-property", "dw_label",
        "--representations", "google=columns:A00..A63", f"same=npy:{tmp_path / 'emb.npy'}",
        "xy=columns:longitude,latitude", "--baselines", "xy",
        "--shots", "1", "10", "--max-repeats", "20", "--out", str(out), "--dataset", "coast",
    ])  # fmt: skip
    assert status == 0
    scores = pd.read_csv(out / "scores.csv", dtype={"shot": str})
    assert len(scores) == 3 * 3 * 2
    assert (out / "scores_coast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_rep = scores.set_index(["representation", "predictor", "shot"])["mean"]
    # The same matrix from a table or from an array gives the same numbers: same draws for every representation.
    np.testing.assert_array_equal(by_rep.loc["google"].to_numpy(), by_rep.loc["same"].to_numpy())
    assert scores.loc[scores["representation"] == "xy", "kind"].unique().tolist() == ["baseline"]
    caveats = pd.read_csv(out / "caveats.csv")
    assert caveats["caveat"].tolist()[0] == "class_counts"


def test_cli_regression(tmp_path: Path) -> None:
    status = main([
        "--labels", str(ALPHAEARTH), "--regression-property", "S1_VV",
        "--representations", "google=columns:A00..A63", "--shots", "10", "100",
        "--max-repeats", "10", "--out", str(tmp_path), "--no-plot",
    ])  # fmt: skip
    assert status == 0
    scores = pd.read_csv(tmp_path / "scores.csv", dtype={"shot": str})
    assert set(scores["metric"]) == {"r2"}
    # The embeddings are learned from Sentinel-1 among others: 100 samples predict VV backscatter well.
    assert scores.set_index(["predictor", "shot"]).loc[("linear", "100"), "mean"] > 0.5


def test_markdown_round_trip() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 15)
    result = evaluate_classification(
        "tiny", labels, [from_array("r", rng.normal(size=(30, 2)))], ProtocolConfig(max_repeats=5, max_shots=5)
    )
    parsed = report.parse_markdown_scores(report.markdown_scores(result.scores))
    merged = parsed.merge(result.scores, on=["dataset", "representation", "predictor", "shot"])
    assert len(merged) == len(result.scores)
    np.testing.assert_allclose(merged["mean_x"], merged["mean_y"], atol=5.1e-5)
    assert "| tiny |" in report.markdown_caveats(result.caveats)


def test_summary_error_reduction() -> None:
    scores = pd.DataFrame([
        {"dataset": "d", "shot": "1", "representation": "emb", "kind": "embedding", "predictor": "knn1", "mean": 0.8},
        {"dataset": "d", "shot": "1", "representation": "emb", "kind": "embedding", "predictor": "linear", "mean": 0.7},
        {"dataset": "d", "shot": "1", "representation": "xy", "kind": "baseline", "predictor": "knn3", "mean": 0.6},
        {"dataset": "e", "shot": "1", "representation": "xy", "kind": "baseline", "predictor": "knn1", "mean": 0.5},
    ])  # fmt: skip
    lines = report.markdown_summary(scores).splitlines()
    # Errors 0.2 vs 0.4: the embedding halves the error of the best baseline.
    assert lines[2] == "| d | 1 | emb knn1 0.8000 | xy knn3 0.6000 | +50.0% |"
    assert lines[3] == "| e | 1 | — | xy knn1 0.5000 | — |"


def test_tables_are_written_without_matplotlib(tmp_path: Path, monkeypatch, caplog) -> None:
    # matplotlib is in no extra of the package: an [all] install writes the tables and says how to get the plots.
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    values = pd.read_csv(ALPHAEARTH)
    result = evaluate_classification(
        "coast", values["dw_label"], [from_array("xy", values[["longitude", "latitude"]].to_numpy(), kind="baseline")],
        ProtocolConfig(shots=(1,), max_repeats=5))
    written = report.write_result(result, tmp_path)
    assert [p.name for p in written] == ["scores.csv", "caveats.csv"]
    assert not list(tmp_path.glob("*.png"))
    assert "pip install matplotlib" in caplog.text
