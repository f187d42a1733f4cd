"""Point series in, embeddings out: WorldCereal extractions, long and wide tables, an Earth Engine CSV export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aef_ee_training.points import EMBEDDING_COLUMNS, embed_points, read_series

from aef_ee.paths import data_dir


def test_worldcereal_layout_is_decoded() -> None:
    table = pd.read_parquet(data_dir() / "worldcereal" / "test_public_extractions.parquet").head(3)
    long, order = read_series(table)
    assert list(order) == list(table.index)
    s2 = long[long.sensor == "s2"]
    assert len(s2) == 3 * 12 and s2["B4"].dropna().between(0, 1.5).all()
    assert long[long.sensor == "s1"]["VV"].dropna().between(-40, 10).all()


def test_long_wide_and_ee_csv_agree(tmp_path) -> None:
    dates = pd.date_range("2021-01-15", periods=6, freq="2MS")
    rows = [{"system:index": f"p{i}", "date": d, "B2": 0.05 + i / 100, "B4": 0.1, "B8": 0.3 + k / 50,
             ".geo": '{"type":"Point","coordinates":[5.3,50.6]}'}
            for i in range(2) for k, d in enumerate(dates)]
    csv = tmp_path / "ee_export.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    long, order = read_series(csv, sensor="s2")
    assert list(order) == ["p0", "p1"] and set(long.sensor) == {"s2"}
    wide = pd.DataFrame({f"s2:{b}:{d.date()}": [r[b] for r in rows if r["date"] == d] for d in dates
                         for b in ("B2", "B4", "B8")})
    wlong, worder = read_series(wide)
    assert list(worder) == [0, 1] and len(wlong) == 2 * len(dates)
    merged = wlong.sort_values(["id", "date"])["B8"].to_numpy()
    assert np.allclose(merged, long.sort_values(["id", "date"])["B8"].to_numpy())


@pytest.mark.parametrize("rows", [5])
def test_embeds_the_shipped_worldcereal_points(rows, tmp_path) -> None:
    from aef_ee.cli.demo import shipped_checkpoint

    table = pd.read_parquet(data_dir() / "worldcereal" / "test_public_extractions.parquet").head(rows)
    emb = embed_points(table, workdir=shipped_checkpoint())
    assert list(emb.columns) == EMBEDDING_COLUMNS and list(emb.index) == list(table.index)
    assert np.allclose(np.linalg.norm(emb.to_numpy(), axis=1), 1.0, atol=1e-4)
