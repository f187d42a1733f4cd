"""The local engine's security model (aef_ee.local.security): the token, the Host check, origins and CORS, JSON-only
bodies, the folders image URIs may name, and remote binding; and a real browser (headless Chromium) on a page from
another origin, which can neither read nor write.

All traffic goes to 127.0.0.1. The browser test needs the Debian package ``chromium`` and is skipped without it.
"""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from browser import chromium_or_skip, dump_dom, static_server
from local_engine import connect, running_engine
from rasterio.transform import from_origin

from aef_ee.local import ingest
from aef_ee.local.errors import InvalidArgument, NotFound, PermissionDenied, UnsafeBinding
from aef_ee.local.security import SecurityPolicy, split_token
from aef_ee.local.server import LocalServer, connection_message, remote_warning

COMPUTE = "/v1/projects/local/value:compute"
ONE_PLUS_TWO = {"expression": {"result": "0", "values": {"0": {"functionInvocationValue": {
    "functionName": "Number.add", "arguments": {"left": {"constantValue": 1}, "right": {"constantValue": 2}}}}}}}


def _geotiff(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=8, height=6, count=1, dtype="uint8", crs="EPSG:32631",
                       transform=from_origin(600000, 5600000, 10, 10)) as ds:
        ds.write(np.arange(48, dtype=np.uint8).reshape(1, 6, 8))
    return path


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from aef_ee.local.catalog import Catalog

    root = tmp_path_factory.mktemp("security-catalog")
    catalog = Catalog(root)
    catalog.create_container("TEST", "FOLDER")
    tif = _geotiff(root / "TEST" / "victim.tif")
    catalog.write_image("TEST/victim", [{"id": "b1", "path": str(tif), "band": 1, "data_type": "uint8"}], {})
    buckets = tmp_path_factory.mktemp("security-buckets")
    with running_engine(root, connect_client=False, bucket_dir=str(buckets)) as server:
        yield server


def _request(server, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None,
             token: bool = True) -> tuple[int, dict, bytes]:
    """One raw HTTP request to ``server`` on 127.0.0.1 (http.client: every header as given)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        all_headers = {"Authorization": f"Bearer {server.token}"} if token else {}
        all_headers.update(headers or {})
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _error(body: bytes) -> dict:
    return json.loads(body)["error"]


# --- the token ---------------------------------------------------------------------------------------------------

def test_every_request_needs_the_token(engine):
    status, _, body = _request(engine, "GET", "/v1/projects/local/algorithms", token=False)
    assert status == 403 and _error(body)["status"] == "UNAUTHENTICATED"
    assert "token" in _error(body)["message"]
    status, _, body = _request(engine, "GET", "/v1/projects/local/algorithms", token=False,
                               headers={"Authorization": "Bearer " + "0" * 48})
    assert status == 403 and "Invalid token" in _error(body)["message"]
    for path, headers in [(f"/v1/projects/local/algorithms?key={engine.token}", {}),
                          (f"/v1/projects/local/algorithms?token={engine.token}", {}),
                          ("/v1/projects/local/algorithms", {"Authorization": f"token {engine.token}"}),
                          ("/v1/projects/local/algorithms", {"X-Goog-Api-Key": engine.token})]:
        status, _, body = _request(engine, "GET", path, token=False, headers=headers)
        assert status == 200 and json.loads(body)["algorithms"], (path, headers)
    # The discovery document and every API call need it too.
    assert _request(engine, "GET", "/$discovery/rest?version=v1", token=False)[0] == 403
    status, _, _ = _request(engine, "POST", COMPUTE, body=json.dumps(ONE_PLUS_TWO).encode(), token=False,
                            headers={"Content-Type": "application/json"})
    assert status == 403


def test_the_ee_client_carries_the_token_and_fails_without_it(engine):
    import ee
    import google.auth.credentials

    connect(engine)
    assert ee.Number(1).add(2).getInfo() == 3
    image = ee.Image("TEST/victim")
    tile_url = image.getMapId({"min": 0, "max": 47})["tile_fetcher"].url_format
    assert tile_url.endswith(f"?key={engine.token}")
    thumb = image.getThumbURL({"dimensions": 8, "format": "png"})
    assert thumb.endswith(f"?key={engine.token}")
    # A download URL is built without the key: its 128-bit id is the capability (as on Earth Engine).
    download = image.getDownloadURL({"format": "NPY", "scale": 10})
    assert "key=" not in download
    id_part = re.search(r"/thumbnails/([0-9a-f]+):getPixels", download).group(1)
    assert len(id_part) == 32
    assert _request(engine, "GET", download.split(str(engine.port), 1)[1], token=False)[0] == 200
    guessed = download.replace(id_part, "0" * 32).split(str(engine.port), 1)[1]
    assert _request(engine, "GET", guessed, token=False)[0] == 404
    try:
        ee.Reset()  # ee.Initialize keeps the previous key when given none
        with pytest.raises(Exception, match="token"):
            ee.Initialize(credentials=google.auth.credentials.AnonymousCredentials(), url=engine.url,
                          project="local")
    finally:
        connect(engine)


def test_initialize_takes_the_token_from_the_url_the_server_prints(engine, monkeypatch):
    import ee

    from aef_ee.backend import initialize
    from aef_ee.errors import BackendError

    message = connection_message(engine)
    printed = re.search(r"url='(http://127\.0\.0\.1:\d+/\?token=[0-9a-f]+)'", message).group(1)
    assert split_token(printed) == (engine.url, engine.token)
    assert f"cloud_api_key='{engine.token}'" in message and "ee.Initialize(" in message
    initialize("local", url=printed)
    assert ee.Number(2).multiply(3).getInfo() == 6
    # Another process has no token unless it is given one.
    monkeypatch.delenv("AEF_EE_TOKEN", raising=False)
    other = "http://127.0.0.1:1"
    with pytest.raises(BackendError, match="needs its token"):
        initialize("local", url=other)
    connect(engine)


# --- Host, Origin, content types ---------------------------------------------------------------------------------

def test_host_header_must_name_the_server(engine):
    for host in (f"evil.example:{engine.port}", "127.0.0.1", f"127.0.0.1:{engine.port + 1}", f"10.0.0.1:{engine.port}"):
        status, _, body = _request(engine, "GET", "/v1/projects/local/algorithms", headers={"Host": host})
        assert status == 403 and "unknown host" in _error(body)["message"], host
    for host in (f"127.0.0.1:{engine.port}", f"localhost:{engine.port}", f"LOCALHOST:{engine.port}"):
        assert _request(engine, "GET", "/v1/projects/local/algorithms", headers={"Host": host})[0] == 200, host


def test_cross_origin_requests_and_preflights_are_refused(engine):
    preflight = {"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "DELETE",
                 "Access-Control-Request-Headers": "content-type"}
    status, headers, _ = _request(engine, "OPTIONS", "/v1/projects/local/assets/TEST/victim", headers=preflight,
                                  token=False)
    assert status == 403 and "access-control-allow-origin" not in headers
    status, headers, body = _request(engine, "GET", "/v1/projects/local/assets/TEST/victim",
                                     headers={"Origin": "http://evil.example"})
    assert status == 403 and "access-control-allow-origin" not in headers and "origin" in _error(body)["message"]
    for origin in ("null", "*"):
        assert _request(engine, "GET", "/v1/projects/local/algorithms", headers={"Origin": origin})[0] == 403
    # No answer of the server carries a wildcard.
    _, headers, _ = _request(engine, "GET", "/v1/projects/local/algorithms")
    assert "access-control-allow-origin" not in headers


def test_allowed_origins_get_cors_headers(tmp_path):
    origin = "http://localhost:8888"
    with running_engine(tmp_path, connect_client=False, server_options={"allowed_origins": [origin]}) as server:
        status, headers, _ = _request(server, "OPTIONS", COMPUTE, token=False, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert status == 204 and headers["access-control-allow-origin"] == origin
        assert "DELETE" in headers["access-control-allow-methods"]
        assert "Authorization" in headers["access-control-allow-headers"]
        status, headers, body = _request(server, "POST", COMPUTE, body=json.dumps(ONE_PLUS_TWO).encode(),
                                         headers={"Origin": origin, "Content-Type": "application/json"})
        assert status == 200 and headers["access-control-allow-origin"] == origin and headers["vary"] == "Origin"
        assert json.loads(body)["result"] == 3
        # The token is still needed.
        assert _request(server, "POST", COMPUTE, body=json.dumps(ONE_PLUS_TWO).encode(), token=False,
                        headers={"Origin": origin, "Content-Type": "application/json"})[0] == 403
    with pytest.raises(ValueError, match="not an origin"):
        SecurityPolicy.for_server("127.0.0.1", 1, allowed_origins=["*"])


def test_bodies_must_be_json(engine):
    body = json.dumps(ONE_PLUS_TWO).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"Content-Type": content_type} if content_type else {}
        status, _, answer = _request(engine, "POST", COMPUTE, body=body, headers=headers)
        assert status == 415 and "application/json" in _error(answer)["message"], content_type
    status, _, answer = _request(engine, "POST", COMPUTE, body=body,
                                 headers={"Content-Type": "Application/JSON; charset=UTF-8"})
    assert status == 200 and json.loads(answer)["result"] == 3


# --- image URIs ----------------------------------------------------------------------------------------------------

class _Catalog:
    def __init__(self, root: Path) -> None:
        self.root = root


def test_image_uris_resolve_only_inside_allowed_folders(tmp_path):
    catalog, buckets, allowed, outside = (tmp_path / name for name in ("catalog", "buckets", "allowed", "outside"))
    inside_bucket = _geotiff(buckets / "emb" / "tile.tif")
    in_catalog = _geotiff(catalog / "a.tif")
    in_allowed = _geotiff(allowed / "b.tif")
    secret = _geotiff(outside / "secret.tif")
    (buckets / "emb" / "link.tif").symlink_to(secret)
    settings = {"bucket_dir": str(buckets), "image_dirs": [str(allowed)]}
    cat = _Catalog(catalog)
    assert ingest.resolve_uri("gs://emb/tile.tif", settings, cat) == str(inside_bucket.resolve())
    assert ingest.resolve_uri(str(in_catalog), settings, cat) == str(in_catalog.resolve())
    assert ingest.resolve_uri(f"file://{in_allowed}", settings, cat) == str(in_allowed.resolve())
    refused = {
        f"file://{secret}": PermissionDenied, str(secret): PermissionDenied, "/etc/hostname": PermissionDenied,
        f"{allowed}/../outside/secret.tif": PermissionDenied, "gs://emb/link.tif": PermissionDenied,
        "gs://../x.tif": InvalidArgument, "gs://emb/../../outside/secret.tif": InvalidArgument,
        "gs://b//abs/path.tif": InvalidArgument, "gs://emb//etc/hostname": InvalidArgument,
        "gs://emb/./tile.tif": InvalidArgument, "relative/path.tif": InvalidArgument,
        "file://otherhost/etc/hostname": InvalidArgument, "/vsicurl/http://127.0.0.1:1/x.tif": PermissionDenied,
        "https://127.0.0.1:1/x.tif": PermissionDenied, f"/vsizip/{secret}.zip/x.tif": PermissionDenied,
        "/vsis3/bucket/x.tif": PermissionDenied, "/vsimem/x.tif": PermissionDenied,
        "ftp://127.0.0.1/x.tif": PermissionDenied, "gs://emb/missing.tif": NotFound,
    }
    for uri, error in refused.items():
        with pytest.raises(error):
            ingest.resolve_uri(uri, settings, cat)
    # Network paths only when enabled; GDAL then reads them itself.
    enabled = {**settings, "allow_network_uris": True}
    assert ingest.resolve_uri("/vsicurl/http://127.0.0.1:1/x.tif", enabled, cat) == "/vsicurl/http://127.0.0.1:1/x.tif"


def test_a_vrt_in_an_allowed_folder_is_not_opened(tmp_path):
    secret = _geotiff(tmp_path / "outside" / "secret.tif")
    vrt = tmp_path / "allowed" / "x.tif"  # a VRT under a .tif name: only the GeoTIFF driver may open it
    vrt.parent.mkdir()
    vrt.write_text(f'<VRTDataset rasterXSize="8" rasterYSize="6"><VRTRasterBand dataType="Byte" band="1">'
                   f'<SimpleSource><SourceFilename relativeToVRT="0">{secret}</SourceFilename>'
                   f'<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>')
    with pytest.raises(InvalidArgument, match="Cannot read GeoTIFF"):
        ingest.bands_from_files([str(vrt)])


def test_load_geotiff_and_create_asset_refuse_files_outside(engine, tmp_path):
    import ee

    connect(engine)
    secret = _geotiff(tmp_path / "secret.tif")
    with pytest.raises(ee.EEException, match="outside the folders"):
        ee.Image.loadGeoTIFF(f"file://{secret}").getInfo()
    with pytest.raises(ee.EEException, match="network or GDAL virtual paths"):
        ee.Image.loadGeoTIFF("/vsicurl/http://127.0.0.1:1/x.tif").getInfo()
    with pytest.raises(ee.EEException, match="outside the folders"):
        ee.data.createAsset({"type": "IMAGE", "gcs_location": {"uris": [str(secret)]}},
                            "projects/local/assets/TEST/stolen")
    with pytest.raises(ee.EEException, match="Invalid Cloud Storage URI"):
        ee.Image.loadGeoTIFF("gs://b//etc/hostname").getInfo()


# --- binding -----------------------------------------------------------------------------------------------------

def test_binding_beyond_loopback_needs_allow_remote(tmp_path):
    # Refused before anything listens: nothing is bound to another address in this test.
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        with pytest.raises(UnsafeBinding, match="allow_remote"):
            LocalServer(tmp_path, host=host)
    wildcard = SecurityPolicy.for_server("0.0.0.0", 8765, allow_remote=True)
    assert wildcard.allowed_hosts is None  # every name of the machine reaches it; the token is the guard
    specific = SecurityPolicy.for_server("192.0.2.1", 8765, allow_remote=True)
    assert specific.allowed_hosts == frozenset({"192.0.2.1:8765"})
    loopback = SecurityPolicy.for_server("127.0.0.1", 8765)
    assert loopback.allowed_hosts == frozenset({"127.0.0.1:8765", "localhost:8765", "[::1]:8765"})


def test_serve_prints_the_token_and_warns_about_remote_binding(tmp_path):
    with running_engine(tmp_path, connect_client=False) as server:
        message = connection_message(server)
        assert message.count(server.token) == 2
        warning = remote_warning(server)
    assert "token" in warning and "only protection" in warning


# --- a real browser on a page from another origin ------------------------------------------------------------------

ATTACK_PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body><pre id="out">running</pre>
<iframe name="sink" style="display:none"></iframe>
<form id="form" target="sink" method="POST" enctype="text/plain"
      action="{engine}/v1/projects/local/assets?assetId=projects/local/assets/TEST/form_made&key=wrong">
<input name='{{"type": "FOLDER", "x": "' value='"}}'></form>
<script>
const E = "{engine}", ALLOWED = "{allowed}", TOKEN = "{token}", ALLOWED_TOKEN = "{allowed_token}", TILE = "{tile}";
const BODY = JSON.stringify({body});
const results = {{}};
async function attempt(name, run) {{
  try {{ results[name] = await run(); }} catch (e) {{ results[name] = "blocked: " + e.name; }}
}}
function image(src) {{
  return new Promise(done => {{ const i = new Image(); i.onload = () => done("loaded");
                                i.onerror = () => done("error"); i.src = src; }});
}}
(async () => {{
  await attempt("compute_json", async () => {{
    const r = await fetch(E + "/v1/projects/local/value:compute",
                          {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: BODY}});
    return "read " + r.status + " " + await r.text(); }});
  await attempt("compute_json_with_token", async () => {{
    const r = await fetch(E + "/v1/projects/local/value:compute?key=" + TOKEN,
                          {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: BODY}});
    return "read " + r.status + " " + await r.text(); }});
  await attempt("compute_text_plain", async () => {{
    const r = await fetch(E + "/v1/projects/local/value:compute", {{method: "POST", mode: "no-cors", body: BODY}});
    return "sent, opaque: " + r.type; }});
  await attempt("create_asset_no_cors", async () => {{
    const r = await fetch(E + "/v1/projects/local/assets?assetId=projects/local/assets/TEST/fetch_made",
                          {{method: "POST", mode: "no-cors", body: JSON.stringify({{type: "FOLDER"}})}});
    return "sent, opaque: " + r.type; }});
  await attempt("delete_fetch", async () => {{
    const r = await fetch(E + "/v1/projects/local/assets/TEST/victim", {{method: "DELETE"}});
    return "read " + r.status; }});
  await attempt("delete_xhr", () => new Promise((ok, fail) => {{
    const x = new XMLHttpRequest(); x.open("DELETE", E + "/v1/projects/local/assets/TEST/victim?key=" + TOKEN);
    x.onload = () => ok("read " + x.status); x.onerror = () => fail(new Error("xhr")); x.send(); }}));
  await attempt("patch_fetch", async () => {{
    const r = await fetch(E + "/v1/projects/local/assets/TEST/victim", {{method: "PATCH",
                          headers: {{"Content-Type": "application/json"}}, body: "{{}}"}});
    return "read " + r.status; }});
  await attempt("read_asset", async () => {{
    const r = await fetch(E + "/v1/projects/local/assets/TEST/victim");
    return "read " + r.status + " " + await r.text(); }});
  results.tile_without_token = await image(TILE);
  results.tile_with_wrong_token = await image(TILE + "?key=" + "0".repeat(48));
  results.tile_with_token = await image(TILE + "?key=" + TOKEN);
  await attempt("allowed_origin_reads", async () => {{
    const r = await fetch(ALLOWED + "/v1/projects/local/value:compute",
                          {{method: "POST", headers: {{"Content-Type": "application/json",
                                                       "Authorization": "Bearer " + ALLOWED_TOKEN}}, body: BODY}});
    return "read " + r.status + " " + await r.text(); }});
  document.getElementById("form").submit();
  await new Promise(done => setTimeout(done, 1500));
  document.getElementById("out").textContent = "RESULTS" + JSON.stringify(results) + "END";
}})();
</script></body></html>
"""


@pytest.fixture()
def page_server(tmp_path):
    """A static file server on 127.0.0.1 (another origin than the engine); yields (folder, base URL)."""
    with static_server(tmp_path) as base:
        yield tmp_path, base


def test_a_page_from_another_origin_can_neither_read_nor_write(engine, page_server, tmp_path_factory):
    browser = chromium_or_skip()
    import ee

    connect(engine)
    tile = ee.Image("TEST/victim").getMapId({"min": 0, "max": 47})["tile_fetcher"].url_format.split("?")[0]
    tile = tile.format(z=0, x=0, y=0)
    folder, base = page_server
    allowed_root = tmp_path_factory.mktemp("allowed-catalog")
    with running_engine(allowed_root, connect_client=False, server_options={"allowed_origins": [base]}) as allowed:
        (folder / "attack.html").write_text(ATTACK_PAGE.format(
            engine=engine.url, allowed=allowed.url, token=engine.token, allowed_token=allowed.token, tile=tile,
            body=json.dumps(ONE_PLUS_TWO)))
        dom = dump_dom(browser, f"{base}/attack.html", budget_ms=20000)
    found = re.search(r'<pre id="out">RESULTS(.*?)END</pre>', dom, re.S)
    assert found, f"the page did not finish: {dom[-2000:]}"
    results = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    # Reads: CORS answers only allowed origins, so fetch() rejects, with or without the token.
    assert results["compute_json"] == "blocked: TypeError"
    assert results["compute_json_with_token"] == "blocked: TypeError"
    assert results["read_asset"] == "blocked: TypeError"
    # Writes: DELETE and PATCH need a preflight, which is refused, so they are never sent.
    assert results["delete_fetch"] == results["patch_fetch"] == "blocked: TypeError"
    assert results["delete_xhr"] == "blocked: Error"
    # Requests a browser sends without a preflight reach the server, which refuses them (origin, token, type).
    assert results["compute_text_plain"] == results["create_asset_no_cors"] == "sent, opaque: opaque"
    catalog = engine.catalog
    assert catalog.get("TEST/victim").type == "IMAGE"
    for made in ("TEST/fetch_made", "TEST/form_made"):
        with pytest.raises(Exception):  # noqa: B017 - AssetNotFound, whatever the catalog raises for a missing id
            catalog.get(made)
    # Tiles: an <img> sends no Origin; without the token it fails, with it (which the page cannot know) it loads.
    assert results["tile_without_token"] == results["tile_with_wrong_token"] == "error"
    assert results["tile_with_token"] == "loaded"
    # An origin the user allowed reads answers (with the token).
    assert results["allowed_origin_reads"] == 'read 200 {"result": 3}'
