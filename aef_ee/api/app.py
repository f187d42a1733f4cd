"""The FastAPI application: routes, error bodies, CORS and the security middleware.

Every error answers ``{"error": {"code": ..., "message": ...}}``: 400 for a value aef-ee refuses, 404 where the
collection has no embedding, 422 for a request that does not match the schema, 403 for a write endpoint without
``allow_writes`` (or a foreign Host), 401 without the token, 413 for a body over the limit, 502 when Earth Engine
fails.
"""


import logging
from typing import Annotated, Any

from aef_ee.api.schemas import ClassifyRequest, SimilarityRequest, UpdateRequest, parse_point
from aef_ee.api.security import SecurityMiddleware
from aef_ee.api.service import EmbeddingService
from aef_ee.api.settings import MAX_POINTS, MAX_WINDOW, MAX_YEARS, ApiSettings
from aef_ee.errors import AefError, AefValueError, EmbeddingError

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings, service: EmbeddingService | None = None) -> Any:
    """The ASGI application (FastAPI wrapped in the security middleware).

    Args:
      settings: the API's settings (collection, index, token, limits).
      service: the backend; by default one for ``settings.collection`` with the index at ``settings.index_path``.
    """
    import ee
    from fastapi import Body, FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import JSONResponse

    from aef_ee import __version__

    if service is None:
        index = None
        if settings.index_path:
            from aef_ee.search import open_index

            index = open_index(settings.index_path)
        service = EmbeddingService(settings.collection, index)

    app = FastAPI(title="aef-ee embeddings API", version=__version__,
                  description="Embedding vectors, similarity search, classification and trajectories of an "
                              f"embedding collection ({settings.collection}), computed by Earth Engine or the "
                              "local engine. Every request needs the token printed at start-up.")
    app.state.service = service
    app.state.settings = settings

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query"))
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return error(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(EmbeddingError)
    async def _no_data(_: Request, exc: EmbeddingError) -> JSONResponse:
        return error(404, "no_embedding", str(exc))

    @app.exception_handler(AefValueError)
    async def _bad_value(_: Request, exc: AefValueError) -> JSONResponse:
        return error(400, "bad_request", str(exc))

    @app.exception_handler(AefError)
    async def _failed(_: Request, exc: AefError) -> JSONResponse:
        log.error("request failed: %s", exc)
        return error(500, "failed", str(exc))

    @app.exception_handler(ee.EEException)
    async def _earth_engine(_: Request, exc: ee.EEException) -> JSONResponse:
        log.warning("Earth Engine error: %s", exc)
        return error(502, "earth_engine", f"Earth Engine: {exc}")

    @app.get("/health", summary="liveness, the collection and the index")
    async def health() -> dict[str, Any]:  # no Earth Engine call: answered on the event loop, no thread hop
        index = service.index
        return {"status": "ok", "version": __version__, "collection": service.collection,
                "writes": settings.allow_writes,
                "index": None if index is None else {"rows": index.live_rows, "years": index.years,
                                                     "sampling": index.sampling.to_json(),
                                                     "generation": index.generation, "search": index.ann.method}}

    @app.get("/embeddings", summary="embedding vectors at points, or a window of pixels around one point")
    def embeddings(
        point: Annotated[list[str], Query(description="'lon,lat' in degrees; repeat for several points")],
        year: Annotated[int, Query(ge=1900, le=2200)],
        window: Annotated[int, Query(ge=1, le=MAX_WINDOW, description="odd pixels per side (one point)")] = 1,
    ) -> dict[str, Any]:
        points = [parse_point(p) for p in point]
        if len(points) > MAX_POINTS:
            raise AefValueError(f"at most {MAX_POINTS} points per request; got {len(points)}")
        if window > 1:
            if window % 2 == 0 or len(points) != 1:
                raise AefValueError(f"a window needs one point and an odd size; got {len(points)} point(s), "
                                    f"window {window}")
            found = service.window(points[0][0], points[0][1], year, window)
            values = found["values"]
            return {"year": year, "window": window, "crs": found["crs"], "transform": found["transform"],
                    "vectors": [[None if not ok else [float(v) for v in values[r, c]]
                                 for c, ok in enumerate(found["valid"][r])] for r in range(window)],
                    "lon": found["lon"].tolist(), "lat": found["lat"].tolist()}
        vectors = service.embeddings_at(points, year)
        if all(v is None for v in vectors):
            raise EmbeddingError(f"no valid embedding at {'the point' if len(points) == 1 else 'any point'} in "
                                 f"{year}: outside the collection's coverage (or on masked pixels)")
        return {"year": year, "bands": len(vectors[0] or vectors[-1] or []),
                "points": [{"lon": lon, "lat": lat, "vector": v} for (lon, lat), v in zip(points, vectors,
                                                                                            strict=True)]}

    @app.get("/temporal", summary="a point's embedding in each year and the change between consecutive years")
    def temporal(
        point: Annotated[str, Query(description="'lon,lat' in degrees")],
        years: Annotated[list[int] | None, Query(max_length=MAX_YEARS, description="default: every year")] = None,
    ) -> dict[str, Any]:
        lon, lat = parse_point(point)
        return {"lon": lon, "lat": lat, **service.trajectory(lon, lat, years)}

    @app.post("/similarity", summary="places similar to a point, polygon or vector (index query, optional refine)")
    def similarity(request: SimilarityRequest) -> dict[str, Any]:
        return service.similarity(where=request.where(), year=request.year, k=request.k,
                                  threshold=request.threshold, years=request.years, region=request.region,
                                  refine=request.refine, map_format=request.map)

    @app.post("/classify", summary="labels in, classified map out")
    def classify(request: ClassifyRequest) -> dict[str, Any]:
        return service.classify(labels=request.labels, label_property=request.label_property, year=request.year,
                                region=request.region, method=request.method, k=request.k, scale=request.scale,
                                output=request.output)

    @app.post("/index/update", summary="add the collection's new tiles to the index and remove the tiles it no longer "
                                         "holds (needs --allow-writes)")
    def update(request: Annotated[UpdateRequest, Body()] = UpdateRequest()) -> Any:  # noqa: B008
        if not settings.allow_writes:
            return error(403, "writes_disabled", "write endpoints are disabled; start the API with --allow-writes")
        if service.index is None:
            raise AefValueError("this API was started without a vector index (--index PATH)")
        from aef_ee.search import update_index

        report = update_index(service.index, years=request.years)
        return {"added": report.added, "removed": report.removed, "generation": report.generation,
                "rows": service.index.live_rows}

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"])
    return SecurityMiddleware(app, settings)
