"""The explorer's handlers called directly (no browser) through the real ee client against the local engine, checked
against numpy and scikit-learn on the test embedding collection (real AlphaEarth vectors, int8-quantised)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from embedding_field import COLLECTION, CRS, LEFT, SIZE, TOP, pixels, region
from sklearn.neighbors import KNeighborsClassifier

from aef_ee import ops
from aef_ee.fields.collection import EMBEDDING_BANDS, dequantize_array
from aef_ee.errors import AefValueError, EmbeddingError
from aef_ee.maps import EmbeddingExplorer
from aef_ee.maps.labels import LABEL_PROPERTY

# Dynamic World names of the quadrant classes.
NAMES = {0: "water", 1: "trees", 4: "crops", 6: "built"}


@pytest.fixture()
def explorer(ee_emb, embedding_field):
    lon, lat = embedding_field.lonlat(SIZE // 2, SIZE // 2)
    return EmbeddingExplorer(collection=COLLECTION, years=[2023, 2024], region=region(ee_emb),
                             map_kwargs={"center": (lat, lon), "zoom": 16})


def _values(field, year: int) -> np.ndarray:
    """(SIZE, SIZE, 64) float64 de-quantised embeddings, as the engine computes them."""
    return dequantize_array(field.codes[year].transpose(1, 2, 0)).astype(np.float64)


def _layers(explorer) -> set[str]:
    return set(explorer.map.ee_layers)


def _point(field, row: int, col: int) -> dict:
    return {"type": "Point", "coordinates": list(field.lonlat(row, col))}


def test_year_selector_shows_that_years_embeddings(explorer, ee_emb, embedding_field):
    ee = ee_emb
    assert explorer.year == 2024
    assert "embeddings 2024" in _layers(explorer)
    got = np.stack([pixels(ee, explorer.embeddings, b) for b in ("A00", "A31", "A63")], axis=-1)
    np.testing.assert_allclose(got, _values(embedding_field, 2024)[..., [0, 31, 63]], rtol=1e-6)
    explorer.set_year(2023)
    assert explorer.year == 2023 and explorer._year_box.value == 2023
    assert "embeddings 2023" in _layers(explorer) and "embeddings 2024" not in _layers(explorer)
    np.testing.assert_allclose(pixels(ee, explorer.embeddings, "A05"), _values(embedding_field, 2023)[..., 5],
                               rtol=1e-6)
    # The dropdown drives the same handler.
    explorer._year_box.value = 2024
    assert explorer.year == 2024 and "embeddings 2024" in _layers(explorer)


def test_a_year_the_collection_lacks_changes_nothing(ee_emb, embedding_field):
    explorer = EmbeddingExplorer(collection=COLLECTION, years=[2022, 2024], region=region(ee_emb))
    before = _layers(explorer)
    with pytest.raises(EmbeddingError, match="no embeddings for 2022"):
        explorer.set_year(2022)
    assert explorer.year == 2024 and explorer._year_box.value == 2024
    assert _layers(explorer) == before
    assert explorer.status_level == "error" and "no embeddings for 2022" in explorer.status_message
    assert "no embeddings for 2022" in explorer.status.value
    # Picked in the year selector: reported, and the selector returns to the year on the map.
    explorer._year_box.value = 2022
    assert explorer.year == 2024 and explorer._year_box.value == 2024 and explorer.status_level == "error"


def test_click_to_search_and_threshold(explorer, ee_emb, embedding_field):
    ee = ee_emb
    values = _values(embedding_field, 2024)
    lon, lat = embedding_field.lonlat(25, 7)  # a south-west (crops) pixel
    reference = explorer.on_click(lon, lat)
    expected_ref = values[25, 7] / np.linalg.norm(values[25, 7])
    np.testing.assert_allclose(reference, expected_ref, atol=1e-6)
    assert "similarity" in _layers(explorer)
    expected = values @ expected_ref
    np.testing.assert_allclose(pixels(ee, explorer.search.image, "similarity"), expected, atol=1e-5)

    threshold = float(np.quantile(expected, 0.7))
    explorer.set_threshold(threshold)
    assert explorer._threshold_slider.value == pytest.approx(threshold, abs=0.01)
    shown = pixels(ee, explorer.similarity_layer_image().mask(), "similarity")
    decided = np.abs(expected - threshold) > 1e-5
    np.testing.assert_array_equal(shown[decided].astype(bool), (expected >= threshold)[decided])
    # Real crops embeddings are the most similar to a crops pixel: on this data the top 30 % holds 72 % of the
    # crops pixels (the south-west quadrant) and 16 % of the others.
    crops = embedding_field.classes[2024] == 4
    assert shown[crops].mean() > 0.6 and shown[~crops].mean() < 0.25

    # The slider drives the same handler.
    explorer._threshold_slider.value = 0.5
    assert explorer.threshold == 0.5
    with pytest.raises(AefValueError, match="within"):
        explorer.set_threshold(1.5)
    assert explorer.threshold == 0.5

    # Changing the year repeats the search at the same point, on that year's embeddings.
    explorer.set_year(2023)
    values_2023 = _values(embedding_field, 2023)
    ref_2023 = values_2023[25, 7] / np.linalg.norm(values_2023[25, 7])
    np.testing.assert_allclose(pixels(ee, explorer.search.image, "similarity"), values_2023 @ ref_2023, atol=1e-5)


def test_click_outside_the_embeddings_keeps_the_last_search(explorer, embedding_field):
    lon, lat = embedding_field.lonlat(5, 30)
    reference = explorer.on_click(lon, lat)
    layer = explorer.map.ee_layers["similarity"]["ee_layer"]
    with pytest.raises(EmbeddingError, match="outside"):
        explorer.on_click(10.0, 45.0)
    assert explorer.search.reference == reference
    assert explorer.map.ee_layers["similarity"]["ee_layer"] is layer
    assert explorer.status_level == "error" and "outside" in explorer.status_message
    # From the map (a browser click), the failure stops at the status line.
    explorer._on_interaction(type="click", coordinates=[45.0, 10.0])
    assert explorer.status_level == "error" and explorer.search.reference == reference


def _label_everything(explorer, field, rng, per_class: int = 8) -> None:
    classes = field.classes[2024]
    for code in np.unique(classes):
        rows, cols = np.nonzero(classes == code)
        for i in rng.choice(len(rows), per_class, replace=False):
            explorer.add_label(_point(field, rows[i], cols[i]), NAMES[int(code)])


def test_draw_to_label_train_and_classify_matches_scikit_learn(explorer, ee_emb, embedding_field):
    ee = ee_emb
    rng = np.random.default_rng(11)
    _label_everything(explorer, embedding_field, rng)
    # A drawn polygon (as the draw control sends it: a GeoJSON Feature) labelled through the widget path.
    west, north = embedding_field.lonlat(22, 2)
    east, south = embedding_field.lonlat(24, 4)
    polygon = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
        [west, north], [east, north], [east, south], [west, south], [west, north]]]}}
    explorer._class_name.value = "crops"
    explorer._on_draw(explorer._draw, "created", polygon)
    assert len(explorer.labels) == 3 * 8 + 1
    assert explorer.labels.labels[-1].class_name == "crops"
    assert explorer.labels.class_names == ["trees", "crops", "built"]  # 2024 has no water

    report = explorer.train(k=3, validation_fraction=0.3, seed=4)
    assert "classification" in _layers(explorer)
    for name in explorer.labels.class_names:
        assert name in explorer._legend_box.value
    assert "overall" in explorer._accuracy_box.value

    # scikit-learn on exactly the training pixels of the same split.
    training, validation = explorer.labels.split(validation_fraction=0.3, seed=4)
    embeddings = explorer.embeddings

    def table(labels):
        features = ops.sample_labels(embeddings, explorer.labels.feature_collection(labels),
                                     LABEL_PROPERTY).getInfo()["features"]
        x = np.array([[f["properties"][b] for b in EMBEDDING_BANDS] for f in features])
        return x, np.array([f["properties"][LABEL_PROPERTY] for f in features])

    x_train, y_train = table(training)
    assert len(y_train) >= len(training)  # a point gives one pixel, the polygon several
    knn = KNeighborsClassifier(n_neighbors=3).fit(x_train, y_train)
    values = _values(embedding_field, 2024)
    expected = knn.predict(values.reshape(-1, 64)).reshape(SIZE, SIZE)
    np.testing.assert_array_equal(pixels(ee, explorer.classification.image, "classification"), expected)
    x_val, y_val = table(validation)
    assert report.n == len(y_val) == len(validation)
    assert report.overall == pytest.approx(float((knn.predict(x_val) == y_val).mean()))
    assert explorer.status_level == "info"


def test_bad_labels_are_refused_and_change_nothing(explorer, embedding_field):
    rng = np.random.default_rng(3)
    with pytest.raises(AefValueError, match="point or polygon"):
        explorer.add_label({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "crops")
    with pytest.raises(AefValueError, match="class name"):
        explorer.add_label(_point(embedding_field, 1, 1), "  ")
    assert len(explorer.labels) == 0
    # From the draw control: an unnamed drawing is refused, shown, and not kept.
    explorer._on_draw(explorer._draw, "created", {"type": "Feature", "geometry": _point(embedding_field, 2, 2)})
    assert len(explorer.labels) == 0 and explorer.status_level == "error"

    for row in (3, 5, 7):
        explorer.add_label(_point(embedding_field, row, 3), "water")
    with pytest.raises(AefValueError, match="at least two"):
        explorer.train()
    assert explorer.classification is None and "classification" not in _layers(explorer)
    assert "at least two" in explorer.status_message

    _label_everything(explorer, embedding_field, rng, per_class=3)
    explorer.train(validation_fraction=0.0)
    first = explorer.classification
    assert first.report is None and "no accuracy table" in explorer._accuracy_box.value
    explorer.add_label({"type": "Point", "coordinates": [10.0, 45.0]}, "nowhere")
    with pytest.raises(AefValueError, match="no embedding samples"):
        explorer.train(validation_fraction=0.0)
    assert explorer.classification is first
    assert explorer.map.ee_layers["classification"]["ee_object"] is first.image


def test_cluster_panel(explorer, ee_emb, embedding_field):
    ee = ee_emb
    result = explorer.cluster(4, num_pixels=400, seed=5)
    assert "clusters" in _layers(explorer) and explorer._clusters_box.value == 4
    got = pixels(ee, explorer.clusters.image, "cluster")
    expected = pixels(ee, ops.cluster(explorer.embeddings, region(ee), n_clusters=4, num_pixels=400,
                                      seed=5).image, "cluster")
    np.testing.assert_array_equal(got, expected)
    assert set(np.unique(got)) <= {0, 1, 2, 3}
    assert len(np.unique(got)) == 4
    assert all(f"cluster {i}" in explorer._cluster_legend.value for i in range(4))
    with pytest.raises(AefValueError, match="at least 2"):
        explorer.cluster(1)
    assert explorer.clusters is result


def test_change_view_between_two_years(explorer, ee_emb, embedding_field):
    ee = ee_emb
    image = explorer.show_change(2023, 2024, threshold=0.8)
    a, b = _values(embedding_field, 2023), _values(embedding_field, 2024)
    similarity = np.sum(a * b, axis=-1)
    np.testing.assert_allclose(pixels(ee, image, "similarity"), similarity, atol=1e-5)
    changed = pixels(ee, image, "changed")
    decided = np.abs(similarity - 0.8) > 1e-5
    np.testing.assert_array_equal(changed[decided], (similarity < 0.8)[decided])
    # The north-west quadrant turned from water into built-up land; the rest kept their class.
    h = SIZE // 2
    assert changed[:h, :h].mean() > 0.9
    control = explorer.change.control
    assert control in explorer.map.controls
    assert (control.left_layer.name, control.right_layer.name) == ("embeddings 2023", "embeddings 2024")
    assert "change" in _layers(explorer)

    with pytest.raises(AefValueError, match="two different years"):
        explorer.show_change(2024, 2024)
    assert explorer.change.control is control and control in explorer.map.controls
    explorer.hide_change()
    assert control not in explorer.map.controls and "change" not in _layers(explorer)


def test_export_button_starts_the_drive_export(explorer, ee_emb, embedding_field):
    ee = ee_emb
    with pytest.raises(AefValueError, match="nothing to export"):
        explorer.export("classification")
    with pytest.raises(AefValueError, match="cannot export"):
        explorer.export("labels")
    assert explorer.task is None
    _label_everything(explorer, embedding_field, np.random.default_rng(5), per_class=4)
    explorer.train(validation_fraction=0.0)
    task = explorer.export("classification", description="explorer_classes", folder="aef-maps-tests", wait=True)
    assert task.status()["state"] == "COMPLETED"
    assert "explorer_classes: COMPLETED" in explorer._export_status.value
    path = embedding_field.root.parent / "drive" / "aef-maps-tests" / "explorer_classes.tif"
    with rasterio.open(path) as ds:
        assert ds.crs.to_string() == CRS
        assert tuple(ds.transform)[:6] == (10.0, 0.0, LEFT, 0.0, -10.0, TOP)
        assert (ds.width, ds.height) == (SIZE, SIZE)
        np.testing.assert_array_equal(ds.read(1), pixels(ee, explorer.classification.image, "classification"))
    # A region over maxPixels is refused before any task starts; the last task stays the explorer's.
    with pytest.raises(ee.EEException, match=r"Export too large: specified \d+ pixels \(max: 100\)"):
        explorer.export("classification", description="too_big", max_pixels=100)
    assert explorer.task is task and explorer.status_level == "error"


def test_panel_buttons_drive_the_handlers(explorer, embedding_field):
    _label_everything(explorer, embedding_field, np.random.default_rng(8), per_class=4)
    explorer._method.value = "min_distance"
    explorer._train_button.click()
    assert explorer.classification is not None and explorer.status_level == "info"
    assert "crops" in explorer._map_legend.widget.value  # the legend is on the map too
    trained = explorer.classification

    explorer._clusters_box.value = 3
    explorer._cluster_button.click()
    assert explorer.clusters.n_clusters == 3 and "cluster 2" in explorer._map_legend.widget.value

    explorer._change_a.value, explorer._change_b.value = 2023, 2024
    explorer._change_button.click()
    assert (explorer.change.year_a, explorer.change.year_b) == (2023, 2024)

    explorer._export_what.value = "clusters"
    explorer._export_button.click()
    explorer._watcher.join(timeout=120)
    assert not explorer._watcher.is_alive()
    assert explorer._export_status.value.endswith("COMPLETED")
    assert (embedding_field.root.parent / "drive" / "aef-ee" / "aef_ee_clusters_2024.tif").is_file()

    # A failing button: reported in the status line, nothing raised to the browser, the last result kept.
    explorer.clear_labels()
    explorer._train_button.click()
    assert explorer.status_level == "error" and "at least two" in explorer.status_message
    assert explorer.classification is trained


def test_search_everywhere_jumps_to_the_best_matches(ee_emb, embedding_field, tmp_path):
    from aef_ee.search import Sampling, build_index

    index = build_index(COLLECTION, years=[2023, 2024], sampling=Sampling("stride", 10), path=tmp_path / "index")
    lon, lat = embedding_field.lonlat(SIZE // 2, SIZE // 2)
    explorer = EmbeddingExplorer(collection=COLLECTION, years=[2023, 2024], region=region(ee_emb), index=index,
                                 map_kwargs={"center": (lat, lon), "zoom": 12})
    with pytest.raises(AefValueError, match="click the map"):
        explorer.search_everywhere()
    assert explorer.status_level == "error" and explorer.matches == []

    values = _values(embedding_field, 2024)
    reference = explorer.on_click(*embedding_field.lonlat(25, 7))  # a crops pixel
    hits = explorer.search_everywhere(k=5)
    # The exact top five of 2024 by numpy: the scores and the class they lie in.
    expected = np.sort((values / np.linalg.norm(values, axis=-1, keepdims=True)).reshape(-1, 64) @ reference)[::-1]
    np.testing.assert_allclose([h.score for h in hits], expected[:5], atol=2e-3)
    classes = embedding_field.classes[2024].ravel()
    assert all(h.year == 2024 and classes[h.row - SIZE * SIZE] == 4 for h in hits)
    # The map jumped to the best match and shows every match.
    assert tuple(explorer.map.center) == (hits[0].lat, hits[0].lon)
    assert explorer.map.zoom >= 15 and explorer.match == 0
    layer = explorer._matches_layer
    assert layer in explorer.map.layers and len(layer.layers) == 5
    assert "match 1 of 5" in explorer.status_message
    # "next match" walks the list and wraps around; the buttons drive the same handlers.
    assert explorer.goto_match() is hits[1] and tuple(explorer.map.center) == (hits[1].lat, hits[1].lon)
    explorer._next_match_button.click()
    assert explorer.match == 2
    explorer._everywhere_button.click()  # the button asks for the default ten
    assert explorer.match == 0 and len(explorer._matches_layer.layers) == 10
    with pytest.raises(AefValueError, match="does not exist"):
        explorer.goto_match(99)
    # Other years on request.
    both = explorer.search_everywhere(k=20, years=[2023, 2024])
    assert {h.year for h in both} == {2023, 2024}


def test_search_everywhere_needs_an_index(explorer, embedding_field):
    explorer.on_click(*embedding_field.lonlat(25, 7))
    with pytest.raises(AefValueError, match="no vector index"):
        explorer.search_everywhere()
    explorer._everywhere_button.click()  # from the panel: reported, not raised
    assert explorer.status_level == "error" and "index" in explorer.status_message
