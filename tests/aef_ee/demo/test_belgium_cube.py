"""The Belgian cube read with GDAL (aef_ee.demo.belgium_cube) against netCDF4, an independent decoder."""

from __future__ import annotations

import datetime as dt

import netCDF4
import numpy as np
import pytest

from aef_ee.demo.belgium_cube import cropland_labels, cube_path, cube_video, read_cube


@pytest.fixture(scope="module")
def netcdf() -> dict[str, np.ndarray]:
    with netCDF4.Dataset(cube_path()) as ds:
        ds.set_auto_maskandscale(False)
        out = {n: np.asarray(v[:]) for n, v in ds.variables.items() if v.ndim == 3 or n in ("x", "y", "t")}
    return out


def test_variables_grid_and_times_match_netcdf4(netcdf: dict[str, np.ndarray]) -> None:
    cube = read_cube()
    for name in ("S2-L2A-B02", "S2-L2A-B12", "S1-SIGMA0-VV", "AGERA5-PRECIP", "elevation"):
        np.testing.assert_array_equal(cube[name], netcdf[name].astype(np.uint16))
    np.testing.assert_array_equal(cube["x"], netcdf["x"])
    np.testing.assert_array_equal(cube["y"], netcdf["y"])
    epoch = dt.datetime(1990, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000
    np.testing.assert_array_equal(cube["t_ms"], netcdf["t"].astype(np.int64) * 86_400_000 + int(epoch))


def test_decoded_sources_are_in_physical_units(netcdf: dict[str, np.ndarray]) -> None:
    video = cube_video()
    s2, s1, era5 = video.sources["s2"], video.sources["s1"], video.sources["era5"]
    raw = netcdf["S2-L2A-B04"].astype(np.uint16)
    ok = raw != 65535
    np.testing.assert_allclose(s2.frames[..., s2.bands.index("B4")][ok], raw[ok] / 1e4, rtol=1e-6)
    assert not s2.mask[~ok].any()
    dn = netcdf["S1-SIGMA0-VH"].astype(np.float64)
    good = (dn > 0) & (dn != 65535)
    np.testing.assert_allclose(s1.frames[..., 1][good], 20 * np.log10(dn[good]) - 83, rtol=1e-5)
    kelvin = netcdf["AGERA5-TMEAN"].astype(np.float64) / 100
    np.testing.assert_allclose(era5.frames[..., 0], kelvin, rtol=1e-6)
    assert 270 < float(era5.frames[..., 0].mean()) < 300
    assert video.sources["dem"].frames.shape == (1, 100, 100, 1)


def test_cropland_labels_match_netcdf4() -> None:
    with netCDF4.Dataset(cube_path("worldcereal_cropland_classification.nc")) as ds:
        names = [str(n) for n in ds.variables["bands"][:]]
        values = np.asarray(ds.variables["__xarray_dataarray_variable__"][:])
    labels = cropland_labels()
    np.testing.assert_array_equal(labels, values[names.index("classification")])
    assert set(np.unique(labels)) == {0, 1}
