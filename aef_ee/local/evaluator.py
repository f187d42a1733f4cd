"""Evaluates Earth Engine expression graphs by walking them and dispatching on algorithm names.

An expression (what ``ee.serializer.encode`` produces) is ``{"result": id, "values": {id: node}}``. Nodes are
``constantValue``, ``integerValue``, ``bytesValue``, ``arrayValue``, ``dictionaryValue``, ``valueReference``,
``argumentReference``, ``functionDefinitionValue`` and ``functionInvocationValue`` (by ``functionName`` or by
``functionReference`` to a defined function). Nothing is ever ``eval``-ed: every invocation is a lookup in the
algorithm registry.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from aef_ee.local.algorithms.registry import lookup
from aef_ee.local.context import EngineContext, use_context
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.limits import checkpoint
from aef_ee.local.semantics import truthy

__all__ = ["Closure", "evaluate", "MAX_DEPTH"]

# Earth Engine refuses deeper graphs too; this keeps a hostile request from exhausting the Python stack.
MAX_DEPTH = 400


class Closure:
    """A function defined in the expression (``functionDefinitionValue``), callable from algorithms.

    ``collection.map(lambda image: ...)`` arrives as one of these; ``Collection.map`` calls it per element.
    """

    def __init__(self, walker: "_Walker", argument_names: Sequence[str], body: str, env: Mapping[str, Any]):
        self._walker = walker
        self.argument_names = list(argument_names)
        self._body = body
        self._env = dict(env)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) > len(self.argument_names):
            raise InvalidArgument(
                f"Function takes {len(self.argument_names)} arguments ({self.argument_names}); got {len(args)}."
            )
        bound = dict(self._env)
        bound.update(zip(self.argument_names, args))
        bound.update(kwargs)
        missing = [name for name in self.argument_names if name not in bound]
        if missing:
            raise InvalidArgument(f"Function is missing arguments {missing}.")
        return self._walker.value(self._body, bound, depth=0, cache={})


class _Walker:
    def __init__(self, values: Mapping[str, Any]) -> None:
        if not isinstance(values, Mapping):
            raise InvalidArgument("Invalid expression: 'values' must be an object.")
        self._values = values
        self._top_cache: dict[str, Any] = {}
        self._depends: dict[str, bool] = {}

    def _depends_on_arguments(self, ref: str) -> bool:
        """Whether the node (transitively) reads a function argument; others are evaluated once per request."""
        if ref in self._depends:
            return self._depends[ref]
        self._depends[ref] = True  # cycles (malformed graphs) count as dependent
        stack = [self._values.get(ref)]
        result = False
        while stack:
            item = stack.pop()
            if isinstance(item, Mapping):
                if "argumentReference" in item:
                    result = True
                    break
                if "valueReference" in item and isinstance(item["valueReference"], str):
                    if self._depends_on_arguments(item["valueReference"]):
                        result = True
                        break
                    continue
                if "functionDefinitionValue" in item:
                    # Conservative: a closure is rebuilt per call when its body reads any argument, so it always
                    # captures the current call's environment.
                    body = item["functionDefinitionValue"].get("body") if isinstance(
                        item["functionDefinitionValue"], Mapping) else None
                    if isinstance(body, str) and self._depends_on_arguments(body):
                        result = True
                        break
                    continue
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        self._depends[ref] = result
        return result

    def value(self, ref: str, env: Mapping[str, Any], *, depth: int, cache: dict[str, Any]) -> Any:
        """Evaluates the node with id ``ref``; results are memoised per function call (``cache``)."""
        store = self._top_cache if not env or not self._depends_on_arguments(ref) else cache
        if ref in store:
            return store[ref]
        try:
            node = self._values[ref]
        except (KeyError, TypeError):
            raise InvalidArgument(f"Invalid expression: reference to undefined value {ref!r}.") from None
        result = self.node(node, env, depth=depth + 1, cache=cache)
        store[ref] = result
        return result

    def node(self, node: Any, env: Mapping[str, Any], *, depth: int, cache: dict[str, Any]) -> Any:
        if depth > MAX_DEPTH:
            raise InvalidArgument(f"Invalid expression: nested deeper than {MAX_DEPTH} levels.")
        if not isinstance(node, Mapping) or len(node) != 1:
            raise InvalidArgument(f"Invalid expression node: {str(node)[:200]}")
        (kind, body), = node.items()
        if kind == "constantValue":
            return body
        if kind == "integerValue":
            try:
                return int(body)
            except (TypeError, ValueError):
                raise InvalidArgument(f"Invalid integerValue {str(body)[:100]!r}.") from None
        if kind == "bytesValue":
            try:
                return base64.b64decode(_expect(kind, body, str))
            except binascii.Error:
                raise InvalidArgument(f"Invalid bytesValue {body[:100]!r}: not base64.") from None
        if kind == "valueReference":
            return self.value(_expect(kind, body, str), env, depth=depth, cache=cache)
        if kind == "argumentReference":
            if _expect(kind, body, str) not in env:
                raise InvalidArgument(f"Invalid expression: unbound function argument {body!r}.")
            return env[body]
        if kind == "arrayValue":
            values = _expect(kind, _expect(kind, body, Mapping).get("values", []), list)
            return [self.node(v, env, depth=depth + 1, cache=cache) for v in values]
        if kind == "dictionaryValue":
            values = _expect(kind, _expect(kind, body, Mapping).get("values", {}), Mapping)
            return {k: self.node(v, env, depth=depth + 1, cache=cache) for k, v in values.items()}
        if kind == "functionDefinitionValue":
            _expect(kind, body, Mapping)
            names = _expect(kind, body.get("argumentNames", []), list)
            if not all(isinstance(name, str) for name in names):
                raise InvalidArgument(f"Invalid expression: argumentNames must be strings; got {str(names)[:200]}.")
            return Closure(self, names, _expect(kind, body.get("body"), str), env)
        if kind == "functionInvocationValue":
            return self.invoke(_expect(kind, body, Mapping), env, depth=depth, cache=cache)
        raise InvalidArgument(f"Invalid expression: unknown value kind {str(kind)[:100]!r}.")

    def invoke(self, body: Mapping[str, Any], env: Mapping[str, Any], *, depth: int, cache: dict[str, Any]) -> Any:
        # Every algorithm call (closure calls from List.map / iterate included) checks the request's budget.
        checkpoint()
        if body.get("functionName") in _LAZY_CONDITIONALS:
            return self._if(body, env, depth=depth, cache=cache)
        args = {
            name: self.node(arg, env, depth=depth + 1, cache=cache)
            for name, arg in _expect("arguments", body.get("arguments") or {}, Mapping).items()
        }
        if "functionName" in body:
            name = _expect("functionName", body["functionName"], str)
            fn = lookup(name)
        elif "functionReference" in body:
            fn = self.value(_expect("functionReference", body["functionReference"], str), env, depth=depth,
                            cache=cache)
            name = "function"
            if not callable(fn):
                raise InvalidArgument("Invalid expression: functionReference does not name a function.")
        else:
            raise InvalidArgument("Invalid expression: invocation without functionName or functionReference.")
        try:
            return fn(**args)
        except TypeError as exc:
            # A wrong or missing argument name: phrase it the way Earth Engine does.
            message = str(exc)
            if "unexpected keyword argument" in message or "missing" in message and "argument" in message:
                raise InvalidArgument(f"{name}: {_argument_message(message)}") from exc
            raise

    def _if(self, body: Mapping[str, Any], env: Mapping[str, Any], *, depth: int, cache: dict[str, Any]) -> Any:
        """``Algorithms.If`` evaluates only the branch it returns, so the other may be invalid (e.g. the first
        image of an empty collection), as on Earth Engine."""
        arguments = _expect("arguments", body.get("arguments") or {}, Mapping)
        condition = self.node(arguments["condition"], env, depth=depth + 1, cache=cache) \
            if "condition" in arguments else None
        branch = arguments.get("trueCase" if truthy(condition) else "falseCase")
        return None if branch is None else self.node(branch, env, depth=depth + 1, cache=cache)


_LAZY_CONDITIONALS = ("If", "Algorithms.If")


def _expect(kind: str, value: Any, expected: type) -> Any:
    """``value`` if it is an ``expected`` (a malformed node is the request's fault: 400, never 500)."""
    if not isinstance(value, expected):
        wanted = "an object" if expected is Mapping else f"a {expected.__name__}"
        raise InvalidArgument(f"Invalid expression: {kind} must be {wanted}; got {type(value).__name__}.")
    return value


def _argument_message(message: str) -> str:
    if "unexpected keyword argument" in message:
        arg = message.split("unexpected keyword argument")[-1].strip(" '")
        return f"Unrecognized argument '{arg}'."
    if "missing" in message:
        return "Required argument " + message.split("argument")[-1].strip(": ") + " is missing."
    return message


def evaluate(expression: Mapping[str, Any], context: EngineContext) -> Any:
    """Evaluates a serialized expression and returns the engine value of its result node."""
    if not isinstance(expression, Mapping) or "result" not in expression or "values" not in expression:
        raise InvalidArgument("Invalid expression: expected an object with 'result' and 'values'.")
    with use_context(context):
        walker = _Walker(expression["values"])
        try:
            return walker.value(_expect("result", expression["result"], str), {}, depth=0, cache={})
        except RecursionError as exc:
            raise InvalidArgument("Invalid expression: too deeply nested.") from exc

