"""Earth Engine's name selectors (bands, properties, dictionary keys): an exact name, else a Java-style regular
expression that must match the whole name (run through :mod:`aef_ee.local.safe_regex`, as every request pattern)."""

from __future__ import annotations

from collections.abc import Sequence

from aef_ee.local.errors import InvalidArgument
from aef_ee.local.safe_regex import compile_pattern

__all__ = ["match_names"]


def match_names(selector: str, names: Sequence[str], *, where: str = "name selector") -> list[str]:
    """The names ``selector`` selects, in the order of ``names`` (an invalid pattern selects nothing).

    Raises:
      ComputationTimedOut: matching a name took longer than the request's regex timeout.
      MemoryLimitExceeded: the pattern is too long or repeats too much.
    """
    if selector in names:
        return [selector]
    try:
        pattern = compile_pattern(selector, where=where)
    except InvalidArgument:  # as Earth Engine: the caller reports that the selector matched nothing
        return []
    return [n for n in names if pattern.fullmatch(n)]
