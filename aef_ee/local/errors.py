"""Errors of the local Earth Engine, each carrying the HTTP status and Earth Engine status it maps to.

The server turns any :class:`EngineError` into Earth Engine's JSON error body in one place
(``{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}``), which the earthengine-api client
raises as ``ee.EEException`` with the message.
"""

from __future__ import annotations

from aef_ee.errors import AefError


class EngineError(AefError):
    """Root of the local engine's errors."""

    http_status = 500
    status = "INTERNAL"


class InvalidArgument(EngineError, ValueError):
    """The request or an expression argument is malformed or out of range."""

    http_status = 400
    status = "INVALID_ARGUMENT"


class NotFound(EngineError, KeyError):
    """A named thing does not exist: an asset, a band, a property, a map id, an operation."""

    http_status = 404
    status = "NOT_FOUND"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AssetNotFound(NotFound):
    """No asset with that ID in the catalog."""


class InvalidAssetId(InvalidArgument):
    """An asset ID that is malformed or would leave the catalog directory."""


class AlreadyExists(EngineError):
    """An asset or operation with that name already exists."""

    http_status = 409
    status = "ALREADY_EXISTS"


class Unimplemented(EngineError, NotImplementedError):
    """An algorithm or endpoint the local engine does not implement."""

    http_status = 501
    status = "UNIMPLEMENTED"


class ResourceExhausted(EngineError):
    """A request over a size limit (computePixels bytes, maxPixels)."""

    http_status = 400
    status = "RESOURCE_EXHAUSTED"


class EngineStartupError(EngineError, ImportError):
    """A module the engine lists (an algorithm family, an API route module) is missing or fails to import, or the
    algorithm table is inconsistent. Raised when the engine starts, so the mistake never becomes a 501 later."""


class Cancelled(EngineError):
    """A long-running operation was cancelled."""

    http_status = 409
    status = "CANCELLED"
