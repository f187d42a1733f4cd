"""Fixtures for export tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def catalog(demo_catalog_dir: Path) -> Path:
    return demo_catalog_dir
