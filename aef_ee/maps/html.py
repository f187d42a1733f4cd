"""Standalone HTML pages of a geemap map (ipywidgets embedding), optionally self-contained for offline use.

geemap's ``Map.to_html`` writes the widget state of the map and its layers (the Earth Engine tile URLs included)
into a page that ``@jupyter-widgets/html-manager`` renders in any browser. By default that page loads require.js,
the html-manager and ``jupyter-leaflet`` from public CDNs. Given local copies of the first two (npm packages
``requirejs`` and ``@jupyter-widgets/html-manager``; jupyter-leaflet comes from the installed ipyleaflet), the page
carries all three scripts inside itself as ``data:`` URLs: it then needs no internet and no second request, so it
works from ``file://``, from a Jupyter server's sandboxed files endpoint, or from a mail attachment. Tile layers
still load from the tile server (the local engine, or Earth Engine while its map IDs last).
"""

from __future__ import annotations

import base64
import gzip
import logging
from pathlib import Path
from typing import Any

from aef_ee.errors import AefIOError, AefValueError

__all__ = ["save_html", "jupyter_leaflet_script"]

log = logging.getLogger(__name__)
# The distribution that ships ipyleaflet's front end, and its notebook extension's script among its files.
_JUPYTER_LEAFLET = "jupyter-leaflet"
_JUPYTER_LEAFLET_SCRIPT = "nbextensions/jupyter-leaflet/index.js"

_OFFLINE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>{{title}}</title>
<script src="{require_js}"></script>
<script>require.config({{{{paths: {{{{"jupyter-leaflet": "{jupyter_leaflet}"}}}}}}}});</script>
<style>body {{{{ margin: 0; }}}}</style>
</head>
<body>
{{snippet}}
</body>
</html>
"""


def jupyter_leaflet_script() -> Path:
    """``index.js`` of the installed ``jupyter-leaflet`` notebook extension (an AMD module).

    Found through the files the ``jupyter-leaflet`` distribution (a dependency of ipyleaflet) installed, wherever
    pip put its Jupyter data folder; no Jupyter package is needed for that.

    Raises:
      AefIOError: ipyleaflet's front-end files are not installed.
    """
    import importlib.metadata

    try:
        files = importlib.metadata.files(_JUPYTER_LEAFLET) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.as_posix().endswith(_JUPYTER_LEAFLET_SCRIPT):
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return path
    raise AefIOError(f"{_JUPYTER_LEAFLET}'s notebook extension ({_JUPYTER_LEAFLET_SCRIPT}) is not installed; "
                     'install the maps extra (pip install "aef-ee[maps]"), which brings ipyleaflet and it, or pass '
                     "jupyter_leaflet= the path of a copy")


def _data_url(path: Path) -> str:
    """A ``data:`` URL of a JavaScript file, plain or gzip-compressed (``.gz``)."""
    if not path.is_file():
        raise AefIOError(f"script {str(path)!r} does not exist")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return "data:text/javascript;base64," + base64.b64encode(raw).decode("ascii")


def save_html(
    map_: Any,
    path: str | Path,
    *,
    html_manager: str | Path | None = None,
    require_js: str | Path | None = None,
    jupyter_leaflet: str | Path | None = None,
    title: str = "aef-ee map",
    width: str = "100%",
    height: str = "600px",
    layer_control: bool = True,
) -> Path:
    """Writes ``map_`` (a ``geemap.Map``) as a standalone HTML page with geemap's ``to_html``.

    Args:
      map_: the map; its Earth Engine layers keep the tile URLs of the engine they were made with.
      path: the ``.html`` file to write.
      html_manager: ``dist/embed-amd.js`` of ``@jupyter-widgets/html-manager`` 1.x (the one ipywidgets 8 uses),
        plain or ``.gz``. With ``require_js``, makes the page self-contained; without both, scripts come from CDNs.
      require_js: ``require.js`` of the npm package ``requirejs``, plain or ``.gz``.
      jupyter_leaflet: jupyter-leaflet's AMD ``index.js``; default: the installed one.
      width, height: CSS size of the map in the page (height in px, as geemap requires).
      layer_control: add a layers control (geemap adds one to the map if it has none).

    Returns:
      The written path.
    """
    path = Path(path)
    if path.suffix != ".html":
        raise AefValueError(f"an HTML page needs a .html file name; got {str(path)!r}")
    if (html_manager is None) != (require_js is None):
        raise AefValueError("a self-contained page needs both html_manager= and require_js= (or neither, for CDNs)")
    kwargs: dict[str, Any] = {}
    if html_manager is not None:
        leaflet = Path(jupyter_leaflet) if jupyter_leaflet is not None else jupyter_leaflet_script()
        template = _OFFLINE_TEMPLATE.format(require_js=_data_url(Path(require_js)),
                                            jupyter_leaflet=_data_url(leaflet))
        kwargs = {"template": template, "embed_url": _data_url(Path(html_manager)), "requirejs": False,
                  "cors": False}
    map_.to_html(str(path), title=title, width=width, height=height, add_layer_control=layer_control, **kwargs)
    if not path.is_file():
        raise AefIOError(f"geemap wrote no page at {str(path)!r} (check width/height: {width!r}, {height!r})")
    log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return path
