"""Other people's readers of a Landslide4Sense folder, applied by their rules.

TorchGeo's ``Landslide4Sense`` (microsoft/torchgeo, ``torchgeo/datasets/landslide4sense.py`` on
main) cannot be installed on Python 3.11 (torchgeo 0.9+ needs 3.12), and the original code's
``LandslideDataSet`` (iarai/Landslide4Sense-2022, ``dataset/landslide_dataset.py``) is not a
package; these functions find and read files exactly as those classes do, so the tests can
check that our output satisfies them.

TorchGeo: split ``train`` reads every ``*.h5`` of ``TrainData/img`` in sorted name order and,
for each, the file of the same name with ``image_`` replaced by ``mask_`` in
``TrainData/mask``; ``val`` reads ``ValidData/img`` and ``test`` ``TestData/img``, images only.
A missing image or mask folder, an image folder without a ``*.h5`` file, or a missing mask is
a ``FileNotFoundError``. A sample's image is the ``img`` dataset moved to channels first, its
mask the ``mask`` dataset with a leading axis, as integers.

The original loader: a list file names one image per line, relative to the data folder; the
image is the data folder's path followed directly by the line, the label the same path with
``img`` replaced by ``mask`` and then ``image`` by ``mask``. It reads ``img`` as float32,
channels first, and ``mask``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

TORCHGEO_DIRS = {
    "train": ("TrainData/img", "TrainData/mask"),
    "val": ("ValidData/img", None),
    "test": ("TestData/img", None),
}


def torchgeo_samples(root: Path, split: str) -> list[tuple[Path, Path | None]]:
    """The (image, mask) files TorchGeo's ``Landslide4Sense(root, split)`` would load."""
    img_rel, mask_rel = TORCHGEO_DIRS[split]
    img_dir = root / img_rel
    if not img_dir.exists():
        raise FileNotFoundError(f"Image directory not found: {img_dir}")
    mask_dir = None if mask_rel is None else root / mask_rel
    if mask_dir is not None and not mask_dir.exists():
        raise FileNotFoundError(f"Mask directory not found: {mask_dir}")
    images = sorted(img_dir.glob("*.h5"))
    if not images:
        raise FileNotFoundError(f"No .h5 files found in image directory: {img_dir}")
    samples = []
    for image in images:
        mask = None if mask_dir is None else mask_dir / image.name.replace("image_", "mask_")
        if mask is not None and not mask.exists():
            raise FileNotFoundError(f"Missing mask for image: {image}")
        samples.append((image, mask))
    return samples


def torchgeo_sample(image: Path, mask: Path | None) -> dict[str, np.ndarray]:
    """One sample as TorchGeo builds it (numpy in place of torch tensors)."""
    with h5py.File(image, "r") as f:
        sample = {"image": np.transpose(f["img"][:], (2, 0, 1)).astype(np.float32)}
    if mask is not None:
        with h5py.File(mask, "r") as f:
            sample["mask"] = f["mask"][:][None].astype(np.int64)
    return sample


def original_loader_files(data_dir: str, list_lines: list[str]) -> list[tuple[str, str]]:
    """The (image, label) paths ``LandslideDataSet(data_dir, list_path)`` reads."""
    return [
        (data_dir + name, data_dir + name.replace("img", "mask").replace("image", "mask"))
        for name in (line.strip() for line in list_lines)
    ]


def original_loader_sample(image: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """One labelled sample as the original loader reads it, before its standardisation."""
    with h5py.File(image, "r") as f:
        img = np.asarray(f["img"][:], np.float32).transpose((-1, 0, 1))
    with h5py.File(label, "r") as f:
        lab = np.asarray(f["mask"][:], np.float32)
    return img, lab
