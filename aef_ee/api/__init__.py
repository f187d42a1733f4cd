"""The embeddings REST API: embedding vectors, similarity search, classification and trajectories over HTTP.

Entry point: ``aef-ee api`` (or :func:`serve`), a FastAPI + uvicorn service on 127.0.0.1 backed by the same ops
against Earth Engine or the local engine. Security as Jupyter's: loopback by default, Host header allow-list, no
wildcard CORS, a random token printed at start-up, request size limits, no write endpoint without
``allow_writes``.

- :mod:`aef_ee.api.settings`: :class:`ApiSettings` and the request limits.
- :mod:`aef_ee.api.security`: the token / Host / body-size middleware.
- :mod:`aef_ee.api.schemas`: the request bodies (pydantic).
- :mod:`aef_ee.api.service`: what each endpoint computes, without HTTP.
- :mod:`aef_ee.api.app`: the FastAPI routes and error bodies; :func:`create_app`.
- :mod:`aef_ee.api.server`: uvicorn in the foreground (:func:`serve`) or a thread (:class:`ApiServer`).

Needs the ``api`` extra (fastapi, uvicorn; faiss-cpu for an IVF index).
"""

from __future__ import annotations

from aef_ee.api.app import create_app
from aef_ee.api.server import ApiServer, serve, start_url
from aef_ee.api.service import EmbeddingService
from aef_ee.api.settings import ApiSettings, new_token

__all__ = ["ApiServer", "ApiSettings", "EmbeddingService", "create_app", "new_token", "serve", "start_url"]
