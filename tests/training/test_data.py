import h5py
import numpy as np
import pytest

from landslide4sense.errors import InputDataError, MissingInputError
from landslide4sense.layout import STACK_BANDS
from landslide4sense.records import write_dataset_meta, write_manifest
from landslide4sense.training.data import (
    dataset_version,
    load_benchmark,
    read_split,
    validation_index,
)
from landslide4sense.training.synthetic import write_release
from tests.helpers import dataset_meta_record, manifest_row


def raw(root, split, i):
    """Patch ``i`` (1-based) of a split as stored, channels first."""
    with h5py.File(root / split / "img" / f"image_{i}.h5") as f:
        return np.moveaxis(f["img"][()], -1, 0)


def test_original_release_layout_float64(tmp_path):
    root = write_release(tmp_path, 6, 4, size=32, seed=1)
    with h5py.File(root / "TrainData" / "img" / "image_1.h5") as f:
        assert f["img"].dtype == np.float64 and f["img"].shape == (32, 32, 14)
    s = read_split(root, "train", mean=np.zeros(14), std=np.ones(14))
    assert s.read(range(6)).shape == (6, 14, 32, 32) and s.read([0]).dtype == np.float32
    assert s.masks.shape == (6, 32, 32) and s.regions == ["all"] * 6
    assert np.allclose(s.read([2])[0], raw(root, "TrainData", 3))


def test_numbering_is_numeric_not_lexical(tmp_path):
    root = write_release(tmp_path, 12, 1, size=16, seed=2)
    s = read_split(root, "train", mean=np.zeros(14), std=np.ones(14))
    assert s.packed is None  # read from the patch files when asked
    assert np.allclose(s.read([9])[0], raw(root, "TrainData", 10))


def test_standardised_with_training_statistics(tmp_path):
    root = write_release(tmp_path, 10, 5, size=32, seed=3)
    data = load_benchmark(root, val_fraction=0.2)
    train = np.concatenate([data.train.read(range(8)), data.val.read(range(2))])
    assert np.allclose(train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    assert np.allclose(train.std(axis=(0, 2, 3)), 1, atol=1e-3)
    expected = (raw(root, "TestData", 2) - data.mean[:, None, None]) / data.std[:, None, None]
    assert np.allclose(data.test.read([1])[0], expected, atol=1e-5)
    assert data.version.startswith("release-")


def test_the_paper_trains_on_every_training_patch(tmp_path):
    root = write_release(tmp_path, 10, 2, size=16, seed=5)
    data = load_benchmark(root)
    assert (len(data.train), len(data.val)) == (10, 0)  # no ValidData: nothing held out
    assert data.selection == "last iteration (no validation set)"
    assert "validation: none (no ValidData with masks): the last iteration's checkpoint" in (
        data.describe()
    )


def test_held_out_validation_when_asked(tmp_path):
    root = write_release(tmp_path, 10, 2, size=16, seed=5)
    data = load_benchmark(root, val_fraction=0.2)
    assert (len(data.train), list(data.val.rows)) == (8, [8, 9])
    assert np.array_equal(data.val.read([1])[0], load_benchmark(root).train.read([9])[0])
    assert data.selection == "best validation F1 on held out from TrainData"


def test_statistics_and_regions_come_from_our_benchmark_files(tmp_path):
    root = write_release(tmp_path, 4, 2, size=16, seed=4)
    write_dataset_meta(
        root / "dataset.json",
        dataset_meta_record(
            version="abc123abc123",
            train_mean=[1.0] * 14,
            train_std=[2.0] * 14,
            scaling="raw",
            bands=list(STACK_BANDS),
        ),
    )
    rows = [("train", i, "a" if i <= 3 else "b") for i in range(1, 5)]
    rows += [("test", i, "b") for i in range(1, 3)]
    manifest = [manifest_row(id=f"{s}_{i}", split=s, index=i, region=r) for s, i, r in rows]
    write_manifest(root / "manifest.csv", manifest)
    data = load_benchmark(root, val_fraction=0.5)
    assert np.allclose(
        data.test.read([0, 1]),
        (np.stack([raw(root, "TestData", 1), raw(root, "TestData", 2)]) - 1.0) / 2.0,
        atol=1e-5,
    )
    assert data.version == "abc123abc123" and data.scaling == "raw"
    assert data.val.regions == ["a", "a"]  # ceil(3 x 0.5) of a; b keeps its only patch
    assert data.train.regions == ["a", "b"]


def test_competition_layout_with_every_mask(tmp_path):
    root = write_release(tmp_path, 12, 5, size=16, seed=6, n_val=4)
    data = load_benchmark(root)
    assert (len(data.train), len(data.val), len(data.test)) == (12, 4, 5)
    assert data.val.name == "ValidData" and data.unscored == {}
    assert list(data.scored) == ["test"]
    assert np.allclose(
        data.val.read([3])[0] * data.std[:, None, None] + data.mean[:, None, None],
        raw(root, "ValidData", 4),
        atol=1e-5,
    )


def test_first_public_release_without_validation_and_test_masks(tmp_path):
    root = write_release(tmp_path, 12, 5, size=16, seed=6, n_val=4, masks=("train",))
    data = load_benchmark(root, val_fraction=0.25)
    assert data.scored == {} and data.test is None
    assert data.unscored == {"ValidData": 4, "TestData": 5}
    assert (len(data.train), len(data.val)) == (9, 3)  # held out from TrainData instead
    assert data.val.name.startswith("held out from TrainData")
    lines = data.describe()
    assert "ValidData: 4 patches without masks in this release: not scored" in lines
    assert "TestData: 5 patches without masks in this release: not scored" in lines


def test_validation_never_holds_a_training_patch():
    regions = ["a"] * 25 + ["b"] * 10 + ["c"] * 1
    val = validation_index(regions, 0.1)
    assert list(val) == [22, 23, 24, 34]  # the last 10% (rounded up) of a and b; c keeps its one
    train = np.setdiff1d(np.arange(len(regions)), val)
    assert not set(train) & set(val)


def test_missing_layout_is_named(tmp_path):
    with pytest.raises(MissingInputError, match="Landslide4Sense layout"):
        read_split(tmp_path, "train")
    with pytest.raises(MissingInputError, match="no such benchmark folder"):
        load_benchmark(tmp_path / "nonexistent")


@pytest.mark.parametrize("version", ["/etc", "../../elsewhere", "abc", "ABCDEF123456"])
def test_a_version_that_is_not_ours_never_becomes_a_path(tmp_path, version):
    root = write_release(tmp_path, 2, 1, size=16)
    write_dataset_meta(root / "dataset.json", dataset_meta_record(version=version))
    with pytest.raises(InputDataError, match=r"dataset.json: field 'version' is .* not a dataset"):
        dataset_version(root)
    with pytest.raises(InputDataError, match="field 'version'"):
        load_benchmark(root)


def test_a_release_of_links_reads_as_its_size(tmp_path):
    root = write_release(tmp_path, 10, 3, size=16, seed=9, n_val=2, distinct=4)
    assert len(list((root / "TrainData" / "img").glob("*.h5"))) == 10
    assert (root / "TrainData" / "img" / "image_9.h5").samefile(
        root / "TrainData" / "img" / "image_1.h5"
    )
    data = load_benchmark(root)
    assert (len(data.train), len(data.val), len(data.test)) == (10, 2, 3)
    assert np.array_equal(data.train.read([5])[0], data.train.read([1])[0])  # 6 -> 2
    assert not np.array_equal(data.train.read([2])[0], data.train.read([1])[0])


def test_the_single_file_per_split_is_read_instead_of_the_patch_files(tmp_path):
    from landslide4sense.choices import Split
    from landslide4sense.patching.split_file import write_split_files

    root = write_release(tmp_path, 70, 3, seed=4, dtype="float32")  # read in 3 batches of 32
    counts = {"train": 70, "test": 3, "regions": {"a": {"train": 70, "test": 3}}}
    meta = dataset_meta_record(counts=counts, version="abc123abc123")
    write_dataset_meta(root / "dataset.json", meta)
    stats = {"mean": np.zeros(14), "std": np.ones(14)}
    folders = read_split(root, "train", **stats)
    expected = folders.read(range(70))
    write_split_files(root, "abc123abc123", [Split.TRAIN, Split.TEST])
    (root / "TrainData" / "img" / "image_7.h5").write_bytes(b"not read any more")
    packed = read_split(root, "train", **stats)
    assert packed.packed == root / "TrainData.h5"
    assert np.array_equal(packed.read(range(70)), expected)
    assert np.array_equal(packed.read([40, 3, 9]), expected[[40, 3, 9]])  # any order
    assert np.array_equal(packed.masks, folders.masks) and packed.ids == folders.ids
    write_dataset_meta(root / "dataset.json", meta.model_copy(update={"version": "def456def456"}))
    with pytest.raises(InputDataError, match=r"image_7\.h5: not a readable HDF5 file"):
        read_split(root, "train", **stats)  # another version: the patch files are read
