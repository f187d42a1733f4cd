"""aef-ee: AlphaEarth Foundations-style embedding fields for Google Earth Engine.

Entry point: :func:`aef_ee.initialize` connects the ``ee`` client either to Earth Engine
(``initialize(project="my-project")``) or to the embedded local Earth Engine (``initialize(backend="local")``),
a loopback server that runs the same ``ee`` code offline on local rasters.
"""

from __future__ import annotations

import logging

from aef_ee.backend import initialize

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = ["__version__", "initialize"]
