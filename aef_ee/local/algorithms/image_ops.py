"""Per-pixel image operations: arithmetic, comparisons, boolean logic, math functions, masks, casts, reductions
over bands (projections and resampling: :mod:`aef_ee.local.algorithms.image_grids`).

Band matching follows Earth Engine: if either operand has one band it is used against every band of the other;
otherwise bands pair up in order and must be equally many. Output bands are named after the operand with more bands
(image1's names when equal). A result pixel is masked where either input is masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms import pixel_types
from aef_ee.local.algorithms.image import as_image, image_rename, select_by_names
from aef_ee.local.algorithms.pixel_types import binary_type, cast_type, cast_values, unary_type
from aef_ee.local.algorithms.reducer_kinds import Sum
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.geometry_raster import as_geometry, geometry_mask
from aef_ee.local.projection import DEFAULT_PROJECTION, Grid, Projection
from aef_ee.local.raster import (
    BandSpec,
    Image,
    PixelType,
    common_lattice,
    true_mask,
)
from aef_ee.local.values import Geometry

__all__ = ["binary_op", "unary_op", "masked_and"]


def masked_and(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.base is not None and a.strides == (0, 0) and bool(a.flat[0]):
        return b
    if b.base is not None and b.strides == (0, 0) and bool(b.flat[0]):
        return a
    return a & b


def _pick_projection(a: BandSpec, b: BandSpec) -> tuple[Projection, bool]:
    if a.is_default_projection and not b.is_default_projection:
        return b.projection, False
    return a.projection, a.is_default_projection and b.is_default_projection


def binary_op(
    name: str,
    image1: Any,
    image2: Any,
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    op: str | None = None,
    out_type: Callable[[BandSpec, BandSpec], PixelType] | None = None,
    mask_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Image:
    """A per-pixel operation on two images, matched band by band as Earth Engine matches them.

    Args:
      name: the algorithm's name, for error messages.
      image1, image2: images or numbers (constant images).
      fn: (values1, values2) -> values, on numpy arrays.
      op: the operator whose :mod:`pixel_types` rule gives the output type (``'divide'``...).
      out_type: instead of ``op``, a function of the two band specs giving the output type (operations that are
        not per-band arithmetic, such as normalizedDifference).
      mask_fn: (values1, values2) -> where the result is valid, combined with both inputs' masks; None for none.
    """
    if (op is None) == (out_type is None):
        raise TypeError("binary_op needs exactly one of op and out_type")
    a = as_image(image1)
    b = as_image(image2)
    na, nb = len(a.bands), len(b.bands)
    if na != nb and na != 1 and nb != 1:
        raise InvalidArgument(
            f"{name}: Images must contain the same number of bands or only 1 band. Got {na} and {nb}.")
    n = max(na, nb)
    names_from = a if na >= nb else b
    pairs = [(i if na > 1 else 0, i if nb > 1 else 0) for i in range(n)]
    specs = []
    for out_i, (ia, ib) in enumerate(pairs):
        sa, sb = a.bands[ia], b.bands[ib]
        proj, is_default = _pick_projection(sa, sb)
        ptype = binary_type(op, sa.pixel_type, sb.pixel_type) if op is not None else out_type(sa, sb)
        specs.append(BandSpec(names_from.bands[out_i].name, ptype, proj, None, is_default))

    def read(grid: Grid, wanted: Sequence[int]):
        need_a = sorted({pairs[w][0] for w in wanted})
        need_b = sorted({pairs[w][1] for w in wanted})
        px_a = dict(zip(need_a, a.compute(grid, need_a)))
        px_b = dict(zip(need_b, b.compute(grid, need_b)))
        out = []
        with np.errstate(all="ignore"):
            for w in wanted:
                (va, ma), (vb, mb) = px_a[pairs[w][0]], px_b[pairs[w][1]]
                target = specs[w].pixel_type.dtype
                if fn in _NARROWED_UFUNCS and target.kind in "iu":
                    # Integer sums, differences and products are computed in their output type, whose range holds
                    # every result, so nothing wraps: uint8 200 + 100 is 300, not 44.
                    work = target if np.can_cast(va.dtype, target) and np.can_cast(vb.dtype, target) else np.int64
                    va, vb = va.astype(work, copy=False), vb.astype(work, copy=False)
                values = _narrowing(fn, va, vb, target)
                if values is None:
                    values = fn(va, vb)
                    if values.dtype != target:
                        values = values.astype(target)
                mask = masked_and(ma, mb)
                if mask_fn is not None:
                    mask = masked_and(np.asarray(mask), np.broadcast_to(mask_fn(va, vb), values.shape))
                out.append((values, mask))
        return out

    footprint = a.footprint if a.footprint is not None else b.footprint
    # Every operation built here is pixel-wise: on a shared source lattice it may run at the source resolution.
    out = Image(specs, read, a.properties, footprint=footprint, pixelwise=common_lattice(a.pixelwise, b.pixelwise))
    out.operands = (op, a, b) if na == nb else None  # type: ignore[attr-defined]  # for fused forms (Image.reduce)
    return out


_NARROWED_UFUNCS = (np.add, np.subtract, np.multiply)


def _narrowing(fn: Callable, va: np.ndarray, vb: np.ndarray, target: np.dtype) -> np.ndarray | None:
    """``fn(va, vb).astype(target)`` for a float32 result computed in float64 (a float image and a double constant),
    written straight into the float32 output: the same values (each element is computed in float64 and rounded once)
    without a float64 temporary the size of the band, about a third faster. None for every other case."""
    if target != np.float32 or fn not in _NARROWED_UFUNCS:
        return None
    if np.result_type(va.dtype, vb.dtype) != np.float64:
        return None
    out = np.empty(np.broadcast_shapes(va.shape, vb.shape), np.float32)
    return fn(va, vb, out=out, dtype=np.float64, casting="unsafe")


def unary_op(image: Any, fn: Callable[[np.ndarray], np.ndarray], ptype: str | Callable[[PixelType], PixelType],
             mask_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> Image:
    """A per-pixel function of each band of ``image`` (or a number, as a constant image).

    Args:
      fn: values -> values, on numpy arrays.
      ptype: the operator whose :mod:`pixel_types` rule gives the output type (``'sqrt'``...), or a function of
        the input type (a cast's fixed type).
      mask_fn: (input values, output values) -> extra mask, or None.
    """
    src = as_image(image)
    type_of = (lambda p: unary_type(ptype, p)) if isinstance(ptype, str) else ptype
    specs = [BandSpec(b.name, type_of(b.pixel_type), b.projection, b.dimensions, b.is_default_projection)
             for b in src.bands]

    def read(grid: Grid, wanted: Sequence[int]):
        out = []
        with np.errstate(all="ignore"):
            for w, (v, m) in zip(wanted, src.compute(grid, wanted)):
                values = fn(v)
                target = specs[w].pixel_type.dtype
                mask = m if mask_fn is None else masked_and(m, mask_fn(v, values))
                out.append((np.asarray(values).astype(target, copy=False), mask))
        return out

    return _pixelwise(src.with_bands(specs, read), src)


def _pixelwise(image: Image, *sources: Image) -> Image:
    """``image``, marked pixel-wise on its sources' common lattice (for a pixel-wise operation on ``sources``)."""
    image.pixelwise = common_lattice(*(s.pixelwise for s in sources))
    return image


def _register_binary(op: str, fn) -> None:
    name = f"Image.{op}"

    def impl(image1: Any, image2: Any) -> Image:
        return binary_op(name, image1, image2, fn, op=op)

    impl.__name__ = f"image_{op}"
    algorithm(name)(impl)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True division (integers are not truncated), 0 where the divisor is 0 (Earth Engine's Image.divide)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(b.dtype, np.floating):
        a = a.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(a, b)
    return np.where(b == 0, 0, out)


def _pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.power(np.asarray(a, np.float64), b)


def _mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The remainder with the dividend's sign (Java's %), 0 where the divisor is 0."""
    safe = np.where(b == 0, 1, b)
    return np.where(b == 0, 0, np.fmod(a, safe))


def _ints(fn):
    return lambda a, b: fn(cast_values(np.asarray(a), _INT64), cast_values(np.asarray(b), _INT64))


def _left_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = cast_values(np.asarray(a), _INT64), cast_values(np.asarray(b), _INT64)
    i32 = np.iinfo(np.int32)
    return np.clip(np.left_shift(a64, np.clip(b64, 0, 31)), i32.min, i32.max)  # typed int32: clamped, not wrapped


def _right_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = cast_values(np.asarray(a), _INT64), cast_values(np.asarray(b), _INT64)
    return np.right_shift(a64, np.clip(b64, 0, 63))


_INT64 = PixelType.from_dtype(np.int64)

_register_binary("add", np.add)
_register_binary("subtract", np.subtract)
_register_binary("multiply", np.multiply)
_register_binary("divide", _divide)
_register_binary("pow", _pow)
_register_binary("mod", _mod)
_register_binary("min", np.minimum)
_register_binary("max", np.maximum)
_register_binary("atan2", np.arctan2)
_register_binary("hypot", np.hypot)
_register_binary("first", lambda a, b: a)
for _name, _fn in (("eq", np.equal), ("neq", np.not_equal), ("lt", np.less), ("lte", np.less_equal),
                   ("gt", np.greater), ("gte", np.greater_equal)):
    _register_binary(_name, _fn)
_register_binary("and", lambda a, b: (a != 0) & (b != 0))
_register_binary("or", lambda a, b: (a != 0) | (b != 0))
_register_binary("bitwiseAnd", _ints(np.bitwise_and))
_register_binary("bitwiseOr", _ints(np.bitwise_or))
_register_binary("bitwiseXor", _ints(np.bitwise_xor))
_register_binary("leftShift", _left_shift)
_register_binary("rightShift", _right_shift)


@algorithm("Image.firstNonZero")
def first_non_zero(image1: Any, image2: Any) -> Image:
    return binary_op("Image.firstNonZero", image1, image2, lambda va, vb: np.where(va != 0, va, vb),
                     op="firstNonZero")


# --- unary math ------------------------------------------------------------------------------------------

def _register_unary(name: str, fn) -> None:
    def impl(value: Any) -> Image:
        return unary_op(value, fn, name)

    impl.__name__ = f"image_{name}"
    algorithm(f"Image.{name}")(impl)


def _bitwise_not(v: np.ndarray) -> np.ndarray:
    return np.bitwise_not(cast_values(np.asarray(v), _INT64))


_register_unary("sqrt", np.sqrt)
_register_unary("exp", np.exp)
_register_unary("log", np.log)
_register_unary("log10", np.log10)
_register_unary("sin", np.sin)
_register_unary("cos", np.cos)
_register_unary("tan", np.tan)
_register_unary("asin", np.arcsin)
_register_unary("acos", np.arccos)
_register_unary("atan", np.arctan)
_register_unary("sinh", np.sinh)
_register_unary("cosh", np.cosh)
_register_unary("tanh", np.tanh)
_register_unary("cbrt", np.cbrt)
_register_unary("abs", np.abs)
_register_unary("signum", np.sign)
_register_unary("floor", np.floor)
_register_unary("ceil", np.ceil)
_register_unary("round", lambda v: np.where(v >= 0, np.floor(np.asarray(v, np.float64) + 0.5),
                                            -np.floor(-np.asarray(v, np.float64) + 0.5)))
_register_unary("not", lambda v: v == 0)
_register_unary("bitwiseNot", _bitwise_not)


@algorithm("Image.erf")
def image_erf(value: Any) -> Image:
    """Earth Engine's ``Image.erf``: the error function of every pixel, in (-1, 1).

    Args:
      value: an image (or a number, as a constant image); masks pass through unchanged.

    Returns:
      The same bands as float32 (float64 for double bands), lazily: pixels are computed when a grid is requested.
    """
    from scipy import special  # scipy is heavy; only this algorithm needs it here

    return unary_op(value, special.erf, "erf")


# --- casts -----------------------------------------------------------------------------------------------

# The cast algorithms' canonical names (Image.uint8, ...); Image.toUint8, Image.byte and the other spellings are
# registry aliases of these. Their types and value rules are pixel_types.CASTS / cast_values.
_CAST_ALGORITHMS = ("float", "double", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64")


def _register_cast(name: str) -> None:
    ptype = cast_type(name)

    def impl(value: Any) -> Image:
        return unary_op(value, lambda v: cast_values(v, ptype), lambda p: ptype)

    impl.__name__ = f"image_to_{name}"
    algorithm(f"Image.{name}")(impl)


for _cast in _CAST_ALGORITHMS:
    _register_cast(_cast)


@algorithm("Image.cast")
def image_cast(image: Any, bandTypes: dict[str, Any], bandOrder: Sequence[str] | None = None) -> Image:
    src = as_image(image)
    types = {}
    for name, spec in bandTypes.items():
        if isinstance(spec, dict):
            precision = spec.get("precision", "float")
            types[name] = PixelType(precision, spec.get("min"), spec.get("max")) if precision == "int" \
                else PixelType(precision)
        elif isinstance(spec, str):
            types[name] = cast_type(spec)
        else:
            raise InvalidArgument(f"Image.cast: Unknown pixel type {spec!r} for band '{name}'.")
    specs = [BandSpec(b.name, types.get(b.name, b.pixel_type), b.projection, b.dimensions, b.is_default_projection)
             for b in src.bands]

    def read(grid, wanted):
        return [(cast_values(v, specs[w].pixel_type), m) for w, (v, m) in zip(wanted, src.compute(grid, wanted))]

    return _pixelwise(src.with_bands(specs, read), src)


# --- masks -----------------------------------------------------------------------------------------------

@algorithm("Image.updateMask")
def update_mask(image: Any, mask: Any) -> Image:
    src, msk = as_image(image), as_image(mask)
    n, nm = len(src.bands), len(msk.bands)
    if nm != 1 and nm != n:
        raise InvalidArgument(
            f"Image.updateMask: The mask must have 1 band or as many bands as the image ({n}); it has {nm}.")

    def read(grid, wanted):
        mask_idx = sorted({w if nm > 1 else 0 for w in wanted})
        mpx = dict(zip(mask_idx, msk.compute(grid, mask_idx)))
        out = []
        for w, (v, m) in zip(wanted, src.compute(grid, wanted)):
            mv, mm = mpx[w if nm > 1 else 0]
            out.append((v, masked_and(m, masked_and(mm, mv != 0))))
        return out

    return src.with_bands(src.bands, read)


@algorithm("Image.mask")
def image_mask(image: Any, mask: Any = None) -> Image:
    src = as_image(image)
    if mask is not None:
        return update_mask(src, mask)
    specs = [BandSpec(b.name, PixelType("float"), b.projection, b.dimensions, b.is_default_projection)
             for b in src.bands]

    def read(grid, wanted):
        return [(np.asarray(m, np.float32), true_mask(grid.shape)) for _, m in src.compute(grid, wanted)]

    return src.with_bands(specs, read)


@algorithm("Image.selfMask")
def self_mask(image: Any) -> Image:
    return update_mask(image, image)


@algorithm("Image.unmask")
def unmask(input: Any, value: Any = None, sameFootprint: bool = True) -> Image:
    src = as_image(input)
    fill = as_image(0 if value is None else value)
    nf = len(fill.bands)
    if nf != 1 and nf != len(src.bands):
        raise InvalidArgument("Image.unmask: the value must have 1 band or as many bands as the input.")
    specs = []
    for i, b in enumerate(src.bands):
        fb = fill.bands[i if nf > 1 else 0]
        ptype = binary_type("unmask", b.pixel_type, fb.pixel_type)
        specs.append(BandSpec(b.name, ptype, b.projection, b.dimensions, b.is_default_projection))
    footprint = src.footprint

    def read(grid, wanted):
        fidx = sorted({w if nf > 1 else 0 for w in wanted})
        fpx = dict(zip(fidx, fill.compute(grid, fidx)))
        inside = _footprint_mask(footprint, grid) if sameFootprint and footprint is not None else None
        out = []
        for w, (v, m) in zip(wanted, src.compute(grid, wanted)):
            fv, fm = fpx[w if nf > 1 else 0]
            m = np.asarray(m)
            values = np.where(m, v, fv).astype(specs[w].pixel_type.dtype)
            mask = m | np.asarray(fm)
            if inside is not None:
                mask = mask & inside
            out.append((values, mask))
        return out

    return src.with_bands(specs, read)


def _footprint_mask(footprint: Any, grid: Grid) -> np.ndarray:
    return geometry_mask(Geometry(footprint, geodesic=False), grid)


@algorithm("Image.clip")
def clip(input: Any, geometry: Any) -> Image:
    src = as_image(input)
    geom = as_geometry(geometry)

    def read(grid, wanted):
        inside = geometry_mask(geom, grid)
        return [(v, masked_and(np.asarray(m), inside)) for v, m in src.compute(grid, wanted)]

    out = src.with_bands(src.bands, read)
    out.footprint = geom.in_crs("EPSG:4326") if src.footprint is None else geom.in_crs("EPSG:4326").intersection(
        src.footprint)
    return out


@algorithm("Image.where")
def where(input: Any, test: Any, value: Any) -> Image:
    src, tst, val = as_image(input), as_image(test), as_image(value)
    n = len(src.bands)
    for label, img in (("test", tst), ("value", val)):
        if len(img.bands) not in (1, n):
            raise InvalidArgument(f"Image.where: the {label} image must have 1 band or {n} bands.")
    specs = []
    for i, b in enumerate(src.bands):
        vb = val.bands[i if len(val.bands) > 1 else 0]
        ptype = binary_type("where", b.pixel_type, vb.pixel_type)
        specs.append(BandSpec(b.name, ptype, b.projection, b.dimensions, b.is_default_projection))

    def read(grid, wanted):
        out = []
        for w, (v, m) in zip(wanted, src.compute(grid, wanted)):
            tv, tm = tst.compute_band(grid, w if len(tst.bands) > 1 else 0)
            vv, vm = val.compute_band(grid, w if len(val.bands) > 1 else 0)
            take = (np.asarray(tv) != 0) & np.asarray(tm)
            values = np.where(take, vv, v).astype(specs[w].pixel_type.dtype)
            mask = np.where(take, vm, m)
            out.append((values, mask))
        return out

    return src.with_bands(specs, read)


# --- band-wise helpers -----------------------------------------------------------------------------------

@algorithm("Image.normalizedDifference")
def normalized_difference(input: Any, bandNames: Sequence[str] | None = None) -> Image:
    """Earth Engine's ``Image.normalizedDifference``: (first - second) / (first + second), band ``nd``.

    As documented: "the returned image band name is 'nd', the input image properties are not retained in the output
    image, and a negative pixel value in either input band will cause the output pixel to be masked". 0 where the
    sum is 0 (Image.divide's rule). Float, double for double inputs (pixel_types rule "math").
    """
    src = as_image(input)
    names = list(bandNames) if bandNames else src.band_names[:2]
    if len(names) != 2:
        raise InvalidArgument(f"Image.normalizedDifference: need exactly 2 bands; got {names}.")
    a = select_by_names(src, [names[0]])
    b = select_by_names(src, [names[1]])

    def nd(va, vb):
        va = np.asarray(va, np.float64)
        s = va + vb
        with np.errstate(all="ignore"):
            return np.where(s == 0, 0, (va - vb) / np.where(s == 0, 1, s))

    out = binary_op("Image.normalizedDifference", a, b, nd,
                    out_type=lambda x, y: unary_type("normalizedDifference",
                                                     pixel_types.union(x.pixel_type, y.pixel_type)),
                    mask_fn=lambda va, vb: (va >= 0) & (vb >= 0))
    return image_rename(out, ["nd"]).with_properties({})


@algorithm("Image.unitScale")
def unit_scale(input: Any, low: float, high: float) -> Image:
    span = float(high) - float(low)
    return unary_op(input, lambda v: (v - float(low)) / span if span else np.zeros_like(v, np.float32), "unitScale")


@algorithm("Image.clamp")
def clamp(input: Any, low: float, high: float) -> Image:
    return unary_op(input, lambda v: np.clip(v, low, high), "clamp")


@algorithm("Image.polynomial")
def polynomial(image: Any, coefficients: Sequence[float]) -> Image:
    coeffs = [float(c) for c in coefficients]

    def fn(v):
        out = np.zeros(v.shape, np.float64)
        for c in reversed(coeffs):
            out = out * v + c
        return out

    return unary_op(image, fn, lambda p: PixelType("double"))


@algorithm("Image.remap")
def remap(image: Any, from_: Sequence[Any] = None, to: Sequence[Any] = None, defaultValue: Any = None,
          bandName: str | None = None, **kwargs: Any) -> Image:
    src_values = kwargs.pop("from", from_)
    if kwargs or src_values is None or to is None:
        raise InvalidArgument("Image.remap: 'from' and 'to' are required.")
    if len(src_values) != len(to):
        raise InvalidArgument(f"Image.remap: 'from' has {len(src_values)} values but 'to' has {len(to)}.")
    src = as_image(image)
    src = select_by_names(src, [bandName]) if bandName else select_by_names(src, [0])
    lut_from = np.asarray(src_values, np.float64)
    lut_to = np.asarray(to, np.float64)
    is_int = all(float(t).is_integer() for t in to) and (defaultValue is None or float(defaultValue).is_integer())
    ptype = PixelType("int", int(min(lut_to.min(), defaultValue or lut_to.min())),
                      int(max(lut_to.max(), defaultValue or lut_to.max()))) if is_int else PixelType("double")
    band = src.bands[0]
    spec = BandSpec("remapped", ptype, band.projection, band.dimensions, band.is_default_projection)

    def read(grid, wanted):
        v, m = src.compute_band(grid, 0)
        order = np.argsort(lut_from)
        sf, st = lut_from[order], lut_to[order]
        pos = np.clip(np.searchsorted(sf, v), 0, len(sf) - 1)
        hit = sf[pos] == v
        values = np.where(hit, st[pos], 0 if defaultValue is None else defaultValue)
        mask = masked_and(np.asarray(m), hit) if defaultValue is None else m
        return [(values.astype(ptype.dtype), mask) for _ in wanted]

    return src.with_bands([spec], read)


# --- reductions over bands -------------------------------------------------------------------------------

@algorithm("Image.reduce")
def image_reduce(image: Any, reducer: Any) -> Image:
    """Applies a reducer across the bands of each pixel (masked bands are left out)."""
    src = as_image(image)
    names = reducer.output_names(["constant"]) if hasattr(reducer, "output_names") else [reducer.name]
    ptypes = reducer.output_types([b.pixel_type for b in src.bands]) if hasattr(reducer, "output_types") \
        else [PixelType("double")] * len(names)
    proj = next((b.projection for b in src.bands if not b.is_default_projection), DEFAULT_PROJECTION)
    is_default = all(b.is_default_projection for b in src.bands)
    specs = [BandSpec(n, t, proj, None, is_default) for n, t in zip(names, ptypes)]

    weighted = _weighted_bands(src) if type(reducer) is Sum else None

    def read(grid, wanted):
        if weighted is not None:
            image, weights = weighted
            bands = image.compute(grid)
            if all(_all_valid(m) for _, m in bands):
                total = _weighted_sum([v for v, _ in bands], weights, grid.shape)
                return [(total.astype(specs[w].pixel_type.dtype, copy=False), true_mask(grid.shape)) for w in wanted]
            # Masked bands: the products (as Image.multiply computes them), each left out where masked.
            with np.errstate(all="ignore"):
                pixels = [(np.multiply(v, weight, dtype=np.float64), m) for (v, m), weight in
                          zip(bands, weights, strict=True)]
        else:
            pixels = src.compute(grid)
        results = reducer.reduce_stack([v for v, _ in pixels], [m for _, m in pixels])
        return [(results[w][0].astype(specs[w].pixel_type.dtype, copy=False), results[w][1]) for w in wanted]

    return _pixelwise(src.with_bands(specs, read), src)  # a reduction over the bands of each pixel


def _all_valid(mask: np.ndarray) -> bool:
    mask = np.asarray(mask)
    return mask.ndim == 0 or (all(s == 0 for s in mask.strides) and bool(mask.flat[0]))


def _weighted_bands(image: Image) -> tuple[Image, np.ndarray] | None:
    """(x, w) when ``image`` is ``x.multiply(w)`` with w constant numbers, one per band of x (a weighted sum of
    bands, such as a similarity score: ``img.multiply(ee.Image.constant(v)).reduce(ee.Reducer.sum())``)."""
    operands = getattr(image, "operands", None)
    if operands is None or operands[0] != "multiply":
        return None
    _, a, b = operands
    for x, c in ((a, b), (b, a)):
        weights = getattr(c, "constant_values", None)
        if weights is not None and len(weights) == len(x.bands) == len(image.bands) \
                and all(band.pixel_type.precision == "double" for band in image.bands):
            return x, np.asarray(weights, np.float64)
    return None


# Pixels per chunk of the fused weighted sum: its two float64 temporaries (1 MiB) stay in the CPU's cache.
_WEIGHTED_SUM_CHUNK = 65536


def _weighted_sum(values: list[np.ndarray], weights: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """sum_k values[k] * weights[k] in float64, band by band in order (so exactly what multiplying each band by its
    double weight and summing the products gives), a cache-sized chunk of pixels at a time instead of one
    band-sized float64 temporary per band."""
    total = np.zeros(shape[0] * shape[1], np.float64)
    flats = [np.ascontiguousarray(np.broadcast_to(v, shape)).reshape(-1) for v in values]
    product = np.empty(_WEIGHTED_SUM_CHUNK, np.float64)
    for start in range(0, total.size, _WEIGHTED_SUM_CHUNK):
        stop = min(start + _WEIGHTED_SUM_CHUNK, total.size)
        part, tmp = total[start:stop], product[:stop - start]
        for flat, weight in zip(flats, weights, strict=True):
            tmp[:] = flat[start:stop]  # a plain conversion, then same-type arithmetic (no buffered casting)
            tmp *= weight
            part += tmp
    return total.reshape(shape)


@algorithm("Image.toArray")
def to_array(image: Any, axis: int = 0) -> Image:
    """A 1-D array per pixel holding the bands; represented here as the stacked bands (shape (H, W, n))."""
    src = as_image(image)
    if axis != 0:
        raise InvalidArgument(f"Image.toArray: only axis 0 is supported by the local engine; got {axis}.")
    base = src.bands[0] if src.bands else BandSpec("array", PixelType("double"))
    ptype = pixel_types.union(*[b.pixel_type for b in src.bands]) if src.bands else base.pixel_type
    spec = BandSpec("array", ptype, base.projection, base.dimensions, base.is_default_projection)

    def read(grid, wanted):
        pixels = src.compute(grid)
        values = np.stack([np.asarray(v, np.float64) for v, _ in pixels], axis=-1)
        mask = np.logical_and.reduce([np.asarray(m) for _, m in pixels])
        return [(values, mask) for _ in wanted]

    out = src.with_bands([spec], read)
    out.array_length = len(src.bands)  # type: ignore[attr-defined]
    return out


@algorithm("Image.arrayFlatten")
def array_flatten(image: Any, coordinateLabels: Sequence[Sequence[str]], separator: str = "_") -> Image:
    src = as_image(image)
    labels = list(coordinateLabels[0]) if coordinateLabels else []
    if len(coordinateLabels) > 1:
        names = [f"{a}{separator}{b}" for a in coordinateLabels[0] for b in coordinateLabels[1]]
    else:
        names = labels
    band = src.bands[0]
    specs = [BandSpec(n, band.pixel_type, band.projection, band.dimensions, band.is_default_projection)
             for n in names]

    def read(grid, wanted):
        values, mask = src.compute_band(grid, 0)
        flat = values.reshape(values.shape[:2] + (-1,))
        if flat.shape[-1] != len(names):
            raise InvalidArgument(
                f"Image.arrayFlatten: {len(names)} labels for arrays of {flat.shape[-1]} elements.")
        return [(flat[..., w].astype(band.pixel_type.dtype), mask) for w in wanted]

    return src.with_bands(specs, read)


@algorithm("Image.arrayDotProduct")
def array_dot_product(image1: Any, image2: Any) -> Image:
    a, b = as_image(image1), as_image(image2)
    spec = BandSpec("array", PixelType("double"), a.bands[0].projection, None, a.bands[0].is_default_projection)

    def read(grid, wanted):
        va, ma = a.compute_band(grid, 0)
        vb, mb = b.compute_band(grid, 0)
        return [((va * vb).sum(axis=-1), masked_and(np.asarray(ma), np.asarray(mb))) for _ in wanted]

    return a.with_bands([spec], read)
