"""Projection algorithms (``ee.Projection``): the constructor (also ``Proj``), its CRS, transform, WKT and nominal
scale, and the derived projections (``atScale``, ``scale``, ``translate``).

The values are :class:`aef_ee.local.projection.Projection`, a CRS code with an affine transform
(x scale, x shear, x offset, y shear, y scale, y offset; CRS units per pixel).
"""

from __future__ import annotations

from typing import Any

from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Projection, normalize_crs
from aef_ee.local.semantics import number_arg

__all__: list[str] = []  # a family module: its algorithms are reached through the registry


@algorithm("Projection")
def projection_constructor(crs: Any, transform: Any = None, transformWkt: Any = None) -> Projection:
    """A CRS with an affine transform (x scale, x shear, x offset, y shear, y scale, y offset); also ``Proj``."""
    if isinstance(crs, Projection):
        return crs if transform is None else Projection(crs.crs, tuple(transform))
    if transformWkt is not None:
        raise InvalidArgument("Projection: transformWkt is not supported by the local Earth Engine; use transform.")
    t = tuple(transform) if transform is not None else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    return Projection(normalize_crs(str(crs)), t)


@algorithm("Projection.atScale")
def projection_at_scale(projection: Projection, meters: float) -> Projection:
    return projection.at_scale(float(meters))


@algorithm("Projection.nominalScale")
def projection_nominal_scale(proj: Projection) -> float:
    return proj.nominal_scale


@algorithm("Projection.crs")
def projection_crs(projection: Projection) -> str:
    return projection.crs


@algorithm("Projection.transform")
def projection_transform(projection: Projection) -> str:
    a, b, c, d, e, f = projection.transform
    return (f'PARAM_MT["Affine", PARAMETER["num_row", 3], PARAMETER["num_col", 3], PARAMETER["elt_0_0", {a}], '
            f'PARAMETER["elt_0_1", {b}], PARAMETER["elt_0_2", {c}], PARAMETER["elt_1_0", {d}], '
            f'PARAMETER["elt_1_1", {e}], PARAMETER["elt_1_2", {f}]]')


@algorithm("Projection.wkt")
def projection_wkt(projection: Projection) -> str:
    return projection.wkt()


@algorithm("Projection.scale")
def projection_scale(projection: Projection, x: float, y: float) -> Projection:
    return projection.scaled(number_arg(x, "Projection.scale"), number_arg(y, "Projection.scale"))


@algorithm("Projection.translate")
def projection_translate(projection: Projection, x: float, y: float) -> Projection:
    a, b, c, d, e, f = projection.transform
    dx, dy = number_arg(x, "Projection.translate"), number_arg(y, "Projection.translate")
    return Projection(projection.crs, (a, b, c + dx, d, e, f + dy))
