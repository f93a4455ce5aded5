"""Patches for training: read once into contiguous arrays, standardised, split three ways.

Works on our benchmark and on the original Landslide4Sense release (same keys; the original
stores ``img`` as float64). Every patch file is opened once; batches are then slices of one
array (the original code opened two HDF5 files per sample, every epoch). Images are
standardised with the training split's per-band mean and std: from ``dataset.json`` when the
benchmark has one, computed otherwise.

The validation subset is held out from the training regions: the last ``val_fraction`` of each
region's training patches (row-major order, so the held-out tiles are one contiguous strip of
the region, not neighbours of training tiles). The original code picked checkpoints on its
training list; we do not.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from landslide4sense.errors import InputDataError, MissingInputError
from landslide4sense.layout import DATASET_JSON, MANIFEST_CSV
from landslide4sense.records import read_dataset_meta, read_manifest

log = logging.getLogger(__name__)

SPLIT_DIRS = {"train": "TrainData", "test": "TestData"}


@dataclass
class PatchSet:
    """Patches of one split: images (N, C, H, W) float32, masks (N, H, W) uint8 or None."""

    images: np.ndarray
    masks: np.ndarray | None
    regions: list[str]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: np.ndarray) -> PatchSet:
        return PatchSet(
            self.images[index],
            None if self.masks is None else self.masks[index],
            [self.regions[i] for i in index],
            [self.ids[i] for i in index],
        )


def _numbered(folder: Path, stem: str) -> list[Path]:
    pattern = re.compile(rf"{stem}_(\d+)\.h5$")
    files = [
        (int(m.group(1)), p) for p in folder.glob(f"{stem}_*.h5") if (m := pattern.match(p.name))
    ]
    return [p for _, p in sorted(files)]


def read_split(root: Path, split: str) -> PatchSet:
    """Every patch of a split, read once into contiguous arrays (channels first).

    Raises:
        MissingInputError: the split has no image patches.
        InputDataError: a patch has the wrong key, shape, or band count.
    """
    folder = root / SPLIT_DIRS[split]
    images = _numbered(folder / "img", "image")
    if not images:
        raise MissingInputError(
            f"{folder}/img: no image_N.h5 patches; expected the Landslide4Sense layout "
            "(TrainData/img/image_1.h5, TrainData/mask/mask_1.h5, ...)"
        )
    masks = _numbered(folder / "mask", "mask")
    if masks and len(masks) != len(images):
        raise InputDataError(f"{folder}: {len(images)} images but {len(masks)} masks")
    with h5py.File(images[0], "r") as f:
        if "img" not in f:
            raise InputDataError(f"{images[0]}: no 'img' dataset (found {list(f)})")
        h, w, c = f["img"].shape
    x = np.empty((len(images), c, h, w), np.float32)
    y = np.empty((len(images), h, w), np.uint8) if masks else None
    for i, path in enumerate(images):
        with h5py.File(path, "r") as f:
            a = f["img"]
            if a.shape != (h, w, c):
                raise InputDataError(f"{path}: img has shape {a.shape}, expected {(h, w, c)}")
            x[i] = np.moveaxis(a[()], -1, 0)  # float64 in the original release: cast here
        if y is not None:
            with h5py.File(masks[i], "r") as f:
                y[i] = f["mask"][()]
    ids = [f"{split}_{i + 1}" for i in range(len(images))]
    return PatchSet(x, y, _regions(root, split, len(images)), ids)


def _regions(root: Path, split: str, n: int) -> list[str]:
    """Each patch's region from ``manifest.csv``; ``all`` without one (the original release)."""
    manifest = root / MANIFEST_CSV
    if not manifest.exists():
        return ["all"] * n
    rows = sorted((r.index, r.region) for r in read_manifest(manifest) if r.split == split)
    if len(rows) != n:
        raise InputDataError(f"{manifest}: lists {len(rows)} {split} patches, the folder has {n}")
    return [region for _, region in rows]


def band_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std over (N, C, H, W) images, accumulated in float64."""
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = np.einsum("nchw->c", images, dtype=np.float64) / n
    sq = np.einsum("nchw,nchw->c", images, images, dtype=np.float64) / n
    return mean, np.sqrt(np.maximum(sq - mean**2, 0.0))


def validation_index(regions: list[str], fraction: float) -> np.ndarray:
    """Indices of the last ``fraction`` (rounded up) of each region's patches; a region with a
    single patch keeps it for training."""
    held: list[int] = []
    for name in dict.fromkeys(regions):
        idx = [i for i, r in enumerate(regions) if r == name]
        k = min(math.ceil(len(idx) * fraction), len(idx) - 1)
        held += idx[len(idx) - k :] if k > 0 else []
    return np.array(sorted(held), dtype=np.int64)


@dataclass
class Splits:
    """A benchmark ready for training: standardised train / validation / test patch sets."""

    root: Path
    version: str
    train: PatchSet
    val: PatchSet
    test: PatchSet
    mean: np.ndarray
    std: np.ndarray


def load_benchmark(root: str | Path, val_fraction: float = 0.1) -> Splits:
    """Read a benchmark (ours or the original release) and standardise it.

    Raises:
        MissingInputError: the folder is not in the Landslide4Sense layout.
    """
    root = Path(root)
    meta = read_dataset_meta(root / DATASET_JSON) if (root / DATASET_JSON).exists() else None
    train_all, test = read_split(root, "train"), read_split(root, "test")
    if train_all.masks is None:
        raise MissingInputError(f"{root}/TrainData/mask: training patches have no masks")
    if meta is not None:
        mean, std = np.asarray(meta.train_mean), np.asarray(meta.train_std)
    else:
        mean, std = band_stats(train_all.images)
    std = np.where(std > 0, std, 1.0)
    for s in (train_all, test):
        s.images -= mean.astype(np.float32)[None, :, None, None]
        s.images /= std.astype(np.float32)[None, :, None, None]
    val_idx = validation_index(train_all.regions, val_fraction)
    train_idx = np.setdiff1d(np.arange(len(train_all)), val_idx)
    version = meta.version if meta is not None else folder_version(root)
    log.info(
        "benchmark %s (version %s): %d train, %d validation, %d test patches",
        root,
        version,
        len(train_idx),
        len(val_idx),
        len(test),
    )
    return Splits(
        root, version, train_all.subset(train_idx), train_all.subset(val_idx), test, mean, std
    )


def folder_version(root: Path) -> str:
    """A version for a folder without ``dataset.json``: a digest of its file names and sizes."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(root.rglob("*.h5")):
        h.update(f"{p.relative_to(root)}:{p.stat().st_size}\n".encode())
    return "release-" + h.hexdigest()[:12]
