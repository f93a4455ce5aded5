"""The build flows on Prefect's local API, on the synthetic demo regions."""

import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import from_bounds

from landslide4sense.errors import ConfigError, EmptyResultError, InputDataError, MissingInputError
from landslide4sense.flows import build as build_flows
from landslide4sense.flows.build import add_region, build_benchmark
from landslide4sense.flows.cli import main
from landslide4sense.patching import region as patching_region
from landslide4sense.records import ManifestRow, read_dataset_meta, read_manifest
from tests.helpers import DEMO_VERSION, RELEASE_DIVISORS, horn_slope

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``l4s demo``, run in-process: its folder and what it printed."""
    root = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--out", str(root)]) == 0
    return root, printed.getvalue()


@pytest.fixture(scope="module")
def demo(demo_run):
    """The demo's regions and raw layers."""
    return demo_run[0] / "regions", demo_run[0] / "raw"


@pytest.fixture(scope="module")
def clean_build(demo_run):
    """The demo's benchmark and its summary (as the build flow returns it)."""
    out = demo_run[0] / "benchmark"
    meta = read_dataset_meta(out / "dataset.json")
    return out, {"version": meta.version, "counts": meta.counts.model_dump(mode="json")}


def patch_digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for split in ("TrainData", "TestData")
        for p in sorted((out / split).rglob("*.h5"))
    }


def source_window(path: Path, row: ManifestRow) -> np.ndarray:
    """The pixels of a 10 m raw band under a patch (the demo's bands lie on its grid)."""
    with rasterio.open(path) as src:
        window = from_bounds(row.xmin, row.ymin, row.xmax, row.ymax, src.transform)
        return src.read(1, window=window.round_offsets().round_lengths()).astype(np.float64)


def dem_under(path: Path, row: ManifestRow) -> np.ndarray:
    """The raw DEM under a patch, by GDAL's bilinear warp (independent of our resampling)."""
    dem = np.full((128, 128), np.nan)
    with rasterio.open(path) as src:
        to = Affine(10, 0, row.xmin, 0, -10, row.ymax)
        reproject(
            rasterio.band(src, 1),
            dem,
            dst_crs=row.crs,
            dst_transform=to,
            resampling=Resampling.bilinear,
            dst_nodata=np.nan,
        )
    return dem


#: Per raw DEM: how far the patch's DEM may lie from GDAL's warp of the raw DEM (median and
#: worst, metres), and its slope from the Horn slope of the patch's own 10 m DEM (median and
#: 95th percentile, degrees). demo-hills' DEM is 12.5 m in the next UTM zone; demo-valley's is
#: 30 m in degrees, so its slope (computed at the DEM's resolution) is smoother than 10 m Horn.
DEM_TOLERANCE = {"demo-hills": (0.01, 0.1, 0.1, 0.5), "demo-valley": (0.2, 5.0, 0.5, 2.5)}


def check_values(out: Path, raw: Path, row: ManifestRow, divisors: np.ndarray) -> None:
    """A patch holds its raw layers' values: the 10 m bands exactly, the DEM as GDAL warps it,
    and a slope matching the DEM's."""
    with h5py.File(out / row.image) as f:
        img = f["img"][()].astype(np.float64) * divisors  # back to source units
    for channel, band in ((1, "B02"), (2, "B03"), (3, "B04"), (7, "B08")):  # the 10 m bands
        expected = source_window(raw / row.region / "s2" / f"{band}.tif", row)
        assert np.allclose(img[..., channel], expected, rtol=1e-6, atol=0), (row.id, band)
    dem_median, dem_max, slope_median, slope_p95 = DEM_TOLERANCE[row.region]
    dem_error = np.abs(img[..., 13] - dem_under(raw / row.region / "dem.tif", row))
    assert np.median(dem_error) < dem_median and dem_error.max() < dem_max, row.id
    slope_error = np.abs(img[..., 12] - horn_slope(img[..., 13], 10.0, 10.0))[1:-1, 1:-1]
    assert np.median(slope_error) < slope_median, row.id
    assert np.percentile(slope_error, 95) < slope_p95, row.id


def test_l4s_demo_prints_where_everything_is(demo_run, clean_build):
    printed = demo_run[1]
    out, result = clean_build
    assert f"benchmark: {out}/ (TrainData, TestData" in printed
    assert f"card:      {out / 'card.md'}" in printed
    assert f"l4s train --dataset {out} --models U-Net,LinkNet" in printed
    assert f"l4s browse {out} --open" in printed
    assert result["version"] == DEMO_VERSION, "the demo's patches changed"
    assert (result["counts"]["train"], result["counts"]["test"]) == (41, 123)


def test_demo_builds_the_contract(demo, clean_build):
    out = clean_build[0]
    meta = read_dataset_meta(out / "dataset.json")
    n_train, n_test = meta.counts.train, meta.counts.test
    assert len(list((out / "TrainData" / "img").glob("image_*.h5"))) == n_train
    assert len(list((out / "TestData" / "mask").glob("mask_*.h5"))) == n_test
    with h5py.File(out / "TestData" / "img" / f"image_{n_test}.h5") as f:
        img = f["img"][()]
    assert img.shape == (128, 128, 14) and img.dtype == np.float32 and np.isfinite(img).all()
    for reg in meta.regions:  # one DEM in another UTM zone, one in degrees; labels in lon/lat
        assert reg.train.landslide_share + reg.test.landslide_share > 0.005
        assert reg.dropped.nodata == 0
    rows = read_manifest(out / "manifest.csv")
    for region in ("demo-hills", "demo-valley"):  # each region's first and last patch
        mine = [r for r in rows if r.region == region]
        for row in (mine[0], mine[-1]):
            check_values(out, demo[1], row, np.asarray(meta.scale_divisors))
    assert (out / "regions" / "demo-hills.yaml").exists()
    assert "demo-valley" in (out / "card.md").read_text()


def test_rebuild_skips_done_work_and_gives_the_same_version(demo, clean_build, tmp_path):
    out, result = clean_build
    indexes = sorted((out / ".l4s").rglob("index/*.json"))
    stamps = [p.stat().st_mtime_ns for p in indexes]
    again = build_benchmark(regions=demo[0], out=out, raw=demo[1])
    assert again["version"] == result["version"]
    assert [p.stat().st_mtime_ns for p in indexes] == stamps


def test_raw_scaling_keeps_source_units(demo, clean_build, tmp_path):
    regions, raw = demo
    out = tmp_path / "raw"
    build_benchmark(regions=regions / "demo-hills.yaml", out=out, raw=raw, scaling="raw")
    meta = read_dataset_meta(out / "dataset.json")
    assert meta.scaling == "raw" and meta.scale_divisors == [1.0] * 14
    rows = read_manifest(out / "manifest.csv")
    check_values(out, raw, rows[0], np.ones(14))
    scaled = read_manifest(clean_build[0] / "manifest.csv")[0]  # the same tile, l4s-scaled
    with h5py.File(out / rows[0].image) as f, h5py.File(clean_build[0] / scaled.image) as g:
        assert np.allclose(g["img"][()], f["img"][()] / RELEASE_DIVISORS, rtol=1e-6)


@pytest.mark.slow  # three builds
def test_add_region_appends_without_renumbering(demo, clean_build, tmp_path):
    regions, raw = demo
    out = tmp_path / "bench"
    first = build_benchmark(regions=regions / "demo-hills.yaml", out=out, raw=raw)
    before = patch_digests(out)
    second = add_region(region=regions / "demo-valley.yaml", out=out, raw=raw)
    after = patch_digests(out)
    assert all(after[k] == v for k, v in before.items())  # published patches keep their numbers
    assert second["counts"]["train"] > first["counts"]["train"]
    assert second["version"] != first["version"]
    # The same two regions in the same order as the clean build: the same benchmark.
    assert second["version"] == clean_build[1]["version"]
    assert after == patch_digests(clean_build[0])
    assert read_dataset_meta(out / "dataset.json").history[-1].version == first["version"]
    assert (
        add_region(region=regions / "demo-valley.yaml", out=out, raw=raw)["version"]
        == (second["version"])
    )  # adding it again changes nothing
    with pytest.raises(ConfigError, match="uses scaling 'l4s'"):
        add_region(region=regions / "demo-valley.yaml", out=out, raw=raw, scaling="raw")


def bad_region(tmp_path, demo, change=None, name="demo-hills"):
    regions = demo[0]
    data = yaml.safe_load((regions / f"{name}.yaml").read_text())
    data.update(change or {})
    path = tmp_path / "regions" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def raw_copy(tmp_path, demo, name="demo-hills"):
    """Symlinks to the demo's raw files, so that a test can remove or replace one."""
    dst = tmp_path / "raw" / name
    (dst / "s2").mkdir(parents=True)
    for f in (demo[1] / name / "s2").iterdir():
        (dst / "s2" / f.name).symlink_to(f)
    for f in ("dem.tif", "labels.gpkg"):
        (dst / f).symlink_to(demo[1] / name / f)
    return dst


@pytest.mark.parametrize(
    "case", ["unknown-key", "missing-bands", "labels-elsewhere", "no-tile", "dem-elsewhere"]
)
def test_bad_input_fails_clearly_and_writes_nothing(demo, tmp_path, case):
    raw = tmp_path / "raw"
    region = bad_region(tmp_path, demo)
    folder = raw_copy(tmp_path, demo)
    if case == "unknown-key":
        region = bad_region(tmp_path, demo, {"clouds": 0.5})
        expected, kind = "clouds: unknown key", ConfigError
    elif case == "missing-bands":
        (folder / "s2" / "B05.tif").unlink()
        (folder / "s2" / "B11.tif").unlink()
        expected, kind = "missing Sentinel-2 band file(s) B05, B11", MissingInputError
    elif case == "labels-elsewhere":
        (folder / "labels.gpkg").unlink()
        shutil.copy(demo[1] / "demo-valley" / "labels.gpkg", folder / "labels.gpkg")
        expected, kind = "intersects the region's AOI", InputDataError
    elif case == "no-tile":  # an AOI narrower than one patch (1.28 km)
        region = bad_region(tmp_path, demo, {"aoi": {"bbox": [138.15, 36.25, 138.16, 36.30]}})
        expected, kind = "none of its 0 tiles is valid", EmptyResultError
    else:
        (folder / "dem.tif").unlink()
        (folder / "dem.tif").symlink_to(demo[1] / "demo-valley" / "dem.tif")
        expected, kind = "does not cover", InputDataError
    out = tmp_path / "out"
    with pytest.raises(kind, match=re.escape(expected)):
        build_benchmark(regions=region, out=out, raw=raw)
    assert not out.exists()
    assert main(["build", "--regions", str(region), "--raw", str(raw), "--out", str(out)]) == 2
    assert not out.exists()


def test_a_crash_mid_write_resumes_to_identical_patches(demo, clean_build, tmp_path, monkeypatch):
    regions, raw = demo
    out = tmp_path / "bench"
    real = patching_region.write_image
    calls = {"n": 0}

    def failing(path, img, atomic=True):
        calls["n"] += 1
        if calls["n"] == 30:
            path.write_bytes(b"half a patch")
            raise OSError("disk full (injected)")
        real(path, img, atomic)

    monkeypatch.setattr(build_flows, "CUT_PROCESSES", 1)  # the fault lives in this process
    monkeypatch.setattr(patching_region, "write_image", failing)
    with pytest.raises(OSError, match="injected"):
        build_benchmark(regions=regions, out=out, raw=raw)
    assert not (out / "dataset.json").exists()
    monkeypatch.setattr(patching_region, "write_image", real)
    build_benchmark(regions=regions, out=out, raw=raw)
    assert patch_digests(out) == patch_digests(clean_build[0])


@pytest.mark.slow
def test_a_killed_cli_build_resumes_to_identical_patches(demo, clean_build, tmp_path):
    regions, raw = demo
    out = tmp_path / "bench"
    cmd = [
        sys.executable,
        "-m",
        "landslide4sense.flows.cli",
        "build",
        "--regions",
        str(regions),
        "--raw",
        str(raw),
        "--out",
        str(out),
    ]
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}  # the harness's API
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(out.glob(".l4s/*/patches-*/*/img/*.h5"))) >= 5:  # in blocks being cut
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "dataset.json").exists(), "the build finished before it could be killed"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert patch_digests(out) == patch_digests(clean_build[0])
