"""Bad input is refused before Prefect starts: one message naming the file, the problem and
the fix, printed once, exit status 2, no traceback, nothing written, no file moved."""

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pytest
import yaml
from shapely.geometry import LineString, Point

from landslide4sense.flows.cli import main
from landslide4sense.training.synthetic import write_release

ROOT = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (links not followed) and its size: to prove nothing moved."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.lstat().st_size for p in sorted(folder.rglob("*"))}


def refused(argv: list[str], capsys) -> str:
    """Run ``l4s argv``: it must exit 2 with one error line and no traceback; returns it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def region_and_raw(demo_inputs, tmp_path):
    """demo-hills' region file and a raw folder of symlinks to its files (replaceable)."""
    regions, raw = demo_inputs
    data = yaml.safe_load((regions / "demo-hills.yaml").read_text())
    src, dst = raw / "demo-hills", tmp_path / "raw" / "demo-hills"
    (dst / "s2").mkdir(parents=True)
    for f in (src / "s2").iterdir():
        (dst / "s2" / f.name).symlink_to(f)
    for f in ("dem.tif", "labels.gpkg"):
        (dst / f).symlink_to(src / f)

    def region(**change) -> Path:
        path = tmp_path / "regions" / "demo-hills.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump({**data, **change}))
        return path

    return region, tmp_path / "raw"


def write_labels(path: Path, geometries) -> None:
    path.unlink(missing_ok=True)
    gpd.GeoDataFrame(geometry=geometries, crs="EPSG:4326").to_file(path, layer="labels")


CASES = {
    # case: (what to break, expected words in the one message)
    "whole-globe-aoi": "more than the cap of 50,000 km2",
    "aoi-over-a-lower-cap": "more than the cap of 10 km2",
    "malformed-geojson-aoi": "AOI GeoJSON is not a valid geometry",
    "geojson-aoi-not-json": "AOI GeoJSON is not valid JSON",
    "truncated-band": "B04 is cut short",
    "band-not-a-raster": "cannot read Sentinel-2 band B05 as a raster",
    "truncated-dem": "the DEM is cut short",
    "labels-points": "holds Point geometries, not polygons",
    "labels-lines": "holds LineString geometries, not polygons",
    "labels-csv": "unsupported label format '.csv'",
    "no-labels-no-pre-event-bands": "has no labels",
    "aoi-narrower-than-a-patch": "none of its 0 tiles is valid",
    "local-source-without-raw": "the local source needs --raw",
}


@pytest.mark.parametrize("case", CASES)
def test_bad_build_input_is_refused_before_prefect(case, region_and_raw, tmp_path, capsys):
    make_region, raw = region_and_raw
    folder = raw / "demo-hills"
    region = make_region()
    extra: list[str] = []
    if case == "whole-globe-aoi":
        region = make_region(aoi={"bbox": [-180, -90, 180, 90]})
    elif case == "aoi-over-a-lower-cap":
        extra = ["--max-aoi-km2", "10"]
    elif case in ("malformed-geojson-aoi", "geojson-aoi-not-json"):
        aoi = tmp_path / "regions" / "aoi.geojson"
        aoi.parent.mkdir(exist_ok=True)
        aoi.write_text(
            '{"type": "Polygon", "coordinates": "138.1 36.2"}'
            if case == "malformed-geojson-aoi"
            else "{not json"
        )
        region = make_region(aoi={"geojson": "aoi.geojson"})
    elif case in ("truncated-band", "truncated-dem"):
        name = "s2/B04.tif" if case == "truncated-band" else "dem.tif"
        data = (folder / name).read_bytes()
        (folder / name).unlink()
        (folder / name).write_bytes(data[: len(data) // 2])
    elif case == "band-not-a-raster":
        (folder / "s2" / "B05.tif").unlink()
        (folder / "s2" / "B05.tif").write_text("not a raster\n")
    elif case == "labels-points":
        write_labels(folder / "labels.gpkg", [Point(138.15, 36.25), Point(138.2, 36.3)])
    elif case == "labels-lines":
        write_labels(folder / "labels.gpkg", [LineString([(138.15, 36.25), (138.2, 36.3)])])
    elif case == "labels-csv":
        (folder / "labels.csv").write_text("id,wkt\n1,POINT (138.15 36.25)\n")
        region = make_region(labels="labels.csv")
    elif case == "no-labels-no-pre-event-bands":
        (folder / "labels.gpkg").unlink()
    elif case == "aoi-narrower-than-a-patch":
        region = make_region(aoi={"bbox": [138.15, 36.25, 138.16, 36.30]})
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    argv = ["build", "--regions", str(region), "--out", str(out)]
    argv += [] if case == "local-source-without-raw" else ["--raw", str(raw)]
    message = refused(argv + extra, capsys)
    assert CASES[case] in message
    assert snapshot(tmp_path) == before  # nothing written (no OUT), nothing moved


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """No credential of any source: a fresh home, and none in the environment."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "L4S_EE_", "EARTHDATA_", "GOOGLE_", "CDSE_")) or var in (
            "EARTHENGINE_PROJECT",
            "CLOUDSDK_CONFIG",
        ):
            monkeypatch.delenv(var)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # not on an EC2 instance
    return home


MISSING = {
    # (source, the region's dem): the words of the one message
    ("earthengine", "local"): "--source earthengine: no Earth Engine credentials",
    ("stac", "local"): "--source stac: no AWS keys",
    ("local", "asf-palsar-rtc"): "dem: asf-palsar-rtc needs no Earthdata login",
    ("local", "srtm"): "dem: srtm needs no Earth Engine credentials",
}


@pytest.mark.parametrize(("source", "dem"), MISSING, ids=[f"{s}-{d}" for s, d in MISSING])
def test_missing_credentials_are_refused_before_any_download(
    source, dem, region_and_raw, no_credentials, tmp_path, capsys
):
    make_region, raw = region_and_raw
    region = make_region(dem=dem)
    before = snapshot(tmp_path)
    argv = ["build", "--regions", str(region), "--out", str(tmp_path / "out"), "--raw", str(raw)]
    message = refused([*argv, "--source", source], capsys)
    assert MISSING[source, dem] in message
    assert snapshot(tmp_path) == before


def test_earth_engines_own_fallbacks_are_credentials(no_credentials):
    """gcloud's application-default credentials and the project `earthengine set_project`
    stored are found (no project in the environment)."""
    from landslide4sense.acquisition import credentials

    adc = no_credentials / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text(json.dumps({"type": "authorized_user", "refresh_token": "r"}))
    assert credentials.ee_credentials().startswith("application-default credentials")
    assert "no Earth Engine project" in credentials.ee_missing()
    stored = no_credentials / ".config" / "earthengine" / "credentials"
    stored.parent.mkdir(parents=True)
    stored.write_text(json.dumps({"project": "my-ee-project"}))  # set_project, no login
    assert credentials.ee_project() == "my-ee-project" and credentials.ee_missing() is None
    credentials.check_credentials([], "earthengine")  # nothing missing: no error


def test_a_folder_that_is_not_a_benchmark_is_refused_and_left_alone(demo_inputs, tmp_path, capsys):
    regions, raw = demo_inputs
    project = tmp_path / "project"
    for f, text in {
        "regions/other.yaml": "name: other\n",
        "figures/holiday.png": "png",
        "TrainData/mine.txt": "mine",
        "manifest.csv": "a,b\n",
        "card.md": "# me\n",
        "notes.txt": "notes",
    }.items():
        (project / f).parent.mkdir(parents=True, exist_ok=True)
        (project / f).write_text(text)
    before = snapshot(project)
    for argv in (
        ["build", "--regions", str(regions), "--raw", str(raw), "--out", str(project)],
        ["add-region", str(regions / "demo-hills.yaml"), "--raw", str(raw), "--out", str(project)],
    ):
        message = refused(argv, capsys)
        assert "not a landslide4sense benchmark folder" in message and "TrainData/" in message
        assert "choose another --out" in message
    assert snapshot(project) == before


def test_the_repository_itself_is_refused_as_output(demo_inputs, capsys):
    regions, raw = demo_inputs
    message = refused(
        ["build", "--regions", str(regions), "--raw", str(raw), "--out", str(ROOT)], capsys
    )
    assert "not a landslide4sense benchmark folder" in message
    assert (ROOT / "regions" / "__init__.py").exists() and not (ROOT / ".l4s").exists()


def test_demo_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    folder = tmp_path / "mine"
    (folder / "regions").mkdir(parents=True)
    (folder / "regions" / "other.yaml").write_text("name: other\n")
    before = snapshot(folder)
    message = refused(["demo", "--out", str(folder)], capsys)
    assert "regions/other.yaml" in message and "not a folder `l4s demo` wrote" in message
    assert snapshot(folder) == before


@pytest.fixture
def release(tmp_path):
    return write_release(tmp_path / "release", 4, 3, size=16, seed=1)


def rewrite(path: Path, key: str, data) -> None:
    path.unlink()
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data)


TRAIN_CASES = {
    "iterations-0": "--iterations must be at least 1, got 0",
    "batch-size-0": "--batch-size must be at least 1, got 0",
    "missing-folder": "no such folder (--dataset",
    "unknown-model": "unknown model(s) SegNet",
    "image-without-img": "image_2.h5: no 'img' dataset (found ['data'])",
    "mask-without-mask": "mask_3.h5: no 'mask' dataset",
    "image-wrong-shape": "img has shape (16, 16, 13), expected (16, 16, 14)",
    "mask-wrong-shape": "mask has shape (8, 8), expected (16, 16)",
    "mask-values": "mask holds values [2, 7]",
    "nan-pixels": "img holds 3 NaN or infinite values (bands [5])",
    "not-hdf5": "not a readable HDF5 file",
}


@pytest.mark.parametrize("case", TRAIN_CASES)
def test_bad_training_input_is_refused_before_prefect(case, release, tmp_path, capsys):
    img, mask = release / "TrainData" / "img", release / "TrainData" / "mask"
    argv = ["train", "--dataset", str(release), "--models", "U-Net", "--device", "cpu"]
    if case == "iterations-0":
        argv += ["--iterations", "0"]
    elif case == "batch-size-0":
        argv += ["--batch-size", "0"]
    elif case == "missing-folder":
        argv[2] = str(tmp_path / "nonexistent")
    elif case == "unknown-model":
        argv[4] = "U-Net,SegNet"
    elif case == "image-without-img":
        rewrite(img / "image_2.h5", "data", np.zeros((16, 16, 14), np.float32))
    elif case == "mask-without-mask":
        rewrite(mask / "mask_3.h5", "label", np.zeros((16, 16), np.uint8))
    elif case == "image-wrong-shape":
        rewrite(img / "image_2.h5", "img", np.zeros((16, 16, 13), np.float32))
    elif case == "mask-wrong-shape":
        rewrite(mask / "mask_2.h5", "mask", np.zeros((8, 8), np.uint8))
    elif case == "mask-values":
        m = np.zeros((16, 16), np.uint8)
        m[0, :3] = (1, 2, 7)
        rewrite(mask / "mask_4.h5", "mask", m)
    elif case == "nan-pixels":
        a = np.ones((16, 16, 14), np.float32)
        a[2, 3:6, 4] = np.nan
        rewrite(img / "image_1.h5", "img", a)
    elif case == "not-hdf5":
        (img / "image_3.h5").write_bytes(b"\x89HDF\r\n" + b"\0" * 10)
    before = snapshot(tmp_path)
    assert TRAIN_CASES[case] in refused(argv, capsys)
    assert snapshot(tmp_path) == before  # no training folder, nothing written


def test_mask_255_is_no_data_left_out_of_loss_and_scores(release):
    from landslide4sense.training.data import load_benchmark
    from landslide4sense.training.metrics import Confusion

    m = np.zeros((16, 16), np.uint8)
    m[:4] = 255
    m[4:6] = 1
    rewrite(release / "TestData" / "mask" / "mask_1.h5", "mask", m)
    data = load_benchmark(release)
    assert (data.test.masks[0] == 255).sum() == 64
    everything_landslide = np.ones((16, 16), np.uint8)
    c = Confusion().add(everything_landslide, data.test.masks[0])
    assert (c.tp, c.fp, c.fn, c.tn) == (32, 160, 0, 0)  # the 64 no-data pixels count nowhere


BAD_REGION = {
    "name": "globe",
    "event": {"trigger": "rainfall", "date": "2020-07-08"},
    "aoi": {"bbox": [-180, -90, 180, 90]},
    "imagery": {"start": "2020-09-01", "end": "2020-11-15"},
}


def test_the_command_answers_without_importing_prefect(tmp_path):
    """As a user runs it: a fresh process, whose answer comes before Prefect is imported."""
    region = tmp_path / "globe.yaml"
    region.write_text(yaml.safe_dump(BAD_REGION))
    code = (
        "import json, sys; from landslide4sense.flows.cli import main; rc = main(sys.argv[1:]); "
        "print(json.dumps([rc, 'prefect' in sys.modules, 'torch' in sys.modules]))"
    )
    argv = ["build", "--regions", str(region), "--raw", str(tmp_path), "--out", str(tmp_path / "o")]
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9"}  # no API to reach, either
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env
    )
    assert json.loads(done.stdout) == [2, False, False]
    assert done.stderr.count("error:") == 1 and "more than the cap" in done.stderr
    assert not (tmp_path / "o").exists()
