"""A notebook page in a real browser: a notebook executed by nbclient (a real ipykernel) builds the explorer on the
local engine, clicks a pixel and saves the map with geemap's HTML export; a real Jupyter server serves that page
from its files endpoint; headless Chromium opens it, and the screenshot must show the embedding layer and the
similarity layer in its palette, from the engine's tiles.

Nothing comes from the internet: the page carries the ipywidgets front-end inside itself (require.js and the
html-manager from tests/aef_ee/maps/data/widgets, vendored from npm, see its README; jupyter-leaflet from the
installed package). It must, since the files endpoint sandboxes HTML pages into an opaque origin, which gets no
login cookie for further requests to the server.
Needs the Debian package ``chromium``; skipped with that reason when it is missing.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
from browser import chromium_or_skip, screenshot
from embedding_field import COLLECTION, CRS, LEFT, SIZE, TOP
from nbclient import NotebookClient
from PIL import Image as PILImage

from aef_ee.local import tiles
from aef_ee.maps.styles import SIMILARITY_VIS

WIDGETS = Path(__file__).resolve().parent / "data" / "widgets"
REPO = Path(__file__).resolve().parents[3]
VIEW_PX = 512
# No host name but 127.0.0.1 resolves: a page that needed the internet would show nothing.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
ZOOM = 16  # the 400 m field is about 225 px wide at this latitude
CLICK = (25, 7)  # a south-west (crops) pixel: row, column
QUANTILE = 0.7  # the threshold keeps the 30 % most similar pixels

NOTEBOOK = [
    ("markdown", "# Embedding explorer on the local engine\nClick-to-search on the test embeddings."),
    ("code", "from aef_ee.backend import initialize\n\ninitialize('local', url={url!r})"),
    ("code", "import ee\nimport numpy as np\n\nfrom aef_ee.maps import EmbeddingExplorer\n\n"
             "region = ee.Geometry.Rectangle({rect!r}, {crs!r}, False)\n"
             "explorer = EmbeddingExplorer(collection={collection!r}, years=[2023, 2024], region=region,\n"
             "                             map_kwargs={{'center': {center!r}, 'zoom': {zoom}}})\n"
             "# No internet here: drop the OpenStreetMap basemap.\n"
             "explorer.map.remove(explorer.map.layers[0])"),
    ("code", "reference = explorer.on_click({lon!r}, {lat!r})\n"
             "similarity = explorer.search.image.reduceRegion(ee.Reducer.percentile([{percent}]), region, 10)\n"
             "explorer.set_threshold(similarity.getNumber('similarity').getInfo())\n"
             "explorer"),
    ("code", "import json\n\n"
             "explorer.to_html('map.html', html_manager={html_manager!r}, require_js={require_js!r},\n"
             "                 width='{px}px', height='{px}px', layer_control=False)\n"
             "layers = {{name: entry['ee_layer'].url for name, entry in explorer.map.ee_layers.items()}}\n"
             "json.dump({{'layers': layers, 'threshold': explorer.threshold}}, open('layers.json', 'w'))\n"
             "sorted(layers)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def jupyter_server(tmp_path):
    """A Jupyter server on 127.0.0.1 with a token, rooted at ``tmp_path``; yields (base URL, token)."""
    token = secrets.token_hex(16)
    port = _free_port()
    command = [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", "--ServerApp.open_browser=False", f"--ServerApp.root_dir={tmp_path}",
               f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True"]
    # Runtime files (cookie secret, server info) in the test's folder, not the user's.
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    log = open(tmp_path / "jupyter-server.log", "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter server did not start: {(tmp_path / 'jupyter-server.log').read_text()}")
            time.sleep(0.3)
        yield base, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _run_notebook(folder: Path, values: dict) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(
        src.format(**values)) for kind, src in NOTEBOOK]
    notebook = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    nbformat.write(notebook, folder / "explorer.ipynb")
    return notebook


def _ramp(palette: list[str], steps: int = 1024) -> np.ndarray:
    """(steps, 3) colours of the linear palette ramp."""
    stops = np.array([[int(c[i:i + 2], 16) for i in (0, 2, 4)] for c in palette], dtype=np.float64)
    at = np.linspace(0, len(stops) - 1, steps)
    low = np.minimum(np.floor(at).astype(int), len(stops) - 2)
    frac = (at - low)[:, None]
    return stops[low] * (1 - frac) + stops[low + 1] * frac


def _near_ramp(pixels: np.ndarray, ramp: np.ndarray, tolerance: int = 2) -> np.ndarray:
    """Whether each RGB pixel is within ``tolerance`` (per channel) of a ramp colour, by a 256^3 lookup table."""
    table = np.zeros((256, 256, 256), bool)
    offsets = np.arange(-tolerance, tolerance + 1)
    centres = np.unique(np.rint(ramp).astype(int), axis=0)
    for dr in offsets:
        for dg in offsets:
            for db in offsets:
                near = np.clip(centres + [dr, dg, db], 0, 255)
                table[near[:, 0], near[:, 1], near[:, 2]] = True
    return table[pixels[..., 0], pixels[..., 1], pixels[..., 2]]


def _tile_colours(url: str, bounds: tuple[float, float, float, float]) -> set[tuple[int, int, int]]:
    colours: set[tuple[int, int, int]] = set()
    for x, y in tiles.tiles_covering(bounds, ZOOM):
        with urllib.request.urlopen(url.format(z=ZOOM, x=x, y=y), timeout=60) as response:
            tile = np.asarray(PILImage.open(io.BytesIO(response.read())).convert("RGBA"))
        opaque = tile[..., 3] == 255
        colours |= set(map(tuple, tile[opaque][:, :3].tolist()))
    return colours


def test_notebook_page_shows_embedding_and_similarity_tiles(tmp_path, embedding_field, jupyter_server,
                                                            monkeypatch):
    browser = chromium_or_skip()
    # The kernel imports aef_ee from this checkout and keeps its connection file in the test's folder.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    centre_lon, centre_lat = embedding_field.lonlat(SIZE // 2, SIZE // 2)
    lon, lat = embedding_field.lonlat(*CLICK)
    notebook = _run_notebook(tmp_path, {
        "url": embedding_field.server.url_with_token, "rect": [LEFT, TOP - SIZE * 10, LEFT + SIZE * 10, TOP],
        "crs": CRS,
        "collection": COLLECTION, "center": (centre_lat, centre_lon), "zoom": ZOOM, "lon": lon, "lat": lat,
        "percent": round(100 * QUANTILE), "px": VIEW_PX, "html_manager": str(WIDGETS / "embed-amd.js.gz"),
        "require_js": str(WIDGETS / "require.js")})
    # The explorer displayed itself in the notebook as a widget view.
    shown = notebook.cells[3].outputs[-1]["data"]
    assert "application/vnd.jupyter.widget-view+json" in shown
    info = json.loads((tmp_path / "layers.json").read_text())
    assert {"embeddings 2024", "similarity"} <= set(info["layers"])
    page = (tmp_path / "map.html").read_text()
    assert "cdn.jsdelivr.net" not in page and "cdnjs" not in page and "unpkg" not in page
    assert info["layers"]["similarity"].split("{z}")[0] in page

    base, token = jupyter_server
    shot = screenshot(browser, f"{base}/files/map.html?token={token}", tmp_path / "shot.png", px=VIEW_PX,
                      budget_ms=30000, timeout_s=180, flags=[OFFLINE])
    assert shot.shape == (VIEW_PX, VIEW_PX, 3)

    # Colours the engine serves for the two layers over the field.
    west, north = embedding_field.lonlat(-2, -2)
    east, south = embedding_field.lonlat(SIZE + 2, SIZE + 2)
    embedding_colours = _tile_colours(info["layers"]["embeddings 2024"], (west, south, east, north))
    similarity_colours = _tile_colours(info["layers"]["similarity"], (west, south, east, north))
    ramp = _ramp(SIMILARITY_VIS["palette"])
    assert len(similarity_colours) > 20
    assert _near_ramp(np.array(sorted(similarity_colours), dtype=np.uint8)[None], ramp).all()

    similarity_px = _near_ramp(shot, ramp)
    colour_keys = shot.reshape(-1, 3) @ np.array([65536, 256, 1])
    embedding_keys = np.array([r * 65536 + g * 256 + b for r, g, b in embedding_colours])
    embedding_px = np.isin(colour_keys, embedding_keys).reshape(shot.shape[:2]) & ~similarity_px
    field_px = similarity_px.sum() + embedding_px.sum()
    # The field (about 225 x 225 px) is on screen, mostly embedding colours, with the similar 30 % in the palette.
    assert field_px > 0.6 * 225 * 225, f"the field shows {field_px} layer pixels: tiles did not load"
    assert 0.15 < similarity_px.sum() / field_px < 0.45
    assert embedding_px.sum() > 0.4 * field_px
    assert shot[embedding_px].std() > 10, "the embedding layer is flat"
