import csv
import json

import h5py
import numpy as np
import pytest
from affine import Affine

from landslide4sense.patching import assemble, patch_rows, split_count
from landslide4sense.regions import Grid
from tests.helpers import known_job


def grid(cols: int, rows: int, x0: float = 500000) -> Grid:
    return Grid("EPSG:32633", Affine(10, 0, x0, 0, -10, 4000000), 128 * cols, 128 * rows)


def two_regions(tmp_path, scaling="raw"):
    jobs = [
        known_job(tmp_path / "a", grid(5, 1), "alpha", scaling, hole=None),
        known_job(tmp_path / "b", grid(3, 1, 600000), "beta", scaling, hole=None, offset=1),
    ]
    for job in jobs:
        patch_rows(job, 0, 1)
    return jobs


def test_split_rule():
    assert [split_count(n) for n in (1, 3, 4, 5, 8, 9, 1000)] == [1, 1, 1, 2, 2, 3, 250]


def test_split_numbering_and_the_output_contract(tmp_path):
    out = tmp_path / "bench"
    meta = assemble(out, two_regions(tmp_path), "raw")
    # alpha: 5 tiles -> 2 train + 3 test; beta: 3 tiles -> 1 train + 2 test.
    assert meta["counts"]["train"] == 3 and meta["counts"]["test"] == 5
    assert meta["counts"]["regions"] == {
        "alpha": {"train": 2, "test": 3},
        "beta": {"train": 1, "test": 2},
    }
    assert sorted(p.name for p in (out / "TrainData" / "img").iterdir()) == [
        "image_1.h5",
        "image_2.h5",
        "image_3.h5",
    ]
    assert len(list((out / "TestData" / "mask").iterdir())) == 5
    for split, n in (("TrainData", 3), ("TestData", 5)):
        for i in range(1, n + 1):
            with h5py.File(out / split / "img" / f"image_{i}.h5") as f:
                assert list(f) == ["img"] and f["img"].shape == (128, 128, 14)
                assert f["img"].dtype == np.float32
            with h5py.File(out / split / "mask" / f"mask_{i}.h5") as f:
                assert list(f) == ["mask"] and f["mask"].shape == (128, 128)
                assert f["mask"].dtype == np.uint8
    with h5py.File(out / "TrainData" / "img" / "image_3.h5") as f:
        assert f["img"][0, 0, 0] == 101  # beta's first tile (offset 1) is the third train patch
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert [(r["id"], r["region"], r["tile_col"]) for r in rows[:3]] == [
        ("train_1", "alpha", "0"),
        ("train_2", "alpha", "1"),
        ("test_1", "alpha", "2"),
    ]
    assert rows[5]["id"] == "train_3" and rows[5]["scene_ids"] == "S2-beta"
    assert rows[0]["landslide_fraction"] == "0.0"
    assert float(rows[1]["landslide_fraction"]) == pytest.approx(100 / 128**2, abs=1e-6)
    assert {r["version"] for r in rows} == {meta["version"]}
    saved = json.loads((out / "dataset.json").read_text())
    assert saved["version"] == meta["version"] and saved["bands"][-2:] == ["slope", "dem"]
    assert saved["train_mean"][0] == (100 * 2 + 101) / 3  # the training split's statistics
    assert saved["train_std"][13] == 0.0
    for f in (
        "card.md",
        "figures/sample_patches.png",
        "figures/band_values.png",
        "figures/landslide_share.png",
    ):
        assert (out / f).stat().st_size > 0
    assert "| alpha | 2 | 3 |" in (out / "card.md").read_text()
    assert not list(out.glob(".staging-*")) and not list(out.glob(".trash-*"))


def test_version_is_a_content_hash(tmp_path):
    jobs = two_regions(tmp_path)
    v1 = assemble(tmp_path / "o1", jobs, "raw", figures=False)["version"]
    v2 = assemble(tmp_path / "o2", jobs, "raw", figures=False)["version"]
    assert v1 == v2
    v3 = assemble(tmp_path / "o3", jobs[::-1], "raw", figures=False)["version"]
    assert v3 != v1  # other order, other numbering
    v4 = assemble(tmp_path / "o1", jobs[:1], "raw", figures=False)
    assert v4["version"] != v1 and v4["history"][-1]["version"] == v1
