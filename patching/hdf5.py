"""Patch files in the Landslide4Sense layout: ``image_N.h5`` (``img``) and ``mask_N.h5`` (``mask``).

Every patch file holds one contiguous dataset of a fixed shape and dtype, without timestamps
(h5py's default), so the bytes h5py writes before the data never change. We let h5py write
that header once per shape, then write each patch as header + raw array bytes in one system
call: the same file, byte for byte, as ``h5py.File(path, "w").create_dataset(key, data=a)``
(``tests/patching/test_hdf5.py``), several times faster than opening the HDF5 library per
patch. Files go to a temporary name and are renamed when complete, unless the caller makes
a whole folder atomic (``atomic=False``; the cutting stage renames a block's folder).
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from landslide4sense.files import atomic_path

IMAGE_KEY, MASK_KEY = "img", "mask"


@functools.cache
def header(key: str, shape: tuple[int, ...], dtype: str) -> bytes:
    """The bytes h5py writes before the data of a contiguous ``key`` dataset of ``shape`` and
    ``dtype`` (a numpy type string, ``<f4``), in every such file."""
    data = np.zeros(shape, dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.h5"
        with h5py.File(path, "w") as f:
            offset = f.create_dataset(key, data=data, track_times=False).id.get_offset()
        raw = path.read_bytes()
    if offset is None or len(raw) != offset + data.nbytes:
        raise RuntimeError(f"unexpected HDF5 layout for {key} {shape} {dtype}; h5py changed?")
    return raw[:offset]


def _write_new(path: Path, parts: list) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        if os.writev(fd, parts) != sum(len(p) for p in parts):
            raise OSError(f"{path}: short write (disk full?)")
    finally:
        os.close(fd)


def _write(path: Path, key: str, data: np.ndarray, atomic: bool) -> None:
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("="))
    parts = [header(key, data.shape, data.dtype.str), memoryview(data).cast("B")]
    if not atomic:
        _write_new(path, parts)
        return
    with atomic_path(path) as tmp:
        _write_new(tmp, parts)


def write_image(path: str | Path, img: np.ndarray, atomic: bool = True) -> None:
    """Write one image patch: float32 (128, 128, 14), channels last.

    ``atomic=False`` writes in place, for a caller that renames the whole folder when done.
    """
    if img.ndim != 3 or img.shape[0] != img.shape[1]:
        raise ValueError(f"image patch must be (size, size, bands), got {img.shape}")
    _write(Path(path), IMAGE_KEY, img.astype(np.float32, copy=False), atomic)


def write_mask(path: str | Path, mask: np.ndarray, atomic: bool = True) -> None:
    """Write one mask patch: uint8 (128, 128), 1 = landslide (``atomic`` as for images)."""
    if mask.ndim != 2:
        raise ValueError(f"mask patch must be (size, size), got {mask.shape}")
    _write(Path(path), MASK_KEY, mask.astype(np.uint8, copy=False), atomic)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image patch (float32 or the original release's float64) as stored."""
    with h5py.File(path, "r") as f:
        return f[IMAGE_KEY][()]


def read_mask(path: str | Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f[MASK_KEY][()]
