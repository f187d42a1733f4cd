"""Where a field's COGs go: a local folder, or gs:// through a Cloud Storage emulator on loopback."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from gcs_emulator import gcs_emulator

from aef_ee.errors import AefIOError, AefValueError
from aef_ee.fields.output import FieldsOutput, is_gs_url


@pytest.fixture(scope="module")
def gcs():  # type: ignore[no-untyped-def]
    with gcs_emulator("fields") as client:
        yield client


def _cog(folder: Path, name: str, data: bytes = b"II*\x00 a COG") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def test_a_local_output_is_its_folder(tmp_path: Path) -> None:
    out = FieldsOutput(tmp_path / "cogs")
    assert not out.remote and out.local_dir == tmp_path / "cogs" and not is_gs_url(tmp_path)
    assert out.finished() == set() and out.count() == 0
    path = _cog(out.local_dir, "31N_0_0_2021.tif")
    _cog(out.local_dir, ".cog-31N_1_0_2021.tif")  # a writer's temporary is not a COG
    assert out.publish(path) == str(path) and path.exists()
    assert out.finished() == {"31N_0_0_2021.tif"} and out.count() == 1
    with out.open_local("31N_0_0_2021.tif") as local:
        assert local == path
    with pytest.raises(AefValueError, match="not in this output's local folder"):
        out.publish(_cog(tmp_path / "elsewhere", "x.tif"))


def test_a_gs_output_uploads_then_removes_the_local_copy(gcs, tmp_path: Path) -> None:
    out = FieldsOutput("gs://fields/run-1/", local_dir=tmp_path / "local")
    assert out.remote and out.location == "gs://fields/run-1" and out.url("a.tif") == "gs://fields/run-1/a.tif"
    assert out.finished() == set()
    path = _cog(out.local_dir, "31N_0_0_2021.tif", b"first COG")
    assert out.publish(path) == "gs://fields/run-1/31N_0_0_2021.tif"
    assert not path.exists()
    assert gcs.bucket("fields").blob("run-1/31N_0_0_2021.tif").download_as_bytes() == b"first COG"
    with out.open_local("31N_0_0_2021.tif") as local:
        assert local.read_bytes() == b"first COG"
    assert not local.exists()  # a temporary download
    with pytest.raises(AefIOError, match="run-1/missing.tif does not exist"):
        with out.open_local("missing.tif"):
            pass
    # A run killed between its write and its upload left a COG locally: the next run's listing uploads it first.
    _cog(out.local_dir, "31N_640_0_2021.tif", b"left behind")
    assert out.finished() == {"31N_0_0_2021.tif", "31N_640_0_2021.tif"}
    assert list(out.local_dir.glob("*.tif")) == [] and out.count() == 2
    # Other prefixes and nested objects are not this output's COGs.
    gcs.bucket("fields").blob("run-10/x.tif").upload_from_string(b"x")
    gcs.bucket("fields").blob("run-1/sub/y.tif").upload_from_string(b"y")
    assert out.count() == 2


def test_a_gs_output_pickles_without_its_client_and_defaults_to_the_cache(gcs, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEF_EE_CACHE", str(tmp_path / "cache"))
    out = FieldsOutput("gs://fields/run-2", client=gcs)
    assert out.local_dir.parent == tmp_path / "cache" / "fields"
    assert FieldsOutput("gs://fields/run-2").local_dir == out.local_dir  # a resumed run finds the same folder
    copy = pickle.loads(pickle.dumps(out))
    assert copy._client is None and copy.location == out.location
    path = _cog(copy.local_dir, "a.tif", b"from a worker")
    copy.publish(path)  # the copy makes its own client (the emulator's, from STORAGE_EMULATOR_HOST)
    assert out.finished() == {"a.tif"}


def test_a_failed_upload_keeps_the_cog_and_names_the_fix(gcs, tmp_path: Path) -> None:
    out = FieldsOutput("gs://no-such-bucket/x", local_dir=tmp_path / "local", client=gcs)
    path = _cog(out.local_dir, "a.tif")
    with pytest.raises(AefIOError, match="next run of the same command uploads it"):
        out.publish(path)
    assert path.exists()
    with pytest.raises(AefValueError, match="without a bucket"):
        FieldsOutput("gs:///prefix")
