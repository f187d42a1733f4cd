"""Shared by the engine benchmarks: a generated 64-band float32 COG, registered once in a benchmark catalog."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

BANDS = 64


def embedding_asset(cache: Path, stem: str, size: int, make_cog: Callable[[Path, int], None]) -> tuple[Path, Path, str]:
    """Generates ``<cache>/<stem>_<size>.tif`` once and registers it as ``BENCH/<stem>_<size>`` in
    ``<cache>/<stem>_catalog``; returns (the COG, the catalog directory, the asset id)."""
    from aef_ee.local.catalog import Catalog

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{stem}_{size}.tif"
    if not path.exists():
        t = time.perf_counter()
        make_cog(path, size)
        print(f"generated {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.1f} s")
    root = cache / f"{stem}_catalog"
    catalog = Catalog(root)
    asset = f"BENCH/{stem}_{size}"
    if not catalog.exists(asset):
        if not catalog.exists("BENCH"):
            catalog.create_container("BENCH", "FOLDER")
        catalog.write_image(asset, [{"id": f"A{i:02d}", "path": str(path), "band": i + 1, "data_type": "float32",
                                     "nodata": None} for i in range(BANDS)], {})
    return path, root, asset
