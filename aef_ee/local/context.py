"""The request context: what algorithms may need beyond their arguments (the catalog and engine-wide settings).

The evaluator sets it for the duration of one request (:func:`use_context`); an algorithm that reads the catalog
(``ImageCollection.load``) or a setting (``bucket_dir``) calls :func:`current_context`. It is a context variable, so
concurrent requests on the server's threads each see their own.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["EngineContext", "current_context", "use_context"]


@dataclasses.dataclass
class EngineContext:
    """What algorithms may need beyond their arguments.

    Attributes:
      catalog: the :class:`~aef_ee.local.catalog.Catalog` being served.
      settings: engine settings (``drive_dir``, ``bucket_dir``, ``gcs_endpoint``, ``server``, ...).
    """

    catalog: Any
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_CONTEXT: contextvars.ContextVar[EngineContext] = contextvars.ContextVar("aef_ee_local_context")


def current_context() -> EngineContext:
    """The context of the request being evaluated.

    Raises:
      RuntimeError: called outside :func:`use_context` (no request is being evaluated).
    """
    try:
        return _CONTEXT.get()
    except LookupError:
        raise RuntimeError("no local engine context: evaluate() was called outside a request") from None


class use_context:  # noqa: N801 - a context manager reads better lower-case
    """Makes ``context`` the current context inside a ``with`` block."""

    def __init__(self, context: EngineContext) -> None:
        self._context = context
        self._token: contextvars.Token | None = None

    def __enter__(self) -> EngineContext:
        self._token = _CONTEXT.set(self._context)
        return self._context

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _CONTEXT.reset(self._token)
