"""Patches for training: both release layouts, standardised, with the training split in memory.

Two layouts are served, both with ``img/image_N.h5`` (``img``, (H, W, 14)) and
``mask/mask_N.h5`` (``mask``, (H, W)) under each split folder:

* this project's benchmarks: ``TrainData`` and ``TestData`` (every split with masks), plus
  ``ValidData`` when it was built with one;
* the original competition release: ``TrainData`` (3,799 patches with masks), ``ValidData``
  (245) and ``TestData`` (800), whose masks were not in the first public release. It stores
  ``img`` as float64.

The validation set that picks the checkpoint is ``ValidData`` when it has masks; otherwise the
last ``val_fraction`` of each region's training patches (row-major order, so the held-out tiles
are one contiguous strip of the region, not neighbours of training tiles). The original code
picked checkpoints on its training list; we do not. Every other split with masks is scored;
one without masks is named as such (:attr:`Splits.unscored`), never left blank.

Memory: the training split is read once into one float32 array (3,799 patches are 3.5 GB) and
standardised in place; a held-out validation set indexes into it (no copy); the other splits
are read from their files batch by batch when evaluated. Images are standardised with the
training split's per-band mean and std: from ``dataset.json`` when the benchmark has one,
accumulated while reading otherwise.

This module imports neither rasterio nor Prefect: a GPU host needs only torch, numpy, h5py
and pydantic to train.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from landslide4sense.choices import Scaling
from landslide4sense.errors import InputDataError, MissingInputError
from landslide4sense.layout import (
    DATASET_JSON,
    IMAGE_DIR,
    IMAGE_STEM,
    MANIFEST_CSV,
    MASK_DIR,
    MASK_STEM,
    SPLIT_DIRS,
    STACK_BANDS,
    numbered,
)
from landslide4sense.records import read_dataset_meta, read_manifest
from landslide4sense.store.versions import check_version
from landslide4sense.training.metrics import NODATA

log = logging.getLogger(__name__)

#: Names a split may have in ``manifest.csv``.
MANIFEST_SPLITS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}


def _open(path: Path, key: str) -> h5py.File:
    """A patch file open for reading, holding dataset ``key``."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:  # not HDF5, or cut short
        raise InputDataError(
            f"{path}: not a readable HDF5 file ({err}); copy or download it again"
        ) from err
    if key not in f:
        found = list(f)
        f.close()
        raise InputDataError(
            f"{path}: no '{key}' dataset (found {found}); a Landslide4Sense "
            f"{'image' if key == 'img' else 'mask'} patch holds '{key}'"
        )
    return f


def _read_image(path: Path, shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """One image as float32 (C, H, W); checks its key, its (H, W, 14) shape (``shape`` when
    given) and that every value is finite."""
    with _open(path, "img") as f:
        a = f["img"]
        bands = len(STACK_BANDS)
        if a.ndim != 3 or a.shape[2] != bands or (shape is not None and a.shape != shape):
            raise InputDataError(
                f"{path}: img has shape {a.shape}, expected {shape or ('H', 'W', bands)} "
                f"({bands} bands, channels last, the size of the other patches)"
            )
        image = np.moveaxis(a[()], -1, 0).astype(np.float32, copy=False)
    _check_finite(path, image)
    return image


def _check_finite(path: Path, image: np.ndarray) -> None:
    """``image`` (C, H, W) holds no NaN or infinite value."""
    bad = ~np.isfinite(image)
    if bad.any():
        bands = sorted({int(b) + 1 for b in np.nonzero(bad)[0]})
        raise InputDataError(
            f"{path}: img holds {int(bad.sum())} NaN or infinite values (bands {bands}); "
            "training needs finite values: fill them (e.g. with the band's mean) or remove the "
            "patch and its mask"
        )


@dataclass
class PatchSet:
    """Patches of one split (or part of one), returned standardised by :meth:`read`.

    Attributes:
        name: what the set is, for tables ("TestData", "held out from TrainData").
        files: the image files, in order.
        masks: (N, H, W) uint8, 1 = landslide; None when the split has no masks.
        regions: each patch's region (``all`` without a manifest).
        ids: each patch's id (``test_12``).
        mean, std: the per-band standardisation, float32 (C,).
        rows: for each patch, its row of ``array``.
        array: standardised (M, C, H, W) float32 images held in memory (the training split),
            shared by its subsets; None: images are read from ``files`` when asked.
    """

    name: str
    files: list[Path]
    masks: np.ndarray | None
    regions: list[str]
    ids: list[str]
    mean: np.ndarray
    std: np.ndarray
    rows: np.ndarray
    array: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.files)

    @functools.cached_property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        if self.array is not None:
            return self.array.shape[1:]
        return _read_image(self.files[0]).shape

    def read(self, index: np.ndarray | list[int]) -> np.ndarray:
        """Standardised images (len(index), C, H, W) float32 of the patches at ``index``."""
        index = np.asarray(index, dtype=np.int64)
        if self.array is not None:
            return self.array[self.rows[index]]
        shape = self.image_shape
        out = np.empty((len(index), *shape), np.float32)
        for k, i in enumerate(index):
            out[k] = _read_image(self.files[i], (shape[1], shape[2], shape[0]))
        return standardise(out, self.mean, self.std)

    def batches(self, size: int):
        """(start, images) of consecutive batches of at most ``size`` patches."""
        for a in range(0, len(self), size):
            yield a, self.read(np.arange(a, min(a + size, len(self))))

    def subset(self, index: np.ndarray, name: str | None = None) -> PatchSet:
        """The patches at ``index``; images held in memory stay shared (no copy)."""
        return PatchSet(
            name or self.name,
            [self.files[i] for i in index],
            None if self.masks is None else self.masks[index],
            [self.regions[i] for i in index],
            [self.ids[i] for i in index],
            self.mean,
            self.std,
            self.rows[index],
            self.array,
        )


def standardise(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(images - mean) / std per band of (N, C, H, W) float32 images, in place."""
    images -= mean[None, :, None, None]
    images /= std[None, :, None, None]
    return images


def _split_files(root: Path, split: str) -> tuple[list[Path], list[Path]]:
    folder = root / SPLIT_DIRS[split]
    images = list(numbered(folder / IMAGE_DIR, IMAGE_STEM).values())
    masks = list(numbered(folder / MASK_DIR, MASK_STEM).values())
    if masks and len(masks) != len(images):
        raise InputDataError(f"{folder}: {len(images)} images but {len(masks)} masks")
    return images, masks


def _read_masks(paths: list[Path], shape: tuple[int, int]) -> np.ndarray:
    """Every mask, checked: (H, W) of 0 (no landslide), 1 (landslide) or 255 (no data, left out
    of the loss and the scores)."""
    out = np.empty((len(paths), *shape), np.uint8)
    for i, path in enumerate(paths):
        with _open(path, "mask") as f:
            if f["mask"].shape != shape:
                raise InputDataError(f"{path}: mask has shape {f['mask'].shape}, expected {shape}")
            m = f["mask"][()]
        odd = ~np.isin(m, (0, 1, NODATA))
        if odd.any():
            raise InputDataError(
                f"{path}: mask holds values {sorted(np.unique(m[odd]).tolist())[:5]}; expected 0 "
                f"(no landslide), 1 (landslide) or {NODATA} (no data: left out of the loss and "
                "of the scores)"
            )
        out[i] = m
    return out


def _read_split_file(
    root: Path, split: str, images: list[Path], shape: tuple[int, ...]
) -> np.ndarray | None:
    """A split's images (n, C, H, W) float32 from its single file (``TrainData.h5``, ``img``
    (N, H, W, C), one patch per chunk, ``number`` the N of each; ``--layout
    release+split-files``) when it holds the benchmark's version and these patches; None
    otherwise (its patch files are read)."""
    path, meta = root / f"{SPLIT_DIRS[split]}.h5", root / DATASET_JSON
    if not (path.exists() and meta.exists()):
        return None
    c, h, w = shape
    n = len(images)
    numbers = [int(p.stem.rsplit("_", 1)[1]) for p in images]
    version = json.loads(meta.read_text()).get("version")
    with h5py.File(path, "r") as f:
        img = f["img"]
        # Files without "number" (older ones) hold patches 1..N.
        held = f["number"][()].tolist() if "number" in f else list(range(1, len(img) + 1))
        same = held == numbers
        if f.attrs.get("version") != version or img.shape != (n, h, w, c) or not same:
            log.warning(
                "%s does not hold version %s's %d patches: reading the patch files",
                path,
                version,
                n,
            )
            return None
        x = np.empty((n, c, h, w), np.float32)
        buf = np.empty((min(n, 32), h, w, c), np.float32)  # channels last, a batch at a time
        for a in range(0, n, len(buf)):
            k = min(len(buf), n - a)
            img.read_direct(buf, np.s_[a : a + k], np.s_[:k])
            for j in range(k):  # patch by patch: the transposed copy stays in the CPU's cache
                x[a + j] = buf[j].transpose(2, 0, 1)
        return x


def read_split(
    root: str | Path,
    split: str,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
    in_memory: bool = False,
) -> PatchSet:
    """A split's patches: masks read, images in memory or left on disk.

    Args:
        root: the benchmark folder.
        split: ``train``, ``val`` or ``test`` (``TrainData``, ``ValidData``, ``TestData``).
        mean, std: the standardisation; None (with ``in_memory``): the split's own statistics,
            accumulated while reading (float64).
        in_memory: read every image once into one array (the training split).

    Every patch is checked here, before any training: a split read from disk is read once
    for the check (its images are read again when evaluated).

    Raises:
        MissingInputError: the split has no image patches.
        InputDataError: a patch is unreadable, or has the wrong key, shape or band count, or
            NaN pixels, or mask values other than 0, 1 and 255.
    """
    root = Path(root)
    images, masks = _split_files(root, split)
    if not images:
        raise MissingInputError(
            f"{root / SPLIT_DIRS[split]}/img: no image_N.h5 patches; expected the Landslide4Sense "
            "layout (TrainData/img/image_1.h5, TrainData/mask/mask_1.h5, ...)"
        )
    c, h, w = _read_image(images[0]).shape
    array = None
    if in_memory:
        packed = _read_split_file(root, split, images, (c, h, w))
        array = np.empty((len(images), c, h, w), np.float32) if packed is None else packed
        total, total_sq = np.zeros(c), np.zeros(c)
        for i, path in enumerate(images):
            if packed is None:
                array[i] = _read_image(path, (h, w, c))
            else:
                _check_finite(root / f"{SPLIT_DIRS[split]}.h5", array[i])
            if mean is None:
                total += np.einsum("chw->c", array[i], dtype=np.float64)
                total_sq += np.einsum("chw,chw->c", array[i], array[i], dtype=np.float64)
        if mean is None:
            n = len(images) * h * w
            mean = total / n
            std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
    else:
        for path in images:
            _read_image(path, (h, w, c))
    if mean is None or std is None:
        raise ValueError("a split read from disk needs the mean and std to standardise it")
    mean = np.asarray(mean, np.float32)
    std = np.where(np.asarray(std) > 0, std, 1.0).astype(np.float32)
    if array is not None:
        standardise(array, mean, std)
    ids = [f"{split}_{i + 1}" for i in range(len(images))]
    return PatchSet(
        SPLIT_DIRS[split],
        images,
        _read_masks(masks, (h, w)) if masks else None,
        _regions(root, split, len(images)),
        ids,
        mean,
        std,
        np.arange(len(images)),
        array,
    )


def _regions(root: Path, split: str, n: int) -> list[str]:
    """Each patch's region from ``manifest.csv``; ``all`` without one (the original release)."""
    manifest = root / MANIFEST_CSV
    if not manifest.exists():
        return ["all"] * n
    rows = sorted(
        (r.index, r.region) for r in read_manifest(manifest) if r.split in MANIFEST_SPLITS[split]
    )
    if len(rows) != n:
        raise InputDataError(f"{manifest}: lists {len(rows)} {split} patches, the folder has {n}")
    return [region for _, region in rows]


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
    """A benchmark ready for training.

    Attributes:
        train: the patches that train the model.
        val: the patches that pick the checkpoint (ValidData, or held out from TrainData).
        scored: the splits with masks scored with the picked checkpoint (``{"test": ...}``).
        unscored: split folders without masks, and their patch counts (never scored).
        scaling: how the patches were scaled (``l4s`` or ``raw``), as ``dataset.json`` says;
            the original release is ``l4s``.
        bands: the channel order.
    """

    root: Path
    version: str
    train: PatchSet
    val: PatchSet
    scored: dict[str, PatchSet]
    unscored: dict[str, int]
    mean: np.ndarray
    std: np.ndarray
    scaling: Scaling = Scaling.L4S
    bands: tuple[str, ...] = STACK_BANDS

    @property
    def test(self) -> PatchSet | None:
        return self.scored.get("test")

    def describe(self) -> list[str]:
        """One line per split: what it holds and what it is used for."""
        lines = [f"{self.train.name}: {len(self.train)} patches train the model"]
        lines.append(f"validation: {len(self.val)} patches ({self.val.name}) pick the checkpoint")
        for name, s in self.scored.items():
            lines.append(f"{s.name}: {len(s)} patches with masks, scored ({name})")
        for folder, n in self.unscored.items():
            lines.append(f"{folder}: {n} patches without masks in this release: not scored")
        return lines


def _metadata(root: Path):
    """The benchmark's ``dataset.json`` (validated, its version checked), or None without one
    (the original release)."""
    path = root / DATASET_JSON
    if not path.exists():
        return None
    meta = read_dataset_meta(path)
    check_version(meta.version, path)
    return meta


def load_benchmark(root: str | Path, val_fraction: float = 0.1) -> Splits:
    """Read a benchmark (ours, or the original competition release) for training.

    Raises:
        MissingInputError: the folder is not in the Landslide4Sense layout, or its training
            patches have no masks.
        InputDataError: a patch or ``dataset.json`` is unusable.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingInputError(f"{root}: no such benchmark folder; build one with `l4s build`")
    meta = _metadata(root)
    stats = (meta.train_mean, meta.train_std) if meta is not None else (None, None)
    train_all = read_split(root, "train", *stats, in_memory=True)
    if train_all.masks is None:
        raise MissingInputError(f"{root}/TrainData/mask: training patches have no masks")
    mean, std = train_all.mean, train_all.std
    others = {
        split: read_split(root, split, mean, std)
        for split in ("val", "test")
        if _split_files(root, split)[0]
    }
    unscored = {s.name: len(s) for s in others.values() if s.masks is None}
    valid = others.pop("val", None)
    if valid is not None and valid.masks is not None:
        train, val = train_all, valid
    else:
        val_idx = validation_index(train_all.regions, val_fraction)
        train_idx = np.setdiff1d(np.arange(len(train_all)), val_idx)
        train = train_all.subset(train_idx)
        val = train_all.subset(
            val_idx,
            f"held out from TrainData: the last {val_fraction:.0%} of each region's patches",
        )
    scored = {k: s for k, s in others.items() if s.masks is not None}
    version = meta.version if meta is not None else folder_version(root)
    splits = Splits(
        root,
        version,
        train,
        val,
        scored,
        unscored,
        mean,
        std,
        scaling=meta.scaling if meta is not None else Scaling.L4S,
        bands=tuple(meta.bands) if meta is not None else STACK_BANDS,
    )
    log.info("benchmark %s (version %s): %s", root, version, "; ".join(splits.describe()))
    return splits


def folder_version(root: Path) -> str:
    """A version for a folder without ``dataset.json``: a digest of its file names and sizes."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.h5")):
        h.update(f"{p.relative_to(root)}:{p.stat().st_size}\n".encode())
    return "release-" + h.hexdigest()[:12]


def dataset_version(root: str | Path) -> str:
    """The version of the benchmark at ``root``: ``dataset.json``'s (checked), else
    :func:`folder_version`."""
    meta = _metadata(Path(root))
    return meta.version if meta is not None else folder_version(Path(root))


@functools.lru_cache(maxsize=1)
def _load_once(root: str, version: str) -> Splits:
    return load_benchmark(root)


def load_benchmark_once(root: str | Path) -> Splits:
    """:func:`load_benchmark`, read once per process and version: ``l4s train`` reads (and so
    checks) it before the training flow starts, and every model of the run shares it."""
    root = Path(root)
    if not root.is_dir():
        raise MissingInputError(f"{root}: no such benchmark folder; build one with `l4s build`")
    return _load_once(str(root), dataset_version(root))
