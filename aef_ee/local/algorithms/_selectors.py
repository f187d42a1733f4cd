"""Earth Engine's name selectors (bands, properties, dictionary keys): an exact name, else a Java-style regular
expression that must match the whole name."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["match_names"]


def match_names(selector: str, names: Sequence[str]) -> list[str]:
    """The names ``selector`` selects, in the order of ``names`` (an invalid pattern selects nothing)."""
    if selector in names:
        return [selector]
    try:
        pattern = re.compile(selector + r"\Z")
    except re.error:
        return []
    return [n for n in names if pattern.match(n)]
