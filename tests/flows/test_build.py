"""The build flows on Prefect's local API, on the synthetic demo regions."""

import hashlib
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
import yaml

from landslide4sense.acquisition.synthetic import write_demo_inputs
from landslide4sense.errors import ConfigError, EmptyResultError, InputDataError, MissingInputError
from landslide4sense.files import read_json
from landslide4sense.flows import build as build_flows
from landslide4sense.flows.build import add_region, build_benchmark
from landslide4sense.flows.cli import main
from landslide4sense.patching import region as patching_region

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's regions and raw layers (written once), and a clean build of them."""
    root = tmp_path_factory.mktemp("demo")
    regions, raw = write_demo_inputs(root)
    return regions, raw


@pytest.fixture(scope="module")
def clean_build(demo, tmp_path_factory):
    from prefect.testing.utilities import prefect_test_harness  # noqa: F401  (harness is active)

    regions, raw = demo
    out = tmp_path_factory.mktemp("clean") / "bench"
    result = build_benchmark(regions=regions, out=out, raw=raw)
    return out, result


def patch_digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for split in ("TrainData", "TestData")
        for p in sorted((out / split).rglob("*.h5"))
    }


def test_demo_builds_the_contract(clean_build):
    out, result = clean_build
    meta = read_json(out / "dataset.json")
    assert result["version"] == meta["version"]
    n_train, n_test = meta["counts"]["train"], meta["counts"]["test"]
    assert n_train > 0 and n_test > 2 * n_train
    assert len(list((out / "TrainData" / "img").glob("image_*.h5"))) == n_train
    assert len(list((out / "TestData" / "mask").glob("mask_*.h5"))) == n_test
    with h5py.File(out / "TestData" / "img" / f"image_{n_test}.h5") as f:
        img = f["img"][()]
    assert img.shape == (128, 128, 14) and img.dtype == np.float32 and np.isfinite(img).all()
    for reg in meta["regions"]:  # one DEM in another UTM zone, one in degrees; labels in lon/lat
        assert reg["train"]["landslide_share"] + reg["test"]["landslide_share"] > 0.005
        assert reg["dropped"]["nodata"] == 0
    slope_mean = meta["train_mean"][12] * 20.29228266
    assert 5 < slope_mean < 40  # degrees, from the l4s-scaled slope band
    assert (out / "regions" / "demo-hills.yaml").exists()
    assert "demo-valley" in (out / "card.md").read_text()


def test_rebuild_skips_done_work_and_gives_the_same_version(demo, clean_build, tmp_path):
    out, result = clean_build
    indexes = sorted((out / ".l4s").rglob("index/*.json"))
    stamps = [p.stat().st_mtime_ns for p in indexes]
    again = build_benchmark(regions=demo[0], out=out, raw=demo[1])
    assert again["version"] == result["version"]
    assert [p.stat().st_mtime_ns for p in indexes] == stamps


def test_raw_scaling_keeps_source_units(demo, tmp_path):
    regions, raw = demo
    out = tmp_path / "raw"
    build_benchmark(regions=regions / "demo-hills.yaml", out=out, raw=raw, scaling="raw")
    with h5py.File(out / "TrainData" / "img" / "image_1.h5") as f:
        img = f["img"][()]
    assert 100 < img[..., 3].mean() < 5000 and 100 < img[..., 13].mean() < 3000  # DN, metres
    assert read_json(out / "dataset.json")["scaling"] == "raw"


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
    meta = read_json(out / "dataset.json")
    assert meta["history"][-1]["version"] == first["version"]
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
