import csv
import dataclasses
import datetime as dt
import json

import h5py
import numpy as np
import pytest

from landslide4sense.choices import OutputLayout, Scaling, Split
from landslide4sense.patching import assemble, split_count
from landslide4sense.patching.assemble import (
    band_stats,
    content_version,
    dataset_meta,
    history,
    manifest_rows,
    number_patches,
    summarise,
)
from landslide4sense.records import read_dataset_meta
from tests.helpers import (
    N_PX,
    RELEASE_DIVISORS,
    region_tiles,
    tile_record,
    tiles_grid,
    two_regions,
)


def test_split_rule():
    assert [split_count(n) for n in (1, 3, 4, 5, 8, 9, 1000)] == [1, 1, 1, 2, 2, 3, 250]


def test_split_numbering_and_the_output_contract(tmp_path):
    out = tmp_path / "bench"
    meta = assemble(out, two_regions(tmp_path), "raw")
    # alpha: 5 tiles -> 2 train + 3 test; beta: 3 tiles -> 1 train + 2 test.
    assert meta.counts.train == 3 and meta.counts.test == 5
    assert meta.counts.model_dump()["regions"] == {
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
    assert {r["version"] for r in rows} == {meta.version}
    saved = json.loads((out / "dataset.json").read_text())
    assert saved["schema_version"] == 1 and read_dataset_meta(out / "dataset.json") == meta
    assert saved["version"] == meta.version and saved["bands"][-2:] == ["slope", "dem"]
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
    v1 = assemble(tmp_path / "o1", jobs, "raw", figures=False).version
    v2 = assemble(tmp_path / "o2", jobs, "raw", figures=False).version
    assert v1 == v2
    v3 = assemble(tmp_path / "o3", jobs[::-1], "raw", figures=False).version
    assert v3 != v1  # other order, other numbering
    v4 = assemble(tmp_path / "o1", jobs[:1], "raw", figures=False)
    assert v4.version != v1 and v4.history[-1].version == v1


# The pure parts of publishing, each on records built in memory (no files).


def test_number_patches_splits_each_region_then_numbers_per_split_across_regions():
    a = region_tiles("a", [tile_record(0, c) for c in range(5)])  # 2 train, 3 test
    b = region_tiles("b", [tile_record(0, c) for c in range(4)])  # 1 train, 3 test
    got = [(p.split, p.index, p.job.name, p.tile.col) for p in number_patches([a, b])]
    assert got == [
        ("train", 1, "a", 0),
        ("train", 2, "a", 1),
        ("test", 1, "a", 2),
        ("test", 2, "a", 3),
        ("test", 3, "a", 4),
        ("train", 3, "b", 0),
        ("test", 4, "b", 1),
        ("test", 5, "b", 2),
        ("test", 6, "b", 3),
    ]
    halves = number_patches([a], train_fraction=0.5)
    assert [p.split for p in halves] == ["train"] * 3 + ["test"] * 2
    assert halves[3].image == "TestData/img/image_1.h5"
    assert halves[3].mask == "TestData/mask/mask_1.h5"


def test_content_version_depends_on_content_numbering_and_scaling_only():
    patches = number_patches([region_tiles("a", [tile_record(0, 0), tile_record(0, 1, 2.0)])])
    v = content_version(Scaling.RAW, patches)
    # The recipe is what makes published versions comparable: pinned (a change renames every
    # benchmark ever built).
    assert v == "74823fc9a075"
    other_scenes = number_patches(
        [region_tiles("a", [tile_record(0, 0), tile_record(0, 1, 2.0)], scenes=())]
    )
    assert content_version(Scaling.RAW, other_scenes) == v  # provenance is not content
    assert content_version(Scaling.L4S, patches) != v
    changed = number_patches([region_tiles("a", [tile_record(0, 0), tile_record(0, 1, 3.0)])])
    assert content_version(Scaling.RAW, changed) != v
    assert (
        content_version(
            Scaling.RAW,
            number_patches([region_tiles("b", [tile_record(0, 0), tile_record(0, 1, 2.0)])]),
        )
        != v
    )
    # The same patches, numbers and content with their splits exchanged: another dataset.
    other_split = {Split.TRAIN: Split.TEST, Split.TEST: Split.TRAIN}
    swapped = [dataclasses.replace(p, split=other_split[p.split]) for p in patches]
    assert [p.index for p in swapped] == [p.index for p in patches]
    assert content_version(Scaling.RAW, swapped) != v


def test_manifest_rows():
    a = region_tiles("a", [tile_record(0, 0), tile_record(0, 1, landslide_px=1638)])
    rows = manifest_rows(number_patches([a]), "v1")
    assert [(r.id, r.split, r.index, r.image) for r in rows] == [
        ("train_1", "train", 1, "TrainData/img/image_1.h5"),
        ("test_1", "test", 1, "TestData/img/image_1.h5"),
    ]
    r = rows[1]
    assert (r.tile_row, r.tile_col, r.xmin, r.ymin, r.xmax, r.ymax) == (0, 1, 1280, -1280, 2560, 0)
    assert r.landslide_fraction == 0.099976 and rows[0].landslide_fraction == 0.0
    assert (r.scene_ids, r.scene_dates) == ("S2A_1;S2B_2", "2020-01-01;")
    assert (r.source, r.crs, r.sha256, r.version) == ("stac", "EPSG:32633", "0-1-1.0", "v1")


def test_band_stats_and_summaries_from_the_tile_sums():
    mean, std = band_stats([tile_record(0, 0, 1.0), tile_record(0, 1, 3.0)])
    assert mean == [2.0] * 14 and std == [1.0] * 14
    # 100 landslide px of value 5 in the first tile, the rest 1; the second tile all 3
    s = summarise([tile_record(0, 0, 1.0, landslide_px=100, ls_value=5.0), tile_record(0, 1, 3.0)])
    assert s.patches == 2 and s.landslide_share == 100 / (2 * N_PX)
    assert s.landslide == [5.0] * 14
    assert s.background == pytest.approx(
        [(1.0 * (N_PX - 100) + 3.0 * N_PX) / (2 * N_PX - 100)] * 14
    )
    empty = summarise([])
    assert (empty.patches, empty.landslide_share, empty.landslide, empty.background) == (
        0,
        0.0,
        None,
        None,
    )
    assert summarise([tile_record(0, 0)]).landslide is None


def test_history_appends_the_previous_version_once():
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    regions = [region_tiles("a", [tile_record(0, 0), tile_record(0, 1)])]
    patches = number_patches(regions)
    first = dataset_meta(regions, patches, Scaling.RAW, version="v1", created=created)
    assert history(None, "v1") == [] and first.history == []
    assert history(first, "v1") == []  # the same content published again
    second = dataset_meta(
        regions, patches, Scaling.RAW, version="v2", created=created, previous=first
    )
    assert [(h.version, h.counts.train) for h in second.history] == [("v1", 1)]
    third = dataset_meta(
        regions, patches, Scaling.RAW, version="v3", created=created, previous=second
    )
    assert [h.version for h in third.history] == ["v1", "v2"]


def test_dataset_meta():
    regions = [
        region_tiles("a", [tile_record(0, c, 1.0 + c) for c in range(5)]),
        region_tiles("b", [tile_record(0, 0)]),
    ]
    patches = number_patches(regions)
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    meta = dataset_meta(regions, patches, Scaling.L4S, version="v", created=created)
    assert (meta.counts.train, meta.counts.test) == (3, 3)
    assert meta.counts.regions["a"].model_dump() == {"train": 2, "test": 3}
    assert meta.train_mean == [(1.0 + 2.0 + 1.0) / 3] * 14  # a's first two tiles, b's one
    assert meta.scale_divisors == pytest.approx(list(RELEASE_DIVISORS), rel=1e-7)
    assert meta.bands[-2:] == ["slope", "dem"] and len(meta.units) == 14
    a = meta.regions[0]
    assert (a.name, a.source, a.dem, a.dropped.nodata, a.test.patches) == (
        "a",
        "stac",
        "srtm",
        2,
        3,
    )
    assert a.scenes[0].id == "S2A_1" and a.grid.model_dump() == tiles_grid(5, 1).to_dict()
    assert meta.all.train.patches == 3 and meta.all.name == "all regions"
    raw = dataset_meta(regions, patches, Scaling.RAW, version="v", created=created)
    assert raw.scale_divisors == [1.0] * 14


def test_the_split_files_layout_adds_one_file_per_split_and_goes_with_the_release(tmp_path):
    out = tmp_path / "bench"
    jobs = two_regions(tmp_path)
    meta = assemble(out, jobs, "raw", figures=False, layout=OutputLayout(split_files=True))
    assert read_dataset_meta(out / "dataset.json").layout == OutputLayout(split_files=True)
    for folder, n in (("TrainData", 3), ("TestData", 5)):
        with h5py.File(out / f"{folder}.h5", "r") as f:
            assert f.attrs["version"] == meta.version and f["img"].shape == (n, 128, 128, 14)
            for i in (1, n):
                with h5py.File(out / folder / "img" / f"image_{i}.h5", "r") as g:
                    assert np.array_equal(f["img"][i - 1], g["img"][()])
                with h5py.File(out / folder / "mask" / f"mask_{i}.h5", "r") as g:
                    assert np.array_equal(f["mask"][i - 1], g["mask"][()])
    assemble(out, jobs, "raw", figures=False)  # published again without: no stale file stays
    assert not (out / "TrainData.h5").exists() and not (out / "TestData.h5").exists()
    assert read_dataset_meta(out / "dataset.json").layout == OutputLayout()
