"""Sampling the test embedding collection through the real ee client against the local engine, checked against
numpy on the COGs' own codes."""

from __future__ import annotations

import numpy as np
import pytest
from embedding_field import COLLECTION, CRS, LEFT, SIZE, TOP

from aef_ee.errors import AefValueError, EmbeddingError
from aef_ee.fields.collection import dequantize_array
from aef_ee.search import Sampling, list_tiles, sample_tiles

from .conftest import unit_values


def test_tiles_are_listed_with_their_native_grid(ee_emb):
    tiles = list_tiles(COLLECTION, [2024, 2023])
    assert [(t.id.rsplit("/", 1)[-1], t.year) for t in tiles] == [("tile_2023", 2023), ("tile_2024", 2024)]
    tile = tiles[0]
    assert (tile.crs, tile.transform, tile.width, tile.height, tile.quantized) == (
        CRS, (10.0, 0.0, LEFT, 0.0, -10.0, TOP), SIZE, SIZE, True)
    with pytest.raises(EmbeddingError, match=r"no images in \[2019\]"):
        list_tiles(COLLECTION, [2019])


@pytest.mark.parametrize("scale", [10, 30, 40])
def test_stride_sampling_takes_each_cells_centre_pixel(ee_emb, embedding_field, scale):
    samples = sample_tiles(list_tiles(COLLECTION, [2024]), Sampling("stride", scale))
    n = scale // 10
    centre = n // 2
    # Cells whose centre pixel lies inside the 40-pixel tile.
    cells = len(range(centre, SIZE, n))
    expected = unit_values(embedding_field, 2024)[centre::n, centre::n][:cells, :cells].reshape(-1, 64)
    np.testing.assert_allclose(samples.vectors, expected, atol=1e-6)
    assert len(samples) == cells * cells
    assert (samples.year == 2024).all() and (samples.tile == 0).all() and (samples.pixels == 1).all()
    lon, lat = embedding_field.lonlat(centre, centre + n)  # the second cell of the first row
    assert (samples.lon[1], samples.lat[1]) == pytest.approx((lon, lat), abs=1e-9)


@pytest.mark.parametrize("scale", [30, 40])
def test_mean_sampling_is_the_renormalised_cell_mean(ee_emb, embedding_field, scale):
    samples = sample_tiles(list_tiles(COLLECTION, [2023]), Sampling("mean", scale))
    n = scale // 10
    cells = -(-SIZE // n)  # edge cells hold fewer pixels and still count
    raw = np.full((cells * n, cells * n, 64), np.nan)
    raw[:SIZE, :SIZE] = dequantize_array(embedding_field.codes[2023].transpose(1, 2, 0))
    means = np.nanmean(raw.reshape(cells, n, cells, n, 64), axis=(1, 3)).reshape(-1, 64)
    expected = means / np.linalg.norm(means, axis=1, keepdims=True)
    np.testing.assert_allclose(samples.vectors, expected, atol=1e-5)
    counts = np.minimum(n, SIZE - np.arange(cells) * n)
    np.testing.assert_array_equal(samples.pixels, np.outer(counts, counts).ravel())
    # Cell centres, in the tile's grid: the first cell's centre is half a cell from the corner.
    from pyproj import Transformer

    x, y = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(LEFT + scale / 2, TOP - scale / 2)
    assert (samples.lon[0], samples.lat[0]) == pytest.approx((x, y), abs=1e-9)


@pytest.mark.parametrize("method, scale", [("every", 10), ("mean", 15), ("mean", 5), ("stride", 2000)])
def test_bad_sampling_is_refused(method, scale):
    with pytest.raises(AefValueError, match="sampling"):
        Sampling(method, scale)


def test_float_collections_are_sampled_as_they_are(tmp_path, embedding_field):
    """A float32 collection (as Google's presents its embeddings: float values, no int8 codes)."""
    import pandas as pd
    import rasterio
    from local_engine import running_engine
    from rasterio.transform import from_origin

    from aef_ee.fields.collection import EMBEDDING_BANDS
    from aef_ee.local.catalog import Catalog

    collection = "projects/local/assets/float_embeddings"
    root = tmp_path / "catalog"
    catalog = Catalog(root)
    catalog.create_container(collection, "IMAGE_COLLECTION", make_parents=True)
    values = unit_values(embedding_field, 2024).astype(np.float32)
    values[0, 0] = np.nan  # a masked pixel
    path = root.joinpath(*collection.split("/")) / "tile.tif"
    with rasterio.open(path, "w", driver="COG", width=SIZE, height=SIZE, count=64, dtype="float32", nodata=np.nan,
                       crs=CRS, transform=from_origin(LEFT, TOP, 10, 10)) as ds:
        ds.write(values.transpose(2, 0, 1))
    catalog.write_image(f"{collection}/tile", [{"id": b, "path": path.name, "band": i + 1, "data_type": "float32",
                                                "nodata": float("nan")} for i, b in enumerate(EMBEDDING_BANDS)],
                        {"system:time_start": int(pd.Timestamp("2024-01-01", tz="UTC").value // 10**6)})
    with running_engine(root):
        tiles = list_tiles(collection, [2024])
        assert not tiles[0].quantized
        every = sample_tiles(tiles, Sampling("stride", 10))
        means = sample_tiles(tiles, Sampling("mean", 20))
    assert len(every) == SIZE * SIZE - 1  # the masked pixel is left out
    np.testing.assert_allclose(every.vectors, values.reshape(-1, 64)[1:], atol=1e-6)
    first = np.nanmean(values[:2, :2].reshape(-1, 64), axis=0)
    np.testing.assert_allclose(means.vectors[0], first / np.linalg.norm(first), atol=1e-5)
    assert means.pixels[0] == 3 and len(means) == (SIZE // 2) ** 2
