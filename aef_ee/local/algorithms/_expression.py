"""A safe parser for Earth Engine's arithmetic expression language (``Number.expression``, ``Filter.expression``,
and ``Image.expression``, whose tree :mod:`~aef_ee.local.algorithms.image_expression` walks with image operations).

The grammar, lowest precedence first: an optional ``name =`` assignment of the whole expression; ``c ? a : b``;
``||``; ``&&``; ``^`` (logical exclusive or); ``==`` ``!=``; ``<`` ``<=`` ``>`` ``>=``; ``+`` ``-``; ``*`` ``/``
``%``; unary ``-`` ``+`` ``!``; ``**`` (right-associative); then numbers, quoted strings, variables (``a``,
``a.b``), indexing (``a[0]``, ``a[0, 'name']``), parentheses and calls of a fixed set of math functions. Nothing is
ever ``eval``-ed: the text is tokenised, parsed into a small tree of tuples, and the tree is walked with a table of
numpy operations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from aef_ee.local.errors import InvalidArgument

__all__ = ["parse_expression", "evaluate_expression", "Expression"]

# An expression this long is certainly not hand-written; refusing it bounds parser work and recursion.
MAX_EXPRESSION_CHARS = 10_000

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<op>\*\*|==|!=|<=|>=|&&|\|\||[-+*/%<>!?:(),^\[\]=])
    )""", re.X)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidArgument(f"Expression: unexpected character {text[pos:pos + 1]!r} at {pos} in {text!r}.")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


Node = tuple  # ("num", v) | ("str", s) | ("var", name) | ("call", name, [args]) | ("un", op, a) | ("bin", op, a, b)
#              | ("if", c, a, b) | ("index", a, [args]) | ("assign", name, a)

_BINARY_LEVELS = [["||"], ["&&"], ["^"], ["==", "!="], ["<", "<=", ">", ">="], ["+", "-"], ["*", "/", "%"]]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise InvalidArgument(f"Expression: unexpected end of {self.text!r}.")
        token = self.tokens[self.i]
        if expected is not None and token[1] != expected:
            raise InvalidArgument(f"Expression: expected {expected!r} but found {token[1]!r} in {self.text!r}.")
        self.i += 1
        return token

    def parse(self) -> Node:
        if len(self.tokens) > 2 and self.tokens[0][0] == "name" and self.tokens[1] == ("op", "="):
            name = self.tokens[0][1]
            self.i = 2
            node = ("assign", name, self.ternary())
        else:
            node = self.ternary()
        if self.i != len(self.tokens):
            raise InvalidArgument(f"Expression: unexpected {self.tokens[self.i][1]!r} in {self.text!r}.")
        return node

    def ternary(self) -> Node:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take("?")
            a = self.ternary()
            self.take(":")
            return ("if", cond, a, self.ternary())
        return cond

    def binary(self, level: int) -> Node:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek() in _BINARY_LEVELS[level] and self.tokens[self.i][0] == "op":
            op = self.take()[1]
            node = ("bin", op, node, self.binary(level + 1))
        return node

    def unary(self) -> Node:
        if self.peek() in ("-", "+", "!") and self.tokens[self.i][0] == "op":
            op = self.take()[1]
            return ("un", op, self.unary())
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        while self.peek() == "[" and self.tokens[self.i][0] == "op":
            self.take("[")
            args = [self.ternary()]
            while self.peek() == ",":
                self.take(",")
                args.append(self.ternary())
            self.take("]")
            base = ("index", base, args)
        if self.peek() == "**":
            self.take("**")
            return ("bin", "**", base, self.unary())  # right-associative, binds tighter than unary on its left
        return base

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "number":
            return ("num", float(text) if any(c in text for c in ".eE") else int(text))
        if kind == "string":
            return ("str", re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "name":
            if self.peek() == "(":
                self.take("(")
                args: list[Node] = []
                if self.peek() != ")":
                    args.append(self.ternary())
                    while self.peek() == ",":
                        self.take(",")
                        args.append(self.ternary())
                self.take(")")
                return ("call", text, args)
            return ("var", text)
        if text == "(":
            node = self.ternary()
            self.take(")")
            return node
        raise InvalidArgument(f"Expression: unexpected {text!r} in {self.text!r}.")


def _divide(a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.true_divide(a, b)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": _divide, "%": np.fmod, "**": np.power,
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
    ">=": np.greater_equal, "&&": np.logical_and, "||": np.logical_or, "^": np.logical_xor,
}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs, "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "log10": np.log10, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "atan2": np.arctan2,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "min": np.minimum, "max": np.maximum, "pow": np.power, "hypot": np.hypot, "signum": np.sign,
    "int": lambda x: np.trunc(x).astype(np.int64), "float": lambda x: np.asarray(x, np.float64),
}


def _evaluate(node: Node, lookup: Callable[[str], Any]) -> Any:
    kind = node[0]
    if kind in ("num", "str"):
        return node[1]
    if kind == "var":
        return lookup(node[1])
    if kind == "un":
        value = _evaluate(node[2], lookup)
        return np.negative(value) if node[1] == "-" else np.logical_not(value) if node[1] == "!" else value
    if kind == "bin":
        op = node[1]
        a, b = _evaluate(node[2], lookup), _evaluate(node[3], lookup)
        if isinstance(a, str) or isinstance(b, str):
            if op in ("==", "!="):
                return (a == b) == (op == "==")
            if op == "+" and isinstance(a, str) and isinstance(b, str):
                return a + b
            raise InvalidArgument(f"Expression: operator {op!r} does not apply to strings.")
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return _BINARY[op](a, b)
    if kind == "if":
        cond = _evaluate(node[1], lookup)
        a, b = _evaluate(node[2], lookup), _evaluate(node[3], lookup)
        return np.where(cond, a, b) if np.ndim(cond) else (a if cond else b)
    if kind == "assign":
        return _evaluate(node[2], lookup)
    if kind == "index":
        base = _evaluate(node[1], lookup)
        keys = [_evaluate(a, lookup) for a in node[2]]
        if len(keys) != 1:
            raise InvalidArgument("Expression: indexing takes one index here.")
        try:
            return base[int(keys[0])] if isinstance(base, (list, tuple)) else base[keys[0]]
        except (KeyError, IndexError, TypeError, ValueError):
            raise InvalidArgument(f"Expression: no element {keys[0]!r} in {base!r}.") from None
    if kind == "call":
        fn = FUNCTIONS.get(node[1])
        if fn is None:
            raise InvalidArgument(f"Expression: unknown function '{node[1]}'. Known: {sorted(FUNCTIONS)}.")
        return fn(*[_evaluate(a, lookup) for a in node[2]])
    raise InvalidArgument(f"Expression: malformed node {node!r}.")  # pragma: no cover - the parser never builds one


class Expression:
    """A parsed expression; ``evaluate(lookup)`` computes it with variables from ``lookup(name)``."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument("Expression: the expression must be a non-empty string.")
        if len(text) > MAX_EXPRESSION_CHARS:
            raise InvalidArgument(f"Expression: longer than {MAX_EXPRESSION_CHARS} characters.")
        self.text = text
        self.tree = _Parser(text).parse()

    def variables(self) -> set[str]:
        found: set[str] = set()
        stack = [self.tree]
        while stack:
            node = stack.pop()
            if node[0] == "var":
                found.add(node[1])
            elif node[0] == "call":
                stack.extend(node[2])
            elif node[0] == "index":
                stack.append(node[1])
                stack.extend(node[2])
            elif node[0] == "assign":
                stack.append(node[2])
            else:
                stack.extend(n for n in node[1:] if isinstance(n, tuple))
        return found

    def evaluate(self, lookup: Callable[[str], Any]) -> Any:
        try:
            return _evaluate(self.tree, lookup)
        except RecursionError:
            raise InvalidArgument(f"Expression: nested too deeply: {self.text[:100]!r}.") from None


def parse_expression(text: str) -> Expression:
    return Expression(text)


def evaluate_expression(text: str, variables: Mapping[str, Any]) -> Any:
    """Evaluates ``text`` with the given variables (numbers, strings or numpy arrays)."""

    def lookup(name: str) -> Any:
        if name not in variables:
            raise InvalidArgument(f"Expression: unknown variable '{name}' in {text!r}.")
        return variables[name]

    return Expression(text).evaluate(lookup)
