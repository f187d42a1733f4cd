"""A real browser on the local engine's tiles: headless Chromium opens a Leaflet page (Leaflet from
tests/local/data/leaflet, served from 127.0.0.1) whose only layer is a geemap / getMapId tile URL, and the screenshot
must show exactly the pixels of the tiles the engine serves.

Needs the Debian package ``chromium`` (``apt-get install -y chromium``); skipped with that reason when missing.
"""

from __future__ import annotations

import io
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser import chromium_or_skip, screenshot, static_server
from local_engine import connect, running_engine
from PIL import Image as PILImage

from aef_ee.local import tiles

LANDSAT = Path(__file__).resolve().parents[2] / "data/landsat8_brazil/LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
LEAFLET_DIR = Path(__file__).resolve().parent / "data" / "leaflet"
SCENE_CENTRE = (-54.53, -25.34)
ZOOM = 12
VIEW_PX = 512  # two tiles by two tiles
PALETTE = ["ff00ff", "00ffff"]  # magenta to cyan: every layer pixel has blue 255 and red + green = 255

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="leaflet.css"><script src="leaflet.js"></script>
<style>html, body {{ margin: 0; padding: 0; background: #000; }} #map {{ width: {px}px; height: {px}px; }}
.leaflet-container {{ background: #000; }}</style>
</head><body><div id="map"></div><script>
var map = L.map("map", {{zoomControl: false, attributionControl: false, fadeAnimation: false,
                        zoomAnimation: false, markerZoomAnimation: false}}).setView([{lat}, {lon}], {zoom});
L.tileLayer("{url}", {{maxZoom: 24, tileSize: 256}}).addTo(map);
</script></body></html>
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from aef_ee.local.catalog import Catalog

    root = tmp_path_factory.mktemp("leaflet-catalog")
    catalog = Catalog(root)
    catalog.create_container("TEST", "FOLDER")
    catalog.write_image("TEST/landsat", [
        {"id": b, "path": str(LANDSAT), "band": i + 1, "data_type": "uint16", "nodata": 0}
        for i, b in enumerate(["B2", "B3", "B4"])], {})
    with running_engine(root, connect_client=False) as server:
        yield server


@pytest.fixture()
def page_server(tmp_path):
    """A static file server on 127.0.0.1 for the page and Leaflet; yields (folder, base URL)."""
    for name in ("leaflet.js", "leaflet.css"):
        shutil.copy(LEAFLET_DIR / name, tmp_path / name)
    with static_server(tmp_path) as base:
        yield tmp_path, base


def test_leaflet_in_headless_chromium_shows_the_engine_tiles(engine, page_server):
    browser = chromium_or_skip()
    import ee
    import geemap

    connect(engine)
    m = geemap.Map()
    m.add_layer(ee.Image("TEST/landsat").select("B4"), {"min": 6000, "max": 7500, "palette": PALETTE}, "B4")
    url = m.layers[-1].url

    # Centre the view on the corner shared by four tiles, so that each tile fills one quarter of the page.
    x, y = tiles.tiles_covering((*SCENE_CENTRE, *SCENE_CENTRE), ZOOM)[0]
    west, _, _, north = tiles.tile_bounds_lonlat(ZOOM, x + 1, y + 1)
    folder, base = page_server
    (folder / "map.html").write_text(PAGE.format(px=VIEW_PX, lat=north, lon=west, zoom=ZOOM, url=url))
    shot = screenshot(browser, f"{base}/map.html", folder / "shot.png", px=VIEW_PX, budget_ms=15000)
    assert shot.shape == (VIEW_PX, VIEW_PX, 3)

    layer = (shot[..., 2] == 255) & (np.abs(shot[..., 0].astype(int) + shot[..., 1] - 255) <= 1)
    assert layer.mean() > 0.95, "the map shows no (or few) layer pixels: tiles did not load"
    assert shot[..., 0].std() > 5, "the tiles are flat: no image content"
    for row, tile_y in enumerate((y, y + 1)):
        for col, tile_x in enumerate((x, x + 1)):
            with urllib.request.urlopen(url.format(z=ZOOM, x=tile_x, y=tile_y), timeout=60) as response:
                tile = np.asarray(PILImage.open(io.BytesIO(response.read())).convert("RGBA"))
            quarter = shot[row * 256:(row + 1) * 256, col * 256:(col + 1) * 256]
            opaque = tile[..., 3] == 255
            assert opaque.all()
            diff = np.abs(quarter.astype(int) - tile[..., :3])
            assert diff.max() <= 2, f"tile {ZOOM}/{tile_x}/{tile_y} differs from the screenshot by {diff.max()}"
