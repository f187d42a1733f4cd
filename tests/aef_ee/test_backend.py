"""aef_ee.initialize: no silent default backend, errors that name the fix, and the local engine's state folder."""

from __future__ import annotations

import concurrent.futures
import http.server
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import aef_ee
from aef_ee import backend, paths
from aef_ee.errors import AefValueError, BackendError


def test_initialize_without_arguments_explains_both_choices() -> None:
    with pytest.raises(BackendError) as caught:
        aef_ee.initialize()
    message = str(caught.value)
    assert 'initialize(project="my-project")' in message
    assert 'initialize(backend="local")' in message
    assert "Colab" not in message


def test_initialize_without_arguments_in_colab_gives_the_colab_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.colab", object())
    with pytest.raises(BackendError, match=r"In Colab: authenticate with ee\.Authenticate\(\)"):
        aef_ee.initialize()


def test_an_unknown_backend_is_quoted() -> None:
    with pytest.raises(AefValueError, match="unknown backend 'cloud'"):
        aef_ee.initialize("cloud")


@pytest.mark.parametrize("module", ["rasterio", "pyproj"])
def test_the_local_backend_without_the_local_extra_names_the_install(module: str, tmp_path: Path) -> None:
    # In a child process: hiding a module that is already imported here would leave half-imported state behind.
    script = textwrap.dedent(f"""
        import sys
        sys.modules[{module!r}] = None  # what a missing package looks like to import
        import aef_ee
        from aef_ee.errors import BackendError
        try:
            aef_ee.initialize(backend="local", catalog={str(tmp_path)!r})
        except BackendError as exc:
            print(exc)
            assert isinstance(exc.__cause__, ImportError)
        else:
            raise SystemExit("no error")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"needs {module!r}" in done.stdout
    assert 'pip install "aef-ee[local]"' in done.stdout


@pytest.mark.parametrize("extra, module", [("maps", "geemap"), ("training", "jax")])
def test_require_extra_names_the_extra(extra: str, module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(BackendError, match=rf'pip install "aef-ee\[{extra}\]"'):
        backend.require_extra(extra, "the thing", modules=[module])


def test_require_extra_in_colab_says_to_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.colab", object())
    monkeypatch.setitem(sys.modules, "geemap", None)
    with pytest.raises(BackendError, match=r'`!pip install "aef-ee\[maps\]"` in a cell and restart the runtime'):
        backend.require_extra("maps", "the explorer", modules=["geemap"])


def test_state_folder_holds_catalog_buckets_and_drive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from aef_ee.demo.catalog import CATALOG_ENV, DEMO_CATALOG_VERSION, default_catalog_dir

    for name in (CATALOG_ENV, paths.BUCKET_DIR_ENV, paths.DRIVE_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    assert paths.state_dir() == tmp_path / "home"
    assert default_catalog_dir() == tmp_path / "home" / f"demo-catalog-v{DEMO_CATALOG_VERSION}"
    assert backend.local_settings() == {"bucket_dir": str(tmp_path / "home" / "buckets"),
                                        "drive_dir": str(tmp_path / "home" / "drive"),
                                        "image_dirs": [str(tmp_path / "home"), str(tmp_path / "home" / "drive")]}
    # Arguments first, then the finer environment variables.
    monkeypatch.setenv(paths.BUCKET_DIR_ENV, str(tmp_path / "b"))
    assert backend.local_settings(drive_dir="/d", gcs_endpoint=None) == {"bucket_dir": str(tmp_path / "b"),
                                                                          "drive_dir": "/d",
                                                                          "image_dirs": [str(tmp_path / "home"), "/d"]}
    monkeypatch.delenv(paths.HOME_ENV)
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    assert paths.state_dir() == tmp_path / "cache"


def test_data_dir_is_package_data_unless_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.resources

    monkeypatch.delenv(paths.DATA_ENV, raising=False)
    packaged = Path(str(importlib.resources.files("aef_ee.demo").joinpath("data")))
    assert paths.data_dir() == packaged
    assert (paths.data_dir() / "worldcereal" / "worldcereal_preprocessed_inputs.nc").is_file()
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    assert paths.data_dir() == tmp_path
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "absent"))
    with pytest.raises(OSError, match="AEF_EE_DATA"):
        paths.data_dir()


def test_a_new_local_engine_uses_the_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (paths.BUCKET_DIR_ENV, paths.DRIVE_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    server = backend.local_server(tmp_path / "catalog")
    try:
        assert server.settings["bucket_dir"] == str(tmp_path / "home" / "buckets")
        assert server.settings["drive_dir"] == str(tmp_path / "home" / "drive")
        # The same catalog again: the running engine, settings kept unless given.
        assert backend.local_server(tmp_path / "catalog") is server
        assert server.settings["bucket_dir"] == str(tmp_path / "home" / "buckets")
    finally:
        server.stop()
        backend._servers.pop(Path(tmp_path / "catalog").resolve(), None)


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a small body after a pause, so that parallel requests hold their connections at once."""

    protocol_version = "HTTP/1.1"  # keep-alive: each connection goes back to the client's pool

    def do_GET(self) -> None:
        time.sleep(0.2)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# requests' default pool size; an interactive export with its default 8 workers and 4 sources already makes 12.
REQUESTS_DEFAULT_POOL = 10


@pytest.mark.parametrize("pool_size, warned", [(None, False), (REQUESTS_DEFAULT_POOL, True)])
def test_parallel_requests_fit_the_local_transports_pool(slow_server: str, pool_size: int | None, warned: bool,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    # The default pool holds every connection of 3x requests' default parallel requests; a pool of requests'
    # default size (the control) discards connections with urllib3's warning, as before issue 14.
    transport = backend.LocalTransport() if pool_size is None else backend.LocalTransport(pool_size=pool_size)
    parallel = 3 * REQUESTS_DEFAULT_POOL
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
            answers = list(pool.map(lambda i: transport.request(f"{slow_server}?i={i}"), range(parallel)))
    assert [(r.status, content) for r, content in answers] == [(200, b'{"ok": true}')] * parallel
    full = [r.getMessage() for r in caplog.records if "Connection pool is full" in r.getMessage()]
    assert bool(full) == warned, full
    assert parallel <= backend.LOCAL_POOL_SIZE


def test_the_pool_size_is_checked() -> None:
    with pytest.raises(AefValueError, match="pool_size must be an int >= 1; got pool_size=0"):
        backend.LocalTransport(pool_size=0)


@pytest.mark.parametrize("blocked, call", [
    ("shapely", "from aef_ee.videos.sites import sample_uniform\n"
                "sample_uniform((5.3, 50.6, 5.4, 50.7), 1, period_ms=(0, 1))"),
    ("rasterio", "from aef_ee.videos.export import export_videos; export_videos('out', None)"),
    ("rasterio", "from aef_ee.fields import register_embeddings; register_embeddings('projects/x/assets/y', [])"),
])
def test_a_light_install_names_the_extra_instead_of_a_bare_import_error(blocked: str, call: str) -> None:
    # sys.modules[name] = None makes `import name` raise ImportError, as on an install without the local extra.
    code = f"import sys; sys.modules[{blocked!r}] = None\n{call}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("aef_ee.errors.BackendError"), result.stderr[-2000:]
    assert f"needs {blocked!r}" in last and 'pip install "aef-ee[local]"' in last
