"""The workflow tests use the embedding collection fixtures of tests/aef_ee/conftest.py; the helpers are
re-exported here for ``from .conftest import pixels, region``."""

from embedding_field import (  # noqa: F401  (re-exported for the tests)
    CLASSES_2023,
    COLLECTION,
    CRS,
    LEFT,
    SIZE,
    TOP,
    EmbeddingField,
    pixels,
    region,
)
