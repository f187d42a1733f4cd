"""The embeddings API over real HTTP: uvicorn on a free loopback port in a thread, the real ee client against the
local engine serving the test embedding collection, values checked against numpy and scikit-learn."""

from __future__ import annotations

import concurrent.futures
import io

import httpx
import numpy as np
import pytest
import rasterio
from embedding_field import COLLECTION, LEFT, SIZE, TOP

from aef_ee.api import ApiServer, ApiSettings
from aef_ee.errors import AefValueError
from aef_ee.fields.collection import dequantize_array
from aef_ee.search import Sampling, build_index


def _engine_get(field, url: str) -> httpx.Response:
    """A download URL of the local engine (with the engine's token, when it has one)."""
    token = getattr(field.server, "token", None)
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=60)


def _values(field, year: int) -> np.ndarray:
    return dequantize_array(field.codes[year].transpose(1, 2, 0)).astype(np.float64)


@pytest.fixture(scope="module")
def api(embedding_field, tmp_path_factory):
    from local_engine import connect

    connect(embedding_field.server)
    index_path = tmp_path_factory.mktemp("api") / "index"
    build_index(COLLECTION, years=[2023, 2024], sampling=Sampling("mean", 20), path=index_path)
    settings = ApiSettings(collection=COLLECTION, index_path=str(index_path), port=0,
                           cors_origins=("http://localhost:8888",))
    with ApiServer(settings) as server:
        yield server


@pytest.fixture()
def client(api, ee_emb):
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.settings.token}"},
                      timeout=120) as c:
        yield c


def test_health_and_openapi(client, api):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["collection"] == COLLECTION and health["writes"] is False
    assert health["index"]["rows"] == 800 and health["index"]["years"] == [2023, 2024]
    schema = client.get("/openapi.json").json()
    assert {"/embeddings", "/similarity", "/classify", "/temporal", "/health", "/index/update"} <= set(schema["paths"])
    assert "SimilarityRequest" in schema["components"]["schemas"]


def test_token_host_and_cors_are_enforced(api):
    token = api.settings.token
    assert httpx.get(f"{api.url}/health").status_code == 401
    assert httpx.get(f"{api.url}/health", headers={"Authorization": "Bearer wrong-token-of-length"}).status_code == 401
    unauthorised = httpx.get(f"{api.url}/health")
    assert unauthorised.json()["error"]["code"] == "unauthorized" and "token" in unauthorised.json()["error"]["message"]
    assert httpx.get(f"{api.url}/health", params={"token": token}).status_code == 200
    # DNS rebinding: a foreign Host header is refused even with the token.
    foreign = httpx.get(f"{api.url}/health", headers={"Authorization": f"Bearer {token}", "Host": "evil.example"})
    assert foreign.status_code == 403 and "evil.example" in foreign.json()["error"]["message"]
    assert httpx.get(f"{api.url}/health", headers={"Authorization": f"Bearer {token}",
                                                    "Host": "localhost:1234"}).status_code == 200
    # CORS: only the configured origin, never a wildcard.
    allowed = httpx.options(f"{api.url}/health", headers={"Origin": "http://localhost:8888",
                                                          "Access-Control-Request-Method": "GET"})
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:8888"
    other = httpx.get(f"{api.url}/health", params={"token": token}, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    with pytest.raises(AefValueError, match="'\\*' is refused"):
        ApiSettings(cors_origins=("*",))
    with pytest.raises(AefValueError, match="allow_remote"):
        ApiSettings(host="0.0.0.0")


def test_embeddings_at_points_and_in_a_window(client, embedding_field):
    values = _values(embedding_field, 2024)
    points = [embedding_field.lonlat(25, 7), embedding_field.lonlat(3, 30)]
    answer = client.get("/embeddings", params={"point": [f"{lon},{lat}" for lon, lat in points] + ["10,45"],
                                               "year": 2024})
    assert answer.status_code == 200
    got = answer.json()["points"]
    np.testing.assert_allclose(got[0]["vector"], values[25, 7], atol=1e-6)
    np.testing.assert_allclose(got[1]["vector"], values[3, 30], atol=1e-6)
    assert got[2]["vector"] is None  # outside the collection
    # Another year.
    old = client.get("/embeddings", params={"point": "{},{}".format(*points[0]), "year": 2023}).json()
    np.testing.assert_allclose(old["points"][0]["vector"], _values(embedding_field, 2023)[25, 7], atol=1e-6)
    # A 5 x 5 window centred on pixel (25, 7).
    window = client.get("/embeddings", params={"point": "{},{}".format(*points[0]), "year": 2024, "window": 5})
    assert window.status_code == 200
    data = window.json()
    np.testing.assert_allclose(np.array(data["vectors"], dtype=np.float64), values[23:28, 5:10], atol=1e-6)
    assert (data["lon"][2][2], data["lat"][2][2]) == pytest.approx(points[0], abs=1e-9)
    # A window at the edge: pixels outside the collection are null.
    edge = client.get("/embeddings", params={"point": "{},{}".format(*embedding_field.lonlat(0, 0)), "year": 2024,
                                             "window": 3}).json()
    assert edge["vectors"][0][0] is None and edge["vectors"][1][1] is not None


def test_temporal_trajectory_and_change(client, embedding_field):
    lon, lat = embedding_field.lonlat(5, 5)  # north-west: water in 2023, built in 2024
    data = client.get("/temporal", params={"point": f"{lon},{lat}"}).json()
    assert data["years"] == [2023, 2024]
    a, b = _values(embedding_field, 2023)[5, 5], _values(embedding_field, 2024)[5, 5]
    np.testing.assert_allclose(data["vectors"]["2023"], a, atol=1e-6)
    np.testing.assert_allclose(data["vectors"]["2024"], b, atol=1e-6)
    change = data["changes"][0]
    assert (change["from"], change["to"]) == (2023, 2024)
    assert change["similarity"] == pytest.approx(float(a @ b), abs=1e-5) and change["similarity"] < 0.8
    assert change["angle_deg"] == pytest.approx(np.degrees(np.arccos(np.clip(a @ b, -1, 1))), abs=1e-3)
    same = client.get("/temporal", params={"point": "{},{}".format(*embedding_field.lonlat(30, 30))}).json()
    assert same["changes"][0]["similarity"] > 0.99  # the south-east quadrant kept its class (same vectors)


def test_similarity_query_refine_and_maps(client, embedding_field):
    lon, lat = embedding_field.lonlat(25, 7)
    values = _values(embedding_field, 2024)
    answer = client.post("/similarity", json={"point": [lon, lat], "year": 2024, "k": 5, "years": [2024],
                                              "refine": True, "map": "geotiff"})
    assert answer.status_code == 200
    data = answer.json()
    reference = values[25, 7] / np.linalg.norm(values[25, 7])
    np.testing.assert_allclose(data["query"], reference, atol=1e-5)
    assert len(data["hits"]) == 5 and all(h["year"] == 2024 for h in data["hits"])
    assert data["hits"][0]["score"] >= data["hits"][-1]["score"]
    # Refined: the exact best pixel of each neighbourhood; the clicked pixel itself scores 1.
    assert data["refined"][0]["best_score"] == pytest.approx(float(values[25, 7] @ reference), abs=1e-5)
    # The GeoTIFFs of the refined neighbourhoods come from the engine: exact similarity per pixel.
    tiff = _engine_get(embedding_field, data["maps"][0]["geotiff_url"])
    assert tiff.status_code == 200
    with rasterio.open(io.BytesIO(tiff.content)) as ds:
        band = ds.read(1, masked=True)
        assert ds.crs is not None and 0 < band.count() <= 7 * 7  # a 60 m square (radius 1.5 cells of 20 m)
        assert float(band.max()) == pytest.approx(max(r["best_score"] for r in data["refined"]
                                                      if r["row"] == data["maps"][0]["row"]), abs=1e-5)
    tiles = client.post("/similarity", json={"vector": list(reference), "k": 3, "map": "tiles"}).json()
    assert "/tiles/{z}/{x}/{y}" in tiles["maps"][0]["tile_url"]
    threshold = client.post("/similarity", json={"vector": list(reference), "k": None, "threshold": 0.9}).json()
    assert threshold["hits"] and all(h["score"] >= 0.9 for h in threshold["hits"])


def test_classify_labels_in_map_out(client, embedding_field):
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(4)
    classes = embedding_field.classes[2024]
    features = []
    for code in np.unique(classes):
        rows, cols = np.nonzero(classes == code)
        for i in rng.choice(len(rows), 6, replace=False):
            lon, lat = embedding_field.lonlat(rows[i], cols[i])
            features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                             "properties": {"class": int(code)}})
    west, north = embedding_field.lonlat(0, 0)
    east, south = embedding_field.lonlat(SIZE - 1, SIZE - 1)
    body = {"labels": {"type": "FeatureCollection", "features": features}, "year": 2024, "k": 1,
            "region": [west, south, east, north], "output": "geotiff"}
    answer = client.post("/classify", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["classes"] == [1, 4, 6]
    with rasterio.open(io.BytesIO(_engine_get(embedding_field, data["geotiff_url"]).content)) as ds:
        classified = ds.read(1)
        assert ds.crs.to_string() == "EPSG:32615" and ds.res == (10.0, 10.0)
        # The map's pixel centres -> the field's rows and columns.
        rows_, cols_ = np.mgrid[0:ds.height, 0:ds.width]
        xs, ys = rasterio.transform.xy(ds.transform, rows_.ravel(), cols_.ravel())
    # scikit-learn 1-NN on the same label pixels predicts the same classes.
    values = _values(embedding_field, 2024)
    x = np.array([values[r, c] for r, c in (_pixel(embedding_field, f) for f in features)])
    y = np.array([f["properties"]["class"] for f in features])
    expected = KNeighborsClassifier(n_neighbors=1).fit(x, y).predict(values.reshape(-1, 64)).reshape(SIZE, SIZE)
    field_rows = np.floor((TOP - np.asarray(ys)) / 10).astype(int)
    field_cols = np.floor((np.asarray(xs) - LEFT) / 10).astype(int)
    inside = (field_rows >= 0) & (field_rows < SIZE) & (field_cols >= 0) & (field_cols < SIZE)
    # 0 is no class of 2024 (1, 4, 6): the pixels the lon / lat region clips away at the UTM grid's edges.
    inside &= classified.ravel() > 0
    assert inside.sum() > 0.9 * SIZE * SIZE
    np.testing.assert_array_equal(classified.ravel()[inside], expected[field_rows[inside], field_cols[inside]])


def _pixel(field, feature) -> tuple[int, int]:
    lon, lat = feature["geometry"]["coordinates"]
    for r in range(SIZE):
        for c in range(SIZE):
            if field.lonlat(r, c) == (lon, lat):
                return r, c
    raise AssertionError("label not on a pixel centre")


@pytest.mark.parametrize("method, path, kwargs, status, message", [
    ("GET", "/embeddings", {"params": {"point": "a,b", "year": 2024}}, 400, "lon,lat"),
    ("GET", "/embeddings", {"params": {"point": "200,10", "year": 2024}}, 400, "outside"),
    ("GET", "/embeddings", {"params": {"point": "1,2"}}, 422, "year: Field required"),
    ("GET", "/embeddings", {"params": {"point": "1,2", "year": 2024, "window": 99}}, 422, "window"),
    ("GET", "/embeddings", {"params": {"point": ["1,2"] * 101, "year": 2024}}, 400, "at most 100 points"),
    ("GET", "/embeddings", {"params": {"point": "10,45", "year": 2024}}, 404, "no valid embedding"),
    ("GET", "/embeddings", {"params": {"point": "10,45", "year": 2019}}, 404, "no embeddings for 2019"),
    ("GET", "/temporal", {"params": {"point": "10,45"}}, 404, "no valid embedding"),
    ("GET", "/temporal", {"params": {"point": "10,45", "years": [2019]}}, 404, "2019"),
    ("POST", "/similarity", {"json": {"k": 3}}, 422, "exactly one of point, polygon, vector"),
    ("POST", "/similarity", {"json": {"vector": [1.0] * 64, "k": 5000}}, 422, "k: Input should be less"),
    ("POST", "/similarity", {"json": {"vector": [0.0] * 64}}, 400, "not all zeros"),
    ("POST", "/similarity", {"json": {"vector": [1.0] * 3}}, 422, "vector"),
    ("POST", "/similarity", {"json": {"point": [10.0, 45.0]}}, 404, "no embeddings for 2024 over the region"),
    ("POST", "/similarity", {"json": {"vector": [1.0] * 64, "unknown": 1}}, 422, "unknown: Extra inputs"),
    ("POST", "/similarity", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422,
     "JSON"),
    ("POST", "/classify", {"json": {"labels": {"type": "Point"}, "year": 2024, "region": [0, 0, 1, 1]}}, 422,
     "FeatureCollection"),
    ("POST", "/classify", {"json": {"labels": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"class": "a"}}]},
        "year": 2024, "region": [0, 0, 1, 1]}}, 422, "integer class"),
    ("POST", "/classify", {"json": {"labels": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"class": 1}}]},
        "year": 2024, "region": [-100, 30, -90, 40]}}, 400, "pixels"),
    ("POST", "/index/update", {"json": {}}, 403, "--allow-writes"),
])
def test_bad_requests_get_clear_4xx(client, method, path, kwargs, status, message):
    answer = client.request(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]


def test_request_size_limit(client, api):
    big = b'{"vector": [' + b"0.1," * (api.settings.max_body_bytes // 4) + b'0.1]}'
    answer = client.post("/similarity", content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "limit" in answer.json()["error"]["message"]


def test_concurrent_requests(client, api, embedding_field):
    values = _values(embedding_field, 2024)
    cells = [(r, c) for r in range(0, SIZE, 5) for c in range(0, SIZE, 5)][:32]
    headers = {"Authorization": f"Bearer {api.settings.token}"}

    def fetch(cell):
        lon, lat = embedding_field.lonlat(*cell)
        if cell[0] % 2:
            reference = values[cell] / np.linalg.norm(values[cell])
            r = httpx.post(f"{api.url}/similarity", json={"vector": list(reference), "k": 1}, headers=headers,
                           timeout=120)
            return cell, r.status_code, r.json()["hits"][0]["score"]
        r = httpx.get(f"{api.url}/embeddings", params={"point": f"{lon},{lat}", "year": 2024}, headers=headers,
                      timeout=120)
        return cell, r.status_code, r.json()["points"][0]["vector"]

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(fetch, cells))
    assert [status for _, status, _ in results] == [200] * len(cells)
    index = api.app.app.state.service.index  # the FastAPI app inside the security middleware
    stored = index.vectors(np.arange(len(index)))
    for cell, _, value in results:
        if cell[0] % 2:
            reference = values[cell] / np.linalg.norm(values[cell])
            assert value == pytest.approx(float((stored @ reference).max()), abs=1e-5)  # an exact index
        else:
            np.testing.assert_allclose(value, values[cell], atol=1e-6)


def test_write_endpoint_with_the_flag(embedding_field, tmp_path, ee_emb):
    index_path = tmp_path / "index"
    build_index(COLLECTION, years=[2024], sampling=Sampling("mean", 40), path=index_path)
    settings = ApiSettings(collection=COLLECTION, index_path=str(index_path), port=0, allow_writes=True, auth=False)
    with ApiServer(settings) as server:
        answer = httpx.post(f"{server.url}/index/update", json={"years": [2023]}, timeout=120)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["added"] == {f"{COLLECTION}/tile_2023": 100} and data["rows"] == 200
        assert httpx.get(f"{server.url}/health").json()["index"]["years"] == [2023, 2024]
