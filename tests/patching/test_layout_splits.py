"""The with-valid layout: ValidData held out of each region's training tiles."""

import pytest

from landslide4sense.choices import OutputLayout, Split
from landslide4sense.patching import assemble
from landslide4sense.patching.assemble import region_splits
from tests.helpers import two_regions
from tests.readers import torchgeo_samples

RELEASE, WITH_VALID = OutputLayout(), OutputLayout(valid=True)


@pytest.mark.parametrize(
    ("n", "layout", "expected"),
    [
        (5, RELEASE, "TTsss"),  # the paper's rule: first quarter, rounded up
        (5, WITH_VALID, "TVsss"),  # 2 train tiles: the last one validates
        (3, WITH_VALID, "Tss"),  # 1 train tile: it keeps training
        (100, WITH_VALID, "T" * 22 + "V" * 3 + "s" * 75),  # 25 train: ceil(2.5) = 3 validate
    ],
)
def test_region_splits(n, layout, expected):
    names = {Split.TRAIN: "T", Split.VAL: "V", Split.TEST: "s"}
    assert "".join(names[s] for s in region_splits(n, layout)) == expected


def test_release_layout_has_no_validdata_and_torchgeo_says_so(tmp_path):
    out = tmp_path / "bench"
    meta = assemble(out, two_regions(tmp_path), "raw", figures=False)
    assert not (out / "ValidData").exists() and meta.counts.val == 0
    assert "val" not in (out / "dataset.json").read_text()  # no empty validation split named
    with pytest.raises(FileNotFoundError, match="Image directory not found"):
        torchgeo_samples(out, "val")


def test_with_valid_numbers_each_split_from_1_and_keeps_the_test_split(tmp_path):
    jobs = two_regions(tmp_path)
    release = assemble(tmp_path / "r", jobs, "raw", figures=False)
    out = tmp_path / "v"
    meta = assemble(out, jobs, "raw", figures=False, layout=WITH_VALID)
    # alpha: 5 tiles -> 1 train, 1 val, 3 test; beta: 3 tiles -> 1 train, 2 test
    counts = meta.counts.model_dump(mode="json")["regions"]
    assert counts == {"alpha": {"train": 1, "val": 1, "test": 3}, "beta": {"train": 1, "test": 2}}
    assert [p.name for p in sorted((out / "ValidData" / "mask").iterdir())] == ["mask_1.h5"]
    assert len(torchgeo_samples(out, "train")) == 2 and len(torchgeo_samples(out, "val")) == 1
    # Same tiles, same test split: the test numbering and content do not move.
    for i in range(1, 6):
        a = (tmp_path / "r" / "TestData" / "img" / f"image_{i}.h5").read_bytes()
        assert a == (out / "TestData" / "img" / f"image_{i}.h5").read_bytes()
    assert meta.version != release.version  # a different split is a different dataset
    assert meta.layout == WITH_VALID and "held out as validation" in meta.split_rule


def test_with_valid_and_split_files_writes_a_file_per_split_validation_included(tmp_path):
    import h5py

    out = tmp_path / "bench"
    meta = assemble(
        out,
        two_regions(tmp_path),
        "raw",
        figures=False,
        layout=OutputLayout(valid=True, split_files=True),
    )
    for split, folder in (
        (Split.TRAIN, "TrainData"),
        (Split.VAL, "ValidData"),
        (Split.TEST, "TestData"),
    ):
        with h5py.File(out / f"{folder}.h5") as f:
            assert f["img"].shape[0] == getattr(meta.counts, split) and f.attrs["split"] == split
    # Back to the release layout: ValidData and every split file go.
    assemble(out, two_regions(tmp_path), "raw", figures=False)
    assert not (out / "ValidData").exists() and not list(out.glob("*.h5"))
