"""``Image.expression``: Earth Engine's band-math expressions, as a lazy graph of the engine's own image operations.

The client sends ``image.expression(text, {'x': img})`` as a call of the algorithm ``Image.parseExpression``, whose
result is itself an algorithm, invoked with the default image (``DEFAULT_EXPRESSION_IMAGE``) and the named images.
:func:`parse_expression` parses the text once (:mod:`~aef_ee.local.algorithms._expression`, never ``eval``) and
returns that algorithm: a function of the images that walks the tree and builds the result with the registered
``Image.*`` algorithms (``+`` is ``Image.add``, ``/`` is ``Image.divide``, ``c ? a : b`` is ``b.where(c, a)``...). So
an expression gets exactly the operators' values, masks, band matching, band names and pixel types
(:mod:`~aef_ee.local.algorithms.pixel_types`): ``(b('B8') - b('B4')) / (b('B8') + b('B4'))`` of uint16 bands is a
float NDVI named ``B8``.

The language (apidocs ee-image-expression and the "Mathematical Operations" guide): numbers; the default image's
bands ``b(0)``, ``b('name')``, ``b(1, 'name', 3)``, ``b()``; other images by variable name, their bands as
``img.band`` or ``img[0]``; ``+ - * / % **``; ``== != < > <= >=``; ``&& || ! ^``; ``c ? a : b``; the math functions
of :data:`FUNCTIONS` (``Math.sqrt`` and ``sqrt`` alike); ``Math.PI`` and ``Math.E``; and ``name = ...`` naming a
single-band result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aef_ee.local.algorithms._expression import Expression, Node
from aef_ee.local.algorithms.image import as_image, image_rename, select_by_names
from aef_ee.local.algorithms.registry import algorithm, lookup
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import Image

__all__ = ["parse_expression", "FUNCTIONS"]

# Operator -> the Image algorithm computing it.
_BINARY = {
    "+": "Image.add", "-": "Image.subtract", "*": "Image.multiply", "/": "Image.divide", "%": "Image.mod",
    "**": "Image.pow", "==": "Image.eq", "!=": "Image.neq", "<": "Image.lt", "<=": "Image.lte", ">": "Image.gt",
    ">=": "Image.gte", "&&": "Image.and", "||": "Image.or",
}
# Function name in an expression -> (Image algorithm, number of image arguments).
FUNCTIONS: dict[str, tuple[str, int]] = {
    **{name: (f"Image.{name}", 1) for name in (
        "abs", "sqrt", "exp", "log", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
        "floor", "ceil", "round", "signum", "cbrt", "erf", "not", "float", "double", "int8", "uint8", "int16",
        "uint16", "int32", "uint32", "int64", "bitwiseNot")},
    "int": ("Image.int32", 1), "byte": ("Image.uint8", 1), "long": ("Image.int64", 1),
    **{name: (f"Image.{name}", 2) for name in (
        "min", "max", "pow", "atan2", "hypot", "mod", "bitwiseAnd", "bitwiseOr", "bitwiseXor", "leftShift",
        "rightShift", "first", "firstNonZero")},
}
_CONSTANTS = {"Math.PI": math.pi, "Math.E": math.e, "PI": math.pi, "E": math.e}


class _Walker:
    """Evaluates one parse tree on given images."""

    def __init__(self, text: str, default: Image | None, images: Mapping[str, Image], free_to_bands: bool):
        self.text = text
        self.default = default
        self.images = images
        self.free_to_bands = free_to_bands

    def fail(self, message: str) -> InvalidArgument:
        return InvalidArgument(f"Image.expression: {message} in {self.text!r}.")

    def value(self, node: Node) -> Any:
        kind = node[0]
        if kind == "num":
            return as_image(node[1])
        if kind == "str":
            return node[1]
        if kind == "var":
            return self.variable(node[1])
        if kind == "un":
            operand = self.image(node[2])
            if node[1] == "-":
                return lookup("Image.multiply")(image1=operand, image2=-1)
            if node[1] == "!":
                return lookup("Image.not")(value=operand)
            return operand
        if kind == "bin":
            a, b = self.image(node[2]), self.image(node[3])
            if node[1] == "^":
                neq = lookup("Image.neq")
                return neq(image1=neq(image1=a, image2=0), image2=neq(image1=b, image2=0))
            return lookup(_BINARY[node[1]])(image1=a, image2=b)
        if kind == "if":
            test, when_true, when_false = (self.image(n) for n in node[1:])
            return lookup("Image.where")(input=when_false, test=test, value=when_true)
        if kind == "index":
            return self.select(self.image(node[1]), node[2])
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "assign":
            result = self.image(node[2])
            if len(result.bands) != 1:
                raise self.fail(f"'{node[1]} =' names a single band, but the result has {len(result.bands)}")
            return image_rename(result, [node[1]])
        raise self.fail(f"malformed node {node!r}")  # pragma: no cover - the parser never builds one

    def image(self, node: Node) -> Image:
        value = self.value(node)
        if not isinstance(value, Image):
            raise self.fail(f"{value!r} is not an image or a number")
        return value

    def variable(self, name: str) -> Image:
        if name in _CONSTANTS:
            return as_image(_CONSTANTS[name])
        base, _, band = name.partition(".")
        if base in self.images:
            image = self.images[base]
            return select_by_names(image, [band]) if band else image
        if self.free_to_bands and self.default is not None and name in self.default.band_names:
            return select_by_names(self.default, [name])
        raise self.fail(f"unknown variable '{name}'; the images are {sorted(self.images)}")

    def selectors(self, args: Sequence[Node]) -> list[int | str]:
        """Band selectors of ``b(...)`` or ``img[...]``: number and string literals (or expressions of them)."""
        keys: list[int | str] = []
        for arg in args:
            key = arg[1] if arg[0] in ("num", "str") else None
            if isinstance(key, float) and key.is_integer():
                key = int(key)
            if not isinstance(key, (int, str)):
                raise self.fail(f"band selector {arg!r} is not an index or a name")
            keys.append(key)
        return keys

    def select(self, image: Image, args: Sequence[Node]) -> Image:
        return select_by_names(image, self.selectors(args)) if args else image

    def call(self, name: str, args: Sequence[Node]) -> Image:
        if name == "b":
            if self.default is None:
                raise self.fail("b() needs the default image")
            return self.select(self.default, args)
        key = name.removeprefix("Math.")
        if key not in FUNCTIONS:
            raise self.fail(f"unknown function '{name}'; known: b, {', '.join(sorted(FUNCTIONS))}")
        algorithm_name, arity = FUNCTIONS[key]
        if len(args) != arity:
            raise self.fail(f"{name}() takes {arity} argument(s), got {len(args)}")
        images = [self.image(a) for a in args]
        if arity == 1:
            return lookup(algorithm_name)(value=images[0])
        return lookup(algorithm_name)(image1=images[0], image2=images[1])


@algorithm("Image.parseExpression")
def parse_expression(expression: str, argName: str | None = None, vars: Sequence[str] | None = None,
                     mapFreeVarsToDefaultImageBands: bool = False) -> Callable[..., Image]:
    """Earth Engine's ``Image.parseExpression``: an algorithm (a function of images by name) computing
    ``expression``.

    Args:
      expression: the expression text.
      argName: the name of the default image argument (the client passes ``DEFAULT_EXPRESSION_IMAGE``).
      vars: the returned algorithm's parameters: a superset of the expression's free variables.
      mapFreeVarsToDefaultImageBands: a free variable not in ``vars`` names a band of the default image.

    Returns:
      A function taking the images as keyword arguments and returning the result image.

    Raises:
      InvalidArgument: the text does not parse, or uses a variable that is neither in ``vars`` nor (with
        ``mapFreeVarsToDefaultImageBands``) a band of the default image.
    """
    parsed = Expression(expression)
    names = list(vars or [])
    free = {v.partition(".")[0] for v in parsed.variables()} - set(_CONSTANTS) - {"Math"}
    unknown = sorted(free - set(names))
    if unknown and not mapFreeVarsToDefaultImageBands:
        raise InvalidArgument(f"Image.parseExpression: variables {unknown} of {expression!r} are not among the "
                              f"parameters {names}.")

    def run(**images: Any) -> Image:
        missing = [n for n in names if n not in images]
        extra = [n for n in images if n not in names]
        if missing or extra:
            raise InvalidArgument(f"Image.expression: expected the images {names}; missing {missing}, "
                                  f"unexpected {extra}.")
        given = {n: as_image(v) for n, v in images.items()}
        default = given.pop(argName, None) if argName else None
        return _Walker(expression, default, given, mapFreeVarsToDefaultImageBands).image(parsed.tree)

    return run
