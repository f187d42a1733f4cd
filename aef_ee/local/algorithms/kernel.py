"""``ee.Kernel``: neighbourhood kernels (shapes, distance kernels, edge detectors, fixed weights) and their algebra.

A :class:`Kernel` is a 2-D weight matrix with a focus (the cell over the output pixel). Kernels in ``'meters'`` are
sized when used: :meth:`Kernel.weights_for` takes the pixel size of the grid being computed, as Earth Engine resizes
them with the zoom level. The shapes follow the weight matrices printed on Earth Engine's apidocs pages (the
``ee-kernel-*`` examples), which fix the conventions below:

- ``square``/``rectangle``: (2 floor(r) + 1) cells a side. ``circle``: the cells within ``r`` of the focus
  (d <= r). ``diamond``: |dx| + |dy| <= r. ``cross``: the diagonals. ``plus``: the row and column of the focus.
  ``octagon``: |dx| + |dy| <= 1.5 r inside the square. These are boolean kernels, normalized to sum 1 by default.
- ``euclidean``/``manhattan``/``chebyshev``: the distance of each cell from the focus, over the whole square.
- ``gaussian``: exp(-d^2 / (2 sigma^2)) over the cells strictly within ``r`` (d < r; the page shows radius 3 as a
  5 x 5 matrix whose centre is 0.162), normalized by default.
- ``fixed``: the given weights; the focus defaults to (width // 2, height // 2) ("center is position [1,1]" for the
  2 x 2 Roberts kernel).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.semantics import number_arg

__all__ = ["Kernel", "as_kernel", "named_kernel", "BOOLEAN_SHAPES"]

_UNITS = ("pixels", "meters")


@dataclasses.dataclass(frozen=True)
class Kernel:
    """A kernel: weights (h, w) and focus (x, y), or a recipe building them from the radius in pixels.

    Attributes:
      name: Earth Engine's name (``'square'``...), for getInfo.
      build: (radius in pixels or None) -> (weights (h, w) float64, x, y).
      radius: the radius in ``units``; None for kernels of fixed size.
      units: 'pixels' or 'meters'.
    """

    name: str
    build: Callable[[float | None], tuple[np.ndarray, int, int]]
    radius: float | None = None
    units: str = "pixels"

    def weights_for(self, pixel_size_m: float | None = None) -> tuple[np.ndarray, int, int]:
        """(weights (h, w) float64, focus x, focus y) on a grid of ``pixel_size_m`` metres per pixel."""
        radius = self.radius
        if self.units == "meters":
            if pixel_size_m is None or not pixel_size_m > 0:
                raise InvalidArgument(f"Kernel.{self.name}: a kernel in meters needs the grid's pixel size.")
            radius = self.radius / pixel_size_m
        weights, x, y = self.build(radius)
        return weights, x, y

    def to_info(self) -> dict[str, Any]:
        weights, x, y = self.weights_for(1.0)
        info: dict[str, Any] = {"type": "Kernel", "name": self.name, "width": int(weights.shape[1]),
                                "height": int(weights.shape[0]), "x": int(x), "y": int(y),
                                "weights": weights.tolist()}
        if self.radius is not None:
            info["radius"] = self.radius
            info["units"] = self.units
        return info


def as_kernel(value: Any, name: str) -> Kernel:
    if not isinstance(value, Kernel):
        raise InvalidArgument(f"{name}: expected a Kernel; got {type(value).__name__}.")
    return value


def _fixed(weights: np.ndarray, x: int | None = None, y: int | None = None) -> Kernel:
    w = np.asarray(weights, np.float64)
    fx = w.shape[1] // 2 if x is None or x < 0 else int(x)
    fy = w.shape[0] // 2 if y is None or y < 0 else int(y)
    return Kernel("fixed", lambda _r, w=w, fx=fx, fy=fy: (w, fx, fy))


def _finish(weights: np.ndarray, normalize: bool, magnitude: float) -> np.ndarray:
    weights = weights.astype(np.float64)
    if normalize:
        total = weights.sum()
        if total != 0:
            weights = weights / total
    return weights * magnitude


def _offsets(half: int) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) of every cell of a (2 half + 1)^2 square, each (n, n)."""
    r = np.arange(-half, half + 1, dtype=np.float64)
    return np.meshgrid(r, r)


def _shape(test: Callable[[np.ndarray, np.ndarray, float], np.ndarray]):
    """A boolean kernel recipe: the cells of the square of half-size floor(r) for which ``test(dx, dy, r)``."""

    def build(radius: float | None) -> np.ndarray:
        half = int(math.floor(radius + 1e-9))
        dx, dy = _offsets(half)
        return test(dx, dy, radius)

    return build


BOOLEAN_SHAPES: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "square": lambda dx, dy, r: np.ones_like(dx, bool),
    "circle": lambda dx, dy, r: dx * dx + dy * dy <= r * r + 1e-9,
    "diamond": lambda dx, dy, r: np.abs(dx) + np.abs(dy) <= r + 1e-9,
    "cross": lambda dx, dy, r: np.abs(dx) == np.abs(dy),
    "plus": lambda dx, dy, r: (dx == 0) | (dy == 0),
    "octagon": lambda dx, dy, r: np.abs(dx) + np.abs(dy) <= 1.5 * r + 1e-9,
}
_DISTANCES = {
    "euclidean": lambda dx, dy: np.hypot(dx, dy),
    "manhattan": lambda dx, dy: np.abs(dx) + np.abs(dy),
    "chebyshev": lambda dx, dy: np.maximum(np.abs(dx), np.abs(dy)),
}


def _radius_arg(radius: Any, name: str) -> float:
    r = number_arg(radius, f"Kernel.{name}")
    if not r >= 0:
        raise InvalidArgument(f"Kernel.{name}: radius must be non-negative; got {radius!r}.")
    return float(r)


def _units_arg(units: Any, name: str) -> str:
    if units not in _UNITS:
        raise InvalidArgument(f"Kernel.{name}: units must be 'pixels' or 'meters'; got {units!r}.")
    return str(units)


def named_kernel(name: str, radius: float, units: str = "pixels", normalize: bool = True,
                 magnitude: float = 1.0) -> Kernel:
    """A boolean-shaped kernel by name (``'circle'``, ``'square'``, ...), as the focal operations build them."""
    if name not in BOOLEAN_SHAPES:
        raise InvalidArgument(f"Unknown kernel type {name!r}; expected one of {sorted(BOOLEAN_SHAPES)}.")
    radius = _radius_arg(radius, name)
    units = _units_arg(units, name)
    shape = _shape(BOOLEAN_SHAPES[name])

    def build(r: float | None) -> tuple[np.ndarray, int, int]:
        w = _finish(shape(r), normalize, magnitude)
        return w, w.shape[1] // 2, w.shape[0] // 2

    return Kernel(name, build, radius, units)


def _register_shape(name: str) -> None:
    def impl(radius: Any, units: str = "pixels", normalize: bool = True, magnitude: float = 1.0) -> Kernel:
        return named_kernel(name, radius, units, bool(normalize), float(magnitude))

    impl.__name__ = f"kernel_{name}"
    algorithm(f"Kernel.{name}")(impl)


for _name in BOOLEAN_SHAPES:
    _register_shape(_name)


def _register_distance(name: str) -> None:
    def impl(radius: Any, units: str = "pixels", normalize: bool = False, magnitude: float = 1.0) -> Kernel:
        r = _radius_arg(radius, name)

        def build(rp: float | None) -> tuple[np.ndarray, int, int]:
            half = int(math.floor(rp + 1e-9))
            dx, dy = _offsets(half)
            w = _finish(_DISTANCES[name](dx, dy), bool(normalize), float(magnitude))
            return w, half, half

        return Kernel(name, build, r, _units_arg(units, name))

    impl.__name__ = f"kernel_{name}"
    algorithm(f"Kernel.{name}")(impl)


for _name in _DISTANCES:
    _register_distance(_name)


@algorithm("Kernel.rectangle")
def rectangle(xRadius: Any, yRadius: Any, units: str = "pixels", normalize: bool = True,
              magnitude: float = 1.0) -> Kernel:
    rx, ry = _radius_arg(xRadius, "rectangle"), _radius_arg(yRadius, "rectangle")

    def build(r: float | None) -> tuple[np.ndarray, int, int]:
        scale = 1.0 if r is None or rx == 0 else r / rx  # meters -> pixels, by the x radius
        hx, hy = int(math.floor(rx * scale + 1e-9)), int(math.floor(ry * scale + 1e-9))
        w = _finish(np.ones((2 * hy + 1, 2 * hx + 1)), bool(normalize), float(magnitude))
        return w, hx, hy

    return Kernel("rectangle", build, rx, _units_arg(units, "rectangle"))


@algorithm("Kernel.gaussian")
def gaussian(radius: Any, sigma: float = 1.0, units: str = "pixels", normalize: bool = True,
             magnitude: float = 1.0) -> Kernel:
    r = _radius_arg(radius, "gaussian")
    s = number_arg(sigma, "Kernel.gaussian")
    if not s > 0:
        raise InvalidArgument(f"Kernel.gaussian: sigma must be positive; got {sigma!r}.")

    def build(rp: float | None) -> tuple[np.ndarray, int, int]:
        sigma_px = s * (rp / r) if r else s  # sigma is in the radius's units
        inside = rp - 1e-9
        half = max(0, int(math.ceil(inside)) - 1) if inside > 0 else 0
        dx, dy = _offsets(half)
        d2 = dx * dx + dy * dy
        w = np.where(d2 < inside * inside if half else True, np.exp(-d2 / (2 * sigma_px * sigma_px)), 0.0)
        return _finish(w, bool(normalize), float(magnitude)), half, half

    return Kernel("gaussian", build, r, _units_arg(units, "gaussian"))


@algorithm("Kernel.fixed")
def fixed(width: int = -1, height: int = -1, weights: Sequence[Sequence[float]] | None = None, x: int = -1,
          y: int = -1, normalize: bool = False) -> Kernel:
    if weights is None:
        raise InvalidArgument("Kernel.fixed: weights are required.")
    try:
        w = np.asarray(weights, np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Kernel.fixed: weights must be a rectangular 2-D list; got {weights!r}.") from None
    if w.ndim != 2 or w.size == 0:
        raise InvalidArgument(f"Kernel.fixed: weights must be a non-empty 2-D list; got shape {w.shape}.")
    if (width not in (-1, None) and int(width) != w.shape[1]) or (height not in (-1, None)
                                                                   and int(height) != w.shape[0]):
        raise InvalidArgument(f"Kernel.fixed: width x height {width} x {height} does not match the weights "
                              f"({w.shape[1]} x {w.shape[0]}).")
    x = -1 if x is None else int(x)
    y = -1 if y is None else int(y)
    if x >= w.shape[1] or y >= w.shape[0]:
        raise InvalidArgument(f"Kernel.fixed: the focus ({x}, {y}) is outside the {w.shape[1]} x {w.shape[0]} "
                              "weights.")
    return _fixed(_finish(w, bool(normalize), 1.0), x, y)


_EDGES = {
    "sobel": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "prewitt": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "roberts": [[1, 0], [0, -1]],
    "kirsch": [[5, -3, -3], [5, 0, -3], [5, -3, -3]],
    "compass": [[1, 1, -1], [1, -2, -1], [1, 1, -1]],
    "laplacian4": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "laplacian8": [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
}


def _register_edge(name: str) -> None:
    def impl(magnitude: float = 1.0, normalize: bool = False) -> Kernel:
        w = _finish(np.asarray(_EDGES[name], np.float64), bool(normalize), float(magnitude))
        kernel = _fixed(w)
        return dataclasses.replace(kernel, name=name)

    impl.__name__ = f"kernel_{name}"
    algorithm(f"Kernel.{name}")(impl)


for _name in _EDGES:
    _register_edge(_name)


@algorithm("Kernel.add")
def kernel_add(kernel1: Any, kernel2: Any, normalize: bool = False) -> Kernel:
    """Pointwise sum after aligning the foci (apidocs ee-kernel-add: a 7 x 7 plus a 3 x 3 gives 7 x 7)."""
    a, b = as_kernel(kernel1, "Kernel.add"), as_kernel(kernel2, "Kernel.add")

    def build(_r: float | None, size: float | None = None) -> tuple[np.ndarray, int, int]:
        (wa, xa, ya), (wb, xb, yb) = a.weights_for(size), b.weights_for(size)
        left, top = max(xa, xb), max(ya, yb)
        right = max(wa.shape[1] - xa, wb.shape[1] - xb)
        bottom = max(wa.shape[0] - ya, wb.shape[0] - yb)
        out = np.zeros((top + bottom, left + right))
        out[top - ya:top - ya + wa.shape[0], left - xa:left - xa + wa.shape[1]] += wa
        out[top - yb:top - yb + wb.shape[0], left - xb:left - xb + wb.shape[1]] += wb
        return _finish(out, bool(normalize), 1.0), left, top

    return _derived("add", build, a, b)


@algorithm("Kernel.rotate")
def kernel_rotate(kernel: Any, rotations: int) -> Kernel:
    """Rotated by ``rotations`` x 90 degrees clockwise (negative: counterclockwise), focus rotated with it."""
    k = as_kernel(kernel, "Kernel.rotate")
    turns = int(rotations) % 4

    def build(_r: float | None, size: float | None = None) -> tuple[np.ndarray, int, int]:
        w, x, y = k.weights_for(size)
        h, wd = w.shape
        for _ in range(turns):  # clockwise: (x, y) -> (h - 1 - y, x)
            w, x, y = np.rot90(w, -1), h - 1 - y, x
            h, wd = wd, h
        return np.ascontiguousarray(w), x, y

    return _derived("rotate", build, k)


@algorithm("Kernel.inverse")
def kernel_inverse(kernel: Any) -> Kernel:
    """Each weight inverted; zero weights stay zero (apidocs ee-kernel-inverse)."""
    k = as_kernel(kernel, "Kernel.inverse")

    def build(_r: float | None, size: float | None = None) -> tuple[np.ndarray, int, int]:
        w, x, y = k.weights_for(size)
        with np.errstate(divide="ignore"):
            return np.where(w != 0, 1.0 / np.where(w != 0, w, 1.0), 0.0), x, y

    return _derived("inverse", build, k)


def _derived(name: str, build: Callable[..., tuple[np.ndarray, int, int]], *parts: Kernel) -> Kernel:
    """A kernel computed from others: sized in metres when any part is (the parts see the same pixel size)."""
    metric = [p for p in parts if p.units == "meters"]
    if not metric:
        return Kernel(name, lambda r: build(r, None))
    # Pass the pixel size through the radius slot: radius 1 m -> 1 / pixel size.
    return Kernel(name, lambda r: build(None, 1.0 / r), 1.0, "meters")
