"""A seeded dataset in the original Landslide4Sense release's layout, for tests and benchmarks.

``write_release(root, n_train, n_test)`` writes ``TrainData/`` and ``TestData/`` with
``img/image_N.h5`` (float64 (size, size, 14), as the original release stores it) and
``mask/mask_N.h5``. Landslides are elliptical blobs where the red, red-edge and SWIR bands rise
and NIR drops, on a noisy background: separable, so a model must learn them quickly.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

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


def write_release(root: str | Path, n_train: int, n_test: int, size: int = 128, seed: int = 0,
                  dtype: str = "float64") -> Path:  # fmt: skip
    """Write the dataset under ``root``; returns ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in (("TrainData", n_train), ("TestData", n_test)):
        (root / split / "img").mkdir(parents=True, exist_ok=True)
        (root / split / "mask").mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            img, mask = make_patch(rng, size)
            with h5py.File(root / split / "img" / f"image_{i}.h5", "w") as f:
                f.create_dataset("img", data=img.astype(dtype))
            with h5py.File(root / split / "mask" / f"mask_{i}.h5", "w") as f:
                f.create_dataset("mask", data=mask)
    return root
