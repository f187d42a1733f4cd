"""Fixtures shared by the workflow (ops) and map (maps) tests: the int8 test embedding collection, served once
per session by a LocalServer, and an ``ee`` client initialised against it."""

from __future__ import annotations

import pytest
from embedding_field import EmbeddingField, build_embedding_field


@pytest.fixture(scope="session")
def embedding_field(tmp_path_factory) -> EmbeddingField:
    field = build_embedding_field(tmp_path_factory.mktemp("embedding-catalog"))
    yield field
    field.server.stop()


@pytest.fixture()
def ee_emb(embedding_field):
    """The ``ee`` module, initialised against the server of the test embeddings."""
    import ee
    from local_engine import connect

    connect(embedding_field.server)
    return ee
