"""The catalog directory format (aef_ee.local.catalog) and adding user files (aef_ee.local.catalog_add)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from aef_ee.local.catalog import Catalog
from aef_ee.local.catalog_add import (
    add_to_catalog,
    parse_property,
    parse_time,
    parse_time_range,
    write_feature_collection,
    write_geotiff,
)
from aef_ee.local.errors import AlreadyExists, AssetNotFound, InvalidArgument, InvalidAssetId, NotFound
from aef_ee.paths import data_dir

DATA = data_dir()
TOGO_TIF = DATA / "cropharvest_togo" / "98-togo_2019-02-06_2020-02-01.tif"
IOWA_CSV = DATA / "alphaearth_samples" / "alphaearth_s1_dw_samples_iowa_ag_2024.csv"
BRAZIL_POLYGONS = DATA / "landsat8_brazil" / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"


@pytest.fixture()
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog")


def _small_image(catalog: Catalog, asset_id: str, value: int = 7) -> np.ndarray:
    """A real 2-band uint16 GeoTIFF next to the manifest of ``asset_id``; returns its pixels."""
    pixels = (np.arange(2 * 20 * 30, dtype=np.uint16).reshape(2, 20, 30) + value)
    leaf = asset_id.rsplit("/", 1)[-1]
    write_geotiff(catalog.base_path(asset_id).with_name(f"{leaf}.tif"), pixels,
                  transform=Affine(10, 0, 500000, 0, -10, 5600000), crs="EPSG:32631", nodata=0,
                  descriptions=["B4", "B8"])
    catalog.write_image(asset_id, [
        {"id": "B4", "path": f"{leaf}.tif", "band": 1, "data_type": "uint16", "nodata": 0},
        {"id": "B8", "path": f"{leaf}.tif", "band": 2, "data_type": "uint16", "nodata": 0}],
        {"system:time_start": 1_600_000_000_000, "CLOUD": 3.5, "tags": ["a", "b"]})
    return pixels


def _read(catalog: Catalog, asset_id: str, band_id: str) -> np.ndarray:
    record = catalog.get(asset_id)
    band = next(b for b in record.manifest["bands"] if b["id"] == band_id)
    with rasterio.open(catalog.band_path(record, band)) as src:
        return src.read(band["band"])


# ----- IDs -----

@pytest.mark.parametrize("given, canonical", [
    ("COPERNICUS/S2_SR_HARMONIZED", "COPERNICUS/S2_SR_HARMONIZED"),
    ("projects/earthengine-public/assets/COPERNICUS/S2_SR_HARMONIZED", "COPERNICUS/S2_SR_HARMONIZED"),
    ("projects/earthengine-legacy/assets/users/me/x", "users/me/x"),
    ("projects/my-project/assets/a/b", "projects/my-project/assets/a/b"),
    # earthengine-api rewrites project ids shorter than 6 characters (like "local") as legacy ids.
    ("projects/earthengine-legacy/assets/projects/local/assets/t", "projects/local/assets/t"),
    ("projects/local/assets/", "projects/local/assets"),
    ("projects/sat-io/open-datasets/x", "projects/sat-io/assets/open-datasets/x"),
    ("a.b-c_d/E9", "a.b-c_d/E9"),
])
def test_canonical_id(catalog: Catalog, given: str, canonical: str) -> None:
    assert catalog.canonical_id(given) == canonical


@pytest.mark.parametrize("bad", [
    "", "../x", "a/../b", "a/./b", "..", ".", "/etc/passwd", "a//b", "a/", "%2e%2e/x", "a/%2e%2e/b",
    "a\\..\\b", "..\\x", "a/b\x00", "projects/local/assets/../../x", "projects/earthengine-public/assets/../x",
    "projects/earthengine-public/assets/", "projects/../x", "a/b.image.json", "a/_asset", "-x", "a b",
    "projects/earthengine-public/assets/projects/earthengine-public/assets/x", "x" * 201,
])
def test_bad_ids_raise_invalid_asset_id(catalog: Catalog, bad: str) -> None:
    with pytest.raises(InvalidAssetId) as info:
        catalog.get(bad)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidAssetId):
        catalog.write_table(bad, "t.geojson")
    with pytest.raises(InvalidAssetId):
        catalog.create_container(bad, "FOLDER")


def test_symlinked_folder_leading_outside_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "_asset.json").write_text('{"type": "FOLDER", "properties": {}}')
    (outside / "secret.image.json").write_text('{"type": "IMAGE", "bands": [], "properties": {}}')
    os.symlink(outside, catalog.root / "evil")
    for asset_id in ("evil", "evil/secret", "projects/earthengine-public/assets/evil/secret"):
        with pytest.raises(InvalidAssetId):
            catalog.get(asset_id)
    with pytest.raises(InvalidAssetId):
        catalog.write_table("evil/new", "t.geojson")
    assert not (outside / "new.table.json").exists()


def test_symlinked_manifest_leading_outside_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    catalog.create_container("col", "IMAGE_COLLECTION")
    target = tmp_path / "elsewhere.json"
    target.write_text('{"type": "IMAGE", "bands": [], "properties": {}}')
    os.symlink(target, catalog.root / "col" / "x.image.json")
    with pytest.raises(InvalidAssetId):
        catalog.get("col/x")


def test_band_path_cannot_leave_the_root(catalog: Catalog) -> None:
    catalog.create_container("col", "IMAGE_COLLECTION")
    record = catalog.write_image("col/x", [{"id": "b", "path": "../../../etc/passwd", "band": 1,
                                            "data_type": "uint8"}], {})
    with pytest.raises(InvalidArgument, match="leaves the catalog"):
        catalog.band_path(record, record.manifest["bands"][0])
    absolute = catalog.write_image("col/y", [{"id": "b", "path": "/data/x.tif", "band": 1, "data_type": "uint8"}],
                                   {})
    assert catalog.band_path(absolute, absolute.manifest["bands"][0]) == "/data/x.tif"
    cloud = catalog.write_image("col/z", [{"id": "b", "path": "gs://bucket/x.tif", "band": 1,
                                           "data_type": "uint8"}], {})
    assert catalog.band_path(cloud, cloud.manifest["bands"][0]) == "gs://bucket/x.tif"


# ----- round trips -----

def test_container_round_trip(catalog: Catalog) -> None:
    folder = catalog.create_container("DEMO", "FOLDER", {"k": 1})
    assert (folder.id, folder.type) == ("DEMO", "FOLDER")
    collection = catalog.create_container("projects/earthengine-public/assets/DEMO/S2", "IMAGE_COLLECTION",
                                          {"title": "S2", "n": 2.5}, title="Sentinel-2", description="demo")
    on_disk = json.loads((catalog.root / "DEMO" / "S2" / "_asset.json").read_text())
    assert on_disk == {"type": "IMAGE_COLLECTION", "properties": {"title": "S2", "n": 2.5}, "title": "Sentinel-2",
                       "description": "demo"}
    assert collection.manifest == on_disk
    assert collection.manifest_path == catalog.root / "DEMO" / "S2" / "_asset.json"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", collection.update_time)
    assert catalog.get("DEMO/S2") == collection
    assert [r.id for r in catalog.list_children("DEMO")] == ["DEMO/S2"]
    assert [r.id for r in catalog.list_children("projects/earthengine-public/assets")] == ["DEMO"]
    with pytest.raises(AlreadyExists):
        catalog.create_container("DEMO/S2", "IMAGE_COLLECTION")
    assert catalog.create_container("DEMO/S2", "IMAGE_COLLECTION", exist_ok=True).id == "DEMO/S2"
    with pytest.raises(InvalidArgument):
        catalog.create_container("DEMO/T", "TABLE")


def test_image_round_trip(catalog: Catalog) -> None:
    catalog.create_container("C", "IMAGE_COLLECTION")
    pixels = _small_image(catalog, "C/img1")
    record = catalog.get("C/img1")
    assert record.type == "IMAGE" and record.id == "C/img1"
    assert record.manifest_path == catalog.root / "C" / "img1.image.json"
    assert json.loads(record.manifest_path.read_text()) == record.manifest
    assert record.manifest["properties"] == {"system:time_start": 1_600_000_000_000, "CLOUD": 3.5,
                                             "tags": ["a", "b"]}
    assert [b["id"] for b in record.manifest["bands"]] == ["B4", "B8"]
    np.testing.assert_array_equal(_read(catalog, "C/img1", "B8"), pixels[1])
    assert catalog.band_path(record, record.manifest["bands"][0]) == str(catalog.root / "C" / "img1.tif")
    # No temporary files are left behind by atomic writes.
    assert not [p for p in (catalog.root / "C").iterdir() if p.name.startswith(".tmp-")]


def test_catalog_files_are_written_atomically_and_readable_by_all(catalog: Catalog) -> None:
    catalog.create_container("C", "IMAGE_COLLECTION")
    _small_image(catalog, "C/img1")
    for path in (catalog.root / "C" / "img1.image.json", catalog.root / "C" / "img1.tif",
                 catalog.root / "C" / "_asset.json"):
        assert path.stat().st_mode & 0o777 == 0o644, path
    # A writer failing half-way leaves neither the file nor its temporary sibling behind.
    bad = np.zeros((2, 20, 30), dtype=np.uint16)
    with pytest.raises(IndexError):  # the third description, for a band that does not exist
        write_geotiff(catalog.root / "C" / "broken.tif", bad, transform=Affine(10, 0, 0, 0, -10, 0),
                      crs="EPSG:32631", descriptions=["B1", "B2", "B3"])
    with pytest.raises(InvalidArgument):
        write_feature_collection(catalog.root / "C" / "broken.geojson", [None], [{}, {}])
    assert sorted(p.name for p in (catalog.root / "C").iterdir()) == ["_asset.json", "img1.image.json", "img1.tif"]


def test_table_round_trip(catalog: Catalog) -> None:
    record = catalog.write_table("projects/p-one/assets/t", "t.geojson", {"n": 3})
    assert record.type == "TABLE"
    assert record.manifest == {"type": "TABLE", "version": record.manifest["version"], "path": "t.geojson",
                               "properties": {"n": 3}}
    assert record.manifest_path == catalog.root / "projects" / "p-one" / "assets" / "t.table.json"
    assert catalog.table_path(record) == str(catalog.root / "projects" / "p-one" / "assets" / "t.geojson")
    assert [r.id for r in catalog.list_children("projects/p-one/assets/")] == ["projects/p-one/assets/t"]
    with pytest.raises(InvalidArgument, match="must end in"):
        catalog.write_table("projects/p-one/assets/u", "u.shp")


def test_project_root_exists_before_any_asset(catalog: Catalog) -> None:
    root = catalog.get("projects/fresh/assets")
    assert root.type == "FOLDER"
    assert catalog.list_children("projects/fresh/assets") == []
    with pytest.raises(InvalidArgument):
        catalog.delete("projects/fresh/assets")


def test_listing_is_sorted_and_typed(catalog: Catalog) -> None:
    catalog.create_container("C", "IMAGE_COLLECTION")
    for name in ("b", "a", "c"):
        _small_image(catalog, f"C/{name}")
    assert [r.id for r in catalog.list_images("C")] == ["C/a", "C/b", "C/c"]
    catalog.create_container("F", "FOLDER")
    catalog.write_table("F/t", "t.geojson")
    catalog.create_container("F/sub", "FOLDER")
    _small_image(catalog, "F/img")
    assert [(r.id, r.type) for r in catalog.list_children("F")] == [
        ("F/img", "IMAGE"), ("F/sub", "FOLDER"), ("F/t", "TABLE")]
    with pytest.raises(InvalidArgument, match="not an IMAGE_COLLECTION"):
        catalog.list_images("F")
    with pytest.raises(InvalidArgument, match="not a folder"):
        catalog.list_children("C/a")
    with pytest.raises(AssetNotFound, match="'nope'"):
        catalog.list_children("nope")


def test_missing_asset_names_the_id(catalog: Catalog) -> None:
    with pytest.raises(AssetNotFound, match="COPERNICUS/NOPE") as info:
        catalog.get("projects/earthengine-public/assets/COPERNICUS/NOPE")
    assert isinstance(info.value, NotFound) and isinstance(info.value, KeyError)
    assert info.value.http_status == 404
    assert not catalog.exists("COPERNICUS/NOPE")


def test_parents_must_exist_and_hold_the_right_type(catalog: Catalog) -> None:
    with pytest.raises(AssetNotFound, match="Parent folder 'A/B'"):
        catalog.write_table("A/B/t", "t.geojson")
    catalog.write_table("A/B/t", "t.geojson", make_parents=True)
    assert catalog.get("A").type == "FOLDER" and catalog.get("A/B").type == "FOLDER"
    catalog.create_container("C", "IMAGE_COLLECTION")
    with pytest.raises(InvalidArgument, match="holds only images"):
        catalog.write_table("C/t", "t.geojson")
    with pytest.raises(InvalidArgument, match="not a folder"):
        catalog.write_table("A/B/t/u", "u.geojson")


def test_writes_refuse_existing_assets_unless_overwrite(catalog: Catalog) -> None:
    catalog.create_container("C", "IMAGE_COLLECTION")
    _small_image(catalog, "C/x")
    with pytest.raises(AlreadyExists, match="overwrite"):
        catalog.write_image("C/x", [{"id": "b", "path": "x.tif", "band": 1, "data_type": "uint16"}], {})
    record = catalog.write_image("C/x", [{"id": "b", "path": "x.tif", "band": 1, "data_type": "u2"}], {},
                                 overwrite=True)
    assert record.manifest["bands"] == [{"id": "b", "path": "x.tif", "band": 1, "data_type": "uint16"}]
    with pytest.raises(AlreadyExists):
        catalog.write_image("C", [{"id": "b", "path": "x.tif", "band": 1, "data_type": "uint16"}], {},
                            overwrite=True)


@pytest.mark.parametrize("bands, message", [
    ([], "non-empty list"),
    ([{"id": "a", "path": "x.tif", "band": 1, "data_type": "uint8"},
      {"id": "a", "path": "x.tif", "band": 2, "data_type": "uint8"}], "duplicate band id 'a'"),
    ([{"id": "a", "path": "x.tif", "band": 0, "data_type": "uint8"}], "1-based"),
    ([{"id": "a", "path": "x.tif", "band": 1, "data_type": "nonsense"}], "'nonsense'"),
    ([{"id": "a", "path": "x.tif", "band": 1, "data_type": "U4"}], "int/uint/float"),
    ([{"id": "a", "path": "x.tif", "band": 1, "data_type": "uint8", "nodata": "0"}], "nodata"),
    ([{"id": "a", "band": 1, "data_type": "uint8"}], "path"),
])
def test_bad_bands_are_rejected(catalog: Catalog, bands: list, message: str) -> None:
    catalog.create_container("C", "IMAGE_COLLECTION")
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        catalog.write_image("C/x", bands, {})
    assert not catalog.exists("C/x")


def test_time_properties_must_be_integers(catalog: Catalog) -> None:
    with pytest.raises(InvalidArgument, match="system:time_start"):
        catalog.write_table("t", "t.geojson", {"system:time_start": "2020-01-01"})
    with pytest.raises(InvalidArgument, match="JSON"):
        catalog.write_table("t", "t.geojson", {"x": object()})


def test_update_properties(catalog: Catalog) -> None:
    catalog.create_container("C", "IMAGE_COLLECTION")
    _small_image(catalog, "C/x")
    merged = catalog.update_properties("C/x", {"CLOUD": None, "new": "v", "system:time_end": 1_600_000_000_001})
    assert merged.manifest["properties"] == {"system:time_start": 1_600_000_000_000, "tags": ["a", "b"],
                                             "new": "v", "system:time_end": 1_600_000_000_001}
    assert [b["id"] for b in merged.manifest["bands"]] == ["B4", "B8"]
    replaced = catalog.update_properties("C", {"only": 1}, replace=True)
    assert replaced.manifest["properties"] == {"only": 1}
    assert catalog.get("C/x").manifest["properties"]["new"] == "v"


def test_delete(catalog: Catalog) -> None:
    catalog.create_container("C", "IMAGE_COLLECTION")
    _small_image(catalog, "C/x")
    with pytest.raises(InvalidArgument, match="not empty"):
        catalog.delete("C")
    catalog.delete("C/x")
    assert not catalog.exists("C/x")
    catalog.delete("C")
    assert not catalog.exists("C") and not (catalog.root / "C").exists()
    with pytest.raises(AssetNotFound):
        catalog.delete("C")


def test_move_and_copy_images_keep_pixels(catalog: Catalog) -> None:
    catalog.create_container("A", "IMAGE_COLLECTION")
    catalog.create_container("B", "IMAGE_COLLECTION")
    pixels = _small_image(catalog, "A/x")
    copied = catalog.copy("A/x", "B/y")
    assert copied.manifest["properties"] == catalog.get("A/x").manifest["properties"]
    moved = catalog.move("A/x", "B/z")
    assert not catalog.exists("A/x")
    catalog.delete("A")  # removes A's folder and its data file: the moved image must not depend on it
    assert moved.id == "B/z"
    np.testing.assert_array_equal(_read(catalog, "B/z", "B4"), pixels[0])
    np.testing.assert_array_equal(_read(catalog, "B/y", "B8"), pixels[1])
    with pytest.raises(AlreadyExists):
        catalog.copy("B/y", "B/z")
    with pytest.raises(InvalidArgument):
        catalog.move("B", "B/inner")


def test_move_and_copy_containers(catalog: Catalog) -> None:
    catalog.create_container("F", "FOLDER")
    catalog.create_container("F/C", "IMAGE_COLLECTION", {"p": 1})
    pixels = _small_image(catalog, "F/C/x")
    # An image whose file lives outside its folder: moving the folder must rebase the relative path.
    write_geotiff(catalog.root / "shared.tif", pixels[0], transform=Affine(10, 0, 0, 0, -10, 0),
                  crs="EPSG:32631")
    catalog.write_image("F/C/s", [{"id": "b", "path": "../../shared.tif", "band": 1, "data_type": "uint16"}], {})
    catalog.copy("F/C", "F/D")
    catalog.create_container("G", "FOLDER")
    catalog.move("F/C", "G/C")
    assert not catalog.exists("F/C")
    assert [r.id for r in catalog.list_images("G/C")] == ["G/C/s", "G/C/x"]
    assert catalog.get("G/C").manifest["properties"] == {"p": 1}
    np.testing.assert_array_equal(_read(catalog, "G/C/x", "B8"), pixels[1])
    np.testing.assert_array_equal(_read(catalog, "G/C/s", "b"), pixels[0])
    np.testing.assert_array_equal(_read(catalog, "F/D/s", "b"), pixels[0])
    np.testing.assert_array_equal(_read(catalog, "F/D/x", "B4"), pixels[0])


# ----- parsing the CLI's values -----

def test_parse_time() -> None:
    assert parse_time("2020-06-01") == 1_590_969_600_000
    assert parse_time("2020-06-01T10:30:00Z") == 1_590_969_600_000 + 37_800_000
    assert parse_time("2020-06-01T12:30:00+02:00") == 1_590_969_600_000 + 37_800_000
    assert parse_time("2020") == 1_577_836_800_000
    assert parse_time("2020-06") == 1_590_969_600_000
    assert parse_time(123) == 123
    assert parse_time_range("2020-01-01/2021-01-01") == (1_577_836_800_000, 1_609_459_200_000)
    assert parse_time_range("2020-01-01") == (1_577_836_800_000, None)
    for bad in ("2020-13-01", "yesterday", "2020/01/01/x"):
        with pytest.raises(InvalidArgument, match=re.escape(repr(bad.split("/")[0]) if "/" not in bad else bad)):
            parse_time_range(bad)
    with pytest.raises(InvalidArgument, match="end is before"):
        parse_time_range("2021-01-01/2020-01-01")


def test_parse_property() -> None:
    assert parse_property("a=1") == ("a", 1)
    assert parse_property("a=-2.5e3") == ("a", -2500.0)
    assert parse_property("name=Sentinel-2 = S2") == ("name", "Sentinel-2 = S2")
    assert parse_property("empty=") == ("empty", "")
    for bad in ("novalue", "=3", " =x"):
        with pytest.raises(InvalidArgument, match=re.escape(repr(bad))):
            parse_property(bad)


# ----- catalog add -----

def test_add_geotiff_exported_from_earth_engine(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    record = add_to_catalog(root, "projects/local/assets/togo", TOGO_TIF, time_start="2019-02-06",
                            time_end="2020-02-01", properties=["site=98", "country=Togo", "score=0.5"])
    with rasterio.open(TOGO_TIF) as src:
        descriptions, source = src.descriptions, src.read()
    assert record.type == "IMAGE"
    assert [b["id"] for b in record.manifest["bands"]] == list(descriptions)
    assert len(record.manifest["bands"]) == 206
    assert record.manifest["bands"][0]["data_type"] == "float64"
    assert record.manifest["properties"] == {"site": 98, "country": "Togo", "score": 0.5,
                                             "system:time_start": 1_549_411_200_000,
                                             "system:time_end": 1_580_515_200_000}
    catalog = Catalog(root)
    for index in (0, 13, 205):
        band = record.manifest["bands"][index]
        with rasterio.open(catalog.band_path(record, band)) as copied:
            assert copied.crs == rasterio.crs.CRS.from_epsg(4326)
            np.testing.assert_array_equal(copied.read(band["band"]), source[index])
    with pytest.raises(AlreadyExists, match="projects/local/assets/togo"):
        add_to_catalog(root, "projects/local/assets/togo", TOGO_TIF)
    again = add_to_catalog(root, "projects/local/assets/togo", TOGO_TIF, overwrite=True)
    assert "system:time_start" not in again.manifest["properties"]
    ranged = add_to_catalog(root, "projects/local/assets/togo", TOGO_TIF, overwrite=True,
                            time_start="2019-02-06/2020-02-01")
    assert (ranged.manifest["properties"]["system:time_start"],
            ranged.manifest["properties"]["system:time_end"]) == (1_549_411_200_000, 1_580_515_200_000)


def test_add_ee_csv_export(tmp_path: Path) -> None:
    import pandas as pd

    record = add_to_catalog(tmp_path / "cat", "projects/local/assets/samples/iowa", IOWA_CSV,
                            properties={"year": 2024})
    assert record.type == "TABLE" and record.manifest["properties"] == {"year": 2024}
    collection = json.loads(Path(Catalog(tmp_path / "cat").table_path(record)).read_text())
    frame = pd.read_csv(IOWA_CSV)
    assert len(collection["features"]) == len(frame) == 720
    for row in (0, 357, 719):
        feature = collection["features"][row]
        geo = json.loads(frame[".geo"][row])
        assert feature["id"] == str(frame["system:index"][row])
        assert feature["geometry"] == {"type": geo["type"], "coordinates": geo["coordinates"]}
        assert feature["properties"]["A00"] == frame["A00"][row]
        assert feature["properties"]["dw_label"] == frame["dw_label"][row]
        assert ".geo" not in feature["properties"] and "system:index" not in feature["properties"]


def test_add_geopackage_reprojects_to_4326(tmp_path: Path) -> None:
    import geopandas as gpd
    from pyproj import Transformer

    record = add_to_catalog(tmp_path / "cat", "projects/local/assets/brazil", BRAZIL_POLYGONS)
    collection = json.loads(Path(Catalog(tmp_path / "cat").table_path(record)).read_text())
    source = gpd.read_file(BRAZIL_POLYGONS)
    to_lonlat = Transformer.from_crs(32621, 4326, always_xy=True)
    assert [f["properties"]["name"] for f in collection["features"]] == list(source["name"])
    for feature, polygon in zip(collection["features"], source.geometry):
        x, y = polygon.exterior.coords[0]
        lon, lat = to_lonlat.transform(x, y)
        assert feature["geometry"]["type"] == "Polygon"
        np.testing.assert_allclose(feature["geometry"]["coordinates"][0][0], [lon, lat], atol=1e-9)
        assert -56 < lon < -53 and -26 < lat < -24


def test_add_geojson(tmp_path: Path) -> None:
    source = tmp_path / "pts.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 5, "geometry": {"type": "Point", "coordinates": [4.4, 50.8]},
         "properties": {"n": 1}}]}))
    record = add_to_catalog(tmp_path / "cat", "projects/local/assets/pts", source)
    written = json.loads(Path(Catalog(tmp_path / "cat").table_path(record)).read_text())
    assert written["features"] == [{"type": "Feature", "id": "5",
                                    "geometry": {"type": "Point", "coordinates": [4.4, 50.8]},
                                    "properties": {"n": 1}}]


def test_add_errors_name_the_bad_value(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(InvalidArgument, match=r"'\.txt'"):
        add_to_catalog(root, "projects/local/assets/x", text)
    no_geo = tmp_path / "no_geo.csv"
    no_geo.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidArgument, match=r"no '\.geo' column"):
        add_to_catalog(root, "projects/local/assets/x", no_geo)
    with pytest.raises(InvalidArgument, match="'2020-02-30'"):
        add_to_catalog(root, "projects/local/assets/x", TOGO_TIF, time_start="2020-02-30")
    with pytest.raises(InvalidArgument, match="'cloud'"):
        add_to_catalog(root, "projects/local/assets/x", TOGO_TIF, properties=["cloud"])
    with pytest.raises(InvalidAssetId):
        add_to_catalog(root, "projects/local/assets/../x", TOGO_TIF)
    Catalog(root).create_container("projects/local/assets/col", "IMAGE_COLLECTION")
    with pytest.raises(InvalidArgument, match="IMAGE_COLLECTION"):
        add_to_catalog(root, "projects/local/assets/col/t", IOWA_CSV)
    assert Catalog(root).list_children("projects/local/assets/col") == []
    Catalog(root).delete("projects/local/assets/col")
    with pytest.raises(FileNotFoundError):
        add_to_catalog(root, "projects/local/assets/x", tmp_path / "missing.tif")
    assert Catalog(root).list_children("projects/local/assets") == []


# ----- where data files live: no asset ID can map onto another asset's files (issue #16) -----

def _data_files(root: Path) -> list[Path]:
    """Every file under the catalog that is neither a manifest nor the catalog's own bookkeeping."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith((".json", ".lock"))
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def test_copy_never_writes_onto_another_assets_files(tmp_path: Path) -> None:
    """copyAsset(a -> b) used to write b's copy of a.tif as b.a.tif: the data file of an unrelated asset b.a."""
    root = tmp_path / "cat"
    catalog = Catalog(root)
    pixels = {}
    for leaf, value in (("b.a", 111), ("a", 222)):
        source = tmp_path / f"{leaf}.tif"
        write_geotiff(source, np.full((1, 8, 8), value, np.uint16), transform=Affine(10, 0, 0, 0, -10, 0),
                      crs="EPSG:32631")
        add_to_catalog(root, f"projects/local/assets/{leaf}", source)
        pixels[leaf] = value
    # b.legacy.a: the layout the demo catalog (and older versions) write, a file named after the leaf beside it.
    legacy = _small_image(catalog, "projects/local/assets/b.legacy.a", value=5)
    catalog.copy("projects/local/assets/a", "projects/local/assets/b")
    catalog.copy("projects/local/assets/a", "projects/local/assets/b.legacy")
    for leaf, value in pixels.items():
        band = _read(catalog, f"projects/local/assets/{leaf}", "b1")
        assert (band == value).all(), (leaf, band[0, 0])
    assert (_read(catalog, "projects/local/assets/b", "b1") == 222).all()
    np.testing.assert_array_equal(_read(catalog, "projects/local/assets/b.legacy.a", "B8"), legacy[1])
    # Every file an asset write created lives in its asset's own _data/<version>/ (no ID segment starts with "_").
    for path in _data_files(root):
        if path.parent == root / "projects" / "local" / "assets":
            assert path.name == "b.legacy.a.tif"  # written by the test itself, beside its manifest
            continue
        assert path.parent.parent.name == "_data", path
        owners = [json.loads(m.read_text()).get("version") for m in path.parent.parent.parent.glob("*.json")]
        assert path.parent.name in owners, path


def test_overwrite_and_delete_remove_the_owned_files_only(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    source = tmp_path / "x.tif"
    write_geotiff(source, np.full((1, 8, 8), 3, np.uint16), transform=Affine(10, 0, 0, 0, -10, 0), crs="EPSG:32631")
    first = add_to_catalog(root, "projects/local/assets/x", source)
    first_file = Path(Catalog(root).band_path(first, first.manifest["bands"][0]))
    second = add_to_catalog(root, "projects/local/assets/x", source, overwrite=True)
    assert second.manifest["version"] != first.manifest["version"]
    assert not first_file.exists() and not first_file.parent.exists()
    catalog = Catalog(root)
    catalog.move("projects/local/assets/x", "projects/local/assets/y")
    catalog.delete("projects/local/assets/y")
    assert _data_files(root) == []
    assert not (root / "projects" / "local" / "assets" / "_data").exists()


def test_cli_add_collection_creates_an_image_collection(tmp_path: Path) -> None:
    from aef_ee.cli import main

    root = tmp_path / "cat"
    args = ["--catalog", str(root), "--collection"]
    assert main(["catalog", "add", "projects/local/assets/fields/coll/y2019", str(TOGO_TIF), *args,
                 "--time", "2019-02-06"]) == 0
    catalog = Catalog(root)
    assert catalog.get("projects/local/assets/fields").type == "FOLDER"  # ancestors stay folders
    assert catalog.get("projects/local/assets/fields/coll").type == "IMAGE_COLLECTION"
    assert main(["catalog", "add", "projects/local/assets/fields/coll/y2020", str(TOGO_TIF), *args]) == 0
    assert [r.id for r in catalog.list_images("projects/local/assets/fields/coll")] == [
        "projects/local/assets/fields/coll/y2019", "projects/local/assets/fields/coll/y2020"]
    # A table cannot go into a collection; a FOLDER parent is not turned into one; without the option, a folder.
    assert main(["catalog", "add", "projects/local/assets/fields/coll/t", str(IOWA_CSV), *args]) == 2
    assert main(["catalog", "add", "projects/local/assets/fields/z", str(TOGO_TIF), *args]) == 2
    with pytest.raises(InvalidArgument, match="FOLDER, not an IMAGE_COLLECTION"):
        add_to_catalog(root, "projects/local/assets/fields/z", TOGO_TIF, collection=True)
    assert main(["catalog", "add", "projects/local/assets/plain/z", str(TOGO_TIF), "--catalog", str(root)]) == 0
    assert catalog.get("projects/local/assets/plain").type == "FOLDER"
