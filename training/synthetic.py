"""A seeded dataset in the original Landslide4Sense release's layout, for tests and benchmarks.

``write_release(root, n_train, n_test)`` writes ``TrainData/`` and ``TestData/`` with
``img/image_N.h5`` (float64 (size, size, 14), as the original release stores it) and
``mask/mask_N.h5``; ``n_val`` adds ``ValidData/`` (the competition layout), and
``masks=("train",)`` leaves the other splits without masks, as the first public release did;
``distinct=k`` makes only k patches per split and links the others to them (a release of the
original's size in a few MB of disk, for measuring memory and time, not accuracy).
Landslides are elliptical blobs where the red, red-edge and SWIR bands rise and NIR drops, on
a noisy background: separable, so a model must learn them quickly.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from landslide4sense.layout import SPLIT_DIRS

# Per-band background level and landslide shift (l4s-scaled units), bands B1..B12, slope, DEM.
BACKGROUND = np.array([1.0, 1.0, 1.1, 1.1, 1.4, 1.4, 1.3, 1.4, 1.2, 1.3, 1.3, 1.3, 0.4, 0.5])
LANDSLIDE = np.array([0.1, 0.4, 0.9, 2.5, 1.5, 0.1, 0.0, -0.2, 0.1, 0.5, 1.5, 3.0, 0.3, 0.0])


def make_patch(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (size, size, 14) image and its (size, size) mask."""
    mask = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(rng.integers(0, 4)):
        cy, cx = rng.uniform(0, size, 2)
        ry, rx = rng.uniform(size / 32, size / 8, 2)
        mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    img = BACKGROUND + rng.normal(0, 0.15, (size, size, 14))
    img += mask[..., None] * LANDSLIDE
    return img, mask


def write_release(
    root: str | Path,
    n_train: int,
    n_test: int,
    size: int = 128,
    seed: int = 0,
    dtype: str = "float64",
    n_val: int = 0,
    masks: tuple[str, ...] = ("train", "val", "test"),
    distinct: int = 0,
) -> Path:
    """Write the dataset under ``root``; returns ``root``.

    Args:
        n_train, n_val, n_test: patches per split (``n_val`` 0: no ``ValidData``).
        masks: the splits that get masks.
        distinct: 0, or how many different patches a split holds; patch ``i`` is then a hard
            link to patch ``(i - 1) % distinct + 1``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        if n == 0:
            continue
        folder = root / SPLIT_DIRS[split]
        (folder / "img").mkdir(parents=True, exist_ok=True)
        if split in masks:
            (folder / "mask").mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            files = [("img", "image")] + ([("mask", "mask")] if split in masks else [])
            if distinct and i > distinct:
                for kind, stem in files:
                    source = folder / kind / f"{stem}_{(i - 1) % distinct + 1}.h5"
                    os.link(source, folder / kind / f"{stem}_{i}.h5")
                continue
            img, mask = make_patch(rng, size)
            with h5py.File(folder / "img" / f"image_{i}.h5", "w") as f:
                f.create_dataset("img", data=img.astype(dtype))
            if split in masks:
                with h5py.File(folder / "mask" / f"mask_{i}.h5", "w") as f:
                    f.create_dataset("mask", data=mask)
    return root
