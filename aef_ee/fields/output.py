"""Where a field's COGs go: a local folder, or ``gs://bucket/prefix`` through google-cloud-storage.

A COG is always written to a local folder first (atomically: a temporary name renamed into place). For a
``gs://`` output it is then uploaded, and the local copy removed once the object exists. Cloud Storage creates an
object only when its upload completes, so a reader (or a resumed run) sees a whole COG or none. A run killed
between the write and the upload left the COG in the local folder; :meth:`FieldsOutput.finished` uploads such COGs
first, so the next run neither loses nor rewrites them.

    out = FieldsOutput("gs://my-bucket/fields/2021")
    done = out.finished()                 # names of the COGs already there
    out.publish(out.local_dir / "31N_650240_5610880_2021.tif")   # -> "gs://my-bucket/fields/2021/31N_..."

An output is picklable (a Beam worker gets a copy; its client is made in the worker, once).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aef_ee.atomic import TEMP_PREFIX
from aef_ee.errors import AefIOError, AefValueError

__all__ = ["FieldsOutput", "is_gs_url"]

COG_SUFFIX = ".tif"


def is_gs_url(location: str | os.PathLike[str]) -> bool:
    return str(location).startswith("gs://")


class FieldsOutput:
    """One output of COGs.

    Args:
      location: a local folder, or ``gs://bucket/prefix``.
      local_dir: for a ``gs://`` location, the local folder COGs are written to before their upload (default: a
        folder of aef-ee's cache named after the URL, so that a resumed run finds what the killed one left).
        Ignored for a local location (the COGs are written in place).
      client: a ``google.cloud.storage.Client`` (default: one made on first use, with the environment's
        credentials); not pickled.

    Raises:
      AefValueError: a ``gs://`` location without a bucket.
    """

    def __init__(self, location: str | os.PathLike[str], *, local_dir: str | os.PathLike[str] | None = None,
                 client: Any = None) -> None:
        self.location = str(location)
        self._client = client
        if is_gs_url(self.location):
            from aef_ee.videos.export.storage import split_gs_url

            self.bucket, prefix = split_gs_url(self.location.rstrip("/"))
            self.prefix = prefix.strip("/")
            self.location = f"gs://{self.bucket}/{self.prefix}" if self.prefix else f"gs://{self.bucket}"
            if local_dir is None:
                from aef_ee.paths import cache_dir

                key = hashlib.sha256(self.location.encode()).hexdigest()[:16]
                local_dir = Path(cache_dir()) / "fields" / key
            self.local_dir = Path(local_dir)
        else:
            self.bucket = self.prefix = ""
            self.local_dir = Path(self.location)

    @property
    def remote(self) -> bool:
        return bool(self.bucket)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def __repr__(self) -> str:
        return f"FieldsOutput({self.location!r})"

    def url(self, name: str) -> str:
        """Where the COG ``name`` (e.g. ``31N_650240_5610880_2021.tif``) is, once published."""
        return f"{self.location}/{name}" if self.remote else str(self.local_dir / name)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _bucket(self) -> Any:
        if self._client is None:
            from aef_ee.backend import require_extra

            require_extra("local", f"writing embedding COGs to {self.location}", ("google.cloud.storage",))
            from google.cloud import storage

            self._client = storage.Client()
        return self._client.bucket(self.bucket)

    def _local_cogs(self) -> set[str]:
        if not self.local_dir.is_dir():
            return set()
        return {p.name for p in self.local_dir.glob(f"*{COG_SUFFIX}") if not p.name.startswith(".")}

    def _listed(self) -> set[str]:
        """The names of the COGs the output holds (for ``gs://``: one listing request per 1000 objects)."""
        if not self.remote:
            return self._local_cogs()
        prefix = f"{self.prefix}/" if self.prefix else ""
        names = {blob.name[len(prefix):] for blob in self._bucket().client.list_blobs(self.bucket, prefix=prefix)}
        return {n for n in names if n.endswith(COG_SUFFIX) and "/" not in n and not n.startswith(".")}

    def finished(self) -> set[str]:
        """The names of the COGs the output holds. For a ``gs://`` output, the COGs a killed run wrote but did not
        upload are uploaded first (and counted)."""
        if self.remote:
            for name in sorted(self._local_cogs()):
                self.publish(self.local_dir / name)
        return self._listed()

    def count(self) -> int:
        """How many COGs the output holds (a progress bar polls it)."""
        return len(self._listed())

    def publish(self, path: Path) -> str:
        """Makes the finished local COG ``path`` part of the output; returns its :meth:`url`.

        Raises:
          AefValueError: ``path`` is not in :attr:`local_dir`.
          AefIOError: the upload failed (the local COG is kept, and uploaded by the next run).
        """
        path = Path(path)
        if path.parent.resolve() != self.local_dir.resolve():
            raise AefValueError(f"{path} is not in this output's local folder {self.local_dir}")
        if not self.remote:
            return str(path)
        url = self.url(path.name)
        try:
            self._bucket().blob(self._key(path.name)).upload_from_filename(str(path))
        except Exception as exc:  # google.api_core errors, connection errors
            raise AefIOError(f"uploading {path} to {url} failed ({exc}); it stays there and the next run of the "
                             "same command uploads it") from exc
        path.unlink()
        return url

    @contextlib.contextmanager
    def open_local(self, name: str) -> Iterator[Path]:
        """A local file holding the published COG ``name`` (downloaded to a temporary file for ``gs://``)."""
        if not self.remote:
            yield self.local_dir / name
            return
        from google.api_core.exceptions import NotFound

        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:  # private: no atomic rename needed
            local = Path(tmp) / name
            try:
                self._bucket().blob(self._key(name)).download_to_filename(str(local))
            except NotFound as exc:
                raise AefIOError(f"{self.url(name)} does not exist") from exc
            yield local
