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
    """An algorithm or endpoint the local engine does not implement.

    Answered with HTTP 400 (status ``UNIMPLEMENTED``), not 501: the client (googleapiclient) retries every 5xx
    answer up to five times with exponential back-off, which would only delay an answer that cannot change.
    """

    http_status = 400
    status = "UNIMPLEMENTED"


class ResourceExhausted(EngineError):
    """A request over a size limit (computePixels bytes, maxPixels)."""

    http_status = 400
    status = "RESOURCE_EXHAUSTED"


class MemoryLimitExceeded(ResourceExhausted, MemoryError):
    """A request would hold more memory than its budget (a list, a string, the process's resident memory)."""

    def __init__(self, message: str = "User memory limit exceeded.") -> None:
        super().__init__(message)


class ComputationTimedOut(EngineError):
    """A request ran past its compute-time budget (the evaluator, a regular expression, a pixel computation).

    HTTP 400 rather than 504: the client retries 5xx answers, and a computation that timed out would time out again.
    Not a ``TimeoutError``: that is an ``OSError``, which file-reading code catches.
    """

    http_status = 400
    status = "DEADLINE_EXCEEDED"

    def __init__(self, message: str = "Computation timed out.") -> None:
        super().__init__(message)


class TooManyRequests(EngineError):
    """Every compute worker is busy and the queue is full. HTTP 429, which the client retries with back-off."""

    http_status = 429
    status = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str = "Too many concurrent requests.") -> None:
        super().__init__(message)


class ShuttingDown(EngineError):
    """The server, or the process it runs in, is stopping and takes no new computations."""

    http_status = 503
    status = "UNAVAILABLE"

    def __init__(self, message: str = "The local Earth Engine is shutting down.") -> None:
        super().__init__(message)


class RequestTooLarge(InvalidArgument):
    """A request body over the size limit (announced by Content-Length, or found while reading a chunked body)."""


class UnsupportedMediaType(InvalidArgument):
    """A request body that is not ``application/json``. Refused because a browser sends text/plain and form bodies
    cross-origin without asking the server first (no CORS preflight)."""

    http_status = 415


class RequestTimeout(EngineError):
    """The client did not send its request (headers and body) in time. The connection is closed after the answer."""

    http_status = 408
    status = "DEADLINE_EXCEEDED"


class Unauthenticated(EngineError):
    """A request without the server's token (or with a wrong one).

    HTTP 403, not 401: on a 401 the client's google-auth layer tries to refresh its (anonymous) credentials and
    reports "Anonymous credentials cannot be refreshed." instead of this message. Not retried by the client.
    """

    http_status = 403
    status = "UNAUTHENTICATED"


class PermissionDenied(EngineError):
    """A request refused whatever its token: an unknown Host (DNS rebinding), a cross-origin page the user did
    not allow, a file outside the folders the engine may read. (Not a ``PermissionError``: that is an ``OSError``,
    which file-reading code catches.)"""

    http_status = 403
    status = "PERMISSION_DENIED"


class UnsafeBinding(EngineError, ValueError):
    """The server was asked to listen on an address other machines can reach, without ``allow_remote``."""


class EngineStartupError(EngineError, ImportError):
    """A module the engine lists (an algorithm family, an API route module) is missing or fails to import, or the
    algorithm table is inconsistent. Raised when the engine starts, so the mistake never becomes a 501 later."""


class Cancelled(EngineError):
    """A long-running operation was cancelled."""

    http_status = 409
    status = "CANCELLED"
