"""The option objects of ``export_videos``: what (ExportRequest), how (ExportOptions), and the call's boundary checks.

Every bad value raises AefValueError quoting it; equivalent spellings (a comma-separated string, a list) give the
same request, hence the same fingerprint and the same resumable export. SiteSampling is tested in test_sites.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from export_helpers import belgium_sites

import aef_ee.videos.export as export
from aef_ee.errors import AefValueError, UnknownSourceError
from aef_ee.videos.export import ExportOptions, ExportRequest, SiteSampling, export_videos
from aef_ee.videos.export.files import CatalogFilesBackend
from aef_ee.videos.format import VideoDataset
from aef_ee.videos.sources import UnknownBandError


def test_public_names_import_from_the_package() -> None:
    for name in ("export_videos", "ExportRequest", "SiteSampling", "ExportOptions", "ExportResult", "BatchResult"):
        assert name in export.__all__ and getattr(export, name) is not None
    assert "make_sites" not in export.__all__


def test_request_spellings_are_one_request() -> None:
    as_tuples = ExportRequest(sources=("s2", "s1"), bands={"s2": ("B2", "B3")})
    for other in (ExportRequest(sources="s2,s1", bands={"s2": ["B2", "B3"]}),
                  ExportRequest(sources=" s2 , s1 ", bands={"s2": "B2,B3"}),
                  ExportRequest(sources=["s2", "s1"], bands={"s2": ["B2", "B3"]})):
        assert other == as_tuples and other.fingerprint() == as_tuples.fingerprint()
        assert other.sources == ("s2", "s1") and other.bands == {"s2": ("B2", "B3")}
    assert ExportRequest(sources="s2", bands=None).bands == {}
    assert ExportRequest.from_json(as_tuples.to_json()) == as_tuples


@pytest.mark.parametrize("kwargs, quoted", [
    (dict(sources=""), "''"),
    (dict(sources=[]), "[]"),
    (dict(sources={"s2", "s1"}), "{"),
    (dict(sources=["s2", 3]), "3"),
    (dict(sources="s2,s1,s2"), "['s2']"),
    (dict(sources="s2", layout="frames"), "'frames'"),
    (dict(sources="s2", composite="monthy"), "'monthy'"),
    (dict(sources="s2", composite="0d"), "'0d'"),
    (dict(sources="s2", reducer="average"), "'average'"),
    (dict(sources="s2", bands=["B2"]), "['B2']"),
    (dict(sources="s2", bands={"s1": ["VV"]}), "'s1'"),
    (dict(sources="s2", cloud_mask="fmask"), "'fmask'"),
    (dict(sources="s2", cs_threshold=1.5), "1.5"),
    (dict(sources="s2", cs_threshold="0.5"), "'0.5'"),
    (dict(sources="s2", same_pass_s=-1.0), "-1.0"),
    (dict(sources="s2", drop_empty_frames="yes"), "'yes'"),
])
def test_request_rejects_bad_values_quoting_them(kwargs: dict[str, Any], quoted: str) -> None:
    with pytest.raises(AefValueError, match=re.escape(quoted)):
        ExportRequest(**kwargs)


def test_request_names_unknown_sources_and_bands() -> None:
    with pytest.raises(UnknownSourceError, match="'sentinel9'"):
        ExportRequest(sources="s2,sentinel9")
    with pytest.raises(UnknownBandError, match="'B99'"):
        ExportRequest(sources="s2", bands={"s2": ["B2", "B99"]})


def test_options_defaults_and_tile_sizes() -> None:
    options = ExportOptions()
    assert (options.path, options.max_workers, options.max_concurrent_tasks, options.sites_per_shard,
            options.prefix, options.wait, options.progress) == ("interactive", 8, 10, 256, "aef-videos", True, True)
    assert options.resolved_tile_size == 8
    assert ExportOptions(path="batch", bucket="b").resolved_tile_size == 4
    assert ExportOptions(path="batch", bucket="b", tile_size=2).resolved_tile_size == 2
    assert ExportOptions(path="convert").bucket is None  # convert reads the bucket from tasks.json


@pytest.mark.parametrize("kwargs, quoted", [
    (dict(path="fast"), "path='fast'"),
    (dict(path="batch"), "bucket=None"),
    (dict(path="batch", bucket="gs://my-bucket/videos"), "bucket='gs://my-bucket/videos'"),
    (dict(bucket=""), "bucket=''"),
    (dict(prefix=""), "prefix=''"),
    (dict(max_workers=0), "max_workers=0"),
    (dict(max_workers=2.0), "max_workers=2.0"),
    (dict(tile_size=0), "tile_size=0"),
    (dict(max_concurrent_tasks=True), "max_concurrent_tasks=True"),
    (dict(sites_per_shard=-5), "sites_per_shard=-5"),
    (dict(wait="no"), "wait='no'"),
    (dict(progress=None), "progress=None"),
    (dict(staging_dir="gs://b/staging"), "staging_dir='gs://b/staging'"),
    (dict(store="buckets/"), "store='buckets/'"),
    (dict(backend="files"), "backend='files'"),
])
def test_options_reject_bad_values_quoting_them(kwargs: dict[str, Any], quoted: str) -> None:
    with pytest.raises(AefValueError, match=re.escape(quoted)):
        ExportOptions(**kwargs)


def test_options_suggest_the_fix() -> None:
    with pytest.raises(AefValueError, match=re.escape("bucket='my-bucket'")):
        ExportOptions(path="batch", bucket="gs://my-bucket")
    with pytest.raises(AefValueError, match="needs bucket="):
        ExportOptions(path="batch")


def test_export_videos_checks_its_arguments_before_any_work(tmp_path: Path) -> None:
    request = ExportRequest(sources="s1")
    sites = belgium_sites()[:1]
    with pytest.raises(AefValueError, match="ExportRequest"):
        export_videos(tmp_path / "a", {"sources": "s1"}, sites)  # type: ignore[arg-type]
    with pytest.raises(AefValueError, match="needs a request"):
        export_videos(tmp_path / "a", None, sites)
    with pytest.raises(AefValueError, match="needs sites"):
        export_videos(tmp_path / "a", request)
    with pytest.raises(AefValueError, match=re.escape("sites[1] is tuple: (4.0, 50.5)")):
        export_videos(tmp_path / "a", request, [sites[0], (4.0, 50.5)])  # type: ignore[list-item]
    with pytest.raises(AefValueError, match="SiteSampling"):
        export_videos(tmp_path / "a", request, "4.0,50.5,5.0,51.0")  # type: ignore[arg-type]
    with pytest.raises(AefValueError, match="ExportOptions"):
        export_videos(tmp_path / "a", request, sites, options={"progress": False})  # type: ignore[arg-type]
    assert not (tmp_path / "a").exists()


def test_sites_or_a_sampling_give_the_same_export(demo_catalog_dir: Path, tmp_path: Path) -> None:
    """A SiteSampling is drawn into the same sites as its .sites(): same manifest, so each resumes the other."""
    sampling = SiteSampling(start="2020-11-01", end="2021-11-01", region=(5.319, 50.6287, 5.333, 50.6378),
                            n_sites=2, size=16)
    request = ExportRequest(sources="s1")
    options = ExportOptions(backend=CatalogFilesBackend(demo_catalog_dir), max_workers=1, progress=False)
    first = export_videos(tmp_path / "v", request, sampling, options=options)
    assert first.sites_written == 2
    again = export_videos(tmp_path / "v", request, sampling.sites(), options=options)
    assert again.sites_written == 0 and again.sites_skipped == 2
    assert sorted(VideoDataset(tmp_path / "v").site_ids) == sorted(s.site_id for s in sampling.sites())


def test_the_docstring_example_runs_on_the_local_engine(local_server, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      monkeypatch) -> None:
    """The example in export_videos' docstring, as written, against the session's local engine."""
    import aef_ee
    from aef_ee.backend import initialize

    doc = export_videos.__doc__ or ""
    block = doc.split("Example", 1)[1].split("::\n", 1)[1].split("\n    Args:", 1)[0]
    code = "\n".join(line[8:] for line in block.splitlines())
    assert 'aef_ee.initialize(backend="local")' in code
    # initialize(backend="local") would start the demo-catalog engine of aef-ee's cache: use the session's one.
    monkeypatch.setattr(aef_ee, "initialize", lambda backend=None, **kw: initialize(backend, url=local_server.url))
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(code, "export_videos.__doc__", "exec"), scope)
    assert scope["result"].sites_written == 3
    assert len(VideoDataset(tmp_path / "videos")) == 3

