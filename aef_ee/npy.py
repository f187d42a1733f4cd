"""Decoding ``.npy`` bytes from many threads at once, and ``computePixels`` answers decoded that way.

NumPy parses each ``.npy`` header with ``ast.literal_eval``. CPython 3.11's AST constructor keeps its recursion depth
in interpreter-wide state, so two threads parsing at once can fail its check with "SystemError: AST constructor
recursion depth mismatch" (seen in this project's CI on 3.11.7; CPython issue 106905 and the reports around it).

Every ``.npy`` decode that may run beside another thread (the export pool's ``computePixels`` answers, Beam's
DirectRunner decoding site videos, the API's point reads and index reloads) goes through :data:`NPY_LOCK`. The HTTP
request itself runs outside the lock; only the decode of bytes already in memory is serialised.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["NPY_LOCK", "load_npy", "load_npz", "compute_pixels"]

NPY_LOCK = threading.Lock()


def load_npy(data: bytes) -> np.ndarray:
    """``.npy`` bytes -> the array (a structured array for a multi-band ``computePixels`` answer); no pickles."""
    with NPY_LOCK:
        return np.load(io.BytesIO(data), allow_pickle=False)


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    """Every array of ``.npz`` bytes by name, read under :data:`NPY_LOCK`; no pickles."""
    with NPY_LOCK, np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def compute_pixels(params: Mapping[str, Any]) -> np.ndarray:
    """``ee.data.computePixels`` with ``fileFormat`` ``"NUMPY_NDARRAY"``, safe to call from many threads.

    Args:
      params: the request (``expression``, ``grid``, optional ``bandIds``); any ``fileFormat`` given is replaced.

    Returns:
      A structured array of shape ``(height, width)`` with one field per band, as the client's own NumPy converter
      returns it.
    """
    import ee

    request = dict(params)
    request["fileFormat"] = "NPY"  # raw bytes: the client's converter would decode them outside the lock
    return load_npy(ee.data.computePixels(request))
