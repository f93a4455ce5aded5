"""What a published folder offers other tools, read by those tools offline: Hugging Face
``datasets`` through the card's ``configs``, GDAL's ``ogrinfo`` on ``patches.gpkg``, the
GeoParquet covering column, and the browser's files. The benchmark is the assemble tests' two
regions (alpha: 2 train + 3 test, beta: 1 + 2), published without Prefect."""

from __future__ import annotations

import json
import shutil
import subprocess

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from landslide4sense.choices import OutputLayout
from landslide4sense.patching import assemble
from tests.patching.test_assemble import two_regions


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    out = root / "bench"
    files = OutputLayout(split_files=True)
    meta = assemble(out, two_regions(root), "raw", figures=False, layout=files)
    return out, meta


def front_matter(out) -> dict:
    return yaml.safe_load((out / "card.md").read_text().split("---\n")[1])


def test_card_configs_name_the_split_files(published):
    out, _ = published
    configs = front_matter(out)["configs"]
    assert configs == [
        {
            "config_name": "patches",
            "data_files": [
                {"split": "train", "path": "TrainData.h5"},
                {"split": "test", "path": "TestData.h5"},
            ],
            "default": True,
        },
        {"config_name": "manifest", "data_files": "manifest.csv"},
    ]
    croissant = json.loads((out / "croissant.json").read_text())
    split_files = [d for d in croissant["distribution"] if d["@id"] == "split-files"]
    assert split_files[0]["includes"] == ["TrainData.h5", "TestData.h5"]


def test_datasets_loads_each_split_as_patches(published, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets", reason="datasets (dev extra) reads the card")
    out, _ = published
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded) == ["test", "train"]
    assert (loaded["train"].num_rows, loaded["test"].num_rows) == (3, 5)
    train = loaded["train"].with_format("numpy")
    image, mask = train[2]["img"], train[2]["mask"]
    assert image.shape == (128, 128, 14) and image.dtype == np.float32
    assert mask.shape == (128, 128)
    with h5py.File(out / "TrainData" / "img" / "image_3.h5") as f:
        np.testing.assert_array_equal(image, f["img"][()])  # beta's tile, as its own file


def test_datasets_loads_the_manifest_without_split_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets", reason="datasets (dev extra) reads the card")
    out = tmp_path / "bench"
    assemble(out, two_regions(tmp_path), "raw", figures=False)
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["train"] and loaded["train"].num_rows == 8  # one row per patch
    assert loaded["train"][0]["id"] == "train_1"


@pytest.mark.skipif(not shutil.which("ogrinfo"), reason="needs GDAL's ogrinfo (Debian gdal-bin)")
def test_ogrinfo_reads_the_footprints(published):
    out, _ = published
    info = subprocess.run(
        ["ogrinfo", "-so", "-al", str(out / "patches.gpkg")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Layer name: patches" in info and "Feature Count: 8" in info
    assert "Geometry: Polygon" in info and 'ID["EPSG",4326]' in info
    assert "region: String" in info and "landslide_fraction: Real" in info


def test_geoparquet_has_a_covering_bbox(published):
    out, _ = published
    table = pq.read_table(out / "patches.parquet")
    geo = json.loads(table.schema.metadata[b"geo"])
    covering = geo["columns"]["geometry"]["covering"]["bbox"]
    assert covering["xmin"] == ["bbox", "xmin"] and covering["ymax"] == ["bbox", "ymax"]
    import geopandas as gpd

    frame = gpd.read_parquet(out / "patches.parquet")
    bbox = table.column("bbox").to_pylist()[0]
    assert [bbox[k] for k in ("xmin", "ymin", "xmax", "ymax")] == pytest.approx(
        list(frame.geometry.iloc[0].bounds)
    )


def test_the_browser_is_published_and_keeps_the_version(published):
    out, meta = published
    names = sorted(p.name for p in (out / "browse").iterdir())
    assert names == ["bands-0.jpg", "index.html", "patches.js", "thumbs-0.jpg", "training.js"]
    data = json.loads((out / "browse" / "patches.js").read_text().split("=", 1)[1].rstrip(";\n"))
    assert data["version"] == meta.version and data["figures"] == []  # built without figures
    assert data["keys"][:3] == ["TrainData/1", "TrainData/2", "TestData/1"]
    item = json.loads((out / "stac" / "items" / "train_1.json").read_text())
    assert item["assets"]["thumbnail"]["href"].startswith("data:image/jpeg;base64,")
    assert [b["name"] for b in item["assets"]["image"]["bands"]][-3:] == ["B12", "slope", "dem"]
