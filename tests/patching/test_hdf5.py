import h5py
import numpy as np
import pytest

from landslide4sense.patching import read_image, read_mask, write_image, write_mask


def h5py_bytes(path, key, data):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data, track_times=False)
    return path.read_bytes()


def test_patches_are_byte_identical_to_h5py(tmp_path):
    rng = np.random.default_rng(3)
    img = rng.random((128, 128, 14), dtype=np.float32)
    mask = (rng.random((128, 128)) < 0.1).astype(np.uint8)
    write_image(tmp_path / "image_1.h5", img)
    write_mask(tmp_path / "mask_1.h5", mask)
    assert (tmp_path / "image_1.h5").read_bytes() == h5py_bytes(tmp_path / "a.h5", "img", img)
    assert (tmp_path / "mask_1.h5").read_bytes() == h5py_bytes(tmp_path / "b.h5", "mask", mask)
    assert np.array_equal(read_image(tmp_path / "image_1.h5"), img)
    assert np.array_equal(read_mask(tmp_path / "mask_1.h5"), mask)


def test_non_contiguous_and_other_shapes(tmp_path):
    img = np.arange(14 * 64 * 64, dtype=np.float32).reshape(14, 64, 64).transpose(1, 2, 0)
    write_image(tmp_path / "i.h5", img)  # a transposed view, and a 64 x 64 patch
    assert np.array_equal(read_image(tmp_path / "i.h5"), img)
    with pytest.raises(ValueError, match="size, size, bands"):
        write_image(tmp_path / "x.h5", np.zeros((14, 128), np.float32))
    assert list(tmp_path.iterdir()) == [tmp_path / "i.h5"]  # nothing half-written
