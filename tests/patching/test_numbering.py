"""Stable patch numbers: known answers of the numbering rule, and a rebuild that changes one
region's tile count while the other keeps every number and byte."""

import hashlib

import pytest

from landslide4sense.choices import OutputLayout
from landslide4sense.patching import assemble, patch_rows
from landslide4sense.patching.numbering import Renumbered, assign_numbers, renumbered
from landslide4sense.store.versions import list_versions
from tests.helpers import known_job, strip_grid


def test_a_new_benchmark_counts_from_one_in_join_order():
    numbers = assign_numbers([("b", {"train": 2, "test": 3}), ("a", {"train": 1, "test": 2})], {})
    assert numbers == {
        ("b", "train"): [1, 2],
        ("b", "test"): [1, 2, 3],
        ("a", "train"): [3],
        ("a", "test"): [4, 5],
    }
    assert renumbered(numbers, {}) == []


def test_only_a_region_whose_count_changed_is_renumbered():
    previous = {
        ("a", "train"): [1, 2],
        ("a", "test"): [1, 2, 3, 4, 5, 6],
        ("b", "train"): [3],
        ("b", "test"): [7, 8],
    }
    numbers = assign_numbers(
        [
            ("a", {"train": 3, "test": 6}),
            ("b", {"train": 1, "test": 2}),
            ("c", {"train": 1, "test": 1}),
        ],
        previous,
    )
    assert numbers[("b", "train")] == [3] and numbers[("b", "test")] == [7, 8]
    assert numbers[("a", "test")] == [1, 2, 3, 4, 5, 6]  # same count in test: kept
    assert numbers[("a", "train")] == [4, 5, 6]  # after the highest train number, 3
    assert numbers[("c", "train")] == [7] and numbers[("c", "test")] == [9]
    changed = renumbered(numbers, previous)
    assert changed == [Renumbered("a", "train", [1, 2], [4, 5, 6])]
    assert changed[0].describe() == (
        "a (train): 2 -> 3 patches, numbers 1-2 -> 4-6; 1-2 are no longer used"
    )


def test_a_removed_region_leaves_its_numbers_unused():
    previous = {("a", "train"): [1], ("b", "train"): [2], ("c", "train"): [3]}
    numbers = assign_numbers(
        [("a", {"train": 1}), ("c", {"train": 1}), ("d", {"train": 2})], previous
    )
    assert numbers == {("a", "train"): [1], ("c", "train"): [3], ("d", "train"): [4, 5]}


def test_a_new_region_never_takes_a_removed_regions_numbers():
    """b held the highest number and is gone: c still starts after it."""
    previous = {("a", "train"): [1], ("b", "train"): [2]}
    numbers = assign_numbers([("a", {"train": 1}), ("c", {"train": 1})], previous)
    assert numbers == {("a", "train"): [1], ("c", "train"): [3]}


def test_a_region_that_lost_tiles_gets_fresh_numbers():
    """a had 3 train tiles and now has 2: its old numbers may name other tiles now."""
    previous = {("a", "train"): [1, 2, 3], ("b", "train"): [4]}
    numbers = assign_numbers([("a", {"train": 2}), ("b", {"train": 1})], previous)
    assert numbers == {("a", "train"): [5, 6], ("b", "train"): [4]}


def digests(out):
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for split in ("TrainData", "TestData")
        for p in (out / split).rglob("*.h5")
    }


@pytest.fixture
def rebuilt(tmp_path):
    """alpha (5 tiles) and beta (3), and alpha again with 9 tiles: cut, ready to assemble."""
    alpha = known_job(tmp_path / "a", strip_grid(5, 500000), "alpha", "raw", hole=None)
    beta = known_job(tmp_path / "b", strip_grid(3, 600000), "beta", "raw", hole=None, offset=1)
    alpha9 = known_job(tmp_path / "a9", strip_grid(9, 500000), "alpha", "raw", hole=None)
    for job in (alpha, beta, alpha9):
        patch_rows(job, 0, 1)
    return alpha, beta, alpha9


def test_rebuilding_a_region_with_more_tiles_keeps_the_others_numbers(rebuilt, tmp_path):
    alpha, beta, alpha9 = rebuilt
    out = tmp_path / "bench"
    assemble(out, [alpha, beta], "raw", figures=False)
    before = digests(out)
    meta = assemble(out, [alpha9, beta], "raw", figures=False)  # alpha: 5 -> 9 tiles
    after = digests(out)
    # beta (train 3, test 4..5 before) keeps its numbers and bytes; alpha (2 + 3 -> 3 + 6
    # tiles) moves after the highest numbers: train 4..6, test 6..11.
    for name in ("TrainData/img/image_3.h5", "TestData/img/image_4.h5", "TestData/img/image_5.h5"):
        assert after[name] == before[name]
    assert sorted(int(p.stem.split("_")[1]) for p in (out / "TrainData" / "img").iterdir()) == [
        3,
        4,
        5,
        6,
    ]
    assert meta.renumbered == [
        "alpha (train): 2 -> 3 patches, numbers 1-2 -> 4-6; 1-2 are no longer used",
        "alpha (test): 3 -> 6 patches, numbers 1-3 -> 6-11; 1-3 are no longer used",
    ]
    card = (out / "card.md").read_text()
    assert "alpha (test): 3 -> 6 patches, numbers 1-3 -> 6-11" in card
    # Published again unchanged: the same version (its folder is kept as it was).
    again = assemble(out, [alpha9, beta], "raw", figures=False)
    assert again == meta
    assert digests(out) == after and len(list_versions(out)) == 2


def test_split_files_follow_the_numbers_after_a_renumbering(rebuilt, tmp_path):
    import h5py
    import numpy as np

    from landslide4sense.patching.hdf5 import read_image, read_mask

    alpha, beta, alpha9 = rebuilt
    out, layout = tmp_path / "bench", OutputLayout(split_files=True)
    assemble(out, [alpha, beta], "raw", figures=False, layout=layout)
    assemble(out, [alpha9, beta], "raw", figures=False, layout=layout)  # alpha renumbered
    for split, numbers in (("Train", [3, 4, 5, 6]), ("Test", [4, 5, *range(6, 12)])):
        with h5py.File(out / f"{split}Data.h5", "r") as f:
            assert f["number"][()].tolist() == numbers
            for i, n in enumerate(numbers):
                assert np.array_equal(
                    f["img"][i], read_image(out / f"{split}Data/img/image_{n}.h5")
                )
                assert np.array_equal(
                    f["mask"][i], read_mask(out / f"{split}Data/mask/mask_{n}.h5")
                )
