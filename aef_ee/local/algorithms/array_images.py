"""Array images: per-pixel arrays (a band's values (H, W, *shape), as ``Image.toArray`` and the regression reducers'
``coefficients`` give them) projected, sliced, transposed, indexed and measured: ``Image.arrayProject``,
``arraySlice``, ``arrayTranspose``, ``arrayGet``, ``arrayLength``, ``arrayLengths``, ``arrayArgmax``.

Array axes are counted within the pixel's array (axis 0 is the first array axis, numpy axis 2 of the band). The
mask is the band's mask: one per pixel, whatever the array's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import BandSpec, Image, PixelType

__all__ = ["map_arrays"]

BandPixels = tuple[np.ndarray, np.ndarray]


def map_arrays(image: Any, name: str, fn: Callable[[np.ndarray], np.ndarray],
               ptype: Callable[[PixelType], PixelType] | None = None) -> Image:
    """Each band's per-pixel arrays through ``fn`` (values (H, W, *shape) -> (H, W, *new shape)); masks kept."""
    src = as_image(image)
    specs = [BandSpec(b.name, ptype(b.pixel_type) if ptype else b.pixel_type, b.projection, b.dimensions,
                      b.is_default_projection) for b in src.bands]

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        out = []
        for w, (v, m) in zip(wanted, src.compute(grid, wanted), strict=True):
            v = np.asarray(v)
            if v.ndim < 3:
                raise InvalidArgument(f"{name}: band '{src.bands[w].name}' does not hold arrays; make one with "
                                      "Image.toArray().")
            out.append((fn(v), m))
        return out

    return src.with_bands(specs, read)


def _axis(values: np.ndarray, axis: Any, name: str) -> int:
    dims = values.ndim - 2
    k = int(axis)
    if not -dims <= k < dims:
        raise InvalidArgument(f"{name}: array axis {axis} is out of range for arrays of {dims} dimensions.")
    return 2 + (k % dims)


@algorithm("Image.arrayProject")
def array_project(input: Any, axes: Sequence[int]) -> Image:
    """Keeps the listed array axes (in order); the dropped ones must be of length 1, as documented."""
    def fn(v: np.ndarray) -> np.ndarray:
        keep = [_axis(v, k, "Image.arrayProject") for k in axes]
        dropped = [k for k in range(2, v.ndim) if k not in keep]
        if any(v.shape[k] > 1 for k in dropped):
            raise InvalidArgument(f"Image.arrayProject: the dropped axes must have length 1; the arrays' shape is "
                                  f"{list(v.shape[2:])}.")
        moved = np.transpose(v, [0, 1] + keep + dropped)
        return moved.reshape(v.shape[:2] + tuple(v.shape[k] for k in keep))

    return map_arrays(input, "Image.arrayProject", fn)


@algorithm("Image.arraySlice")
def array_slice(input: Any, axis: int = 0, start: int | None = None, end: int | None = None,
                step: int = 1) -> Image:
    def fn(v: np.ndarray) -> np.ndarray:
        k = _axis(v, axis, "Image.arraySlice")
        index = [slice(None)] * v.ndim
        index[k] = slice(None if start is None else int(start), None if end is None else int(end), int(step))
        return v[tuple(index)]

    if int(step) == 0:
        raise InvalidArgument("Image.arraySlice: step must not be 0.")
    return map_arrays(input, "Image.arraySlice", fn)


@algorithm("Image.arrayTranspose")
def array_transpose(input: Any, axis1: int = 0, axis2: int = 1) -> Image:
    return map_arrays(input, "Image.arrayTranspose",
                      lambda v: np.swapaxes(v, _axis(v, axis1, "Image.arrayTranspose"),
                                            _axis(v, axis2, "Image.arrayTranspose")))


@algorithm("Image.arrayGet")
def array_get(image: Any, position: Any) -> Image:
    """For each band, the value at ``position`` of its arrays (a scalar band of the same name). The position is an
    image of one band per array axis (the client makes constant images of a list); the local engine takes constant
    positions."""
    if isinstance(position, Image):
        constants = getattr(position, "constant_values", None)
        if constants is None:
            from aef_ee.local.errors import Unimplemented

            raise Unimplemented("Image.arrayGet: the local engine takes constant positions (a list of numbers).")
        position = list(constants)

    def fn(v: np.ndarray) -> np.ndarray:
        pos = [int(p) for p in (position if isinstance(position, (list, tuple)) else [position])]
        if len(pos) != v.ndim - 2 or any(not 0 <= p < s for p, s in zip(pos, v.shape[2:], strict=True)):
            raise InvalidArgument(f"Image.arrayGet: position {pos} is outside arrays of shape {list(v.shape[2:])}.")
        return v[(slice(None), slice(None), *pos)]

    return map_arrays(image, "Image.arrayGet", fn)


@algorithm("Image.arrayLength")
def array_length(input: Any, axis: int) -> Image:
    """Each pixel's array length along ``axis`` (int)."""
    return map_arrays(input, "Image.arrayLength",
                      lambda v: np.full(v.shape[:2], v.shape[_axis(v, axis, "Image.arrayLength")], np.int64),
                      lambda p: PixelType.from_dtype(np.int32))


@algorithm("Image.arrayLengths")
def array_lengths(input: Any) -> Image:
    """A 1-D array per pixel: the length of each array axis."""
    return map_arrays(input, "Image.arrayLengths",
                      lambda v: np.broadcast_to(np.asarray(v.shape[2:], np.int64), v.shape[:2] + (v.ndim - 2,)),
                      lambda p: PixelType.from_dtype(np.int32))


@algorithm("Image.arrayArgmax")
def array_argmax(image: Any) -> Image:
    """The position (one index per array axis) of each pixel's maximum, the first one of equals."""
    def fn(v: np.ndarray) -> np.ndarray:
        flat = v.reshape(v.shape[:2] + (-1,))
        index = np.argmax(flat, axis=-1)
        return np.stack(np.unravel_index(index, v.shape[2:]), axis=-1).astype(np.int64)

    return map_arrays(image, "Image.arrayArgmax", fn, lambda p: PixelType.from_dtype(np.int32))
