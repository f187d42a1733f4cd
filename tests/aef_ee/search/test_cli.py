"""``aef-ee index build|update|query|info`` (the command module, parsed and run as ``aef-ee`` runs it), against
the local engine serving the test embedding collection."""

from __future__ import annotations

import argparse
import json

import numpy as np
from embedding_field import COLLECTION

from aef_ee.cli import index as index_command
from aef_ee.search import open_index

from .conftest import unit_values


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    index_command.add_arguments(parser)
    return index_command.run(parser.parse_args(list(argv)))


def test_build_info_query_update(embedding_field, tmp_path, capsys):
    url = embedding_field.server.url
    path = str(tmp_path / "index")
    assert _run("build", COLLECTION, "--years", "2024", "--path", path, "--sampling", "stride", "--scale", "20",
                "--url", url) == 0
    assert "400 rows from 1 tiles, years [2024], search exact" in capsys.readouterr().out
    assert _run("info", path) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rows"] == 400 and info["sampling"] == {"method": "stride", "scale": 20.0} and info["tiles"] == 1
    lon, lat = embedding_field.lonlat(25, 7)
    assert _run("query", path, "--point", str(lon), str(lat), "-k", "3", "--url", url) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert len(hits) == 3 and hits[0]["score"] > 0.99
    vector = unit_values(embedding_field, 2024)[31, 31]  # a stride-20 m centre pixel: rows 1, 3, 5, ...
    assert _run("query", path, "--vector=" + ",".join(map(str, vector)), "-k", "1") == 0
    best = json.loads(capsys.readouterr().out)["hits"][0]
    assert best["score"] > 0.999
    assert _run("update", path, "--years", "2023", "--url", url) == 0
    assert "1 tiles added (400 rows), generation 2" in capsys.readouterr().out
    reopened = open_index(path)
    assert len(reopened) == 800 and reopened.years == [2023, 2024]
    np.testing.assert_allclose(reopened.vectors(np.array([best["row"]]))[0], vector, atol=1e-3)
