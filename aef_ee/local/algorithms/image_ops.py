"""Per-pixel image operations: arithmetic, comparisons, boolean logic, math functions, masks, casts, reductions
over bands, projections and resampling.

Band matching follows Earth Engine: if either operand has one band it is used against every band of the other;
otherwise bands pair up in order and must be equally many. Output bands are named after the operand with more bands
(image1's names when equal). A result pixel is masked where either input is masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image, image_rename, select_by_names
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.geometry_raster import as_geometry, geometry_mask, pixel_areas
from aef_ee.local.projection import DEFAULT_PROJECTION, Grid, Projection, covering_grid, normalize_crs, transformer
from aef_ee.local.raster import BandSpec, Image, PixelType, common_lattice, read_array_onto, true_mask, with_resampling
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


def _int_range(op: str, a: PixelType, b: PixelType) -> PixelType | None:
    """Earth Engine's integer result range for add/subtract/multiply (None: not an int result)."""
    if a.precision != "int" or b.precision != "int":
        return None
    lo1, hi1, lo2, hi2 = a.min, a.max, b.min, b.max
    if op == "add":
        return PixelType("int", lo1 + lo2, hi1 + hi2)
    if op == "subtract":
        return PixelType("int", lo1 - hi2, hi1 - lo2)
    if op == "multiply":
        corners = [lo1 * lo2, lo1 * hi2, hi1 * lo2, hi1 * hi2]
        return PixelType("int", min(corners), max(corners))
    return None


def binary_op(
    name: str,
    image1: Any,
    image2: Any,
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    out_type: Callable[[BandSpec, BandSpec], PixelType] | None = None,
    op: str = "",
) -> Image:
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
        if out_type is not None:
            ptype = out_type(sa, sb)
        else:
            ptype = _int_range(op, sa.pixel_type, sb.pixel_type) or _float_type(sa.pixel_type, sb.pixel_type)
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
                values = _narrowing(fn, va, vb, target)
                if values is None:
                    values = fn(va, vb)
                    if values.dtype != target:
                        values = values.astype(target)
                out.append((values, masked_and(ma, mb)))
        return out

    footprint = a.footprint if a.footprint is not None else b.footprint
    # Every operation built here is pixel-wise: on a shared source lattice it may run at the source resolution.
    return Image(specs, read, a.properties, footprint=footprint, pixelwise=common_lattice(a.pixelwise, b.pixelwise))


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


def _float_type(a: PixelType, b: PixelType) -> PixelType:
    if a.precision == "double" or b.precision == "double":
        # A double constant against a float image stays float: Earth Engine computes in float there too and it
        # keeps 64-band float32 images at half the memory.
        if a.precision == "float" or b.precision == "float":
            return PixelType("float")
        return PixelType("double")
    if a.precision == "float" or b.precision == "float":
        return PixelType("float")
    return PixelType("double")


def unary_op(image: Any, fn: Callable[[np.ndarray], np.ndarray], ptype: Callable[[PixelType], PixelType],
             mask_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> Image:
    src = as_image(image)
    specs = [BandSpec(b.name, ptype(b.pixel_type), b.projection, b.dimensions, b.is_default_projection)
             for b in src.bands]

    def read(grid: Grid, wanted: Sequence[int]):
        out = []
        with np.errstate(all="ignore"):
            for w, (v, m) in zip(wanted, src.compute(grid, wanted)):
                values = fn(v)
                target = specs[w].pixel_type.dtype
                mask = m if mask_fn is None else masked_and(m, mask_fn(v, values))
                out.append((values.astype(target, copy=False), mask))
        return out

    return _pixelwise(src.with_bands(specs, read), src)


def _pixelwise(image: Image, *sources: Image) -> Image:
    """``image``, marked pixel-wise on its sources' common lattice (for a pixel-wise operation on ``sources``)."""
    image.pixelwise = common_lattice(*(s.pixelwise for s in sources))
    return image


def _float_of(p: PixelType) -> PixelType:
    return PixelType("double") if p.precision == "double" else PixelType("float")


_BOOL = PixelType("int", 0, 1)


def _register_binary(op: str, fn, out_type=None) -> None:
    name = f"Image.{op}"

    def impl(image1: Any, image2: Any) -> Image:
        return binary_op(name, image1, image2, fn, out_type=out_type, op=op)

    impl.__name__ = f"image_{op}"
    algorithm(name)(impl)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Earth Engine returns 0 where the divisor is 0.
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        safe = np.where(b == 0, 1, b)
        return np.where(b == 0, 0, np.trunc(a / safe)).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(a, b)
    return np.where(b == 0, 0, out)


def _divide_type(a: BandSpec, b: BandSpec) -> PixelType:
    pa, pb = a.pixel_type, b.pixel_type
    if pa.precision == "int" and pb.precision == "int":
        bound = max(abs(pa.min), abs(pa.max))
        return PixelType("int", -bound, bound)
    return _float_type(pa, pb)


def _pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.power(np.asarray(a, np.float64) if np.issubdtype(a.dtype, np.integer) else a, b)


def _mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    safe = np.where(b == 0, 1, b)
    return np.where(b == 0, 0, np.fmod(a, safe))


def _minmax_type(a: BandSpec, b: BandSpec) -> PixelType:
    pa, pb = a.pixel_type, b.pixel_type
    if pa.precision == "int" and pb.precision == "int":
        return PixelType("int", min(pa.min, pb.min), max(pa.max, pb.max))
    return _float_type(pa, pb)


def _float_result(a: BandSpec, b: BandSpec) -> PixelType:
    return _float_type(_float_of(a.pixel_type), _float_of(b.pixel_type))


def _bitwise_type(a: BandSpec, b: BandSpec) -> PixelType:
    return _minmax_type(a, b) if a.pixel_type.precision == "int" else PixelType("int", -(2**31), 2**31 - 1)


def _ints(fn):
    return lambda a, b: fn(np.asarray(a).astype(np.int64), np.asarray(b).astype(np.int64))


_register_binary("add", np.add)
_register_binary("subtract", np.subtract)
_register_binary("multiply", np.multiply)
_register_binary("divide", _divide, _divide_type)
_register_binary("pow", _pow, _float_result)
_register_binary("mod", _mod, _minmax_type)
_register_binary("min", np.minimum, _minmax_type)
_register_binary("max", np.maximum, _minmax_type)
_register_binary("atan2", np.arctan2, _float_result)
_register_binary("hypot", np.hypot, _float_result)
_register_binary("first", lambda a, b: a, lambda a, b: a.pixel_type)
for _name, _fn in (("eq", np.equal), ("neq", np.not_equal), ("lt", np.less), ("lte", np.less_equal),
                   ("gt", np.greater), ("gte", np.greater_equal)):
    _register_binary(_name, _fn, lambda a, b: _BOOL)
_register_binary("and", lambda a, b: (a != 0) & (b != 0), lambda a, b: _BOOL)
_register_binary("or", lambda a, b: (a != 0) | (b != 0), lambda a, b: _BOOL)
_register_binary("bitwiseAnd", _ints(np.bitwise_and), _bitwise_type)
_register_binary("bitwiseOr", _ints(np.bitwise_or), _bitwise_type)
_register_binary("bitwiseXor", _ints(np.bitwise_xor), _bitwise_type)
_register_binary("leftShift", _ints(np.left_shift), lambda a, b: PixelType("int", -(2**31), 2**31 - 1))
_register_binary("rightShift", _ints(np.right_shift), lambda a, b: a.pixel_type)


@algorithm("Image.firstNonZero")
def first_non_zero(image1: Any, image2: Any) -> Image:
    a, b = as_image(image1), as_image(image2)

    def fn(va, vb):
        return np.where(va != 0, va, vb)

    img = binary_op("Image.firstNonZero", a, b, fn, out_type=_minmax_type)
    return img


# --- unary math ------------------------------------------------------------------------------------------

def _register_unary(name: str, fn, ptype=_float_of) -> None:
    def impl(value: Any) -> Image:
        return unary_op(value, fn, ptype)

    impl.__name__ = f"image_{name}"
    algorithm(f"Image.{name}")(impl)


def _same(p: PixelType) -> PixelType:
    return p


def _abs_type(p: PixelType) -> PixelType:
    if p.precision != "int":
        return p
    return PixelType("int", 0 if p.min >= 0 or p.max >= 0 else abs(p.max), max(abs(p.min), abs(p.max)))


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
_register_unary("abs", np.abs, _abs_type)
_register_unary("signum", np.sign, lambda p: PixelType("int", -1, 1) if p.precision == "int" else p)
_register_unary("floor", np.floor, _same)
_register_unary("ceil", np.ceil, _same)
_register_unary("round", np.round, _same)
_register_unary("not", lambda v: v == 0, lambda p: _BOOL)
_register_unary("bitwiseNot", lambda v: np.bitwise_not(np.asarray(v).astype(np.int64)), lambda p: p)


@algorithm("Image.erf")
def image_erf(value: Any) -> Image:
    """Earth Engine's ``Image.erf``: the error function of every pixel, in (-1, 1).

    Args:
      value: an image (or a number, as a constant image); masks pass through unchanged.

    Returns:
      The same bands as float32 (float64 for double bands), lazily: pixels are computed when a grid is requested.
    """
    from scipy import special  # scipy is heavy; only this algorithm needs it here

    return unary_op(value, special.erf, _float_of)


# --- casts -----------------------------------------------------------------------------------------------

_CASTS = {
    "Float": PixelType("float"), "Double": PixelType("double"),
    "Int8": PixelType.from_dtype(np.int8), "Uint8": PixelType.from_dtype(np.uint8),
    "Byte": PixelType.from_dtype(np.uint8), "Int16": PixelType.from_dtype(np.int16),
    "Short": PixelType.from_dtype(np.int16), "Uint16": PixelType.from_dtype(np.uint16),
    "Int32": PixelType.from_dtype(np.int32), "Int": PixelType.from_dtype(np.int32),
    "Uint32": PixelType.from_dtype(np.uint32), "Int64": PixelType.from_dtype(np.int64),
    "Long": PixelType.from_dtype(np.int64),
}


def cast_values(values: np.ndarray, ptype: PixelType) -> np.ndarray:
    """Earth Engine's cast: floats to ints truncate toward zero and clamp to the type's range."""
    if ptype.precision != "int":
        return values.astype(ptype.dtype, copy=False)
    v = np.asarray(values)
    if np.issubdtype(v.dtype, np.floating):
        v = np.trunc(np.nan_to_num(v))
    return np.clip(v, ptype.min, ptype.max).astype(ptype.dtype)


# The cast algorithms' canonical names (Image.uint8, ...); Image.toUint8, Image.byte and the other spellings are
# registry aliases of these.
_CAST_ALGORITHMS = ("Float", "Double", "Int8", "Uint8", "Int16", "Uint16", "Int32", "Uint32", "Int64")


def _register_cast(suffix: str, ptype: PixelType) -> None:
    def impl(value: Any) -> Image:
        return unary_op(value, lambda v: cast_values(v, ptype), lambda p: ptype)

    impl.__name__ = f"image_to_{suffix.lower()}"
    algorithm(f"Image.{suffix.lower()}")(impl)


for _suffix in _CAST_ALGORITHMS:
    _register_cast(_suffix, _CASTS[_suffix])


@algorithm("Image.cast")
def image_cast(image: Any, bandTypes: dict[str, Any], bandOrder: Sequence[str] | None = None) -> Image:  # noqa: N803
    src = as_image(image)
    types = {}
    for name, spec in bandTypes.items():
        if isinstance(spec, dict):
            precision = spec.get("precision", "float")
            types[name] = PixelType(precision, spec.get("min"), spec.get("max")) if precision == "int" \
                else PixelType(precision)
        elif isinstance(spec, str) and spec[:1].upper() + spec[1:] in _CASTS:
            types[name] = _CASTS[spec[:1].upper() + spec[1:]]
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
def unmask(input: Any, value: Any = None, sameFootprint: bool = True) -> Image:  # noqa: A002,N803
    src = as_image(input)
    fill = as_image(0 if value is None else value)
    nf = len(fill.bands)
    if nf != 1 and nf != len(src.bands):
        raise InvalidArgument("Image.unmask: the value must have 1 band or as many bands as the input.")
    specs = []
    for i, b in enumerate(src.bands):
        fb = fill.bands[i if nf > 1 else 0]
        ptype = _minmax_type(b, fb) if (b.pixel_type.precision == "int" and fb.pixel_type.precision == "int") \
            else (b.pixel_type if b.pixel_type.precision != "int" else _float_type(b.pixel_type, fb.pixel_type))
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
def clip(input: Any, geometry: Any) -> Image:  # noqa: A002
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
def where(input: Any, test: Any, value: Any) -> Image:  # noqa: A002
    src, tst, val = as_image(input), as_image(test), as_image(value)
    n = len(src.bands)
    for label, img in (("test", tst), ("value", val)):
        if len(img.bands) not in (1, n):
            raise InvalidArgument(f"Image.where: the {label} image must have 1 band or {n} bands.")
    specs = []
    for i, b in enumerate(src.bands):
        vb = val.bands[i if len(val.bands) > 1 else 0]
        ptype = _minmax_type(b, vb)
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
def normalized_difference(input: Any, bandNames: Sequence[str] | None = None) -> Image:  # noqa: A002,N803
    src = as_image(input)
    names = list(bandNames) if bandNames else src.band_names[:2]
    if len(names) != 2:
        raise InvalidArgument(f"Image.normalizedDifference: need exactly 2 bands; got {names}.")
    a = select_by_names(src, [names[0]])
    b = select_by_names(src, [names[1]])

    def nd(va, vb):
        va = va.astype(np.float32) if va.dtype != np.float64 else va
        s = va + vb
        with np.errstate(all="ignore"):
            return np.where(s == 0, 0, (va - vb) / np.where(s == 0, 1, s))

    out = binary_op("Image.normalizedDifference", a, b, nd, out_type=lambda x, y: PixelType("float"))
    return image_rename(out, ["nd"])


@algorithm("Image.unitScale")
def unit_scale(input: Any, low: float, high: float) -> Image:  # noqa: A002
    span = float(high) - float(low)
    return unary_op(input, lambda v: (v - float(low)) / span if span else np.zeros_like(v, np.float32), _float_of)


@algorithm("Image.clamp")
def clamp(input: Any, low: float, high: float) -> Image:  # noqa: A002
    return unary_op(input, lambda v: np.clip(v, low, high), lambda p: p)


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
def remap(image: Any, from_: Sequence[Any] = None, to: Sequence[Any] = None, defaultValue: Any = None,  # noqa: N803
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

    def read(grid, wanted):
        pixels = src.compute(grid)
        results = reducer.reduce_stack([v for v, _ in pixels], [m for _, m in pixels])
        return [(results[w][0].astype(specs[w].pixel_type.dtype, copy=False), results[w][1]) for w in wanted]

    return _pixelwise(src.with_bands(specs, read), src)  # a reduction over the bands of each pixel


# --- projections and resampling --------------------------------------------------------------------------

def _projection_arg(crs: Any, crsTransform: Any = None, scale: Any = None) -> Projection:  # noqa: N803
    if isinstance(crs, Projection):
        proj = crs
    else:
        proj = Projection(normalize_crs(str(crs)))
    if crsTransform is not None:
        if len(crsTransform) != 6:
            raise InvalidArgument(f"crsTransform must have 6 numbers; got {list(crsTransform)!r}")
        proj = Projection(proj.crs, tuple(crsTransform))
    elif scale is not None:
        proj = proj.at_scale(float(scale))
    elif not isinstance(crs, Projection):
        raise InvalidArgument("A projection needs a crsTransform or a scale.")
    return proj


@algorithm("Image.reproject")
def reproject(image: Any, crs: Any, crsTransform: Any = None, scale: Any = None) -> Image:  # noqa: N803
    """Forces computation on ``crs`` at the given scale: pixels are computed on that grid, then resampled."""
    src = as_image(image)
    proj = _projection_arg(crs, crsTransform, scale)
    specs = [BandSpec(b.name, b.pixel_type, proj, None, False) for b in src.bands]

    def read(grid, wanted):
        # The part of the forced grid covering the request, plus a pixel of margin.
        xmin, ymin, xmax, ymax = _bounds_in(grid, proj.crs)
        a = abs(proj.transform[0])
        inner = covering_grid(proj, (xmin - a, ymin - a, xmax + a, ymax + a))
        pixels = src.compute(inner, wanted)
        return [read_array_onto(v, m, inner, grid) for v, m in pixels]

    return src.with_bands(specs, read)


def _bounds_in(grid: Grid, crs: str) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = grid.bounds()
    if grid.crs == crs:
        return xmin, ymin, xmax, ymax
    xs = np.linspace(xmin, xmax, 21)
    ys = np.linspace(ymin, ymax, 21)
    gx, gy = np.meshgrid(xs, ys)
    tx, ty = transformer(grid.crs, crs).transform(gx.ravel(), gy.ravel())
    return float(np.nanmin(tx)), float(np.nanmin(ty)), float(np.nanmax(tx)), float(np.nanmax(ty))


@algorithm("Image.setDefaultProjection")
def set_default_projection(image: Any, crs: Any, crsTransform: Any = None, scale: Any = None) -> Image:  # noqa: N803
    src = as_image(image)
    proj = _projection_arg(crs, crsTransform, scale)
    specs = [BandSpec(b.name, b.pixel_type, proj, b.dimensions, False) for b in src.bands]
    return src.with_bands(specs, lambda grid, wanted: src.compute(grid, wanted))


@algorithm("Image.resample")
def resample(image: Any, mode: str = "bilinear") -> Image:
    if mode not in ("bilinear", "bicubic", "nearest"):
        raise InvalidArgument(f"Image.resample: Unknown resampling mode '{mode}'. Use 'bilinear' or 'bicubic'.")
    return with_resampling(as_image(image), mode)


@algorithm("Image.pixelArea")
def pixel_area() -> Image:
    """Area of each pixel of the requested grid, in square metres (geodesic, per pixel corners)."""
    spec = BandSpec("area", PixelType("double"), DEFAULT_PROJECTION, None, True)

    def read(grid, wanted):
        return [(pixel_areas(grid), true_mask(grid.shape)) for _ in wanted]

    return Image([spec], read)


@algorithm("Image.pixelLonLat")
def pixel_lon_lat() -> Image:
    specs = [BandSpec("longitude", PixelType("double"), DEFAULT_PROJECTION, None, True),
             BandSpec("latitude", PixelType("double"), DEFAULT_PROJECTION, None, True)]

    def read(grid, wanted):
        x, y = grid.pixel_centers()
        if grid.crs != "EPSG:4326":
            lon, lat = transformer(grid.crs, "EPSG:4326").transform(np.asarray(x), np.asarray(y))
        else:
            lon, lat = np.asarray(x, np.float64), np.asarray(y, np.float64)
        arrays = [np.ascontiguousarray(lon), np.ascontiguousarray(lat)]
        return [(arrays[w], true_mask(grid.shape)) for w in wanted]

    return Image(specs, read)


@algorithm("Image.toArray")
def to_array(image: Any, axis: int = 0) -> Image:
    """A 1-D array per pixel holding the bands; represented here as the stacked bands (shape (H, W, n))."""
    src = as_image(image)
    if axis != 0:
        raise InvalidArgument(f"Image.toArray: only axis 0 is supported by the local engine; got {axis}.")
    base = src.bands[0] if src.bands else BandSpec("array", PixelType("double"))
    ptype = _float_type(base.pixel_type, base.pixel_type) if any(
        b.pixel_type.precision != "int" for b in src.bands) else base.pixel_type
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
def array_flatten(image: Any, coordinateLabels: Sequence[Sequence[str]], separator: str = "_") -> Image:  # noqa: N803
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
