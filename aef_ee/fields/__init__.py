"""Embedding fields: annual 64-band images of unit vectors, in the layout of Google's Satellite Embedding dataset.

The product's life, one module each:

- :mod:`aef_ee.fields.collection`: open an embedding collection (ours or ``GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL``)
  as an ``ee.Image`` for a year and region; int8 (de)quantisation.
- :mod:`aef_ee.fields.cog`: write one field as a Cloud-Optimised GeoTIFF (int8 codes, renormalised-mean overviews).
- :mod:`aef_ee.fields.register`: register COGs as an ``ee.ImageCollection`` (Earth Engine or the local engine),
  from the templates in :mod:`aef_ee.fields.templates` (the repository's ``ee_assets/``).

Computing a field from a checkpoint needs the model: ``aef_ee_training.fields`` (``aef-ee embed``).
"""

from __future__ import annotations

from aef_ee.fields.cog import write_embedding_cog
from aef_ee.fields.collection import (
    EMBEDDING_BANDS,
    GOOGLE_EMBEDDINGS,
    NATIVE_SCALE_M,
    dequantize,
    dequantize_array,
    open_embeddings,
    quantize_array,
)
from aef_ee.fields.register import RegistrationReport, cog_tags, inspect_cog, register_embeddings

__all__ = [
    "EMBEDDING_BANDS",
    "GOOGLE_EMBEDDINGS",
    "NATIVE_SCALE_M",
    "RegistrationReport",
    "cog_tags",
    "dequantize",
    "dequantize_array",
    "inspect_cog",
    "open_embeddings",
    "quantize_array",
    "register_embeddings",
    "write_embedding_cog",
]
