"""Smoke test of an installed wheel (``pip install "aef_ee-*.whl[all]"``), run by ``.ci/run`` from a folder outside
the checkout with ``python -I`` (so no source tree is on ``sys.path``):

    cd "$(mktemp -d)" && python -I /path/to/tests/smoke_installed.py

It checks what a user of the wheel does first: ``initialize()`` without a backend explains the choices; the
quickstart runs on the local engine's demo catalog, built from the wheel's package data; a small embedding COG
written here registers with ``aef_ee.fields.register_embeddings`` and reads back bit for bit; the shipped tiny
checkpoint embeds the demo patch without retraining (the demo's inference path). All state goes to a temporary
``$AEF_EE_HOME``. Exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCRATCH = Path(tempfile.mkdtemp(prefix="aef-ee-smoke-"))
os.environ.setdefault("AEF_EE_HOME", str(SCRATCH / "home"))


def check_installed() -> None:
    import aef_ee

    location = Path(aef_ee.__file__).resolve()
    assert "site-packages" in location.parts, f"aef_ee imported from {location}, not from an installed wheel"
    assert not (Path.cwd() / "aef_ee").exists(), "run this from a folder outside the checkout"
    print(f"aef_ee {aef_ee.__version__} from {location.parent}")


def check_initialize_needs_a_choice() -> None:
    import aef_ee
    from aef_ee.errors import AefError

    try:
        aef_ee.initialize()
    except AefError as exc:
        message = str(exc)
        assert 'initialize(project="' in message and 'initialize(backend="local")' in message, message
        print("initialize() without arguments explains the two choices")
        return
    raise AssertionError("initialize() without arguments did not raise")


def check_quickstart() -> None:
    import aef_ee
    from aef_ee.demo.quickstart import run_quickstart

    server = aef_ee.initialize(backend="local")
    assert Path(server.catalog.root).is_relative_to(Path(os.environ["AEF_EE_HOME"])), server.catalog.root
    result = run_quickstart(echo=lambda line: print(f"  {line}"))
    assert result["images"] > 0, result
    assert 0 < result["median"]["B8"] < 10000, result


def check_register_a_cog() -> None:
    import ee

    from aef_ee.fields import EMBEDDING_BANDS, cog_tags, register_embeddings, write_embedding_cog

    rng = np.random.default_rng(0)
    field = rng.normal(size=(16, 16, len(EMBEDDING_BANDS)))
    field /= np.linalg.norm(field, axis=-1, keepdims=True)
    from aef_ee.paths import state_dir

    # Inside the state folder: the local engine reads files only from the folders it is allowed.
    path = state_dir() / "cogs" / "smoke_2022.tif"
    tags = cog_tags(2022, "31N", model_version="smoke", software_version="smoke")
    # 10 m pixels in UTM 31N, inside the demo catalog's Belgium patch.
    write_embedding_cog(path, field, transform=(10.0, 0.0, 664000.0, 0.0, -10.0, 5612120.0), crs="EPSG:32631",
                        tags=tags)
    collection = "projects/local/assets/smoke_embeddings"
    report = register_embeddings(collection, [str(path)], progress=False)
    assert len(report.created) == 1, report
    import rasterio

    with rasterio.open(path) as src:
        codes = src.read()
    pixels = ee.data.computePixels({"expression": ee.Image(f"{collection}/{path.stem}"),
                                    "fileFormat": "NUMPY_NDARRAY"})
    got = np.stack([pixels[b] for b in EMBEDDING_BANDS])
    valid = codes != -128
    np.testing.assert_array_equal(got[valid], codes[valid])
    print(f"registered {path.name} as {collection} and read it back ({valid.sum()} values)")


def check_shipped_checkpoint_embeds() -> None:
    import rasterio

    from aef_ee.cli.demo import DEMO_REGION, DEMO_YEAR, shipped_checkpoint
    from aef_ee_training.fields import embed_region

    checkpoint = shipped_checkpoint()
    assert (checkpoint / "checkpoints").is_dir(), f"no shipped checkpoint in {checkpoint}"
    started = time.perf_counter()
    # The checkpoint carries its config and normalisation statistics (inference.json): no training data needed.
    report = embed_region(workdir=checkpoint, region=DEMO_REGION, year=DEMO_YEAR, out_dir=SCRATCH / "fields",
                          staging_dir=SCRATCH / "tile-videos", progress=False)
    assert report.written, report
    for cog in report.written:
        with rasterio.open(cog) as src:
            assert src.count == 64 and src.dtypes[0] == "int8", (cog, src.count, src.dtypes[0])
    print(f"embedded the demo patch with {checkpoint.name}: {len(report.written)} COGs in "
          f"{time.perf_counter() - started:.0f} s")


def main() -> int:
    for check in (check_installed, check_initialize_needs_a_choice, check_quickstart, check_register_a_cog,
                  check_shipped_checkpoint_embeds):
        print(f"--- {check.__name__}", flush=True)
        check()
    print("smoke test of the installed wheel: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
