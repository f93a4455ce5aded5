import h5py
import numpy as np
import pytest

from landslide4sense.patching import read_image, read_mask, write_image, write_mask

torch = pytest.importorskip("torch")  # TorchGeo hands out tensors


def plain_h5py(path, key, data):
    """A patch file written the plain way, as the original release's users would."""
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data)
    return path


def patches(seed=3):
    rng = np.random.default_rng(seed)
    img = rng.normal(0, 1, (128, 128, 14)).astype(np.float32)
    img[5, 7] = [np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38, *range(8)]  # odd values survive
    return img, (rng.random((128, 128)) < 0.1).astype(np.uint8)


@pytest.mark.parametrize("atomic", [True, False])
def test_patches_are_byte_identical_to_plain_h5py(tmp_path, atomic):
    img, mask = patches()
    write_image(tmp_path / "image_1.h5", img, atomic=atomic)
    write_mask(tmp_path / "mask_1.h5", mask, atomic=atomic)
    ref_img = plain_h5py(tmp_path / "a.h5", "img", img).read_bytes()
    ref_mask = plain_h5py(tmp_path / "b.h5", "mask", mask).read_bytes()
    assert (tmp_path / "image_1.h5").read_bytes() == ref_img
    assert (tmp_path / "mask_1.h5").read_bytes() == ref_mask
    assert np.array_equal(read_image(tmp_path / "image_1.h5"), img, equal_nan=True)
    assert np.array_equal(read_mask(tmp_path / "mask_1.h5"), mask)


def release(root, writer):
    """Three patches of a split, ``TrainData/img/image_N.h5`` and ``mask/mask_N.h5``."""
    for n in (1, 2, 3):
        img, mask = patches(seed=n)
        writer(root / "TrainData" / "img" / f"image_{n}.h5", "img", img)
        writer(root / "TrainData" / "mask" / f"mask_{n}.h5", "mask", mask)
    return root


def ours(path, key, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    (write_image if key == "img" else write_mask)(path, data)


def plain(path, key, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    plain_h5py(path, key, data)


def iarai_reader(root):
    """The original code's rules: a list of image names; the mask's name replaces 'img' by
    'mask' and 'image' by 'mask'; ``hf[key][:]``, float32, channels first."""
    names = [f"img/image_{n}.h5" for n in (1, 2, 3)]
    out = []
    for name in names:
        with h5py.File(root / "TrainData" / name, "r") as hf:
            image = np.asarray(hf["img"][:], np.float32).transpose((-1, 0, 1))
        label_name = name.replace("img", "mask").replace("image", "mask")
        with h5py.File(root / "TrainData" / label_name, "r") as hf:
            label = np.asarray(hf["mask"][:], np.float32)
        out.append((image, label))
    return out


def torchgeo_reader(root):
    """TorchGeo's rules: sorted ``img/*.h5``, the mask named ``mask_`` for ``image_``, the image
    transposed to channels first as a float tensor, the mask a long tensor with a channel axis."""
    out = []
    for image_path in sorted((root / "TrainData" / "img").glob("*.h5")):
        mask_path = root / "TrainData" / "mask" / image_path.name.replace("image_", "mask_")
        with h5py.File(image_path, "r") as f:
            image = torch.from_numpy(np.transpose(f["img"][:], (2, 0, 1))).float()
        with h5py.File(mask_path, "r") as f:
            mask = torch.from_numpy(f["mask"][:]).unsqueeze(0).long()
        out.append((image, mask))
    return out


def test_the_original_loader_and_torchgeo_read_ours_as_plain_h5py_files(tmp_path):
    a, b = release(tmp_path / "ours", ours), release(tmp_path / "plain", plain)
    for (x, y), (u, v) in zip(iarai_reader(a), iarai_reader(b), strict=True):
        assert x.dtype == u.dtype and np.array_equal(x, u, equal_nan=True)
        assert np.array_equal(y, v)
    for (x, y), (u, v) in zip(torchgeo_reader(a), torchgeo_reader(b), strict=True):
        assert x.shape == (14, 128, 128) and torch.equal(x.nan_to_num(), u.nan_to_num())
        assert y.dtype == torch.long and torch.equal(y, v)


def test_non_contiguous_and_other_shapes(tmp_path):
    img = np.arange(14 * 64 * 64, dtype=np.float32).reshape(14, 64, 64).transpose(1, 2, 0)
    write_image(tmp_path / "i.h5", img)  # a transposed view, and a 64 x 64 patch
    assert np.array_equal(read_image(tmp_path / "i.h5"), img)
    plain_h5py(tmp_path / "p.h5", "img", img)
    assert (tmp_path / "i.h5").read_bytes() == (tmp_path / "p.h5").read_bytes()
    with pytest.raises(ValueError, match="size, size, bands"):
        write_image(tmp_path / "x.h5", np.zeros((14, 128), np.float32))
    assert sorted(tmp_path.iterdir()) == [tmp_path / "i.h5", tmp_path / "p.h5"]  # none half-written
