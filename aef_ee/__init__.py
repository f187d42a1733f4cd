"""aef-ee: AlphaEarth Foundations-style embedding fields for Google Earth Engine.

Entry point: :func:`aef_ee.initialize` connects the ``ee`` client either to Earth Engine
(``initialize(project="my-project")``) or to the embedded local Earth Engine (``initialize(backend="local")``),
a loopback server that runs the same ``ee`` code offline on local rasters.

The rest of the public API lives in one subpackage per concern, each listing its names in ``__all__``:

- :mod:`aef_ee.fields`: embedding fields — open a collection (ours or Google's), write COGs, register them.
- :mod:`aef_ee.ops`: server-side workflows on embeddings — similarity, clustering, classification, change, exports.
- :mod:`aef_ee.maps`: the geemap + ipywidgets explorer (needs the ``maps`` extra).
- :mod:`aef_ee.evaluation`: the low-shot evaluation protocol and its baselines.
- :mod:`aef_ee.videos`: the training-video data model; :mod:`aef_ee.videos.export` makes videos from Earth Engine.
- :mod:`aef_ee.local`: the local Earth Engine (needs the ``local`` extra); :mod:`aef_ee.demo`: its demo content.
- ``aef_ee_training``: the JAX + Flax model (the ``training`` extra; the repository's ``training/`` folder).
- :mod:`aef_ee.cli`: the ``aef-ee`` command (the only layer that imports the model).
"""

from __future__ import annotations

import logging

from aef_ee.backend import initialize

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = ["__version__", "initialize"]
