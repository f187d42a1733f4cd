"""aef_ee.npy: .npy decoding serialised under one lock, and computePixels answers decoded through it."""

from __future__ import annotations

import concurrent.futures
import io
import threading

import numpy as np
import pytest
from embedding_field import COLLECTION, CRS, LEFT, SIZE, TOP

from aef_ee.npy import NPY_LOCK, compute_pixels, load_npy, load_npz


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_compute_pixels_matches_the_clients_numpy_answer(ee_emb, embedding_field):
    ee = ee_emb
    grid = {"crsCode": CRS, "dimensions": {"width": SIZE, "height": SIZE},
            "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": LEFT,
                                "shearY": 0, "scaleY": -10, "translateY": TOP}}
    year = min(embedding_field.codes)
    image = ee.ImageCollection(COLLECTION).filterDate(f"{year}-01-01", f"{year + 1}-01-01").first()
    ours = compute_pixels({"expression": image.select(["A00", "A63"]), "grid": grid, "fileFormat": "PNG"})
    theirs = ee.data.computePixels({"expression": image.select(["A00", "A63"]), "grid": grid,
                                    "fileFormat": "NUMPY_NDARRAY"})
    assert ours.dtype.names == ("A00", "A63")
    assert ours.shape == (SIZE, SIZE)
    for band in ("A00", "A63"):
        np.testing.assert_array_equal(ours[band], theirs[band])
    codes = embedding_field.codes[year][63]
    kept = codes != -128
    assert kept.mean() > 0.5
    np.testing.assert_array_equal(ours["A63"][kept], codes[kept])


def test_load_waits_for_the_lock():
    data = _npy(np.arange(6, dtype=np.float32).reshape(2, 3))
    out: list[np.ndarray] = []
    with NPY_LOCK:
        reader = threading.Thread(target=lambda: out.append(load_npy(data)))
        reader.start()
        reader.join(0.2)
        assert reader.is_alive() and not out  # blocked while another decode holds the lock
    reader.join(5)
    np.testing.assert_array_equal(out[0], np.arange(6, dtype=np.float32).reshape(2, 3))


def test_many_threads_decode_their_own_arrays():
    arrays = [np.full((4, 5), i, dtype=np.int16) for i in range(64)]
    records = [_npy(a) for a in arrays]
    npz = io.BytesIO()
    np.savez(npz, a=arrays[1], b=arrays[2])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        decoded = list(pool.map(load_npy, records * 20))
        pairs = list(pool.map(load_npz, [npz.getvalue()] * 200))
    for i, array in enumerate(decoded):
        np.testing.assert_array_equal(array, arrays[i % 64])
    assert all(set(p) == {"a", "b"} and int(p["a"][0, 0]) == 1 and int(p["b"][0, 0]) == 2 for p in pairs)


def test_pickles_are_refused():
    with pytest.raises(ValueError, match="allow_pickle"):
        load_npy(_npy(np.array([{"a": 1}], dtype=object)))
