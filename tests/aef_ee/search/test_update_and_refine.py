"""Incremental updates when tiles are added to a collection, and the server-side refinement of candidates."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from embedding_field import COLLECTION, CRS, LEFT, SIZE, TOP, build_embedding_field, pixels
from local_engine import running_engine
from rasterio.transform import from_origin

from aef_ee.fields.collection import EMBEDDING_BANDS, dequantize_array, open_embeddings
from aef_ee.local.catalog import Catalog
from aef_ee.search import Sampling, build_index, open_index, refine, update_index

from .conftest import unit_values

EAST = LEFT + SIZE * 10  # the added tile lies east of the field, same grid


def _add_tile(root, codes: np.ndarray, year: int) -> str:
    """Writes an int8 COG east of the field and registers it in the catalog (as a tile added later)."""
    name = f"{COLLECTION}/east_{year}"
    path = root.joinpath(*COLLECTION.split("/")) / f"east_{year}.tif"
    with rasterio.open(path, "w", driver="COG", width=SIZE, height=SIZE, count=64, dtype="int8", nodata=-128,
                       crs=CRS, transform=from_origin(EAST, TOP, 10, 10)) as ds:
        ds.write(codes)
    Catalog(root).write_image(name, [{"id": b, "path": path.name, "band": i + 1, "data_type": "int8",
                                      "nodata": -128} for i, b in enumerate(EMBEDDING_BANDS)],
                              {"system:time_start": int(pd.Timestamp(f"{year}-01-01", tz="UTC").value // 10**6),
                               "system:time_end": int(pd.Timestamp(f"{year + 1}-01-01", tz="UTC").value // 10**6)})
    return name


def test_update_adds_only_the_new_tiles(tmp_path):
    field = build_embedding_field(tmp_path / "catalog", serve=False)
    with running_engine(tmp_path / "catalog"):
        index = build_index(COLLECTION, years=[2024], sampling=Sampling("mean", 20), path=tmp_path / "index",
                            method="ivf")
        assert len(index) == 400 and index.generation == 1
        assert update_index(index).added == {}  # nothing new: nothing changes
        # A new tile: the 2023 codes, flipped so that no row equals an indexed one.
        added = _add_tile(tmp_path / "catalog", field.codes[2023][:, ::-1, :].copy(), 2024)
        report = update_index(tmp_path / "index")
        assert report.added == {added: 400} and report.removed == [] and report.generation == 2
        reopened = open_index(tmp_path / "index")
        assert len(reopened) == 800 and reopened.generation == 2
        manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
        assert [s["rows"] for s in manifest["segments"]] == [400, 400]
        assert [t["id"] for t in manifest["tiles"]][-1] == added
        files = sorted(p.name for p in (tmp_path / "index").iterdir())
        assert files == ["ann-000001.faiss", "ann-000002.faiss", "manifest.json", "segment-000001.npz",
                         "segment-000002.npz"]
        # The new rows are found: a cell of the new tile is its own best match, east of the old tiles.
        row = 400 + 57
        result = reopened.search(reopened.vectors(np.array([row]))[0], k=1)
        hit = result.hits[0]
        assert hit.row == row and hit.tile == added and hit.lon > index.lon.max()
        # Years the index did not have: update_index(years=...) samples them too.
        report = update_index(reopened, years=[2023])
        assert list(report.added) == [f"{COLLECTION}/tile_2023"] and len(reopened) == 1200
        assert reopened.years == [2023, 2024] and open_index(tmp_path / "index").generation == 3


def test_refine_finds_the_exact_best_pixel_of_each_candidate(ee_emb, embedding_field, tmp_path):
    ee = ee_emb
    index = build_index(COLLECTION, years=[2024], sampling=Sampling("mean", 40), path=tmp_path / "cells")
    values = unit_values(embedding_field, 2024)
    reference = values[25, 7]
    result = index.search(reference, k=3)
    refinement = refine(COLLECTION, result.hits, result.query, cell_m=40)
    assert refinement.radius_m == 60
    raw = dequantize_array(embedding_field.codes[2024].transpose(1, 2, 0)).astype(np.float64)
    similarity = raw @ result.query.astype(np.float64)
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    for refined in refinement.hits:
        # The neighbourhood: pixels whose centres lie within 60 m (a 120 m square) of the cell centre.
        x, y = to_utm.transform(refined.hit.lon, refined.hit.lat)
        cols = (LEFT + 5 + 10 * np.arange(SIZE))
        rows = (TOP - 5 - 10 * np.arange(SIZE))
        inside = (np.abs(rows[:, None] - y) <= 60) & (np.abs(cols[None, :] - x) <= 60)
        assert refined.best_score == pytest.approx(similarity[inside].max(), abs=1e-5)
        r, c = np.argwhere(inside & (similarity >= similarity[inside].max() - 1e-6))[0]
        assert refined.best_score >= refined.hit.score - 0.05  # the best pixel beats (about) the cell mean
        assert (refined.best_lon, refined.best_lat) == pytest.approx(embedding_field.lonlat(r, c), abs=2e-4)
    best = [r.best_score for r in refinement.hits]
    assert best == sorted(best, reverse=True)
    # The map: exact similarity inside the neighbourhoods, masked outside.
    got = pixels(ee, refinement.images[2024].unmask(-9), "similarity")
    inside_any = got != -9
    assert 0 < inside_any.sum() < SIZE * SIZE
    np.testing.assert_allclose(got[inside_any], similarity[inside_any], atol=1e-5)
    np.testing.assert_allclose(got[inside_any],
                               pixels(ee, open_embeddings(2024, collection=COLLECTION).select(EMBEDDING_BANDS)
                                      .multiply(ee.Image.constant([float(v) for v in result.query])
                                                .rename(EMBEDDING_BANDS)).reduce(
                                          ee.Reducer.sum()), "sum")[inside_any], atol=1e-6)


def test_update_removes_the_tiles_the_collection_no_longer_holds(tmp_path):
    field = build_embedding_field(tmp_path / "catalog", serve=False)
    with running_engine(tmp_path / "catalog"):
        added = _add_tile(tmp_path / "catalog", field.codes[2023][:, ::-1, :].copy(), 2024)
        index = build_index(COLLECTION, years=[2024], sampling=Sampling("mean", 20), path=tmp_path / "index",
                            method="ivf")
        assert len(index) == 800 and index.live_rows == 800
        east_rows = np.flatnonzero(np.array([index.tiles[t].id == added for t in index.tile]))
        # A cell of the added tile unlike every cell of the other (the synthetic years share some cells).
        others = index.vectors(np.setdiff1d(np.arange(len(index)), east_rows))
        east = index.vectors(east_rows)
        probe = east[int(np.argmin((east @ others.T).max(axis=1)))]
        assert index.search(probe, k=1).hits[0].tile == added

        Catalog(tmp_path / "catalog").delete(added)
        report = update_index(index)
        assert report.removed == [added] and report.added == {} and report.generation == 2
        # Rows stay stored; none of the removed tile's answers a query, in this object or a reopened index.
        for opened in (index, open_index(tmp_path / "index")):
            assert len(opened) == 800 and opened.live_rows == 400 and opened.generation == 2
            hits = opened.search(probe, k=50).hits
            assert len(hits) == 50 and all(h.tile != added for h in hits)
            assert all(h.tile != added for h in opened.search(probe, k=5, years=[2024]).hits)
        manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
        assert [t.get("removed", False) for t in manifest["tiles"]] == [t.id == added for t in index.tiles]
        assert update_index(index).removed == []  # already removed: nothing to do

        # Registered again under the same ID: sampled again, its new rows answer.
        _add_tile(tmp_path / "catalog", field.codes[2023][:, ::-1, :].copy(), 2024)
        again = update_index(index)
        assert again.added == {added: 400} and again.removed == [] and index.live_rows == 800 and len(index) == 1200
        assert index.search(probe, k=1).hits[0].tile == added
        assert index.search(probe, k=1).hits[0].row >= 800  # a new row, not one of the removed ones
