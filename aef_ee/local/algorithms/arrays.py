"""``ee.Array``: element-wise arithmetic, comparisons and math, casts, shape operations (slice, cat, reshape,
transpose, project, repeat, pad, cut, mask, sort), reductions (reduce, accum, argmax, dotProduct) and matrix algebra
(multiply, solve, inverse, determinant, decompositions, eigen) on the engine's arrays, numpy arrays.

Element types follow the pixel-type table (:mod:`~aef_ee.local.algorithms.pixel_types`) as the Image operators do:
integers stay integers for add, subtract, multiply, min, max, mod and the bitwise operations; ``divide`` of integers is
a float division (apidocs ee-array-divide: ``ee.Array([3, 4]).divide(2)`` is [1.5, 2]), 0 where dividing by 0;
comparisons and logic give 0 or 1. Arrays hold int64 or float64 values (the engine's ``Array`` constructor), so the
results are int64 or float64; casts clamp and truncate as the Image casts do. Operands are broadcast as numpy does
(a scalar or a 1-element array against any shape).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.pixel_types import cast_type, cast_values
from aef_ee.local.algorithms.reducer_base import as_reducer
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument

__all__ = ["as_array"]


def as_array(value: Any, name: str) -> np.ndarray:
    """A value as a numeric numpy array (numbers and nested lists too)."""
    try:
        data = np.asarray(value)
    except ValueError:
        raise InvalidArgument(f"{name}: expected a rectangular array of numbers.") from None
    if data.dtype == object or data.dtype.kind not in "biuf":
        raise InvalidArgument(f"{name}: expected an array of numbers; got {value!r}.")
    if data.dtype.kind == "b":
        data = data.astype(np.int64)
    return data.astype(np.int64) if data.dtype.kind in "iu" else data.astype(np.float64, copy=False)


def _is_int(*arrays: np.ndarray) -> bool:
    return all(a.dtype.kind in "iu" for a in arrays)


def _binary(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], *, integer: bool = True,
            boolean: bool = False) -> None:
    def impl(left: Any, right: Any) -> np.ndarray:
        a, b = as_array(left, f"Array.{name}"), as_array(right, f"Array.{name}")
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise InvalidArgument(f"Array.{name}: shapes {list(a.shape)} and {list(b.shape)} do not match.") from None
        with np.errstate(all="ignore"):
            out = fn(a, b)
        if boolean:
            return np.asarray(out).astype(np.int64)
        if integer and _is_int(a, b):
            return np.asarray(out).astype(np.int64)
        return np.asarray(out, np.float64)

    impl.__name__ = f"array_{name}"
    algorithm(f"Array.{name}")(impl)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(b == 0, 0.0, np.true_divide(a, np.where(b == 0, 1, b)))


def _mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(b == 0, 0, np.fmod(a, np.where(b == 0, 1, b)))


def _ints(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda a, b: fn(np.trunc(a).astype(np.int64), np.trunc(b).astype(np.int64))


def _gammainc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy import special

    return special.gammainc(b, a)  # documented as γ(x, a): x the first value, a the second


for _name, _fn in (("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply), ("max", np.maximum),
                   ("min", np.minimum), ("mod", _mod), ("first", lambda a, b: a + 0 * b),
                   ("firstNonZero", lambda a, b: np.where(a != 0, a, b))):
    _binary(_name, _fn)
for _name, _fn in (("bitwiseAnd", np.bitwise_and), ("bitwiseOr", np.bitwise_or), ("bitwiseXor", np.bitwise_xor),
                   ("leftShift", lambda a, b: np.left_shift(a, np.clip(b, 0, 63))),
                   ("rightShift", lambda a, b: np.right_shift(a, np.clip(b, 0, 63)))):
    _binary(_name, _ints(_fn), boolean=True)
for _name, _fn in (("eq", np.equal), ("neq", np.not_equal), ("lt", np.less), ("lte", np.less_equal),
                   ("gt", np.greater), ("gte", np.greater_equal), ("and", lambda a, b: (a != 0) & (b != 0)),
                   ("or", lambda a, b: (a != 0) | (b != 0))):
    _binary(_name, _fn, boolean=True)
_binary("divide", _divide, integer=False)
_binary("pow", lambda a, b: np.power(a.astype(np.float64), b), integer=False)
_binary("atan2", np.arctan2, integer=False)
_binary("hypot", np.hypot, integer=False)
_binary("gammainc", _gammainc, integer=False)


def _unary(name: str, fn: Callable[[np.ndarray], np.ndarray], *, keep_int: bool = False) -> None:
    def impl(input: Any) -> np.ndarray:
        a = as_array(input, f"Array.{name}")
        with np.errstate(all="ignore"):
            out = np.asarray(fn(a))
        if keep_int and _is_int(a):
            return out.astype(np.int64)
        return out.astype(np.int64) if out.dtype.kind in "biu" else out.astype(np.float64)

    impl.__name__ = f"array_{name}"
    algorithm(f"Array.{name}")(impl)


def _special(fn_name: str) -> Callable[[np.ndarray], np.ndarray]:
    def fn(a: np.ndarray) -> np.ndarray:
        from scipy import special

        return getattr(special, fn_name)(a)

    return fn


for _name, _fn in (("sin", np.sin), ("cos", np.cos), ("tan", np.tan), ("asin", np.arcsin), ("acos", np.arccos),
                   ("atan", np.arctan), ("sinh", np.sinh), ("cosh", np.cosh), ("tanh", np.tanh),
                   ("sqrt", np.sqrt), ("log", np.log), ("log10", np.log10), ("exp", np.exp), ("cbrt", np.cbrt),
                   ("gamma", _special("gamma")), ("digamma", _special("digamma")),
                   ("trigamma", lambda a: _special_polygamma(a)), ("erf", _special("erf")),
                   ("erfc", _special("erfc")), ("erfInv", _special("erfinv")), ("erfcInv", _special("erfcinv")),
                   ("lanczos", _special("gamma"))):
    _unary(_name, _fn)
for _name, _fn in (("abs", np.abs), ("signum", np.sign), ("floor", np.floor), ("ceil", np.ceil),
                   ("round", lambda a: np.where(a >= 0, np.floor(a + 0.5), -np.floor(-a + 0.5)))):
    _unary(_name, _fn, keep_int=True)
_unary("not", lambda a: (a == 0).astype(np.int64))
_unary("bitwiseNot", lambda a: np.bitwise_not(np.trunc(a).astype(np.int64)))
_unary("bitCount", lambda a: np.vectorize(lambda v: bin(int(v) & (2**64 - 1)).count("1"), otypes=[np.int64])(
    np.trunc(a).astype(np.int64)) if a.size else a.astype(np.int64))


def _special_polygamma(a: np.ndarray) -> np.ndarray:
    from scipy import special

    return special.polygamma(1, a)


def _register_cast(name: str) -> None:
    ptype = cast_type(name)

    def impl(input: Any) -> np.ndarray:
        out = cast_values(as_array(input, f"Array.{name}"), ptype)
        return out.astype(np.int64) if ptype.precision == "int" else out.astype(np.float64)

    impl.__name__ = f"array_{name}"
    algorithm(f"Array.{name}")(impl)


for _cast in ("float", "double", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64"):
    _register_cast(_cast)


# --- shape operations -------------------------------------------------------------------------------------------

def _axis(array: np.ndarray, axis: Any, name: str) -> int:
    k = int(axis)
    if not -array.ndim <= k < array.ndim:
        raise InvalidArgument(f"Array.{name}: axis {axis} is out of range for an array of {array.ndim} "
                              "dimensions.")
    return k % array.ndim


@algorithm("Array.slice")
def array_slice(array: Any, axis: int = 0, start: int = 0, end: int | None = None, step: int = 1) -> np.ndarray:
    """The positions ``start`` (inclusive) to ``end`` (exclusive) by ``step`` along ``axis``; negative indices count
    from the end."""
    a = as_array(array, "Array.slice")
    k = _axis(a, axis, "slice")
    if int(step) == 0:
        raise InvalidArgument("Array.slice: step must not be 0.")
    index = [slice(None)] * a.ndim
    index[k] = slice(int(start), None if end is None else int(end), int(step))
    return a[tuple(index)]


@algorithm("Array.cat")
def array_cat(arrays: Sequence[Any], axis: int = 0) -> np.ndarray:
    parts = [as_array(a, "Array.cat") for a in arrays]
    if not parts:
        raise InvalidArgument("Array.cat: no arrays to concatenate.")
    if int(axis) == parts[0].ndim:  # one axis past the last: side by side (apidocs: [0,1,2], [3,4,5] on axis 1)
        parts = [p[..., None] for p in parts]
    try:
        out = np.concatenate(parts, axis=int(axis))
    except (ValueError, np.exceptions.AxisError) as exc:
        raise InvalidArgument(f"Array.cat: {exc}") from None
    return out if not all(_is_int(p) for p in parts) else out.astype(np.int64)


@algorithm("Array.reshape")
def array_reshape(array: Any, shape: Any) -> np.ndarray:
    a = as_array(array, "Array.reshape")
    dims = [int(s) for s in np.ravel(shape)]
    if int(np.prod(dims)) != a.size and -1 not in dims:
        raise InvalidArgument(f"Array.reshape: {a.size} elements cannot take the shape {dims}.")
    try:
        return a.reshape(dims)
    except ValueError as exc:
        raise InvalidArgument(f"Array.reshape: {exc}") from None


@algorithm("Array.transpose")
def array_transpose(array: Any, axis1: int = 0, axis2: int = 1) -> np.ndarray:
    a = as_array(array, "Array.transpose")
    return np.swapaxes(a, _axis(a, axis1, "transpose"), _axis(a, axis2, "transpose"))


@algorithm("Array.project")
def array_project(array: Any, axes: Sequence[int]) -> np.ndarray:
    """Keeps ``axes`` (in that order); the dropped axes must be of length 1, as documented."""
    a = as_array(array, "Array.project")
    keep = [_axis(a, k, "project") for k in axes]
    dropped = [k for k in range(a.ndim) if k not in keep]
    if any(a.shape[k] != 1 for k in dropped):
        raise InvalidArgument(f"Array.project: the dropped axes {dropped} must have length 1; the shape is "
                              f"{list(a.shape)}.")
    return np.transpose(a, keep + dropped).reshape([a.shape[k] for k in keep])


@algorithm("Array.repeat")
def array_repeat(array: Any, axis: int = 0, copies: int = 2) -> np.ndarray:
    a = as_array(array, "Array.repeat")
    if a.ndim == 0:
        a = a.reshape(1)
    if int(axis) == a.ndim:  # a new last axis
        a = a[..., None]
    return np.concatenate([a] * int(copies), axis=int(axis))


@algorithm("Array.pad")
def array_pad(array: Any, lengths: Sequence[int], pad: float = 0) -> np.ndarray:
    a = as_array(array, "Array.pad")
    lengths = [int(n) for n in lengths]
    if len(lengths) != a.ndim or any(n < s for n, s in zip(lengths, a.shape, strict=True)):
        raise InvalidArgument(f"Array.pad: lengths {lengths} must be at least the shape {list(a.shape)}.")
    out = np.pad(a, [(0, n - s) for n, s in zip(lengths, a.shape, strict=True)], constant_values=pad)
    return out if float(pad).is_integer() and _is_int(a) else out.astype(np.float64)


@algorithm("Array.cut")
def array_cut(array: Any, position: Sequence[int]) -> np.ndarray:
    """One position per axis (-1: the whole axis); the cut axes keep length 1."""
    a = as_array(array, "Array.cut")
    pos = [int(p) for p in position]
    if len(pos) != a.ndim:
        raise InvalidArgument(f"Array.cut: {len(pos)} positions for an array of {a.ndim} dimensions.")
    index = tuple(slice(None) if p == -1 else slice(p, p + 1) for p in pos)
    return a[index]


@algorithm("Array.mask")
def array_mask(input: Any, mask: Any) -> np.ndarray:
    """The positions along one axis where the mask is non-zero: the mask has the input's dimensions, all of length 1
    but that axis (apidocs ee-array-mask: ``[[1, 2, 3, 4]].mask([[1, 0, 1, 1]])`` is ``[[1, 3, 4]]``)."""
    a, m = as_array(input, "Array.mask"), as_array(mask, "Array.mask")
    if a.size == 0:
        return a
    if m.ndim != a.ndim:
        raise InvalidArgument(f"Array.mask: the mask must have {a.ndim} dimensions; got shape {list(m.shape)}.")
    axes = [k for k in range(a.ndim) if m.shape[k] != 1] or [next((k for k in range(a.ndim) if a.shape[k] == 1), 0)]
    k = axes[0]
    if len(axes) > 1 or m.shape[k] != a.shape[k]:
        raise InvalidArgument(f"Array.mask: the mask's shape {list(m.shape)} does not select along one axis of "
                              f"{list(a.shape)}.")
    return np.compress(m.reshape(-1) != 0, a, axis=k)


@algorithm("Array.sort")
def array_sort(array: Any, keys: Any = None) -> np.ndarray:
    """Sorted along the last axis, by ``keys`` (same shape) when given."""
    a = as_array(array, "Array.sort")
    if keys is None:
        return np.sort(a, axis=-1, kind="stable")
    k = as_array(keys, "Array.sort")
    order = np.argsort(np.broadcast_to(k, a.shape), axis=-1, kind="stable")
    return np.take_along_axis(a, order, axis=-1)


@algorithm("Array.identity")
def array_identity(size: int) -> np.ndarray:
    return np.eye(int(size))


# --- reductions -------------------------------------------------------------------------------------------------

@algorithm("Array.argmax")
def array_argmax(array: Any) -> list[int]:
    """The position of the (first) maximum, one index per axis; null for an empty array."""
    a = as_array(array, "Array.argmax")
    if a.size == 0:
        return None  # type: ignore[return-value]
    return [int(i) for i in np.unravel_index(int(np.argmax(a)), a.shape)]


@algorithm("Array.dotProduct")
def array_dot_product(array1: Any, array2: Any) -> float:
    a, b = as_array(array1, "Array.dotProduct"), as_array(array2, "Array.dotProduct")
    if a.ndim != 1 or a.shape != b.shape:
        raise InvalidArgument(f"Array.dotProduct: two 1-D arrays of one length are needed; got {list(a.shape)} "
                              f"and {list(b.shape)}.")
    return float(np.dot(a, b))


@algorithm("Array.reduce")
def array_reduce(array: Any, reducer: Any, axes: Sequence[int], fieldAxis: int | None = None) -> np.ndarray:
    """The reducer over ``axes`` (each kept with length 1, as documented: "collapsing all the input values along
    each specified axis into a single output value"); a reducer of several inputs reads them along ``fieldAxis``."""
    a = as_array(array, "Array.reduce")
    red = as_reducer(reducer)
    axes = sorted({_axis(a, k, "reduce") for k in axes})
    field = None if fieldAxis is None else _axis(a, fieldAxis, "reduce")
    if red.n_inputs > 1 and (field is None or a.shape[field] != red.n_inputs):
        raise InvalidArgument(f"Array.reduce: {red.name} takes {red.n_inputs} inputs; give a fieldAxis of that "
                              "length.")
    if len(red.outputs) != 1:
        raise InvalidArgument(f"Array.reduce: {red.name} has {len(red.outputs)} outputs; use a reducer with one.")
    keep = [k for k in range(a.ndim) if k not in axes and k != field]
    order = keep + axes + ([field] if field is not None else [])
    moved = np.transpose(a, order)
    kept_shape = [a.shape[k] for k in keep]
    samples = moved.reshape(int(np.prod(kept_shape)) if keep else 1, -1, red.n_inputs)
    out = np.empty(samples.shape[0], np.float64)
    for i, table in enumerate(samples):
        value = red.reduce_samples(table)[red.outputs[0]]
        out[i] = np.nan if value is None else value
    result_shape = [1 if (k in axes or k == field) else a.shape[k] for k in range(a.ndim)]
    out = out.reshape(kept_shape).reshape(result_shape) if keep else out.reshape(result_shape)
    return out.astype(np.int64) if np.all(np.isfinite(out)) and np.all(out == np.round(out)) and _is_int(a) else out


@algorithm("Array.accum")
def array_accum(array: Any, axis: int, reducer: Any = None) -> np.ndarray:
    """Each element set to the reduction of the elements up to it along ``axis`` (default: a running sum)."""
    a = as_array(array, "Array.accum")
    k = _axis(a, axis, "accum")
    if reducer is None:
        return np.cumsum(a, axis=k)
    red = as_reducer(reducer)
    moved = np.moveaxis(a, k, -1)
    out = np.empty(moved.shape, np.float64)
    for index in np.ndindex(moved.shape[:-1]):
        line = moved[index]
        for j in range(line.shape[0]):
            value = red.reduce_samples(line[:j + 1])[red.outputs[0]]
            out[index + (j,)] = np.nan if value is None else value
    return np.moveaxis(out, -1, k)


@algorithm("Array.bitsToArray")
def bits_to_array(input: Any) -> np.ndarray:
    """The bits of an integer, least significant first, as many as up to its highest set bit."""
    value = int(as_array(input, "Array.bitsToArray").item()) & (2**64 - 1)  # two's complement: -1 is 64 ones
    bits = [0] if value == 0 else []
    while value:
        bits.append(value & 1)
        value >>= 1
    return np.asarray(bits, np.int64)


# --- matrices ---------------------------------------------------------------------------------------------------

def _matrix(value: Any, name: str) -> np.ndarray:
    m = as_array(value, f"Array.{name}").astype(np.float64)
    if m.ndim != 2:
        raise InvalidArgument(f"Array.{name}: expected a 2-D array; got shape {list(m.shape)}.")
    return m


def _square(value: Any, name: str) -> np.ndarray:
    m = _matrix(value, name)
    if m.shape[0] != m.shape[1]:
        raise InvalidArgument(f"Array.{name}: expected a square matrix; got shape {list(m.shape)}.")
    return m


@algorithm("Array.matrixMultiply")
def matrix_multiply(left: Any, right: Any) -> np.ndarray:
    a, b = _matrix(left, "matrixMultiply"), _matrix(right, "matrixMultiply")
    if a.shape[1] != b.shape[0]:
        raise InvalidArgument(f"Array.matrixMultiply: shapes {list(a.shape)} and {list(b.shape)} do not chain.")
    return a @ b


@algorithm("Array.matrixSolve")
def matrix_solve(left: Any, right: Any) -> np.ndarray:
    """x with A x = B; least squares when A is overdetermined (documented)."""
    a, b = _matrix(left, "matrixSolve"), _matrix(right, "matrixSolve")
    return np.linalg.lstsq(a, b, rcond=None)[0]


@algorithm("Array.matrixInverse")
def matrix_inverse(input: Any) -> np.ndarray:
    m = _square(input, "matrixInverse")
    try:
        return np.linalg.inv(m)
    except np.linalg.LinAlgError:
        raise InvalidArgument("Array.matrixInverse: the matrix is singular.") from None


@algorithm("Array.matrixPseudoInverse")
def matrix_pseudo_inverse(input: Any) -> np.ndarray:
    return np.linalg.pinv(_matrix(input, "matrixPseudoInverse"))


@algorithm("Array.matrixDeterminant")
def matrix_determinant(input: Any) -> float:
    return float(np.linalg.det(_square(input, "matrixDeterminant")))


@algorithm("Array.matrixTrace")
def matrix_trace(input: Any) -> float:
    return float(np.trace(_matrix(input, "matrixTrace")))


@algorithm("Array.matrixFnorm")
def matrix_fnorm(input: Any) -> float:
    return float(np.linalg.norm(_matrix(input, "matrixFnorm")))


@algorithm("Array.matrixDiagonal")
def matrix_diagonal(input: Any) -> np.ndarray:
    """The diagonal as a single column (n x 1)."""
    return np.diagonal(_matrix(input, "matrixDiagonal"))[:, None].copy()


@algorithm("Array.matrixToDiag")
def matrix_to_diag(input: Any) -> np.ndarray:
    """A square diagonal matrix from a single column (n x 1) or row."""
    m = as_array(input, "Array.matrixToDiag").astype(np.float64)
    return np.diag(m.ravel())


@algorithm("Array.matrixCholeskyDecomposition")
def matrix_cholesky(array: Any) -> dict[str, np.ndarray]:
    try:
        return {"L": np.linalg.cholesky(_square(array, "matrixCholeskyDecomposition"))}
    except np.linalg.LinAlgError:
        raise InvalidArgument("Array.matrixCholeskyDecomposition: the matrix is not positive definite.") from None


@algorithm("Array.matrixSingularValueDecomposition")
def matrix_svd(array: Any) -> dict[str, np.ndarray]:
    """U, S (a diagonal matrix) and V with input = U S V'."""
    u, s, vt = np.linalg.svd(_matrix(array, "matrixSingularValueDecomposition"), full_matrices=False)
    return {"U": u, "S": np.diag(s), "V": vt.T}


@algorithm("Array.matrixLUDecomposition")
def matrix_lu(array: Any) -> dict[str, np.ndarray]:
    """L, U and the permutation P with P input = L U."""
    from scipy import linalg

    p, lower, upper = linalg.lu(_square(array, "matrixLUDecomposition"))
    return {"L": lower, "U": upper, "P": p.T}


@algorithm("Array.matrixQRDecomposition")
def matrix_qr(array: Any) -> dict[str, np.ndarray]:
    q, r = np.linalg.qr(_matrix(array, "matrixQRDecomposition"), mode="complete")
    return {"Q": q, "R": r}


@algorithm("Array.eigen")
def array_eigen(input: Any) -> np.ndarray:
    """One row per eigenvalue (descending): the eigenvalue, then its eigenvector (documented layout); real
    eigenpairs only."""
    m = _square(input, "eigen")
    values, vectors = np.linalg.eig(m)
    if np.iscomplexobj(values) and np.abs(values.imag).max() > 1e-12:
        raise InvalidArgument("Array.eigen: the matrix has complex eigenvalues.")
    values, vectors = values.real, vectors.real
    order = np.argsort(-values, kind="stable")
    return np.column_stack([values[order], vectors[:, order].T])
