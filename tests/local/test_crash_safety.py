"""Killing the engine (SIGKILL) in the middle of any asset write leaves the old state or the new one, never a mix,
no debris after the next start, and no ID that cannot be written again.

Each case runs one write in a real child process (a server, or ``aef-ee catalog add``) that dies at an injected
crash point (``AEF_EE_CRASH_AT``, :mod:`aef_ee.local.crash_points`): before its commit, between its renames, after
its commit point, in its clean-up. Then an engine starts on the same catalog (which recovers it) and the test
checks through the ``ee`` client that every asset involved reads back as entirely old or entirely new (pixels and
the properties of the manifest that names them agree), that nothing is left in the catalog but assets and their
own ``_data/<version>/`` folders, that an unfinished operation reads FAILED, and that the write can be done again.

The children are forked from a zygote process that imported the engine once (a fresh interpreter per kill would
cost seconds); one case kills a real ``aef-ee serve`` instead. 37 kills, each on a copy of a tiny catalog.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import ee
import numpy as np
import pytest
from affine import Affine
from local_engine import running_engine

from aef_ee.backend import initialize
from aef_ee.local.catalog import Catalog
from aef_ee.local.catalog_add import add_to_catalog, write_geotiff
from aef_ee.local.crash_points import CRASH_ENV

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks and SIGKILLs processes")

CRS = "EPSG:32631"
ASSETS = "projects/local/assets"
X, Y, Z, COL = f"{ASSETS}/x", f"{ASSETS}/y", f"{ASSETS}/z", f"{ASSETS}/col"
LEFT, TOP, SIZE = 600000, 5600000, 16
# How long a child may take to reach its crash point (it is a few milliseconds of work).
DEATH_TIMEOUT_S = 60

ZYGOTE = textwrap.dedent("""
    import json, os, signal, sys, time
    from aef_ee.cli import build_parser, main as cli_main
    from aef_ee.local.algorithms.registry import load_all
    from aef_ee.local.api.routes import load_routes
    from aef_ee.local.server import LocalServer
    import rasterio.shutil  # what catalog add uses

    build_parser(); load_routes(); load_all()

    def reply(obj):
        os.write(1, (json.dumps(obj) + "\\n").encode())

    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "wait":
            deadline, status = time.time() + cmd["timeout"], None
            while True:
                pid, status = os.waitpid(cmd["pid"], os.WNOHANG)
                if pid:
                    break
                if time.time() > deadline:
                    os.kill(cmd["pid"], signal.SIGKILL)
                    os.waitpid(cmd["pid"], 0)
                    status = None
                    break
                time.sleep(0.01)
            reply({"signal": os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None,
                   "exit": os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None})
            continue
        if os.fork() == 0:
            os.environ[cmd["env"]] = cmd["crash"]
            try:
                if cmd["op"] == "serve":
                    server = LocalServer(cmd["catalog"], settings=cmd["settings"])
                    reply({"pid": os.getpid(), "url": server.url_with_token})
                    server.serve_forever()
                else:
                    reply({"pid": os.getpid()})
                    os._exit(cli_main(cmd["args"]))
            finally:
                os._exit(1)
""")


class Zygote:
    """A process that imported the engine once and forks a child per kill."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def _ask(self, cmd: dict) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the zygote died"
        return json.loads(line)

    def serve(self, catalog: Path, crash: str, **settings: str) -> dict:
        return self._ask({"op": "serve", "env": CRASH_ENV, "crash": crash, "catalog": str(catalog),
                          "settings": settings})

    def cli(self, args: list[str], crash: str) -> dict:
        return self._ask({"op": "cli", "env": CRASH_ENV, "crash": crash, "args": args})

    def wait_killed(self, pid: int) -> None:
        """Waits for the child's death and checks that the crash point killed it."""
        status = self._ask({"op": "wait", "pid": pid, "timeout": DEATH_TIMEOUT_S})
        assert status["signal"] == signal.SIGKILL, f"the child did not die at its crash point: {status}"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


def _tif(path: Path, value: int) -> Path:
    write_geotiff(path, np.full((1, SIZE, SIZE), value, np.uint8), transform=Affine(10, 0, LEFT, 0, -10, TOP),
                  crs=CRS)
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """x: an image of 1s (property v=1); col: a collection of two images (v=10, v=20); new.tif: 2s."""
    base = tmp_path_factory.mktemp("crash")
    root = base / "template"
    add_to_catalog(root, X, _tif(base / "one.tif", 1), properties={"v": 1})
    for value in (10, 20):
        add_to_catalog(root, f"{COL}/i{value}", _tif(base / f"{value}.tif", value), properties={"v": value},
                       collection=True)
    return root, _tif(base / "new.tif", 2)


@pytest.fixture()
def catalog(template, tmp_path):
    root = tmp_path / "catalog"
    shutil.copytree(template[0], root)
    return root


def _request(url: str, method: str, path: str, body: dict | None = None) -> int | None:
    """A raw REST call (the ee client would retry against a dead server); None if the server died under it."""
    parts = urllib.parse.urlsplit(url)
    token = urllib.parse.parse_qs(parts.query)["token"][0]
    request = urllib.request.Request(f"{parts.scheme}://{parts.netloc}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=DEATH_TIMEOUT_S) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (ConnectionError, urllib.error.URLError, OSError):
        return None


def _state(ee, asset_id: str):
    """What the engine serves at ``asset_id``: None, ("IMAGE", value, properties), or (type, children's states)."""
    try:
        asset = ee.data.getAsset(asset_id)
    except ee.EEException as e:
        if "not found" in str(e):
            return None
        raise
    if asset["type"] == "IMAGE":
        pixels = ee.data.computePixels({"expression": ee.Image(asset_id), "fileFormat": "NUMPY_NDARRAY"})
        values = np.unique(pixels[pixels.dtype.names[0]])
        assert values.size == 1, f"{asset_id} mixes pixels of two versions: {values}"
        properties = asset.get("properties", {})
        assert properties.get("v") == int(values[0]), f"{asset_id}: manifest v={properties.get('v')} over " \
                                                      f"pixels {values[0]}"
        return ("IMAGE", int(values[0]), properties.get("w"))
    children = ee.data.listAssets({"parent": asset_id}).get("assets", [])
    return (asset["type"], tuple((c["id"].rsplit("/", 1)[-1], _state(ee, c["id"])) for c in children))


def _assert_clean(root: Path) -> None:
    """Only assets, their own _data/<version>/ folders and the catalog's empty bookkeeping folders remain."""
    for hidden in (".staging", ".journal", ".trash"):
        assert not (root / hidden).exists() or not list((root / hidden).iterdir()), list((root / hidden).iterdir())
    structural = {root / "projects", root / "projects" / "local", root / "projects" / "local" / "assets"}
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if parts[0] in (".staging", ".journal", ".trash", ".operations"):
            continue
        assert not path.name.startswith(".tmp-"), path
        if not path.is_dir():
            continue
        if path.name == "_data":
            versions = {json.loads(m.read_text()).get("version") for m in path.parent.glob("*.json")
                        if m.name != "_asset.json"}
            assert {p.name for p in path.iterdir()} <= versions, f"orphaned data in {path}"
            assert any(path.iterdir()), f"empty {path}"
        elif path.parent.name != "_data" and path not in structural:
            assert (path / "_asset.json").is_file(), f"{path} is a folder but not an asset"


def _recovered(catalog: Path, expected: dict[str, dict]) -> str:
    """Which of ``expected``'s states ('old'/'new') the engine (just started on the killed catalog, ``ee`` connected
    to it) serves; fails on anything else or on debris."""
    observed = {asset_id: _state(ee, asset_id) for asset_id in expected["old"]}
    matches = [name for name, states in expected.items() if states == observed]
    assert matches, f"neither old nor new: {observed}\nexpected {expected}"
    ee.data.listOperations()  # the operation registry recovers the dead server's operations
    _assert_clean(catalog)
    return matches[0]


IMAGE_1, IMAGE_2 = ("IMAGE", 1, None), ("IMAGE", 2, None)
COL_STATE = ("IMAGE_COLLECTION", (("i10", ("IMAGE", 10, None)), ("i20", ("IMAGE", 20, None))))


def _kill_request(zygote, catalog: Path, crash: str, method: str, path: str, body: dict | None = None) -> None:
    child = zygote.serve(catalog, crash)
    assert _request(child["url"], method, path, body) is None, "the request finished: the crash point was missed"
    zygote.wait_killed(child["pid"])


# ----- the write paths -----

@pytest.mark.parametrize("crash", ["stage.created", "commit.rename:1", "commit.committed"])
def test_create_folder(zygote, catalog, crash):
    folder = f"{ASSETS}/f"
    _kill_request(zygote, catalog, crash, "POST", f"/v1/projects/local/assets?assetId={folder}", {"type": "FOLDER"})
    with running_engine(catalog):
        state = _recovered(catalog, {"old": {folder: None}, "new": {folder: ("FOLDER", ())}})
        if state == "old":
            ee.data.createAsset({"type": "FOLDER"}, folder)
        assert _state(ee, folder) == ("FOLDER", ())


@pytest.mark.parametrize("crash", ["add.staged", "commit.journaled", "commit.rename:1", "commit.rename:2",
                                   "commit.committed", "commit.cleanup:1"])
def test_catalog_add_overwrite(zygote, catalog, template, crash):
    """Killed between the data file and its manifest, this used to leave the old manifest over the new data."""
    args = ["catalog", "add", X, str(template[1]), "--overwrite", "--property", "v=2", "--catalog", str(catalog)]
    child = zygote.cli(args, crash)
    zygote.wait_killed(child["pid"])
    with running_engine(catalog):
        state = _recovered(catalog, {"old": {X: IMAGE_1}, "new": {X: IMAGE_2}})
        add_to_catalog(catalog, X, template[1], properties={"v": 2}, overwrite=True)
        assert _state(ee, X) == IMAGE_2
        assert state == ("new" if crash in ("commit.committed", "commit.cleanup:1") else "old")


@pytest.mark.parametrize("crash", ["commit.rename:1", "commit.committed"])
def test_catalog_add_into_a_new_collection(zygote, catalog, template, crash):
    target = f"{ASSETS}/new/col/a"
    args = ["catalog", "add", target, str(template[1]), "--collection", "--property", "v=2", "--catalog", str(catalog)]
    child = zygote.cli(args, crash)
    zygote.wait_killed(child["pid"])
    new = {f"{ASSETS}/new": ("FOLDER", (("col", ("IMAGE_COLLECTION", (("a", IMAGE_2),))),))}
    with running_engine(catalog):
        _recovered(catalog, {"old": {f"{ASSETS}/new": None}, "new": new})
        add_to_catalog(catalog, target, template[1], properties={"v": 2}, overwrite=True, collection=True)
        assert _state(ee, f"{ASSETS}/new") == new[f"{ASSETS}/new"]


@pytest.mark.parametrize("crash", ["copy.file:1", "commit.rename:1", "commit.rename:2", "commit.committed"])
def test_copy_image(zygote, catalog, crash):
    _kill_request(zygote, catalog, crash, "POST", f"/v1/{X}:copy", {"destinationName": Y})
    with running_engine(catalog):
        _recovered(catalog, {"old": {X: IMAGE_1, Y: None}, "new": {X: IMAGE_1, Y: IMAGE_1}})
        ee.data.copyAsset(X, Y, allowOverwrite=True)
        assert _state(ee, Y) == IMAGE_1


@pytest.mark.parametrize("crash", ["commit.rename:2", "commit.committed", "commit.cleanup:1"])
def test_copy_image_over_another(zygote, catalog, template, crash):
    add_to_catalog(catalog, Y, template[1], properties={"v": 2})
    _kill_request(zygote, catalog, crash, "POST", f"/v1/{X}:copy", {"destinationName": Y, "overwrite": True})
    with running_engine(catalog):
        _recovered(catalog, {"old": {X: IMAGE_1, Y: IMAGE_2}, "new": {X: IMAGE_1, Y: IMAGE_1}})
        ee.data.copyAsset(X, Y, allowOverwrite=True)
        assert _state(ee, Y) == IMAGE_1


@pytest.mark.parametrize("crash", ["copy.file:2", "commit.rename:1", "commit.committed"])
def test_copy_collection(zygote, catalog, crash):
    """Killed half-way, this used to leave an ID that was invisible, undeletable and could not be copied to."""
    col2 = f"{COL}2"
    _kill_request(zygote, catalog, crash, "POST", f"/v1/{COL}:copy", {"destinationName": col2})
    with running_engine(catalog):
        state = _recovered(catalog, {"old": {COL: COL_STATE, col2: None}, "new": {COL: COL_STATE, col2: COL_STATE}})
        if state == "old":
            ee.data.copyAsset(COL, col2)
        assert _state(ee, col2) == COL_STATE
        for child in ("i10", "i20"):
            ee.data.deleteAsset(f"{col2}/{child}")
        ee.data.deleteAsset(col2)


@pytest.mark.parametrize("crash", ["commit.rename:2", "commit.committed", "commit.cleanup:1", "commit.cleanup:2"])
def test_move_image(zygote, catalog, crash):
    """Killed after the new manifest, this used to leave both copies."""
    _kill_request(zygote, catalog, crash, "POST", f"/v1/{X}:move", {"destinationName": Z})
    with running_engine(catalog):
        state = _recovered(catalog, {"old": {X: IMAGE_1, Z: None}, "new": {X: None, Z: IMAGE_1}})
        if state == "old":
            ee.data.renameAsset(X, Z)
        assert (_state(ee, X), _state(ee, Z)) == (None, IMAGE_1)


@pytest.mark.parametrize("crash", ["copy.file:1", "commit.rename:1", "commit.committed", "commit.cleanup:1"])
def test_move_collection(zygote, catalog, crash):
    col3 = f"{ASSETS}/col3"
    _kill_request(zygote, catalog, crash, "POST", f"/v1/{COL}:move", {"destinationName": col3})
    with running_engine(catalog):
        state = _recovered(catalog, {"old": {COL: COL_STATE, col3: None}, "new": {COL: None, col3: COL_STATE}})
        if state == "old":
            ee.data.renameAsset(COL, col3)
        assert (_state(ee, COL), _state(ee, col3)) == (None, COL_STATE)


@pytest.mark.parametrize("crash", ["commit.rename:1", "commit.committed"])
def test_delete_image(zygote, catalog, template, crash):
    _kill_request(zygote, catalog, crash, "DELETE", f"/v1/{X}")
    with running_engine(catalog):
        state = _recovered(catalog, {"old": {X: IMAGE_1}, "new": {X: None}})
        if state == "old":
            ee.data.deleteAsset(X)
        add_to_catalog(catalog, X, template[1], properties={"v": 2})
        assert _state(ee, X) == IMAGE_2


def test_update_properties(zygote, catalog):
    body = {"asset": {"properties": {"w": 5}}, "updateMask": {"paths": ["properties.w"]}}
    _kill_request(zygote, catalog, "commit.rename:1", "PATCH", f"/v1/{X}", body)
    with running_engine(catalog):
        _recovered(catalog, {"old": {X: IMAGE_1}, "new": {X: ("IMAGE", 1, 5)}})
        ee.data.updateAsset(X, {"properties": {"w": 5}}, ["properties.w"])
        assert _state(ee, X) == ("IMAGE", 1, 5)


def _wait_task(ee, task, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while (status := task.status())["state"] not in ("COMPLETED", "FAILED", "CANCELLED") and time.time() < deadline:
        time.sleep(0.1)
    return status


def _export_to_x(ee):
    image = ee.Image.constant(2).toUint8().set("v", 2)
    region = ee.Geometry.Rectangle([LEFT, TOP - SIZE * 10, LEFT + SIZE * 10, TOP], CRS, False)
    return ee.batch.Export.image.toAsset(image, description="over-x", assetId=X, region=region, scale=10, crs=CRS,
                                         overwrite=True)


@pytest.mark.parametrize("crash", ["export.block:1", "export.written", "commit.rename:2", "commit.committed"])
def test_export_to_asset_overwrite(zygote, catalog, crash):
    child = zygote.serve(catalog, crash)
    initialize("local", url=child["url"])
    task = _export_to_x(ee)
    task.start()  # answered at once; the operation dies later with its server
    zygote.wait_killed(child["pid"])
    with running_engine(catalog):
        state = _recovered(catalog, {"old": {X: IMAGE_1}, "new": {X: IMAGE_2}})
        operation = ee.data.getOperation(task.operation_name)
        assert operation["metadata"]["state"] == "FAILED", operation
        assert "stopped before it finished" in operation["error"]["message"]
        assert state == ("new" if crash == "commit.committed" else "old")
        again = _export_to_x(ee)
        again.start()
        assert _wait_task(ee, again)["state"] == "COMPLETED"
        assert _state(ee, X) == IMAGE_2


def test_export_to_drive_killed_in_aef_ee_serve(catalog, tmp_path):
    """A real ``aef-ee serve`` dies mid-export: after restart the task reads FAILED and Drive holds no debris."""
    drive = tmp_path / "drive"
    serve = shutil.which("aef-ee")
    command = [serve] if serve else [sys.executable, "-c", "import sys; from aef_ee.cli import main; sys.exit(main())"]
    env = {**os.environ, CRASH_ENV: "export.block:1"}
    proc = subprocess.Popen([*command, "serve", "--catalog", str(catalog), "--port", "0", "--drive-dir", str(drive)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = None
        for line in proc.stdout:
            if match := re.search(r"initialize\('local', url='([^']+)'\)", line):
                url = match.group(1)
                break
        assert url, "aef-ee serve printed no URL"
        initialize("local", url=url)
        image = ee.Image.constant([1, 2, 3]).toFloat()
        region = ee.Geometry.Rectangle([LEFT, TOP - 1200 * 10, LEFT + 1200 * 10, TOP], CRS, False)
        task = ee.batch.Export.image.toDrive(image, description="killed", fileNamePrefix="killed", region=region,
                                             scale=10, crs=CRS, formatOptions={"cloudOptimized": True})
        task.start()
        assert proc.wait(DEATH_TIMEOUT_S) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait(10)
    assert any(drive.rglob("*")), "the export had started writing"
    with running_engine(catalog, drive_dir=str(drive)):
        operation = ee.data.getOperation(task.operation_name)
        assert operation["metadata"]["state"] == "FAILED"
        assert [p for p in drive.rglob("*")] == []  # its scratch folder is gone
        _assert_clean(catalog)
        again = ee.batch.Export.image.toDrive(image, description="again", fileNamePrefix="killed", region=region,
                                              scale=10, crs=CRS, formatOptions={"cloudOptimized": True})
        again.start()
        assert _wait_task(ee, again)["state"] == "COMPLETED"
        assert [p.name for p in drive.rglob("*")] == ["killed.tif"]


def test_recovery_leaves_live_writers_alone(tmp_path):
    """A catalog opened (and recovered) while another writer stages data does not touch that writer's stage."""
    catalog = Catalog(tmp_path / "cat")
    with catalog.stage() as stage:
        stage.file("a.bin").write_bytes(b"x")
        Catalog(tmp_path / "cat").create_container("F", "FOLDER")  # takes the lock and recovers
        assert stage.file("a.bin").read_bytes() == b"x"
    assert not list((tmp_path / "cat" / ".staging").iterdir())
