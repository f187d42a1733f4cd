"""Labels drawn on a map: GeoJSON geometries, each assigned to a named class, and their train/validation split.

Class names get integer codes in the order they first appear (0, 1, 2, ...), the values Earth Engine classifiers
train on and the classified image holds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from aef_ee.errors import AefValueError

__all__ = ["Label", "LabelSet", "LABEL_PROPERTY", "as_geometry_json"]

LABEL_PROPERTY = "class"
_GEOMETRY_TYPES = ("Point", "MultiPoint", "Polygon", "MultiPolygon")


@dataclasses.dataclass(frozen=True)
class Label:
    """One labelled geometry (GeoJSON dict in EPSG:4326, lon/lat degrees) and its class name."""

    geometry: dict[str, Any]
    class_name: str


def as_geometry_json(geometry: Any) -> dict[str, Any]:
    """A GeoJSON geometry dict from a geometry, a Feature (as ipyleaflet's draw control gives it) or an
    ``ee.Geometry`` (one small request).

    Raises:
      AefValueError: not a point or polygon geometry.
    """
    import ee

    if isinstance(geometry, ee.Geometry):
        geometry = geometry.getInfo()
    if isinstance(geometry, dict) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in _GEOMETRY_TYPES:
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise AefValueError(f"a label must be a point or polygon (GeoJSON {list(_GEOMETRY_TYPES)}); got {kind!r}")
    if not geometry.get("coordinates"):
        raise AefValueError(f"the {geometry['type']} has no coordinates")
    return {"type": geometry["type"], "coordinates": geometry["coordinates"]}


class LabelSet:
    """The labels of one explorer, in the order they were drawn."""

    def __init__(self) -> None:
        self.labels: list[Label] = []

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def class_names(self) -> list[str]:
        """Class names in code order (code = position)."""
        names: list[str] = []
        for label in self.labels:
            if label.class_name not in names:
                names.append(label.class_name)
        return names

    def code(self, class_name: str) -> int:
        return self.class_names.index(class_name)

    def add(self, geometry: Any, class_name: str) -> Label:
        """Adds a label; returns it. Raises AefValueError (and adds nothing) for a bad geometry or name."""
        if not isinstance(class_name, str) or not class_name.strip():
            raise AefValueError(f"a label needs a class name; got {class_name!r}")
        label = Label(as_geometry_json(geometry), class_name.strip())
        self.labels.append(label)
        return label

    def remove(self, index: int) -> Label:
        if not -len(self.labels) <= index < len(self.labels):
            raise AefValueError(f"no label {index}; there are {len(self.labels)}")
        return self.labels.pop(index)

    def clear(self) -> None:
        self.labels.clear()

    def split(self, *, validation_fraction: float, seed: int) -> tuple[list[Label], list[Label]]:
        """Stratified split: per class, ``floor(n * validation_fraction)`` random labels go to validation, always
        leaving at least one in training (so every class is trained on).

        Raises:
          AefValueError: fewer than two classes, or a fraction outside [0, 1).
        """
        if not 0 <= validation_fraction < 1:
            raise AefValueError(f"validation_fraction must be within [0, 1); got {validation_fraction!r}")
        names = self.class_names
        if len(names) < 2:
            raise AefValueError(f"labels have {len(names)} class(es) {names}; draw labels of at least two classes")
        rng = np.random.default_rng(seed)
        training: list[Label] = []
        validation: list[Label] = []
        for name in names:
            members = [label for label in self.labels if label.class_name == name]
            order = rng.permutation(len(members))
            held_out = min(int(len(members) * validation_fraction), len(members) - 1)
            validation += [members[i] for i in order[:held_out]]
            training += [members[i] for i in order[held_out:]]
        return training, validation

    def feature_collection(self, labels: list[Label] | None = None) -> Any:
        """``ee.FeatureCollection`` of ``labels`` (all by default) with the integer class in ``LABEL_PROPERTY``
        and the name in ``class_name``."""
        import ee

        chosen = self.labels if labels is None else labels
        return ee.FeatureCollection([
            ee.Feature(ee.Geometry(label.geometry), {LABEL_PROPERTY: self.code(label.class_name),
                                                     "class_name": label.class_name})
            for label in chosen])

    def geojson(self, colours: list[str]) -> dict[str, Any]:
        """All labels as a GeoJSON FeatureCollection whose features carry their class's hex ``colour``."""
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": label.geometry,
             "properties": {"class_name": label.class_name,
                            "colour": "#" + colours[self.code(label.class_name) % len(colours)]}}
            for label in self.labels]}
