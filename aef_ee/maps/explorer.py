"""The embedding explorer: a ``geemap.Map`` with a control panel for the embedding workflows.

Every control calls a plain method that tests (and scripts) call directly, without a browser:

===================================  =================================================================
control                              method
===================================  =================================================================
year selector                        :meth:`EmbeddingExplorer.set_year`
click on the map (search mode)       :meth:`EmbeddingExplorer.on_click`
threshold slider                     :meth:`EmbeddingExplorer.set_threshold`
draw a point or polygon (label mode) :meth:`EmbeddingExplorer.add_label` with the class name in the box
"train and classify" button          :meth:`EmbeddingExplorer.train`
"cluster" button                     :meth:`EmbeddingExplorer.cluster`
"compare years" button               :meth:`EmbeddingExplorer.show_change`
"export to Drive" button             :meth:`EmbeddingExplorer.export`
"search everywhere" button           :meth:`EmbeddingExplorer.search_everywhere` (needs ``index=``)
"next match" button                  :meth:`EmbeddingExplorer.goto_match`
===================================  =================================================================

Each method computes everything it needs before it changes any state or layer, so a failure (a year the collection
lacks, labels of one class, a click outside the embeddings) leaves the explorer as it was. The failure is logged,
shown in the status line, and raised to the caller; the widget callbacks, whose caller is the browser, stop after
the status line and the log.

The Earth Engine expressions come from :mod:`aef_ee.ops` and :mod:`aef_ee.fields`; this module only wires them to
widgets and layers.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aef_ee import ops
from aef_ee.backend import require_extra
from aef_ee.fields.collection import GOOGLE_EMBEDDINGS, NATIVE_SCALE_M, open_embeddings
from aef_ee.errors import AefError, AefValueError
from aef_ee.maps import styles
from aef_ee.maps.labels import LABEL_PROPERTY, LabelSet
from aef_ee.maps.legend import accuracy_html, legend_html

__all__ = ["EmbeddingExplorer", "EXPORTABLE"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Layer names on the map.
SIMILARITY_LAYER = "similarity"
CLASSIFICATION_LAYER = "classification"
CLUSTER_LAYER = "clusters"
CHANGE_LAYER = "change"
LABEL_LAYER = "labels"
MATCHES_LAYER = "matches"
# Zoom level the map jumps to on a match: a few hundred metres across, the scale of index cells.
MATCH_ZOOM = 15
# What :meth:`EmbeddingExplorer.export` can export: the result images the explorer holds.
EXPORTABLE = ("classification", "similarity", "clusters", "change")
# How often the export button's watcher asks for the task's state, seconds.
EXPORT_POLL_S = 2.0
_STATUS_COLOURS = {"info": "#333", "busy": "#555", "error": "#b00020"}


def _reported(action: str) -> Callable[[F], F]:
    """Shows ``action`` in the status line while the handler runs, then its outcome; logs and re-raises failures."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: EmbeddingExplorer, *args: Any, **kwargs: Any) -> Any:
            self._set_status(f"{action}...", "busy")
            try:
                result = method(self, *args, **kwargs)
            except AefError as exc:
                log.warning("%s failed: %s", action, exc)
                self._set_status(f"{action} failed: {exc}", "error")
                raise
            except Exception as exc:  # Earth Engine errors, bugs: keep the traceback in the log
                log.exception("%s failed", action)
                self._set_status(f"{action} failed: {type(exc).__name__}: {exc}", "error")
                raise
            if self.status_level == "busy":
                self._set_status(f"{action}: done", "info")
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


@dataclasses.dataclass
class _Search:
    """The current similarity search: where the user clicked and what it gave."""

    lon: float
    lat: float
    reference: list[float]
    image: Any  # ee.Image, band "similarity"


@dataclasses.dataclass
class _Classification:
    image: Any  # ee.Image, band "classification" (uint8 class codes)
    classifier: Any
    class_names: list[str]
    report: ops.AccuracyReport | None


@dataclasses.dataclass
class _Change:
    year_a: int
    year_b: int
    image: Any  # ee.Image with bands similarity, angle_deg, changed
    control: Any  # the ipyleaflet.SplitMapControl


class EmbeddingExplorer:
    """Interactive similarity search, labelling and classification, clustering, change and export on a map.

    Args:
      collection: the embedding ImageCollection ID (Google's by default, or one registered with aef-ee).
      years: the years the year selector offers; the last one is shown first.
      region: the area of interest (``ee.Geometry`` or [west, south, east, north] in degrees): tiles touching it are
        mosaicked, clustering samples it, exports cover it. None uses the whole collection and makes clustering
        and export ask for a region.
      map: an existing ``geemap.Map`` to use; by default a new one is made with ``map_kwargs``.
      scale: sampling scale in metres (the embeddings' native 10 m).
      map_kwargs: keyword arguments for ``geemap.Map`` (center, zoom, height, ...).
      index: a vector index of the collection (:class:`aef_ee.search.EmbeddingIndex` or its folder) for
        "search everywhere"; None leaves that button asking for one.

    Raises:
      EmbeddingError: the collection has no embeddings for the first year (over the region).
      BackendError: the ``maps`` extra is not installed (the message names ``pip install "aef-ee[maps]"``).
    """

    def __init__(
        self,
        *,
        collection: str = GOOGLE_EMBEDDINGS,
        years: Sequence[int],
        region: Any = None,
        map: Any = None,  # noqa: A002  (geemap's own word for it)
        scale: float = NATIVE_SCALE_M,
        map_kwargs: dict[str, Any] | None = None,
        index: Any = None,
    ) -> None:
        # Named here, before any widget is made: without the maps extra the first import deep inside would fail
        # with a bare ModuleNotFoundError.
        require_extra("maps", "the embedding explorer (aef_ee.maps.EmbeddingExplorer)",
                      ["ipywidgets", "ipyleaflet", "geemap"])
        import ipywidgets as widgets

        years = sorted({int(y) for y in years})
        if not years:
            raise AefValueError("years must name at least one year")
        self.collection = collection
        self.years = years
        self.region = _region(region)
        self.scale = scale
        self.labels = LabelSet()
        self.search: _Search | None = None
        self.threshold = 0.9
        self.classification: _Classification | None = None
        self.clusters: ops.clustering.ClusterResult | None = None
        self.change: _Change | None = None
        self.task: Any = None
        self.index = _open_index(index)
        self.matches: list[Any] = []  # aef_ee.search.Hit, best first
        self.match: int | None = None  # the match the map shows
        self.status_message = ""
        self.status_level = "info"
        self._watcher: threading.Thread | None = None

        self.status = widgets.HTML()
        self.year = years[-1]
        self.embeddings = self._open(self.year)
        self.map = map if map is not None else self._new_map(map_kwargs or {})
        self._build_panel()
        self._show_embeddings()
        self._set_status(f"{collection} {self.year}: click the map to search, or draw labels", "info")

    # ------------------------------------------------------------------------------------------------ display

    @property
    def widget(self) -> Any:
        """The map and the panel side by side (an ``ipywidgets.HBox``)."""
        return self._layout

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self._layout._repr_mimebundle_(**kwargs)

    def to_html(self, path: Any, **kwargs: Any) -> Any:
        """Saves the map with its layers as a standalone page (arguments of :func:`aef_ee.maps.html.save_html`)."""
        from aef_ee.maps.html import save_html

        return save_html(self.map, path, **kwargs)

    # ------------------------------------------------------------------------------------------------ handlers

    @_reported("change year")
    def set_year(self, year: int) -> None:
        """Shows the embeddings of ``year``; repeats the current search there; drops results of the old year."""
        year = int(year)
        embeddings = self._open(year)
        search = None
        if self.search is not None:
            search = self._search(embeddings, self.search.lon, self.search.lat)
        self.year, self.embeddings = year, embeddings
        self._show_embeddings()
        self._drop_results()
        if search is not None:
            self._show_search(search)
        self._sync(self._year_box, year)

    @_reported("similarity search")
    def on_click(self, lon: float, lat: float) -> list[float]:
        """Similarity to the embedding at (lon, lat): adds the layer ``similarity`` (pixels >= the threshold).

        Returns:
          The reference vector (64 floats, unit length).

        Raises:
          EmbeddingError: no valid embedding at that point.
        """
        search = self._search(self.embeddings, float(lon), float(lat))
        self._show_search(search)
        return search.reference

    @_reported("threshold")
    def set_threshold(self, threshold: float) -> None:
        """Shows only pixels whose similarity is at least ``threshold`` (in [-1, 1])."""
        threshold = float(threshold)
        if not -1.0 <= threshold <= 1.0:
            raise AefValueError(f"threshold must be within [-1, 1]; got {threshold!r}")
        self.threshold = threshold
        self._sync(self._threshold_slider, threshold)
        if self.search is not None:
            self._show_search(self.search)

    def similarity_layer_image(self) -> Any:
        """The image the similarity layer shows: similarity masked below the threshold."""
        if self.search is None:
            raise AefValueError("no similarity search yet: click the map (or call on_click)")
        return self.search.image.updateMask(self.search.image.gte(self.threshold))

    @_reported("search everywhere")
    def search_everywhere(self, *, k: int = 10, years: Sequence[int] | None = None) -> list[Any]:
        """The current search's best matches anywhere in the index: shows them and jumps to the best one.

        Args:
          k: matches to show.
          years: years to search (default: the year on the map).

        Returns:
          The index hits (:class:`aef_ee.search.Hit`), best first.

        Raises:
          AefValueError: no search yet (click the map first), or no index.
        """
        if self.search is None:
            raise AefValueError("no similarity search yet: click the map (or call on_click) first")
        if self.index is None:
            raise AefValueError("no vector index: create the explorer with index= (see `aef-ee index build`)")
        result = self.index.search(self.search.reference, k=int(k), years=list(years) if years else [self.year])
        if not result.hits:
            raise AefValueError(f"the index has no rows for years {list(years) if years else [self.year]}")
        self.matches = result.hits
        self._show_matches()
        self.goto_match(0)
        return result.hits

    @_reported("go to match")
    def goto_match(self, i: int | None = None) -> Any:
        """Centres the map on match ``i`` (default: the next one, wrapping around); returns that hit."""
        if not self.matches:
            raise AefValueError("no matches yet: search everywhere first")
        i = ((self.match + 1) if self.match is not None else 0) % len(self.matches) if i is None else int(i)
        if not 0 <= i < len(self.matches):
            raise AefValueError(f"match {i} does not exist; there are {len(self.matches)}")
        hit = self.matches[i]
        self.match = i
        self.map.center = (hit.lat, hit.lon)
        self.map.zoom = max(self.map.zoom, MATCH_ZOOM)
        self._set_status(f"match {i + 1} of {len(self.matches)}: similarity {hit.score:.3f}, {hit.year}, "
                         f"({hit.lon:.5f}, {hit.lat:.5f})", "info")
        return hit

    @_reported("add label")
    def add_label(self, geometry: Any, class_name: str) -> int:
        """Labels a drawn point or polygon (GeoJSON dict, Feature or ``ee.Geometry``) with ``class_name``.

        Returns:
          The integer code of the class (classes are numbered in the order they first appear).
        """
        label = self.labels.add(geometry, class_name)
        self._show_labels()
        return self.labels.code(label.class_name)

    @_reported("clear labels")
    def clear_labels(self) -> None:
        self.labels.clear()
        self._show_labels()

    @_reported("train and classify")
    def train(self, *, method: str = "knn", k: int = 3, validation_fraction: float = 0.3,
              seed: int = 0) -> ops.AccuracyReport | None:
        """Trains a classifier on the labels and shows the classified map, its legend and accuracy table.

        Per class, ``validation_fraction`` of the labels (never all) are held out for the accuracy table.

        Args:
          method: "knn" (default), "random_forest", "svm" or "min_distance" (see :func:`aef_ee.ops.train_classifier`).
          k: neighbours for kNN.
          validation_fraction: share of each class's labels kept for validation (0 = no accuracy table).
          seed: makes the split (and random forests) repeatable.

        Returns:
          The accuracy report, or None when no label was held out.

        Raises:
          AefValueError: labels of fewer than two classes; a class whose labels all lie outside the embeddings.
        """
        training, validation = self.labels.split(validation_fraction=validation_fraction, seed=seed)
        names = self.labels.class_names
        classifier, _ = ops.train_classifier(
            self.embeddings, self.labels.feature_collection(training), LABEL_PROPERTY, method=method, k=k,
            seed=seed, scale=self.scale)
        image = ops.classify(self.embeddings, classifier).toUint8()
        report = None
        if validation:
            samples = ops.sample_labels(self.embeddings, self.labels.feature_collection(validation), LABEL_PROPERTY,
                                        scale=self.scale)
            report = ops.accuracy_report(classifier, samples, LABEL_PROPERTY)
        self.classification = _Classification(image, classifier, names, report)
        self.map.add_layer(image, styles.class_vis(len(names)), CLASSIFICATION_LAYER)
        self._legend_box.value = legend_html(
            "classes", {name: styles.CLASS_PALETTE[i % len(styles.CLASS_PALETTE)] for i, name in enumerate(names)})
        self._show_map_legend(self._legend_box.value)
        self._accuracy_box.value = (accuracy_html(report, dict(enumerate(names))) if report is not None
                                    else "no validation labels held out: no accuracy table")
        return report

    @_reported("cluster")
    def cluster(self, n_clusters: int, *, num_pixels: int = 5000, seed: int = 0) -> ops.clustering.ClusterResult:
        """k-means with ``n_clusters`` on pixels sampled in the region; shows the cluster map and its legend."""
        result = ops.cluster(self.embeddings, self._need_region("clustering"), n_clusters=int(n_clusters),
                             num_pixels=num_pixels, scale=self.scale, seed=seed)
        self.clusters = result
        self.map.add_layer(result.image, styles.class_vis(int(n_clusters)), CLUSTER_LAYER)
        self._cluster_legend.value = legend_html("clusters", result.legend())
        self._show_map_legend(self._cluster_legend.value)
        self._sync(self._clusters_box, int(n_clusters))
        return result

    @_reported("compare years")
    def show_change(self, year_a: int, year_b: int, *, threshold: float = 0.8) -> Any:
        """A split map (year_a left, year_b right) and the layer ``change``: pixels whose embeddings' similarity
        between the two years is below ``threshold``.

        Returns:
          The change ``ee.Image`` (bands similarity, angle_deg, changed).
        """
        import ipyleaflet
        from geemap.ee_tile_layers import EELeafletTileLayer

        year_a, year_b = int(year_a), int(year_b)
        if year_a == year_b:
            raise AefValueError(f"pick two different years; got {year_a} twice")
        embeddings_a, embeddings_b = self._open(year_a), self._open(year_b)
        image = ops.change_image(embeddings_a, embeddings_b, threshold=threshold)
        left = EELeafletTileLayer(embeddings_a, styles.EMBEDDING_VIS, f"embeddings {year_a}")
        right = EELeafletTileLayer(embeddings_b, styles.EMBEDDING_VIS, f"embeddings {year_b}")
        self._hide_split()
        control = ipyleaflet.SplitMapControl(left_layer=left, right_layer=right)
        self.map.add(control)
        self.map.add_layer(image.select("changed").selfMask(), styles.CHANGE_VIS, CHANGE_LAYER)
        self.change = _Change(year_a, year_b, image, control)
        self._sync(self._change_a, year_a)
        self._sync(self._change_b, year_b)
        return image

    @_reported("close the year comparison")
    def hide_change(self) -> None:
        self._hide_split()
        self._remove_layer(CHANGE_LAYER)
        self.change = None

    @_reported("export")
    def export(self, what: str = "classification", *, description: str | None = None, folder: str = "aef-ee",
               wait: bool = False, max_pixels: float = 1e10) -> Any:
        """Starts a Drive export (Cloud-Optimised GeoTIFF, native CRS and scale, over the region) of a result.

        Args:
          what: one of "classification", "similarity", "clusters", "change".
          description: the task description and file name (default ``aef_ee_<what>_<year>``).
          folder: the Drive folder.
          wait: block until the task finishes (raises ExportError if it fails).
          max_pixels: Earth Engine's ``maxPixels`` for the export.

        Returns:
          The ``ee.batch.Task``.
        """
        image = self._exportable(what)
        region = self._need_region("export")
        description = description or f"aef_ee_{what}_{self.year}"
        task = ops.export_image_to_drive(image, region, description=description, folder=folder, scale=self.scale,
                                         max_pixels=max_pixels, wait_for=False, progress=False)
        self.task = task
        self.refresh_export_status()
        if wait:
            ops.wait(task, progress=False)
            self.refresh_export_status()
        return task

    def refresh_export_status(self) -> dict[str, Any]:
        """Asks Earth Engine for the export task's state and shows it; returns the task status."""
        if self.task is None:
            raise AefValueError("no export started")
        status = self.task.status()
        state = status.get("state", "UNKNOWN")
        text = f"{status.get('description', '')}: {state}"
        if status.get("error_message"):
            text += f" ({status['error_message']})"
        self._export_status.value = text
        return status

    # ------------------------------------------------------------------------------------------------ internals

    def _open(self, year: int) -> Any:
        if year not in self.years:
            raise AefValueError(f"year {year} is not one of the explorer's years {self.years}")
        return open_embeddings(year, self.region, collection=self.collection)

    def _search(self, embeddings: Any, lon: float, lat: float) -> _Search:
        import ee

        reference = ops.reference_vector(embeddings, ee.Geometry.Point([lon, lat]), scale=self.scale)
        return _Search(lon, lat, list(reference), ops.similarity(embeddings, reference))

    def _need_region(self, what: str) -> Any:
        if self.region is None:
            raise AefValueError(f"{what} needs a region: create the explorer with region=")
        return self.region

    def _exportable(self, what: str) -> Any:
        if what not in EXPORTABLE:
            raise AefValueError(f"cannot export {what!r}; choose one of {list(EXPORTABLE)}")
        if what == "classification" and self.classification is not None:
            return self.classification.image
        if what == "similarity" and self.search is not None:
            return self.search.image
        if what == "clusters" and self.clusters is not None:
            return self.clusters.image.toUint8()
        if what == "change" and self.change is not None:
            return self.change.image
        hint = {"classification": "train a classifier", "similarity": "click the map",
                "clusters": "run the clustering", "change": "compare two years"}[what]
        raise AefValueError(f"nothing to export for {what!r} yet: {hint} first")

    def _new_map(self, kwargs: dict[str, Any]) -> Any:
        import geemap

        options = {"toolbar_ctrl": False, "draw_ctrl": False, "search_ctrl": False, "measure_ctrl": False}
        options.update(kwargs)
        return geemap.Map(**options)

    def _show_embeddings(self) -> None:
        for name in [n for n in self.map.ee_layers if n.startswith("embeddings ")]:
            self.map.remove(name)
        self.map.add_layer(self.embeddings, styles.EMBEDDING_VIS, f"embeddings {self.year}")
        # Keep results above the embeddings.
        for name in (CLASSIFICATION_LAYER, CLUSTER_LAYER, SIMILARITY_LAYER, CHANGE_LAYER):
            if name in self.map.ee_layers:
                entry = self.map.ee_layers[name]
                self.map.add_layer(entry["ee_object"], entry["vis_params"], name)

    def _show_search(self, search: _Search) -> None:
        import ipyleaflet

        self.search = search
        self.map.add_layer(self.similarity_layer_image(), styles.SIMILARITY_VIS, SIMILARITY_LAYER)
        if self._marker is None:
            self._marker = ipyleaflet.CircleMarker(location=(search.lat, search.lon), radius=6, color="#ffffff",
                                                   fill_color="#000000", fill_opacity=1.0, name="reference")
            self.map.add(self._marker)
        else:
            self._marker.location = (search.lat, search.lon)

    def _show_matches(self) -> None:
        import ipyleaflet

        markers = [ipyleaflet.CircleMarker(location=(h.lat, h.lon), radius=7 if i else 9, color="#00e5ff",
                                           fill_color="#00e5ff", fill_opacity=0.6, weight=2,
                                           title=f"{i + 1}: {h.score:.3f}") for i, h in enumerate(self.matches)]
        if self._matches_layer is None:
            self._matches_layer = ipyleaflet.LayerGroup(layers=markers, name=MATCHES_LAYER)
            self.map.add(self._matches_layer)
        else:
            self._matches_layer.layers = markers

    def _show_labels(self) -> None:
        import ipyleaflet

        data = self.labels.geojson(styles.CLASS_PALETTE)
        if self._label_layer is None:
            self._label_layer = ipyleaflet.GeoJSON(
                data=data, name=LABEL_LAYER, point_style={"radius": 5, "fillOpacity": 1.0},
                style_callback=lambda feature: {"color": feature["properties"]["colour"],
                                                "fillColor": feature["properties"]["colour"], "fillOpacity": 0.4})
            self.map.add(self._label_layer)
        else:
            self._label_layer.data = data
        counts = {name: sum(1 for lab in self.labels.labels if lab.class_name == name)
                  for name in self.labels.class_names}
        self._labels_box.value = ", ".join(f"{name}: {n}" for name, n in counts.items()) or "no labels yet"

    def _show_map_legend(self, html_text: str) -> None:
        """The legend of the latest class or cluster layer, also on the map (so saved pages carry it)."""
        import ipyleaflet
        import ipywidgets as widgets

        if self._map_legend is None:
            self._map_legend = ipyleaflet.WidgetControl(widget=widgets.HTML(), position="bottomright")
            self.map.add(self._map_legend)
        self._map_legend.widget.value = html_text

    def _drop_results(self) -> None:
        """Results computed on another year's embeddings no longer match the map."""
        for name in (CLASSIFICATION_LAYER, CLUSTER_LAYER, SIMILARITY_LAYER):
            self._remove_layer(name)
        self.classification = None
        self.clusters = None
        self.search = None
        self._legend_box.value = self._accuracy_box.value = self._cluster_legend.value = ""
        if self._map_legend is not None:
            self.map.remove(self._map_legend)
            self._map_legend = None

    def _remove_layer(self, name: str) -> None:
        if name in self.map.ee_layers:
            self.map.remove(name)

    def _hide_split(self) -> None:
        if self.change is not None and self.change.control in self.map.controls:
            self.map.remove(self.change.control)

    def _set_status(self, message: str, level: str) -> None:
        import html

        self.status_message, self.status_level = message, level
        self.status.value = f'<span style="color:{_STATUS_COLOURS[level]}">{html.escape(message)}</span>'

    def _sync(self, widget: Any, value: Any) -> None:
        """Sets a control's value from code without running its callback again."""
        if widget.value != value:
            self._syncing = True
            try:
                widget.value = value
            finally:
                self._syncing = False

    # ------------------------------------------------------------------------------------------------ widgets

    def _build_panel(self) -> None:
        import ipyleaflet
        import ipywidgets as widgets

        self._syncing = False
        self._marker: Any = None
        self._label_layer: Any = None
        self._matches_layer: Any = None
        self._map_legend: Any = None
        small = widgets.Layout(width="260px")
        self._year_box = widgets.Dropdown(options=self.years, value=self.year, description="year", layout=small)
        self._mode = widgets.ToggleButtons(options=["search", "label"], value="search",
                                           tooltips=["a click searches similar pixels", "draw labels"])
        self._threshold_slider = widgets.FloatSlider(value=self.threshold, min=0.0, max=1.0, step=0.01,
                                                     description="threshold", layout=small)
        self._everywhere_button = widgets.Button(description="search everywhere",
                                                 tooltip="best matches of the clicked place in the vector index")
        self._next_match_button = widgets.Button(description="next match")
        self._class_name = widgets.Text(value="", placeholder="class of the next drawing", description="class",
                                        layout=small)
        self._labels_box = widgets.HTML("no labels yet")
        self._method = widgets.Dropdown(options=list(ops.classification.CLASSIFIERS), value="knn",
                                        description="classifier", layout=small)
        self._train_button = widgets.Button(description="train and classify")
        self._legend_box = widgets.HTML()
        self._accuracy_box = widgets.HTML()
        self._clusters_box = widgets.IntSlider(value=5, min=2, max=20, description="clusters", layout=small)
        self._cluster_button = widgets.Button(description="cluster")
        self._cluster_legend = widgets.HTML()
        other = self.years[-2] if len(self.years) > 1 else self.years[-1]
        self._change_a = widgets.Dropdown(options=self.years, value=other, description="from", layout=small)
        self._change_b = widgets.Dropdown(options=self.years, value=self.years[-1], description="to", layout=small)
        self._change_button = widgets.Button(description="compare years")
        self._export_what = widgets.Dropdown(options=list(EXPORTABLE), value="classification",
                                             description="export", layout=small)
        self._export_button = widgets.Button(description="export to Drive")
        self._export_status = widgets.HTML()

        self._year_box.observe(self._widget_call(self._year_picked), names="value")
        self._threshold_slider.observe(self._widget_call(lambda c: self.set_threshold(c["new"])), names="value")
        self._train_button.on_click(self._widget_call(lambda _: self.train(method=self._method.value)))
        self._cluster_button.on_click(self._widget_call(lambda _: self.cluster(self._clusters_box.value)))
        self._change_button.on_click(self._widget_call(
            lambda _: self.show_change(self._change_a.value, self._change_b.value)))
        self._export_button.on_click(self._widget_call(lambda _: self._export_and_watch()))
        self._everywhere_button.on_click(self._widget_call(lambda _: self.search_everywhere()))
        self._next_match_button.on_click(self._widget_call(lambda _: self.goto_match()))
        self.map.on_interaction(self._on_interaction)
        # Points (markers), rectangles and polygons; an empty dict switches a tool off.
        self._draw = ipyleaflet.DrawControl(marker={"shapeOptions": {}}, rectangle={"shapeOptions": {}},
                                            polygon={"shapeOptions": {}}, polyline={}, circle={}, circlemarker={})
        self._draw.on_draw(self._on_draw)
        self.map.add(self._draw)

        def section(title: str, *children: Any) -> Any:
            return widgets.VBox([widgets.HTML(f"<b>{title}</b>"), *children])

        self._panel = widgets.VBox([
            self._year_box, self._mode,
            section("similarity search", self._threshold_slider,
                    widgets.HBox([self._everywhere_button, self._next_match_button])),
            section("labels", self._class_name, self._labels_box, self._method, self._train_button,
                    self._legend_box, self._accuracy_box),
            section("clustering", self._clusters_box, self._cluster_button, self._cluster_legend),
            section("change", self._change_a, self._change_b, self._change_button),
            section("export", self._export_what, self._export_button, self._export_status),
            self.status,
        ], layout=widgets.Layout(width="300px"))
        self._layout = widgets.HBox([self.map, self._panel])

    def _widget_call(self, handler: Callable[[Any], Any]) -> Callable[[Any], None]:
        """A widget callback: runs ``handler`` unless the value was set by code; failures are already logged and
        shown in the status line by the handler, so they stop here instead of reaching the browser."""

        def callback(event: Any) -> None:
            if self._syncing:
                return
            try:
                handler(event)
            except Exception:
                pass

        return callback

    def _year_picked(self, change: dict[str, Any]) -> None:
        try:
            self.set_year(change["new"])
        except Exception:
            self._sync(self._year_box, self.year)  # the selector shows the year the map shows
            raise

    def _on_interaction(self, **event: Any) -> None:
        if event.get("type") != "click" or self._mode.value != "search":
            return
        lat, lon = event["coordinates"]
        self._widget_call(lambda _: self.on_click(lon, lat))(None)

    def _on_draw(self, _control: Any, action: str, geo_json: dict[str, Any]) -> None:
        if action != "created":
            return
        self._widget_call(lambda _: self.add_label(geo_json, self._class_name.value))(None)
        # The labels layer shows the labelled shapes in their class colours; the drawing itself is not kept.
        self._draw.clear()

    def _export_and_watch(self) -> None:
        self.export(self._export_what.value)
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(target=self._watch_export, name="aef-ee-export-watch", daemon=True)
            self._watcher.start()

    def _watch_export(self) -> None:
        import time

        while True:
            try:
                status = self.refresh_export_status()
            except Exception as exc:
                log.exception("export status")
                self._export_status.value = f"export status failed: {exc}"
                return
            if status.get("state") in ("COMPLETED", "SUCCEEDED", "FAILED", "CANCELLED"):
                return
            time.sleep(EXPORT_POLL_S)


def _open_index(index: Any) -> Any:
    if index is None:
        return None
    from aef_ee.search import EmbeddingIndex, open_index

    return index if isinstance(index, EmbeddingIndex) else open_index(index)


def _region(region: Any) -> Any:
    if region is None:
        return None
    import ee

    if isinstance(region, (list, tuple)) and len(region) == 4:
        return ee.Geometry.Rectangle([float(v) for v in region])
    if isinstance(region, (ee.Feature, ee.FeatureCollection)):
        return region.geometry()
    if isinstance(region, ee.ComputedObject):
        return ee.Geometry(region)
    raise AefValueError(f"region must be an ee.Geometry, Feature, FeatureCollection or [w, s, e, n]; got {region!r}")
