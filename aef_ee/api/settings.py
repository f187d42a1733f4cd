"""The embeddings API's settings and limits: what it serves, where it listens, and who may call it."""

from __future__ import annotations

import dataclasses
import secrets

from aef_ee.errors import AefValueError
from aef_ee.fields.collection import GOOGLE_EMBEDDINGS

__all__ = ["ApiSettings", "LOOPBACK_HOSTS", "MAX_BODY_BYTES", "MAX_POINTS", "MAX_WINDOW", "MAX_LABELS",
           "MAX_CLASSIFY_PIXELS", "MAX_K", "MAX_YEARS", "new_token"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Request limits: a request above one is refused with 413 / 400 before any Earth Engine call.
MAX_BODY_BYTES = 1 * 2**20  # a labels FeatureCollection of a few thousand points fits
MAX_POINTS = 100  # points per GET /embeddings
MAX_WINDOW = 15  # pixels per side of a window around one point (15 x 15 x 64 values)
MAX_LABELS = 5000  # label features per POST /classify
MAX_CLASSIFY_PIXELS = 4_000_000  # region pixels at the classification scale (a 20 x 20 km square at 10 m)
MAX_K = 1000  # neighbours per POST /similarity
MAX_YEARS = 20  # years per GET /temporal


def new_token() -> str:
    """A random access token (32 bytes, URL-safe), as Jupyter makes one per server."""
    return secrets.token_urlsafe(32)


@dataclasses.dataclass
class ApiSettings:
    """How the API runs.

    Attributes:
      collection: the embedding collection it serves.
      index_path: a vector index of that collection (``aef-ee index build``); POST /similarity needs one.
      host, port: where uvicorn listens; 127.0.0.1 by default (``allow_remote`` to bind anything else).
      token: the access token; None makes a random one. ``auth=False`` (tests only) accepts requests without it.
      allowed_hosts: Host header names accepted (loopback names by default, against DNS rebinding).
      cors_origins: browser origins allowed by CORS; never "*".
      allow_writes: enable the endpoints that change state (POST /index/update).
      max_body_bytes: largest request body.
    """

    collection: str = GOOGLE_EMBEDDINGS
    index_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 8766
    token: str | None = None
    auth: bool = True
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    cors_origins: tuple[str, ...] = ()
    allow_writes: bool = False
    allow_remote: bool = False
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.token is None:
            self.token = new_token()
        if self.auth and len(self.token) < 16:
            raise AefValueError("the API token must be at least 16 characters (or leave it out for a random one)")
        if "*" in self.cors_origins:
            raise AefValueError("CORS origin '*' is refused: name the origins that may call the API")
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise AefValueError(f"binding {self.host!r} exposes the API beyond this machine; pass allow_remote "
                                "(--allow-remote) and add the host name to allowed_hosts if that is meant")
        if not 0 <= self.port <= 65535:
            raise AefValueError(f"port must be within [0, 65535]; got {self.port!r}")
        if self.max_body_bytes < 1024:
            raise AefValueError(f"max_body_bytes must be at least 1024; got {self.max_body_bytes!r}")
