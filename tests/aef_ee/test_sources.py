"""The source registry: decoding, masking and normalisation in numpy, and the ee expressions they mirror."""

from __future__ import annotations

import numpy as np
import pytest

from aef_ee.videos import sources
from aef_ee.errors import AefValueError, UnknownSourceError
from aef_ee.videos.sources import Band, BitmaskQuality, Normaliser, S2CloudMask, Source, UnknownBandError


def test_builtin_sources_cover_the_issue() -> None:
    for name in ("s2", "s2_l1c", "s1", "landsat", "era5", "era5_daily", "dem", "gedi", "grace", "palsar"):
        assert sources.get_source(name).name == name
    assert sources.get_source("s2").collections == ("COPERNICUS/S2_SR_HARMONIZED",)
    assert sources.get_source("landsat").collections == ("LANDSAT/LC08/C02/T1_L2", "LANDSAT/LC09/C02/T1_L2")
    assert sources.get_source("dem").static
    assert "era5" in sources.list_sources("target") and "s2" in sources.list_sources("input")


def test_unknown_source_and_band_errors_name_them() -> None:
    with pytest.raises(UnknownSourceError, match="'sentinel7'"):
        sources.get_source("sentinel7")
    with pytest.raises(KeyError):  # also a KeyError for callers that do not know aef-ee
        sources.get_source("sentinel7")
    with pytest.raises(UnknownBandError, match="'B99'.*'s2'|'s2'.*'B99'"):
        sources.get_source("s2").select(["B2", "B99"])


def test_landsat_l2_scale_factors_and_qa_bits() -> None:
    src = sources.get_source("landsat")
    raw = {b.ee_name: np.array([[7273, 20000]], np.uint16) for b in src.bands}
    raw["ST_B10"] = np.array([[40000, 50000]], np.uint16)
    phys = src.decode_numpy(raw)
    assert phys.shape == (1, 2, 7)
    np.testing.assert_allclose(phys[0, :, 0], [7273 * 2.75e-5 - 0.2, 20000 * 2.75e-5 - 0.2], rtol=1e-6)
    np.testing.assert_allclose(phys[0, :, 6], [40000 * 0.00341802 + 149.0, 50000 * 0.00341802 + 149.0], rtol=1e-6)
    # QA_PIXEL: 21824 is the USGS "clear land" value (bits 6, 8, 10, 12, 14); 22280 has the cloud bit (3) set;
    # 23888 is cloud shadow (bit 4) over land; 30048 is snow (bit 5) without cloud: kept.
    qa = np.array([21824, 22280, 21824 | (1 << 4), 21824 | (1 << 5), 1], np.uint16)
    valid = src.quality_numpy({"QA_PIXEL": qa})
    assert valid.tolist() == [True, False, False, True, False]


def test_s2_cloud_mask_methods() -> None:
    cs = np.array([0.2, 0.5, 0.9], np.float32)
    scl = np.array([4, 9, 3], np.uint8)
    qa60 = np.array([0, 1 << 10, 1 << 11], np.uint16)
    raw = {"cs_cdf": cs, "SCL": scl, "QA60": qa60}
    auto = S2CloudMask()
    assert auto.resolve(["B2", "SCL", "QA60", "cs_cdf"]) == "cs_plus"
    assert auto.resolve(["B2", "SCL", "QA60"]) == "scl"
    assert auto.resolve(["B2", "QA60"]) == "qa60"
    assert auto.resolve(["B2"]) == "none"
    assert auto.to_numpy(raw, list(raw)).tolist() == [False, True, True]
    assert S2CloudMask(cs_threshold=0.6).to_numpy(raw, list(raw)).tolist() == [False, False, True]
    assert S2CloudMask("scl").to_numpy(raw, list(raw)).tolist() == [True, False, False]
    assert S2CloudMask("qa60").to_numpy(raw, list(raw)).tolist() == [True, False, False]
    with pytest.raises(UnknownBandError, match="SCL"):
        S2CloudMask("scl").resolve(["B2"])
    with pytest.raises(AefValueError):
        S2CloudMask(cs_threshold=1.5)


def test_palsar_dn_to_db() -> None:
    src = sources.get_source("palsar")
    dn = np.array([1000.0, 5000.0])
    phys = src.decode_numpy({"HH": dn, "HV": dn})
    np.testing.assert_allclose(phys[:, 0], 10 * np.log10(dn**2) - 83.0, rtol=1e-6)
    valid = src.quality_numpy({"HH": dn, "HV": dn, "mask": np.array([255, 100])})
    assert valid.tolist() == [True, False]


def test_normalise_optical_log1p_and_sar_standardised() -> None:
    s2 = sources.get_source("s2")
    frames = np.full((2, 3, 3, 10), 0.1, np.float32)
    out = s2.normalise(frames)
    np.testing.assert_allclose(out, np.log1p(1000.0), rtol=1e-6)
    s1 = sources.get_source("s1")
    out = s1.normalise(np.array([[-11.0, -18.0], [-6.0, -13.0]], np.float32))
    np.testing.assert_allclose(out, [[0.0, 0.0], [1.0, 1.0]], atol=1e-6)
    # A subset of bands, named.
    np.testing.assert_allclose(s1.normalise(np.array([[-13.0]]), bands=["VH"]), [[1.0]])
    with pytest.raises(AefValueError, match="channels"):
        s2.normalise(np.zeros((1, 2, 2, 3), np.float32))


def test_register_a_user_source() -> None:
    src = Source(
        name="test_modis_lst",
        collections=("MODIS/061/MOD11A1",),
        bands=(Band("LST_Day_1km", scale=0.02, unit="K", normaliser=Normaliser(offset=-273.15, std=20.0)),),
        resolution_m=1000.0,
        role="target",
        quality=BitmaskQuality("QC_Day", (0, 1)),
    )
    try:
        sources.register_source(src)
        assert sources.get_source("test_modis_lst") is src
        with pytest.raises(AefValueError, match="already registered"):
            sources.register_source(src)
        phys = src.decode_numpy({"LST_Day_1km": np.array([15000])})
        np.testing.assert_allclose(phys[..., 0], [300.0])
        np.testing.assert_allclose(src.normalise(phys), [[(300.0 - 273.15) / 20.0]], rtol=1e-5)
    finally:
        sources._REGISTRY.pop("test_modis_lst", None)


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(AefValueError, match="a__b"):
        Band("a__b")
    with pytest.raises(AefValueError, match="duplicate"):
        Source(name="x", collections=("C",), bands=(Band("a"), Band("a")), resolution_m=10.0)
    with pytest.raises(AefValueError, match="role"):
        Source(name="x", collections=("C",), bands=(Band("a"),), resolution_m=10.0, role="both")  # type: ignore
