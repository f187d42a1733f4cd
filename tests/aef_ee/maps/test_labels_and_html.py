"""The explorer's plain-Python parts: the label set and its stratified split, the legend and accuracy HTML, and the
argument checks of the HTML export."""

from __future__ import annotations

import importlib.metadata
import math
import sys

import pytest

from aef_ee.errors import AefIOError, AefValueError, BackendError
from aef_ee.maps import EmbeddingExplorer
from aef_ee.maps.html import jupyter_leaflet_script, save_html
from aef_ee.maps.labels import LabelSet
from aef_ee.maps.legend import accuracy_html, legend_html
from aef_ee.ops.classification import AccuracyReport


def _points(n: int) -> list[dict]:
    return [{"type": "Point", "coordinates": [float(i), 1.0]} for i in range(n)]


def test_classes_are_numbered_in_order_of_first_label():
    labels = LabelSet()
    for geometry, name in zip(_points(5), ["crops", "water", "crops", "trees", " water "]):
        labels.add(geometry, name)
    assert labels.class_names == ["crops", "water", "trees"]
    assert [labels.code(lab.class_name) for lab in labels.labels] == [0, 1, 0, 2, 1]
    # A Feature from the draw control gives its geometry.
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0],
                                                                                                   [1, 1], [0, 0]]]}}
    assert labels.add(feature, "crops").geometry["type"] == "Polygon"
    geojson = labels.geojson(["111111", "222222"])
    assert [f["properties"]["colour"] for f in geojson["features"]] == [
        "#111111", "#222222", "#111111", "#111111", "#222222", "#111111"]


def test_split_is_stratified_repeatable_and_keeps_a_training_label_per_class():
    labels = LabelSet()
    for i, geometry in enumerate(_points(23)):
        labels.add(geometry, "a" if i < 10 else "b" if i < 22 else "c")  # 10 a, 12 b, 1 c
    training, validation = labels.split(validation_fraction=0.3, seed=1)
    held = {name: sum(lab.class_name == name for lab in validation) for name in "abc"}
    assert held == {"a": 3, "b": 3, "c": 0}
    assert len(training) + len(validation) == 23
    assert {lab.class_name for lab in training} == {"a", "b", "c"}
    assert labels.split(validation_fraction=0.3, seed=1) == (training, validation)
    assert labels.split(validation_fraction=0.3, seed=2) != (training, validation)
    with pytest.raises(AefValueError, match="validation_fraction"):
        labels.split(validation_fraction=1.0, seed=1)


def test_one_class_cannot_be_split():
    labels = LabelSet()
    labels.add(_points(1)[0], "only")
    with pytest.raises(AefValueError, match="at least two"):
        labels.split(validation_fraction=0.3, seed=0)


def test_legend_and_accuracy_html():
    legend = legend_html("classes", {"crops": "4e79a7", "<water>": "#f28e2b"})
    assert "background:#4e79a7" in legend and "background:#f28e2b" in legend and "&lt;water&gt;" in legend
    report = AccuracyReport(order=[0, 1], matrix=[[3, 1], [0, 0]], overall=0.75, balanced=0.75, kappa=0.0,
                            producers={0: 0.75, 1: math.nan}, consumers={0: 1.0, 1: 0.0}, n=4)
    text = accuracy_html(report, {0: "crops", 1: "water"})
    assert "overall 75.0%" in text and "kappa 0.000" in text and "(n = 4)" in text
    assert "<td>crops</td><td>75.0%</td><td>100.0%</td><td>4</td>" in text
    assert "<td>water</td><td>n/a</td><td>0.0%</td><td>0</td>" in text


def test_html_export_checks_its_arguments(tmp_path):
    with pytest.raises(AefValueError, match=r"\.html"):
        save_html(object(), tmp_path / "map.png")
    with pytest.raises(AefValueError, match="both"):
        save_html(object(), tmp_path / "map.html", html_manager=tmp_path / "embed-amd.js")


def test_the_installed_jupyter_leaflet_script_is_found_without_jupyter_packages(monkeypatch):
    # jupyter_core comes with notebooks, not with the maps extra: the script is found through ipyleaflet's files.
    monkeypatch.setitem(sys.modules, "jupyter_core", None)
    monkeypatch.setitem(sys.modules, "jupyter_core.paths", None)
    script = jupyter_leaflet_script()
    assert script.name == "index.js" and script.parent.name == "jupyter-leaflet"
    assert "define(" in script.read_text(errors="replace")[:100_000]  # an AMD module


def test_the_jupyter_leaflet_script_missing_names_the_fix(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", absent)
    with pytest.raises(AefIOError, match=r'pip install "aef-ee\[maps\]"'):
        jupyter_leaflet_script()


@pytest.mark.parametrize("module", ["ipywidgets", "geemap"])
def test_the_explorer_without_the_maps_extra_names_the_install(module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # what a missing package looks like to import
    with pytest.raises(BackendError, match=rf"needs {module!r}.*pip install \"aef-ee\[maps\]\"") as caught:
        EmbeddingExplorer(years=[2021])
    assert isinstance(caught.value.__cause__, ImportError)
