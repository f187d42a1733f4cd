"""Regular expressions that come from requests (``String.match``, ``String.replace``, ``String.split``, band and
property selectors, ``Image.regexpRename``, ``Date.parse`` formats), run so that a catastrophic pattern cannot stall
the engine. Every pattern a request supplies is compiled with :func:`compile_pattern`, never with ``re`` directly.

Python's ``re`` holds the GIL for the whole match and cannot be stopped, so ``(a|a)+$`` on forty ``a`` would freeze
every request of the process for hours. Patterns are therefore parsed by ``re`` (its syntax and error messages, and
a bound on how large the compiled program gets: nested counted repeats such as ``((a{100}){100}){100}`` expand
when compiled) and then run by the ``regex`` module, which releases the GIL (``concurrent=True``) and stops after a
timeout: the request's regex budget (:attr:`aef_ee.local.limits.Limits.regex_timeout_s`), cut to what is left of
its compute budget. A timeout is :class:`~aef_ee.local.errors.ComputationTimedOut` ("Computation timed out.").

Without the ``regex`` module (it comes with the ``local`` extra) patterns run on ``re`` with no timeout, and a
warning says so at import.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from re import _constants as _sre  # the parse-tree opcodes of re's own parser
from re import _parser as _sre_parse
from typing import Any

from aef_ee.local import limits
from aef_ee.local.errors import ComputationTimedOut, InvalidArgument, MemoryLimitExceeded

try:
    import regex as _engine
except ImportError:  # pragma: no cover - the local extra installs it
    _engine = None

__all__ = ["SafePattern", "compile_pattern", "MAX_PATTERN_LENGTH", "MAX_PROGRAM_SIZE"]

log = logging.getLogger(__name__)
if _engine is None:  # pragma: no cover
    log.warning("the 'regex' module is missing: String.match/replace/split run on Python's re, with no timeout")

# Longer patterns are not regular expressions a script writes by hand.
MAX_PATTERN_LENGTH = 10_000
# Atoms of the pattern once counted repeats are expanded; the regex module compiles ~1e6 of them per second and
# needs memory in proportion, so 1e5 keeps compilation under ~0.1 s.
MAX_PROGRAM_SIZE = 100_000

# What expanding a bad replacement template raises (an unknown group, a trailing backslash).
_TEMPLATE_ERRORS: tuple[type[Exception], ...] = (re.error, IndexError) + (
    (_engine.error,) if _engine is not None else ())
_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT))


def _program_size(items: Any) -> int:
    """Atoms of a parsed pattern with its counted repeats expanded (unbounded repeats count their minimum, or 1)."""
    total = 0
    for op, arg in items:
        if op in _REPEATS:
            low, high, sub = arg
            count = low if high == _sre.MAXREPEAT else high
            total += max(1, count) * _program_size(sub)
        elif op == _sre.SUBPATTERN:
            total += _program_size(arg[-1])
        elif op == _sre.BRANCH:
            total += sum(_program_size(alternative) for alternative in arg[1])
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            total += _program_size(arg[1])
        elif op == getattr(_sre, "ATOMIC_GROUP", None):
            total += _program_size(arg)
        elif op == _sre.GROUPREF_EXISTS:
            total += _program_size(arg[1]) + (_program_size(arg[2]) if arg[2] else 0)
        else:
            total += 1
        if total > MAX_PROGRAM_SIZE:
            return total
    return total


def _timeout_s() -> float | None:
    budget = limits.current_budget()
    if budget is None:
        return limits.REGEX_TIMEOUT_S
    remaining = budget.remaining_s()
    if remaining <= 0:
        raise ComputationTimedOut()
    return min(budget.regex_timeout_s, remaining)


class SafePattern:
    """A compiled pattern whose calls stop after the request's regex timeout (see the module docstring)."""

    def __init__(self, compiled: Any, where: str) -> None:
        self._compiled = compiled
        self._where = where

    def _run(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if _engine is None:  # pragma: no cover
            return call(*args, **kwargs)
        try:
            return call(*args, concurrent=True, timeout=_timeout_s(), **kwargs)
        except TimeoutError:
            raise ComputationTimedOut(f"Computation timed out. ({self._where}: the regular expression "
                                      f"'{self._compiled.pattern[:200]}' ran too long.)") from None

    @property
    def pattern(self) -> str:
        return self._compiled.pattern

    def search(self, text: str) -> Any:
        """The first match in ``text`` (a match object) or None."""
        return self._run(self._compiled.search, text)

    def fullmatch(self, text: str) -> Any:
        """A match object when the whole of ``text`` matches (Java's ``String.matches``), else None."""
        return self._run(self._compiled.fullmatch, text)

    def all_matches(self, text: str) -> list[str]:
        """Every non-overlapping match's text, left to right."""
        return self._run(lambda string, **kw: [m.group(0) for m in self._compiled.finditer(string, **kw)], text)

    def split(self, text: str) -> list[str]:
        """``text`` split around the matches (group texts included, as ``re.split`` does)."""
        return self._run(self._compiled.split, text)

    def sub(self, template: str, text: str, count: int = 0) -> str:
        """``text`` with matches replaced by ``template`` (``\\g<1>`` group references), at most
        ``count`` of them (0: all); refused when the result would pass
        :data:`~aef_ee.local.limits.MAX_STRING_LENGTH`.

        Raises:
          InvalidArgument: ``template`` names a group the pattern lacks, or ends in a lone backslash.
          MemoryLimitExceeded: the result would be too long.
        """
        produced = [0]

        def replace(match: Any) -> str:
            piece = match.expand(template)
            produced[0] += len(piece) - (match.end() - match.start())
            limits.check_string_length(len(text) + produced[0], self._where)
            return piece

        try:
            if len(text) + (len(text) + 1) * len(template) <= limits.MAX_STRING_LENGTH:
                return self._run(self._compiled.sub, template, text, count=count)
            return self._run(self._compiled.sub, replace, text, count=count)
        except _TEMPLATE_ERRORS as exc:
            # A group the pattern does not have, a trailing backslash.
            raise InvalidArgument(f"{self._where}: Invalid replacement '{template[:200]}': {exc}.") from None


def compile_pattern(pattern: str, *, ignore_case: bool = False, multiline: bool = False,
                    where: str) -> SafePattern:
    """Compiles a pattern from a request.

    Args:
      pattern: the regular expression (Python ``re`` syntax, which covers what Earth Engine scripts write).
      ignore_case, multiline: the ``i`` and ``m`` flags.
      where: the algorithm, for messages (``"String.match"``).

    Raises:
      InvalidArgument: the pattern is not a valid regular expression.
      MemoryLimitExceeded: the pattern is too long, or its counted repeats expand past :data:`MAX_PROGRAM_SIZE`.
    """
    if not isinstance(pattern, str):
        raise InvalidArgument(f"{where}: the regular expression must be a string; got {type(pattern).__name__}.")
    return _compile(pattern, ignore_case, multiline, where)


# A band selector is compiled once per image it selects from (a collection map selects from every image); parsing
# and sizing a pattern costs ~10-100 us, so valid patterns are kept (SafePattern holds no per-call state).
@functools.lru_cache(maxsize=256)
def _compile(pattern: str, ignore_case: bool, multiline: bool, where: str) -> SafePattern:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise MemoryLimitExceeded(f"User memory limit exceeded. ({where}: a regular expression of {len(pattern)} "
                                  f"characters; the local engine allows {MAX_PATTERN_LENGTH}.)")
    flags = (re.IGNORECASE if ignore_case else 0) | (re.MULTILINE if multiline else 0)
    try:
        parsed = _sre_parse.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError) as exc:
        raise InvalidArgument(f"{where}: Invalid regular expression '{pattern[:200]}': {exc}.") from None
    if _program_size(parsed) > MAX_PROGRAM_SIZE:
        raise MemoryLimitExceeded(f"User memory limit exceeded. ({where}: the regular expression "
                                  f"'{pattern[:200]}' repeats too much.)")
    if _engine is None:  # pragma: no cover
        return SafePattern(re.compile(pattern, flags), where)
    engine_flags = _engine.VERSION0 | (_engine.IGNORECASE if ignore_case else 0) | (
        _engine.MULTILINE if multiline else 0)
    try:
        return SafePattern(_engine.compile(pattern, engine_flags), where)
    except _engine.error as exc:
        raise InvalidArgument(f"{where}: Invalid regular expression '{pattern[:200]}': {exc}.") from None
