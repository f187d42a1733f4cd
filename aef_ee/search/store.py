"""The index's files: a versioned manifest and append-only segments, every file written atomically.

An index is a folder::

    manifest.json          format, version, generation, parameters, tiles, segments, the ANN file
    segment-000001.npz     one build or update: float16 vectors (n, 64) and the rows' lon, lat, year, tile, pixels
    segment-000002.npz     an incremental update appends a segment; old ones are never rewritten
    ann-000002.faiss       the FAISS index of the latest generation (absent for exact search)

Writers put every new file in place first (:mod:`aef_ee.atomic`), then replace ``manifest.json`` atomically; a
reader that loads the manifest therefore finds every file it names, and a crash leaves the previous generation
whole. ANN files of generations older than the previous one are removed after the manifest is written.

Vectors are stored as float16 (128 bytes a row, a relative error under 5e-4 per value). The dataset's int8 codes
(64 bytes) would be exact for sampled AlphaEarth pixels but not for cell means, and re-scoring candidates with
them lost a fifth of recall@10 on the benchmark's vectors (``benchmarks/similarity_index.py``); float16 lost none.
"""

from __future__ import annotations

import datetime
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.atomic import atomic_path, write_json_atomic
from aef_ee.errors import IndexFormatError
from aef_ee.npy import load_npz
from aef_ee.search.sampling import Samples

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "IndexFormatError", "read_manifest", "write_segment",
           "read_segments", "write_ann_file", "commit_manifest", "stored_vectors", "VECTOR_DTYPE", "now_iso"]

FORMAT = "aef-ee-embedding-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_COLUMNS = ("lon", "lat", "year", "tile", "pixels")
# How vectors are stored (see the module docstring).
VECTOR_DTYPE = np.float16


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def stored_vectors(vectors: np.ndarray) -> np.ndarray:
    """float32 unit vectors -> the stored form, (n, 64) :data:`VECTOR_DTYPE`."""
    return np.asarray(vectors, np.float32).astype(VECTOR_DTYPE)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of the index at ``path``.

    Raises:
      IndexFormatError: no index there, or another format or version.
    """
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError as exc:
        raise IndexFormatError(f"no embedding index at {str(path)!r} (no {MANIFEST}); build one with "
                               "aef_ee.search.build_index or `aef-ee index build`") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"unreadable index manifest {str(file)!r}: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexFormatError(f"{str(file)!r} is {manifest.get('format')!r} version "
                               f"{manifest.get('format_version')!r}; this aef-ee reads {FORMAT!r} version "
                               f"{FORMAT_VERSION}: rebuild the index")
    return manifest


def write_segment(folder: Path, generation: int, samples: Samples) -> dict[str, Any]:
    """Writes one segment file atomically; returns its manifest entry."""
    name = f"segment-{generation:06d}.npz"
    buffer = io.BytesIO()
    np.savez(buffer, vectors=stored_vectors(samples.vectors), **{c: getattr(samples, c) for c in _COLUMNS})
    with atomic_path(folder / name) as tmp:
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
    return {"file": name, "rows": len(samples)}


def read_segments(folder: Path, manifest: dict[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(vectors (n, 64) float16, columns) of every segment the manifest names, in order."""
    vectors, columns = [], {c: [] for c in _COLUMNS}
    for entry in manifest["segments"]:
        file = folder / entry["file"]
        try:
            data = load_npz(file.read_bytes())  # the API reloads an index beside serving threads
            if len(data["vectors"]) != entry["rows"]:
                raise IndexFormatError(f"{str(file)!r} holds {len(data['vectors'])} rows; the manifest says "
                                       f"{entry['rows']}")
            vectors.append(data["vectors"])
            for c in _COLUMNS:
                columns[c].append(data[c])
        except (OSError, KeyError, ValueError) as exc:
            raise IndexFormatError(f"unreadable index segment {str(file)!r}: {exc}") from exc
    if not vectors:
        return np.empty((0, 64), VECTOR_DTYPE), {c: np.empty(0) for c in _COLUMNS}
    return np.concatenate(vectors), {c: np.concatenate(v) for c, v in columns.items()}


def write_ann_file(folder: Path, generation: int, save: Any) -> str:
    """Calls ``save(path)`` on a temporary sibling of the generation's ANN file; returns its name."""
    name = f"ann-{generation:06d}.faiss"
    with atomic_path(folder / name) as tmp:
        save(str(tmp))
    return name


def commit_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Replaces the manifest atomically, then removes ANN files two or more generations old."""
    write_json_atomic(folder / MANIFEST, manifest)
    keep = manifest["generation"] - 1
    for old in folder.glob("ann-*.faiss"):
        try:
            generation = int(old.stem.split("-")[1])
        except (IndexError, ValueError):
            continue
        if generation < keep:
            old.unlink(missing_ok=True)
