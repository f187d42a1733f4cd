"""Where batch exports land: a Cloud Storage bucket (google-cloud-storage) or a local folder standing in for one.

Both map ``gs://<bucket>/<key>`` URLs: :class:`GcsStore` lists blobs and downloads them to a local cache once;
:class:`LocalBucketStore` reads ``<root>/<bucket>/<key>`` (the local engine's ``bucket_dir``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from aef_ee.atomic import TEMP_PREFIX, atomic_path, write_json_atomic
from aef_ee.errors import AefIOError, AefValueError

__all__ = ["BucketStore", "LocalBucketStore", "GcsStore", "split_gs_url", "upload_dir", "cache_dataset"]


def split_gs_url(url: str) -> tuple[str, str]:
    """``gs://bucket/some/key`` -> ("bucket", "some/key").

    Raises:
      AefValueError: not a gs:// URL with a bucket.
    """
    if not url.startswith("gs://") or len(url) <= 5:
        raise AefValueError(f"not a gs:// URL: {url!r}")
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise AefValueError(f"gs:// URL without a bucket: {url!r}")
    return bucket, key


class BucketStore(Protocol):
    def list(self, bucket: str, prefix: str) -> list[str]:
        """Keys under ``prefix`` in ``bucket``, sorted."""
        ...

    def local_path(self, bucket: str, key: str) -> str:
        """A local file holding the object (downloaded when needed)."""
        ...


class LocalBucketStore:
    """``gs://bucket/key`` is the file ``<root>/bucket/key``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def list(self, bucket: str, prefix: str) -> list[str]:
        base = self.root / bucket
        parent = (base / prefix).parent
        if not parent.is_dir():
            return []
        keys = [p.relative_to(base).as_posix() for p in parent.rglob("*") if p.is_file()]
        return sorted(k for k in keys if k.startswith(prefix) and not Path(k).name.startswith("."))

    def local_path(self, bucket: str, key: str) -> str:
        path = self.root / bucket / key
        if not path.is_file():
            raise AefIOError(f"gs://{bucket}/{key} not found under {self.root}")
        return str(path)


class GcsStore:
    """A real bucket through google-cloud-storage; objects are downloaded once into ``cache_dir``."""

    def __init__(self, cache_dir: str | os.PathLike[str], *, client: object | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self._client = client

    @property
    def client(self) -> object:
        if self._client is None:
            from google.cloud import storage

            self._client = storage.Client()
        return self._client

    def list(self, bucket: str, prefix: str) -> list[str]:
        return sorted(blob.name for blob in self.client.list_blobs(bucket, prefix=prefix))  # type: ignore[attr-defined]

    def local_path(self, bucket: str, key: str) -> str:
        path = self.cache_dir / bucket / key
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                self.client.bucket(bucket).blob(key).download_to_filename(str(tmp))  # type: ignore[attr-defined]
        return str(path)


def upload_dir(local_dir: str | os.PathLike[str], url: str, *, client: object | None = None) -> list[str]:
    """Uploads every file of a finished local dataset directory to ``gs://bucket/prefix/`` (shards first, then
    ``index.json``, so a reader never sees an index naming missing shards). Returns the uploaded URLs."""
    from google.cloud import storage

    bucket_name, prefix = split_gs_url(url)
    client = client or storage.Client()
    bucket = client.bucket(bucket_name)  # type: ignore[attr-defined]
    files = sorted(p for p in Path(local_dir).iterdir() if p.is_file() and not _is_temporary(p.name))
    files.sort(key=lambda p: p.name == "index.json")
    out = []
    for path in files:
        key = f"{prefix.rstrip('/')}/{path.name}" if prefix else path.name
        bucket.blob(key).upload_from_filename(str(path))
        out.append(f"gs://{bucket_name}/{key}")
    if not out:
        raise AefIOError(f"nothing to upload in {local_dir}")
    return out


def cache_dataset(url: str, cache_dir: str | os.PathLike[str] | None = None, *,
                  client: object | None = None) -> Path:
    """Copies a video dataset at ``gs://bucket/prefix`` into a local cache once; returns the local directory.

    ``index.json`` is fetched every time (it changes as an export grows); a shard already cached with the same
    size is not downloaded again.

    Raises:
      AefIOError: the dataset has no ``index.json``.
    """
    import json

    from google.cloud import storage

    bucket_name, prefix = split_gs_url(url)
    prefix = prefix.rstrip("/")
    if cache_dir is None:
        import hashlib

        from aef_ee.paths import cache_dir as default_cache

        cache_dir = Path(default_cache()) / "datasets" / hashlib.sha256(url.encode()).hexdigest()[:16]
    local = Path(cache_dir)
    local.mkdir(parents=True, exist_ok=True)
    client = client or storage.Client()
    bucket = client.bucket(bucket_name)  # type: ignore[attr-defined]
    index_blob = bucket.blob(f"{prefix}/index.json" if prefix else "index.json")
    if not index_blob.exists():
        raise AefIOError(f"no video dataset at {url}: index.json is missing")
    index = json.loads(index_blob.download_as_bytes())
    for shard in index.get("shards", []):
        blob = bucket.get_blob(f"{prefix}/{shard['path']}" if prefix else shard["path"])
        if blob is None:
            raise AefIOError(f"{url}: shard {shard['path']} listed in index.json is missing")
        target = local / shard["path"]
        if target.is_file() and target.stat().st_size == blob.size:
            continue
        with atomic_path(target) as tmp:
            blob.download_to_filename(str(tmp))
    write_json_atomic(local / "index.json", index, indent=None)
    return local


def _is_temporary(name: str) -> bool:
    """A file being written: :mod:`aef_ee.atomic`'s temporary sibling, or an older writer's ``*.tmp``."""
    return name.startswith(TEMP_PREFIX) or name.endswith(".tmp")
