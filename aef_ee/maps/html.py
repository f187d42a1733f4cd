"""Standalone HTML pages of a geemap map (ipywidgets embedding), optionally with no script from the internet.

geemap's ``Map.to_html`` writes the widget state of the map and its layers (the Earth Engine tile URLs included)
into a page that ``@jupyter-widgets/html-manager`` renders in any browser. By default that page loads require.js,
the html-manager and ``jupyter-leaflet`` from public CDNs. With ``assets=`` it loads them from a folder prepared by
:func:`copy_widget_assets` instead, for machines without internet access (CI, air-gapped servers); tile layers
then need only the tile server (the local engine).
"""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path
from typing import Any

from aef_ee.errors import AefIOError

__all__ = ["save_html", "copy_widget_assets", "jupyter_leaflet_dir"]

log = logging.getLogger(__name__)

# Files of an offline assets folder, relative to it.
REQUIRE_JS = "require.js"
HTML_MANAGER_JS = "embed-amd.js"
JUPYTER_LEAFLET = "jupyter-leaflet"

_OFFLINE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>{{title}}</title>
<script src="{assets}/{require_js}"></script>
<script>require.config({{{{paths: {{{{"jupyter-leaflet": "{assets}/{leaflet}/index"}}}}}}}});</script>
<style>body {{{{ margin: 0; }}}}</style>
</head>
<body>
{{snippet}}
</body>
</html>
"""


def jupyter_leaflet_dir() -> Path:
    """The installed ``jupyter-leaflet`` notebook extension (its ``index.js`` is an AMD module).

    Raises:
      AefIOError: ipyleaflet's front-end files are not installed.
    """
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("nbextensions", JUPYTER_LEAFLET):
        if (Path(folder) / "index.js").is_file():
            return Path(folder)
    raise AefIOError("jupyter-leaflet's notebook extension (index.js) is not installed in any Jupyter data path; "
                     "install ipyleaflet (pip install ipyleaflet)")


def copy_widget_assets(dest: str | Path, *, html_manager: str | Path, require_js: str | Path) -> Path:
    """Prepares an offline assets folder: require.js, the html-manager's ``embed-amd.js`` and jupyter-leaflet.

    Args:
      dest: the folder to fill (created if missing).
      html_manager: ``dist/embed-amd.js`` of the npm package ``@jupyter-widgets/html-manager`` (1.x for
        ipywidgets 8), plain or gzip-compressed (``.gz``).
      require_js: ``require.js`` of the npm package ``requirejs``, plain or ``.gz``.

    Returns:
      ``dest``, to pass as ``assets=`` to :func:`save_html` (as a URL relative to the page, or absolute).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for source, name in ((html_manager, HTML_MANAGER_JS), (require_js, REQUIRE_JS)):
        _copy_maybe_gzipped(Path(source), dest / name)
    target = dest / JUPYTER_LEAFLET
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(jupyter_leaflet_dir(), target)
    return dest


def _copy_maybe_gzipped(source: Path, target: Path) -> None:
    if not source.is_file():
        raise AefIOError(f"widget asset {str(source)!r} does not exist")
    partial = target.with_name(target.name + ".partial")
    if source.suffix == ".gz":
        with gzip.open(source, "rb") as src, open(partial, "wb") as out:
            shutil.copyfileobj(src, out)
    else:
        shutil.copyfile(source, partial)
    partial.replace(target)


def save_html(map_: Any, path: str | Path, *, assets: str | None = None, title: str = "aef-ee map",
              width: str = "100%", height: str = "600px", layer_control: bool = True) -> Path:
    """Writes ``map_`` (a ``geemap.Map``) as a standalone HTML page with geemap's ``to_html``.

    Args:
      map_: the map; its Earth Engine layers keep the tile URLs of the engine they were made with.
      path: the ``.html`` file to write.
      assets: None for the public CDNs; else the URL (relative to the page, or absolute) of a folder made by
        :func:`copy_widget_assets`.
      width, height: CSS size of the map in the page (height in px, as geemap requires).
      layer_control: add a layers control (geemap adds one to the map if it has none).

    Returns:
      The written path.
    """
    path = Path(path)
    if path.suffix != ".html":
        raise AefIOError(f"an HTML page needs a .html file name; got {str(path)!r}")
    kwargs: dict[str, Any] = {}
    if assets is not None:
        assets = assets.rstrip("/")
        kwargs = {"template": _OFFLINE_TEMPLATE.format(assets=assets, require_js=REQUIRE_JS, leaflet=JUPYTER_LEAFLET),
                  "embed_url": f"{assets}/{HTML_MANAGER_JS}", "requirejs": False}
    map_.to_html(str(path), title=title, width=width, height=height, add_layer_control=layer_control, **kwargs)
    if not path.is_file():
        raise AefIOError(f"geemap wrote no page at {str(path)!r} (check width/height: {width!r}, {height!r})")
    log.info("wrote %s", path)
    return path
