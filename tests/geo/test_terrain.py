import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform as warp_transform

from landslide4sense.errors import InputDataError
from landslide4sense.geo import (
    Grid,
    read_on_grid,
    slope_degrees,
    snapped_grid,
    terrain,
    write_terrain,
)
from tests.helpers import KAGHAN, horn_slope, needs, write_raster

A, B = 0.3, -0.2  # dz/dx and dz/dy of the plane (metres per metre)
PLANE_SLOPE = math.degrees(math.atan(math.hypot(A, B)))


def plane(shape, res):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (100 + A * cols * res + B * (-rows * res)).astype(np.float32)


def test_slope_of_a_tilted_plane():
    s = slope_degrees(plane((40, 50), 12.5), 12.5, 12.5)
    assert s.dtype == np.float32
    assert np.abs(s[1:-1, 1:-1] - PLANE_SLOPE).max() < 0.01


def test_missing_cells_become_nan():
    z = plane((10, 10), 10.0)
    z[5, 5] = np.nan
    s = slope_degrees(z, 10, 10)
    assert np.isnan(s[5, 5]) and np.isfinite(s[4, 4]) and np.isnan(s).sum() == 1


def test_blockwise_slope_equals_whole_array(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    z = np.cumsum(rng.normal(size=(70, 33)), axis=0).astype(np.float32) * 5
    t = Affine(12.5, 0, 500000, 0, -12.5, 4000000)
    dem = write_raster(tmp_path / "dem.tif", z, "EPSG:32633", t, -9999)
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 41, 87)
    monkeypatch.setattr(terrain, "BLOCK_ROWS", 16)
    dem_out, slope_out = write_terrain(dem, grid, tmp_path / "t", margin=0)
    with rasterio.open(dem_out) as d, rasterio.open(slope_out) as s:
        assert d.transform == t and d.shape == z.shape and d.nodata is None
        assert np.array_equal(d.read(1), z)
        assert np.array_equal(s.read(1), slope_degrees(z, 12.5, 12.5), equal_nan=True)


def test_plane_in_utm_through_the_pipeline(tmp_path):
    dem = write_raster(
        tmp_path / "dem.tif",
        plane((80, 80), 12.5),
        "EPSG:32633",
        Affine(12.5, 0, 500000, 0, -12.5, 4001000),
        -9999,
    )
    grid = Grid("EPSG:32633", Affine(10, 0, 500200, 0, -10, 4000800), 50, 50)
    _, slope = write_terrain(dem, grid, tmp_path / "t")
    on_grid = read_on_grid(slope, grid)
    assert np.isfinite(on_grid).all()
    assert np.abs(on_grid - PLANE_SLOPE).max() < 0.01


def test_plane_delivered_in_geographic_degrees(tmp_path):
    """A DEM in lon/lat is projected to metres before slope: the plane keeps its slope."""
    utm = "EPSG:32633"
    lon0, lat0, d = 15.0, 36.0, 1 / 3600  # 1 arc-second pixels
    n = 120
    lons = lon0 + (np.arange(n) + 0.5) * d
    lats = lat0 - (np.arange(n) + 0.5) * d
    lon, lat = np.meshgrid(lons, lats)
    e, nn = warp_transform("EPSG:4326", utm, lon.ravel(), lat.ravel())
    z = (500 + A * (np.array(e) - 500000) + B * (np.array(nn) - 3980000)).reshape(n, n)
    dem = write_raster(
        tmp_path / "dem.tif",
        z.astype(np.float32),
        "EPSG:4326",
        Affine(d, 0, lon0, 0, -d, lat0),
        -9999,
    )
    xs, ys = warp_transform("EPSG:4326", utm, [lon0 + 0.01], [lat0 - 0.01])
    grid = snapped_grid(utm, (xs[0], ys[0] - 1500, xs[0] + 1500, ys[0]))
    dem_out, slope = write_terrain(dem, grid, tmp_path / "t")
    with rasterio.open(dem_out) as m:
        assert m.crs.to_string() == utm and 20 < m.res[0] < 35
    on_grid = read_on_grid(slope, grid)
    assert np.isfinite(on_grid).all()
    assert np.abs(on_grid - PLANE_SLOPE).max() < 0.01


def test_dem_that_misses_the_grid(tmp_path):
    dem = write_raster(
        tmp_path / "dem.tif",
        plane((10, 10), 10.0),
        "EPSG:32633",
        Affine(10, 0, 0, 0, -10, 100),
        -9999,
    )
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 20, 20)
    with pytest.raises(InputDataError, match=r"dem.tif: the DEM .* does not cover the region grid"):
        write_terrain(dem, grid, tmp_path / "t")
    assert not (tmp_path / "t").exists() or not list((tmp_path / "t").iterdir())


def test_seeded_terrain_slope_matches_an_independent_horn(tmp_path):
    """Fixture-free twin of the Kaghan test below: rough seeded terrain at 30 m, rectangular
    pixels, through write_terrain, against an independent Horn slope."""
    rng = np.random.default_rng(11)
    z = (np.cumsum(np.cumsum(rng.normal(0, 3, (60, 70)), 0), 1) / 4 + 500).astype(np.float32)
    dem = write_raster(
        tmp_path / "dem.tif", z, "EPSG:32633", Affine(30, 0, 500000, 0, -25, 4000000), -9999
    )
    with rasterio.open(dem) as src:
        grid = snapped_grid(str(src.crs), tuple(src.bounds), 10.0)
    _, slope = write_terrain(dem, grid, tmp_path / "t")
    with rasterio.open(slope) as s:
        assert s.res == (30, 25)
        col, row = (round(v) for v in ~s.transform @ (500000, 4000000))
        ours = s.read(1)[row : row + 60, col : col + 70]
    horn = horn_slope(z, 30, 25)
    inner = (slice(1, -1), slice(1, -1))
    assert np.abs(ours[inner] - horn[inner]).max() < 1e-3
    assert 5 < np.nanmean(horn[inner]) < 80  # rough, not flat


@needs(KAGHAN)
def test_kaghan_slope_matches_an_independent_horn(tmp_path):
    with rasterio.open(KAGHAN / "AW3D30.tif") as src:
        z = src.read(1)
        res = src.res
        grid = snapped_grid(str(src.crs), tuple(src.bounds), 10.0)
    _, slope = write_terrain(KAGHAN / "AW3D30.tif", grid, tmp_path)
    with rasterio.open(KAGHAN / "AW3D30.tif") as dem, rasterio.open(slope) as s:
        # Cropped without resampling to the grid plus a margin (NaN beyond the DEM's edge).
        assert s.res == dem.res and s.crs == dem.crs
        col, row = (round(v) for v in ~s.transform @ (dem.transform.c, dem.transform.f))
        padded = s.read(1)
        ours = padded[row : row + dem.height, col : col + dem.width]
    assert np.isnan(padded[:row]).all() and np.isfinite(ours).all()
    band = read_on_grid(slope, grid)
    horn = horn_slope(z, *res)
    inner = (slice(1, -1), slice(1, -1))
    assert np.abs(ours[inner] - horn[inner]).max() < 1e-3
    # The slope band on the 10 m grid keeps the mean of the native Horn slope.
    assert np.nanmean(band) == pytest.approx(np.nanmean(horn), rel=0.01)
    assert 25 < np.nanmean(horn) < 40  # steep Himalayan foothills


def test_a_failed_write_leaves_no_terrain_files(tmp_path, monkeypatch):
    z = plane((70, 33), 12.5)
    t = Affine(12.5, 0, 500000, 0, -12.5, 4000000)
    dem = write_raster(tmp_path / "dem.tif", z, "EPSG:32633", t, -9999)
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 41, 87)
    monkeypatch.setattr(terrain, "BLOCK_ROWS", 16)
    calls = []

    def full_disk(*args):
        calls.append(args)
        if len(calls) == 3:  # the third block, written on the writer thread
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(terrain, "_write_block", full_disk)
    (tmp_path / "t").mkdir()
    with pytest.raises(OSError, match="No space left"):
        write_terrain(dem, grid, tmp_path / "t", margin=0)
    assert len(calls) == 3 and list((tmp_path / "t").iterdir()) == []
