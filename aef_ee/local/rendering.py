"""Turning image bands into 8-bit RGB(A) pixels and PNG / JPEG bytes, as Earth Engine's visualization does.

Two entry points share one parameter model (:class:`VisParams`):

- ``Image.visualize`` arguments (``bands``, ``min``, ``max``, ``gain``, ``bias``, ``gamma``, ``palette``, ``opacity``,
  ``forceRgbOutput``), what ``getMapId`` / ``getThumbURL`` put into the expression: :func:`params_from_arguments`.
- The REST ``VisualizationOptions`` (``ranges [{min, max}]``, ``paletteColors``, ``gamma {value}``, ``opacity``) of
  computePixels, maps.create and thumbnails.create: :func:`params_from_rest`.

The stretch of one band is ``pos = (v - min) / (max - min) * R`` (or ``v * gain + bias``), clamped to ``[0, R]``, then
gamma-corrected as ``R * (pos / R) ** (1 / gamma)``; ``R`` is 255, or ``len(palette) - 1`` with a palette, whose
colours are then interpolated linearly at ``pos``. Results are rounded to the nearest integer. Defaults when neither
min/max nor gain/bias is given: the pixel type's range for integer bands, [0, 1] for floating-point bands.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import BandPixels, BandSpec, Image, PixelType

__all__ = [
    "VisParams",
    "VisualizedImage",
    "VIS_RGB_BANDS",
    "VIS_GRAY_BAND",
    "ALPHA_BAND",
    "parse_color",
    "parse_palette",
    "params_from_arguments",
    "params_from_rest",
    "stretch",
    "colorize",
    "visualize",
    "apply_options",
    "encode_image",
]

VIS_RGB_BANDS = ("vis-red", "vis-green", "vis-blue")
VIS_GRAY_BAND = "vis-gray"
# Carries opacity < 1 from apply_options to encode_image (the engine's masks are boolean, not fractional).
ALPHA_BAND = "vis-alpha"
UINT8 = PixelType("int", 0, 255)
# JPEG quality of thumbnails and tiles asked for as JPEG; Earth Engine does not document its own.
JPEG_QUALITY = 90
# zlib level 1: a 256 x 256 RGBA tile encodes in ~1 ms instead of ~5 ms, for files ~20% larger.
PNG_COMPRESS_LEVEL = 1


@dataclasses.dataclass(frozen=True)
class VisParams:
    """Visualization parameters, per visualized band where a list.

    Attributes:
      bands: band names to visualize, or None for the image's first 3 (or its only band).
      mins, maxes: data values mapped to 0 and to 255 (or to the palette's ends); empty for the type default.
      gains, biases: the alternative linear map ``v * gain + bias``; exclusive with mins / maxes.
      gammas: gamma correction factors (> 0); empty for none.
      palette: (N, 3) float64 RGB colours in 0..255, or None.
      opacity: overall opacity in [0, 1], or None for opaque.
      force_rgb: produce vis-red/green/blue even for one band without a palette.
    """

    bands: tuple[str, ...] | None = None
    mins: tuple[float, ...] = ()
    maxes: tuple[float, ...] = ()
    gains: tuple[float, ...] = ()
    biases: tuple[float, ...] = ()
    gammas: tuple[float, ...] = ()
    palette: np.ndarray | None = dataclasses.field(default=None, compare=False)
    opacity: float | None = None
    force_rgb: bool = False

    def __post_init__(self) -> None:
        if (self.gains or self.biases) and (self.mins or self.maxes):
            raise InvalidArgument("Image.visualize: Gain and bias cannot be specified together with min and max.")
        if any(g <= 0 or not np.isfinite(g) for g in self.gammas):
            raise InvalidArgument(f"Image.visualize: gamma must be positive; got {list(self.gammas)!r}.")
        if self.opacity is not None and not 0.0 <= self.opacity <= 1.0:
            raise InvalidArgument(f"Image.visualize: opacity must be between 0 and 1; got {self.opacity!r}.")


# --- parsing -------------------------------------------------------------------------------------------------

def parse_color(text: str) -> tuple[int, int, int]:
    """A CSS colour name or hex string ('red', 'ff0000', '#F00', '0xff0000') as (r, g, b) in 0..255.

    Raises:
      InvalidArgument: an unknown name or malformed hex string.
    """
    from PIL import ImageColor

    if not isinstance(text, str):
        raise InvalidArgument(f"Invalid color {text!r}: expected a CSS color name or a hex string.")
    key = text.strip().lower()
    if key in ImageColor.colormap:
        r, g, b = ImageColor.getrgb(key)[:3]
        return int(r), int(g), int(b)
    digits = key[1:] if key.startswith("#") else key[2:] if key.startswith("0x") else key
    if len(digits) in (3, 6, 8) and all(c in "0123456789abcdef" for c in digits):
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    raise InvalidArgument(f"Invalid color '{text}': expected a CSS color name or a hex string such as 'FF0000'.")


def parse_palette(value: Any) -> np.ndarray | None:
    """A palette (list of colours or a comma-separated string) as an (N, 3) float64 array, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidArgument(f"Invalid palette {value!r}: expected a non-empty list of colors.")
    return np.asarray([parse_color(c) for c in value], dtype=np.float64)


def _numbers(value: Any, name: str) -> tuple[float, ...]:
    """One number, a list of numbers, or a comma-separated string of numbers as a tuple of floats."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        value = [value]
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Image.visualize: invalid {name} {value!r}: expected numbers.") from None


def _band_list(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"Image.visualize: invalid bands {value!r}: expected a list of band names.")
    return tuple(value) or None


def params_from_arguments(
    *,
    bands: Any = None,
    gain: Any = None,
    bias: Any = None,
    min: Any = None,  # noqa: A002 - Earth Engine's argument name
    max: Any = None,  # noqa: A002
    gamma: Any = None,
    opacity: Any = None,
    palette: Any = None,
    forceRgbOutput: Any = False,  # noqa: N803
) -> VisParams:
    """:class:`VisParams` from ``Image.visualize``'s arguments (numbers, lists or comma-separated strings)."""
    gains, biases = _numbers(gain, "gain"), _numbers(bias, "bias")
    if gains and not biases:
        biases = (0.0,)
    if biases and not gains:
        gains = (1.0,)
    mins, maxes = _numbers(min, "min"), _numbers(max, "max")
    return VisParams(
        bands=_band_list(bands),
        mins=mins,
        maxes=maxes,
        gains=gains,
        biases=biases,
        gammas=_numbers(gamma, "gamma"),
        palette=parse_palette(palette),
        opacity=None if opacity is None else float(opacity),
        force_rgb=bool(forceRgbOutput),
    )


def params_from_rest(options: Mapping[str, Any] | None) -> VisParams:
    """:class:`VisParams` from a REST ``VisualizationOptions`` dict."""
    options = options or {}
    if not isinstance(options, Mapping):
        raise InvalidArgument(f"Invalid visualizationOptions {options!r}.")
    mins: list[float] = []
    maxes: list[float] = []
    for r in options.get("ranges") or []:
        try:
            mins.append(float(r.get("min", 0.0)))
            maxes.append(float(r.get("max", 1.0)))
        except (AttributeError, TypeError, ValueError):
            raise InvalidArgument(f"Invalid visualizationOptions.ranges entry {r!r}.") from None
    gamma = options.get("gamma")
    if isinstance(gamma, Mapping):
        gamma = gamma.get("value")
    opacity = options.get("opacity")
    if isinstance(opacity, Mapping):
        opacity = opacity.get("value")
    return VisParams(
        mins=tuple(mins),
        maxes=tuple(maxes),
        gammas=_numbers(gamma, "gamma"),
        palette=parse_palette(options.get("paletteColors")),
        opacity=None if opacity is None else float(opacity),
    )


# --- pixel math ----------------------------------------------------------------------------------------------

def _pick(values: tuple[float, ...], i: int, count: int, name: str, default: float) -> float:
    if not values:
        return default
    if len(values) == 1:
        return values[0]
    if len(values) != count:
        raise InvalidArgument(
            f"Image.visualize: {name} must have 1 or {count} values (one per band); got {len(values)}.")
    return values[i]


def _default_range(pixel_type: PixelType) -> tuple[float, float]:
    if pixel_type.precision == "int" and pixel_type.min is not None and pixel_type.max is not None:
        return float(pixel_type.min), float(pixel_type.max)
    return 0.0, 1.0


def stretch(
    values: np.ndarray,
    *,
    top: float,
    lo: float | None = None,
    hi: float | None = None,
    gain: float | None = None,
    bias: float | None = None,
    gamma: float | None = None,
) -> np.ndarray:
    """Maps data values to positions in [0, top] (float64), linear then gamma-corrected.

    Args:
      values: (H, W) data values.
      top: 255 for grey/RGB output, len(palette) - 1 for palette lookup.
      lo, hi: the data values mapped to 0 and to ``top`` (used when ``gain`` is None).
      gain, bias: the alternative map ``v * gain + bias``.
      gamma: output = top * (pos / top) ** (1 / gamma).
    """
    v = np.asarray(values, dtype=np.float64)
    if gain is not None:
        pos = v * gain + (bias or 0.0)
    elif hi == lo:
        pos = np.where(v >= hi, top, 0.0)
    else:
        pos = (v - lo) / (hi - lo) * top  # type: ignore[operator]
    pos = np.clip(np.nan_to_num(pos, nan=0.0), 0.0, top)
    if gamma is not None and gamma != 1.0 and top > 0:
        pos = top * np.power(pos / top, 1.0 / gamma)
    return pos


def colorize(pos: np.ndarray, palette: np.ndarray) -> list[np.ndarray]:
    """Palette colours interpolated at positions ``pos`` in [0, N-1]: three (H, W) uint8 arrays (r, g, b)."""
    n = len(palette)
    if n == 1:
        return [np.full(pos.shape, np.uint8(round(palette[0, k]))) for k in range(3)]
    index = np.minimum(pos.astype(np.intp), n - 2)
    frac = pos - index
    out = []
    for k in range(3):
        lo_c = palette[index, k]
        hi_c = palette[index + 1, k]
        out.append(np.rint(lo_c + (hi_c - lo_c) * frac).astype(np.uint8))
    return out


def _select(image: Image, params: VisParams) -> list[int]:
    if params.bands is not None:
        if len(params.bands) not in (1, 3):
            raise InvalidArgument(
                f"Image.visualize: Expected 1 or 3 bands to visualize; got {len(params.bands)}: {list(params.bands)}.")
        return [image.band_index(name) for name in params.bands]
    count = len(image.bands)
    if count == 0:
        raise InvalidArgument("Image.visualize: the image has no bands.")
    if count == 2:
        raise InvalidArgument(
            f"Image.visualize: Expected 1 or 3 bands to visualize; got 2: {image.band_names}. Select bands.")
    return [0] if count == 1 else [0, 1, 2]


class VisualizedImage(Image):
    """The output of ``Image.visualize``: uint8 bands, plus the opacity that the encoder turns into alpha."""

    def __init__(self, *args: Any, opacity: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opacity = opacity


def visualize(image: Image, params: VisParams) -> VisualizedImage:
    """A lazy uint8 image: vis-red/vis-green/vis-blue, or vis-gray for one band without a palette.

    Each output band's mask is the AND of the visualized bands' masks.

    Raises:
      InvalidArgument: unknown bands, a palette with 3 bands, or per-band lists of the wrong length.
    """
    indexes = _select(image, params)
    count = len(indexes)
    if params.palette is not None and count != 1:
        raise InvalidArgument("Image.visualize: Cannot provide a palette when visualizing more than one band.")
    for name, values in (("min", params.mins), ("max", params.maxes), ("gain", params.gains),
                         ("bias", params.biases), ("gamma", params.gammas)):
        _pick(values, 0, count, name, 0.0)  # validates list lengths before any pixel is read
    top = 255.0 if params.palette is None else float(len(params.palette) - 1)
    specs = [image.bands[i] for i in indexes]
    maps = []
    for i, spec in enumerate(specs):
        default_lo, default_hi = _default_range(spec.pixel_type)
        use_gain = bool(params.gains)
        maps.append(dict(
            top=top,
            lo=_pick(params.mins, i, count, "min", default_lo),
            hi=_pick(params.maxes, i, count, "max", default_hi),
            gain=_pick(params.gains, i, count, "gain", 1.0) if use_gain else None,
            bias=_pick(params.biases, i, count, "bias", 0.0) if use_gain else None,
            gamma=_pick(params.gammas, i, count, "gamma", 1.0) if params.gammas else None,
        ))
    rgb = params.palette is not None or count == 3 or params.force_rgb
    names = VIS_RGB_BANDS if rgb else (VIS_GRAY_BAND,)
    first = specs[0]
    out_specs = [BandSpec(n, UINT8, first.projection, first.dimensions, first.is_default_projection) for n in names]
    palette = params.palette

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        pixels = image.compute(grid, indexes)
        mask = np.asarray(pixels[0][1])
        for _, m in pixels[1:]:
            mask = mask & np.asarray(m)
        positions = [stretch(v, **m) for (v, _), m in zip(pixels, maps)]
        if palette is not None:
            channels = colorize(positions[0], palette)
        else:
            channels = [np.rint(p).astype(np.uint8) for p in positions]
            if rgb and len(channels) == 1:
                channels = channels * 3
        return [(channels[w], mask) for w in wanted]

    return VisualizedImage(out_specs, read, image.properties, footprint=image.footprint, opacity=params.opacity)


def apply_options(image: Image, options: Mapping[str, Any] | None) -> Image:
    """The image to encode as PNG / JPEG for REST ``VisualizationOptions`` (possibly empty).

    An image that already is a visualization (``Image.visualize`` at the top of the expression, what getMapId and
    getThumbURL send) is kept as is when no options are given. A band ``vis-alpha`` (uint8) is appended when the
    opacity is below 1.
    """
    params = params_from_rest(options)
    if isinstance(image, VisualizedImage) and params == VisParams() and params.palette is None:
        vis = image
    else:
        vis = visualize(image, params)
    opacity = vis.opacity if isinstance(vis, VisualizedImage) else None
    if opacity is None or opacity >= 1.0:
        return vis
    alpha_value = np.uint8(round(255 * opacity))
    first = vis.bands[0]
    specs = list(vis.bands) + [BandSpec(ALPHA_BAND, UINT8, first.projection, first.dimensions,
                                        first.is_default_projection)]
    source_count = len(vis.bands)

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        from_source = [w for w in wanted if w < source_count]
        pixels = dict(zip(from_source, vis.compute(grid, from_source))) if from_source else {}
        out = []
        for w in wanted:
            if w < source_count:
                out.append(pixels[w])
            else:
                mask = pixels[0][1] if 0 in pixels else vis.compute(grid, [0])[0][1]
                out.append((np.broadcast_to(alpha_value, grid.shape), mask))
        return out

    return Image(specs, read, vis.properties, footprint=vis.footprint)


# --- encoding ------------------------------------------------------------------------------------------------

def _as_uint8(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    return np.clip(np.rint(np.nan_to_num(values.astype(np.float64))), 0, 255).astype(np.uint8)


def encode_image(
    values: Sequence[np.ndarray], masks: Sequence[np.ndarray], file_format: str
) -> tuple[bytes, str]:
    """PNG or JPEG bytes of 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGB + alpha) uint8 bands.

    Masked pixels (any band's mask False) are transparent in PNG and black in JPEG. ``AUTO_JPEG_PNG`` gives PNG when
    some pixel is not opaque, else JPEG, as Earth Engine does.

    Args:
      values: per band (H, W) arrays (converted to uint8 by rounding and clamping if needed).
      masks: per band (H, W) bool masks.
      file_format: 'PNG', 'JPEG' (or 'JPG') or 'AUTO_JPEG_PNG'.

    Returns:
      (bytes, content type).
    """
    from PIL import Image as PILImage

    fmt = file_format.upper()
    if fmt == "JPG":
        fmt = "JPEG"
    if fmt not in ("PNG", "JPEG", "AUTO_JPEG_PNG"):
        raise InvalidArgument(f"Unsupported image file format '{file_format}' for a visualization.")
    if len(values) not in (1, 2, 3, 4):
        raise InvalidArgument(
            f"Cannot encode {len(values)} bands as an image: select 1 or 3 bands or give visualization parameters.")
    channels = [_as_uint8(np.asarray(v)) for v in values]
    mask = np.logical_and.reduce([np.asarray(m, dtype=bool) for m in masks]) if masks else None
    if len(channels) in (2, 4):
        alpha = channels.pop()
        if mask is not None:
            alpha = np.where(mask, alpha, np.uint8(0))
    elif mask is not None and not mask.all():
        alpha = np.where(mask, np.uint8(255), np.uint8(0))
    else:
        alpha = None
    if fmt == "AUTO_JPEG_PNG":
        fmt = "PNG" if alpha is not None and (alpha < 255).any() else "JPEG"
    buffer = io.BytesIO()
    if fmt == "JPEG":
        rgb = channels if len(channels) == 3 else channels * 3
        if alpha is not None:
            rgb = [np.where(alpha > 0, c, np.uint8(0)) for c in rgb]
        PILImage.fromarray(np.ascontiguousarray(np.stack(rgb, axis=-1))).save(buffer, "JPEG", quality=JPEG_QUALITY)
        return buffer.getvalue(), "image/jpeg"
    layers = channels if alpha is None else channels + [alpha]
    stacked = layers[0] if len(layers) == 1 else np.stack(layers, axis=-1)  # L, LA, RGB or RGBA
    PILImage.fromarray(np.ascontiguousarray(stacked)).save(
        buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue(), "image/png"
