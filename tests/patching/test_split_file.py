import h5py
import numpy as np
import pytest

from landslide4sense.choices import Split
from landslide4sense.errors import InputDataError
from landslide4sense.patching import write_image, write_mask
from landslide4sense.patching.split_file import write_split_file, write_split_files


def benchmark(root, counts):
    """A benchmark folder with seeded patches; the last test image as the original release
    stores it (float64, written by h5py)."""
    rng = np.random.default_rng(1)
    arrays = {}
    for split, folder in (("train", "TrainData"), ("test", "TestData")):
        for n in range(1, counts[split] + 1):
            img = rng.normal(0, 1, (128, 128, 14)).astype(np.float32)
            mask = (rng.random((128, 128)) < 0.2).astype(np.uint8)
            path = root / folder / "img" / f"image_{n}.h5"
            if split == "test" and n == counts[split]:
                path.parent.mkdir(parents=True, exist_ok=True)
                with h5py.File(path, "w") as f:
                    f.create_dataset("img", data=img.astype(np.float64))
            else:
                write_image(path, img)
            write_mask(root / folder / "mask" / f"mask_{n}.h5", mask)
            arrays[(split, n)] = img, mask
    return arrays


def test_split_files_hold_every_patch_as_its_file_does(tmp_path):
    arrays = benchmark(tmp_path, {"train": 2, "test": 3})
    paths = write_split_files(tmp_path, "0123456789ab", [Split.TRAIN, Split.TEST])
    assert paths == [tmp_path / "TrainData.h5", tmp_path / "TestData.h5"]
    for split, path in zip(("train", "test"), paths, strict=True):
        with h5py.File(path, "r") as f:
            assert f.attrs["version"] == "0123456789ab" and f.attrs["split"] == split
            assert list(f.attrs["bands"])[-2:] == ["slope", "dem"]
            assert f["img"].chunks == (1, 128, 128, 14) and f["img"].compression is None
            assert f["img"].dtype == np.float32 and f["mask"].dtype == np.uint8
            for n in range(1, len(f["img"]) + 1):
                img, mask = arrays[(split, n)]
                assert np.array_equal(f["img"][n - 1], img)
                assert np.array_equal(f["mask"][n - 1], mask)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "TestData",
        "TestData.h5",
        "TrainData",
        "TrainData.h5",
    ]


def test_a_patch_of_another_shape_is_an_error_and_nothing_is_written(tmp_path):
    write_image(tmp_path / "a.h5", np.zeros((64, 64, 14), np.float32))
    write_mask(tmp_path / "m.h5", np.zeros((128, 128), np.uint8))
    with pytest.raises(InputDataError, match=r"a\.h5: expected dataset 'img' \(128, 128, 14\)"):
        write_split_file(tmp_path / "TrainData.h5", [tmp_path / "a.h5"], [tmp_path / "m.h5"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "m.h5"]
