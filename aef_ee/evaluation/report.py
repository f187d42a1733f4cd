"""Results files: the tidy scores CSV, the caveats CSV, a Markdown table and the score-vs-shots plot."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pandas as pd

from aef_ee.atomic import atomic_path
from aef_ee.errors import AefIOError
from aef_ee.evaluation.protocol import EvaluationResult

logger = logging.getLogger(__name__)

__all__ = [
    "markdown_caveats",
    "markdown_scores",
    "markdown_summary",
    "parse_markdown_scores",
    "plot_scores",
    "write_result",
]

SCORES_FILE = "scores.csv"
CAVEATS_FILE = "caveats.csv"
PREDICTOR_ORDER = ("knn1", "knn3", "linear")


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as error:
        raise AefIOError(f"cannot write {str(path)!r}: {error}") from error


def write_result(result: EvaluationResult, out_dir: str | Path, *, plot: bool = True) -> list[Path]:
    """Write ``scores.csv``, ``caveats.csv`` and one ``scores_<dataset>.png`` per dataset into ``out_dir``.

    Returns:
        The written paths.
    """
    out_dir = Path(out_dir)
    written = [out_dir / SCORES_FILE, out_dir / CAVEATS_FILE]
    _atomic_write(written[0], lambda p: result.scores.to_csv(p, index=False, float_format="%.6f"))
    _atomic_write(written[1], lambda p: result.caveats.to_csv(p, index=False))
    if plot and importlib.util.find_spec("matplotlib") is None:
        # Plots are the one part of the evaluation that needs matplotlib (not in the package's extras): the tables are
        # written anyway.
        logger.warning("plots not written: matplotlib is not installed (pip install matplotlib, or pass --no-plot)")
        plot = False
    if plot:
        for dataset, scores in result.scores.groupby("dataset", sort=False):
            path = out_dir / f"scores_{dataset}.png"
            _atomic_write(path, lambda p, s=scores, d=dataset: plot_scores(s, p, title=str(d)))
            written.append(path)
    return written


def plot_scores(scores: pd.DataFrame, path: str | Path, *, title: str = "") -> None:
    """Plot mean score (± std over repeats) against training samples per class, one line per representation.

    One panel per predictor; the x axis is logarithmic (1, 10, max shots).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predictors = [p for p in PREDICTOR_ORDER if p in set(scores["predictor"])] + sorted(
        set(scores["predictor"]) - set(PREDICTOR_ORDER)
    )
    figure, axes = plt.subplots(1, len(predictors), figsize=(4.2 * len(predictors), 3.6), squeeze=False, sharey=True)
    for axis, predictor in zip(axes[0], predictors):
        for representation, rows in scores[scores["predictor"] == predictor].groupby("representation", sort=False):
            rows = rows.sort_values("shots_per_class")
            axis.errorbar(rows["shots_per_class"], rows["mean"], yerr=rows["std"], marker="o", capsize=3,
                          label=str(representation))  # fmt: skip
        axis.set_xscale("log")
        axis.set_title(predictor)
        per_class = scores["task"].iloc[0] == "classification"
        axis.set_xlabel("training samples per class" if per_class else "training samples")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel(str(scores["metric"].iloc[0]).replace("_", " "))
    axes[0][-1].legend(fontsize=8, loc="best")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)


def markdown_scores(scores: pd.DataFrame) -> str:
    """One Markdown table per dataset: rows representation x predictor, columns shots, cells ``mean ± std``."""
    blocks = []
    for dataset, rows in scores.groupby("dataset", sort=False):
        shots = list(dict.fromkeys(rows.sort_values("shots_per_class")["shot"]))
        sizes = rows.drop_duplicates("shot").set_index("shot")
        header = ["representation", "features", "predictor"] + [
            f"{s} ({int(sizes.loc[s, 'shots_per_class'])}/class, k={int(sizes.loc[s, 'repeats'])})" for s in shots
        ]
        lines = [f"**{dataset}** ({rows['metric'].iloc[0]}, mean ± std over repeats)", "",
                 "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]  # fmt: skip
        order = {name: i for i, name in enumerate(dict.fromkeys(rows["representation"]))}
        groups = sorted(
            rows.groupby(["representation", "predictor"], sort=False),
            key=lambda item: (order[item[0][0]], _predictor_rank(item[0][1])),
        )
        for (representation, predictor), group in groups:
            cells = group.set_index("shot")
            values = [
                f"{cells.loc[s, 'mean']:.4f} ± {cells.loc[s, 'std']:.4f}" if s in cells.index else "—" for s in shots
            ]
            features = int(group["n_features"].iloc[0])
            lines.append(f"| {representation} | {features} | {predictor} | " + " | ".join(values) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _predictor_rank(predictor: str) -> tuple[int, str]:
    return (PREDICTOR_ORDER.index(predictor) if predictor in PREDICTOR_ORDER else len(PREDICTOR_ORDER), predictor)


def markdown_summary(scores: pd.DataFrame) -> str:
    """Per dataset and shot: the best embedding and the best baseline (over predictors), and the relative
    error reduction ``1 - (1 - embedding) / (1 - baseline)`` the paper reports; "—" without an embedding."""
    lines = ["| dataset | shot | best embedding | best baseline | error reduction |", "|---|---|---|---|---|"]
    for (dataset, shot), rows in scores.groupby(["dataset", "shot"], sort=False):
        best = {}
        for kind in ("embedding", "baseline"):
            subset = rows[rows["kind"] == kind]
            best[kind] = subset.loc[subset["mean"].idxmax()] if len(subset) else None
        cells = [
            f"{b['representation']} {b['predictor']} {b['mean']:.4f}" if b is not None else "—"
            for b in (best["embedding"], best["baseline"])
        ]
        if best["embedding"] is not None and best["baseline"] is not None and best["baseline"]["mean"] < 1:
            reduction = 1 - (1 - best["embedding"]["mean"]) / (1 - best["baseline"]["mean"])
            cells.append(f"{reduction:+.1%}")
        else:
            cells.append("—")
        lines.append(f"| {dataset} | {shot} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_caveats(caveats: pd.DataFrame) -> str:
    """The caveats as a Markdown table (dataset, representation, shot, caveat, detail)."""
    lines = ["| dataset | representation | shot | caveat | detail |", "|---|---|---|---|---|"]
    for row in caveats.itertuples():
        detail = str(row.detail).replace("|", "/")
        lines.append(f"| {row.dataset} | {row.representation or ''} | {row.shot or ''} | {row.caveat} | {detail} |")
    return "\n".join(lines) + "\n"


def parse_markdown_scores(text: str) -> pd.DataFrame:
    """Read back tables written by :func:`markdown_scores` (dataset, representation, predictor, shot, mean, std)."""
    records = []
    dataset, shots = None, []
    for line in text.splitlines():
        if line.startswith("**") and "**" in line[2:]:
            dataset, shots = line[2 : line.index("**", 2)], []
        elif dataset and line.startswith("| representation |"):
            shots = [cell.split(" (")[0] for cell in line.strip("| ").split(" | ")[3:]]
        elif dataset and shots and line.startswith("| ") and "±" in line:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            for shot, cell in zip(shots, cells[3:]):
                if "±" in cell:
                    mean, std = (float(v) for v in cell.split("±"))
                    records.append({"dataset": dataset, "representation": cells[0], "predictor": cells[2],
                                    "shot": shot, "mean": mean, "std": std})  # fmt: skip
    return pd.DataFrame(records, columns=["dataset", "representation", "predictor", "shot", "mean", "std"])
