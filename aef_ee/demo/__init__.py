"""Demo content: the real data the offline examples run on, prepared for the local engine.

- :mod:`aef_ee.demo.catalog`: builds the demo catalog (Sentinel-2/1, ERA5, DEM, WorldCereal, ... from the
  repository's ``data/``) under Earth Engine's own asset IDs.
- :mod:`aef_ee.demo.sample_embeddings`: a small embedding collection made from real AlphaEarth sample vectors.
- :mod:`aef_ee.demo.quickstart`: the worked Earth Engine example ``aef-ee quickstart`` runs.

The end-to-end ``aef-ee demo`` (which needs the model) is a command: :mod:`aef_ee.cli.demo`.
"""

from __future__ import annotations

from aef_ee.demo.catalog import build_demo_catalog, default_catalog_dir
from aef_ee.demo.quickstart import run_quickstart

__all__ = ["build_demo_catalog", "default_catalog_dir", "run_quickstart"]
