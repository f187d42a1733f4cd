"""Every error aef-ee raises, under one root class.

Each subclass also inherits the matching builtin, so ``except ValueError`` keeps working for callers
that do not know about aef-ee.
"""

from __future__ import annotations


class AefError(Exception):
    """Root of every aef-ee error."""


class AefValueError(AefError, ValueError):
    """An argument has a value aef-ee cannot use; the message quotes it."""


class AefKeyError(AefError, KeyError):
    """A named thing (a source, a band, an asset) does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class AefIOError(AefError, OSError):
    """Reading or writing a file, a shard or a bucket failed."""


class VideoFormatError(AefIOError):
    """A video shard or index is missing, truncated or of another format version."""


class UnknownSourceError(AefKeyError):
    """A sensor source name is not in the source registry."""


class ExportError(AefError, RuntimeError):
    """An export of training videos or rasters failed."""


class EmbeddingError(AefValueError):
    """An embedding collection does not cover the asked year or region, or has the wrong shape."""


class RegistrationError(AefValueError):
    """A COG cannot be registered as an embedding image (band count, type, CRS, time)."""


class BackendError(AefError, RuntimeError):
    """Earth Engine (or the local engine) could not be initialised."""


class SiteError(AefValueError):
    """A site cannot be placed: outside every UTM zone's latitude band, an empty region, too few distinct sites."""


class NoDataError(ExportError):
    """A source has no image over a site or region in the asked period."""


class ExportManifestError(ExportError):
    """An export directory holds a manifest written with other arguments; it cannot be resumed with these."""


class IndexFormatError(AefIOError):
    """An embedding-index folder is missing, incomplete, or of another format or version."""
