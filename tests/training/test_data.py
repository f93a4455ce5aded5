import h5py
import numpy as np
import pytest

from landslide4sense.errors import MissingInputError
from landslide4sense.records import write_dataset_meta, write_manifest
from landslide4sense.training.data import load_benchmark, read_split, validation_index
from landslide4sense.training.synthetic import write_release
from tests.helpers import dataset_meta_record, manifest_row


def test_original_release_layout_float64(tmp_path):
    root = write_release(tmp_path, 6, 4, size=32, seed=1)
    with h5py.File(root / "TrainData" / "img" / "image_1.h5") as f:
        assert f["img"].dtype == np.float64 and f["img"].shape == (32, 32, 14)
    s = read_split(root, "train")
    assert s.images.shape == (6, 14, 32, 32) and s.images.dtype == np.float32
    assert s.masks.shape == (6, 32, 32) and s.regions == ["all"] * 6
    with h5py.File(root / "TrainData" / "img" / "image_3.h5") as f:
        assert np.allclose(s.images[2], np.moveaxis(f["img"][()], -1, 0))


def test_numbering_is_numeric_not_lexical(tmp_path):
    root = write_release(tmp_path, 12, 1, size=16, seed=2)
    s = read_split(root, "train")
    with h5py.File(root / "TrainData" / "img" / "image_10.h5") as f:
        assert np.allclose(s.images[9], np.moveaxis(f["img"][()], -1, 0))


def test_standardised_with_training_statistics(tmp_path):
    root = write_release(tmp_path, 10, 5, size=32, seed=3)
    data = load_benchmark(root, val_fraction=0.2)
    train = np.concatenate([data.train.images, data.val.images])
    assert np.allclose(train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    assert np.allclose(train.std(axis=(0, 2, 3)), 1, atol=1e-3)
    assert data.version.startswith("release-")


def test_statistics_and_regions_come_from_our_benchmark_files(tmp_path):
    root = write_release(tmp_path, 4, 2, size=16, seed=4)
    write_dataset_meta(root / "dataset.json", dataset_meta_record(
        version="abc123", train_mean=[1.0] * 14, train_std=[2.0] * 14))  # fmt: skip
    rows = [("train", i, "a" if i <= 3 else "b") for i in range(1, 5)]
    rows += [("test", i, "b") for i in range(1, 3)]
    manifest = [manifest_row(id=f"{s}_{i}", split=s, index=i, region=r) for s, i, r in rows]
    write_manifest(root / "manifest.csv", manifest)
    raw = read_split(root, "test").images
    data = load_benchmark(root, val_fraction=0.5)
    assert np.allclose(data.test.images, (raw - 1.0) / 2.0)
    assert data.version == "abc123"
    assert data.val.regions == ["a", "a"]  # ceil(3 x 0.5) of a; b keeps its only patch
    assert data.train.regions == ["a", "b"]


def test_validation_never_holds_a_training_patch():
    regions = ["a"] * 25 + ["b"] * 10 + ["c"] * 1
    val = validation_index(regions, 0.1)
    assert list(val) == [22, 23, 24, 34]  # the last 10% (rounded up) of a and b; c keeps its one
    train = np.setdiff1d(np.arange(len(regions)), val)
    assert not set(train) & set(val)


def test_missing_layout_is_named(tmp_path):
    with pytest.raises(MissingInputError, match="Landslide4Sense layout"):
        read_split(tmp_path, "train")
