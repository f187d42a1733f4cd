"""Interactive maps for the embedding workflows (geemap + ipywidgets).

Entry point: :class:`EmbeddingExplorer` — a ``geemap.Map`` with a year selector, click-to-search, draw-to-label
classification, clustering, a two-year change view and Drive export. Every control is a plain method, so scripts
and tests drive it without a browser. :func:`save_html` writes a map as a standalone page (offline-capable).

The explorer needs the ``maps`` extra (geemap, ipywidgets), imported when one is made: without it the error names
``pip install "aef-ee[maps]"``. The label sets, legends and this package import without it; the Earth Engine
expressions live in :mod:`aef_ee.ops`.
"""

from aef_ee.maps.explorer import EXPORTABLE, EmbeddingExplorer
from aef_ee.maps.html import save_html
from aef_ee.maps.labels import LABEL_PROPERTY, LabelSet
from aef_ee.maps.legend import accuracy_html, legend_html

__all__ = [
    "EXPORTABLE",
    "LABEL_PROPERTY",
    "EmbeddingExplorer",
    "LabelSet",
    "accuracy_html",
    "legend_html",
    "save_html",
]
