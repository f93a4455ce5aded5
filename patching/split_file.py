"""The optional single file per split: ``TrainData.h5`` and ``TestData.h5`` beside the folders.

Each holds every patch of its split, ``img`` (N, 128, 128, 14) float32 and ``mask``
(N, 128, 128) uint8 (the patch files' keys, with a leading patch axis), in the order of their
numbers, and ``number`` (N,): the N of ``image_N.h5`` at each index (numbers can have gaps
once a region is renumbered, :mod:`.numbering`). One patch per chunk, uncompressed (lzf or
gzip cost 10-30x in write speed here), and the benchmark's ``version`` and ``bands`` as
attributes. ``l4s train`` reads it in one pass when its version and numbers are the
benchmark's; other readers can open one patch without reading the rest. It is built from
the published patch files: their array bytes are copied straight into the chunks, so the
arrays are exactly the files' arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np

from landslide4sense.choices import Split
from landslide4sense.errors import InputDataError
from landslide4sense.files import atomic_path
from landslide4sense.layout import (
    IMAGE_DIR,
    IMAGE_KEY,
    IMAGE_STEM,
    MASK_KEY,
    PATCH_SIZE,
    SPLIT_DIRS,
    SPLIT_FILES,
    STACK_BANDS,
    image_path,
    mask_path,
    numbered,
)
from landslide4sense.patching.hdf5 import header

IMAGE_SHAPE = (PATCH_SIZE, PATCH_SIZE, len(STACK_BANDS))
MASK_SHAPE = (PATCH_SIZE, PATCH_SIZE)
NUMBER_KEY = "number"  # the N of image_N.h5 at each index


def _array_bytes(path: Path, key: str, shape: tuple[int, ...], dtype: type) -> bytes:
    """The array bytes of a patch file: after the fixed header when the file is ours (as
    :mod:`.hdf5` writes it), read through h5py otherwise (e.g. the original float64 release).

    Raises:
        InputDataError: the file does not hold ``key`` with ``shape``.
    """
    head = header(key, shape, np.dtype(dtype).str)
    raw = path.read_bytes()
    if raw.startswith(head) and len(raw) == len(head) + np.dtype(dtype).itemsize * np.prod(shape):
        return raw[len(head) :]
    with h5py.File(path, "r") as f:
        if key not in f or f[key].shape != shape:
            found = {k: f[k].shape for k in f}
            raise InputDataError(f"{path}: expected dataset '{key}' {shape}, found {found}")
        return np.ascontiguousarray(f[key][()], dtype).tobytes()


def write_split_file(
    path: str | Path,
    images: list[Path],
    masks: list[Path],
    attrs: dict | None = None,
    numbers: list[int] | None = None,
) -> Path:
    """All patches of a split in one chunked HDF5 file (see the module's docstring).

    Raises:
        InputDataError: a patch file is not a Landslide4Sense patch of our shape.
    """
    if len(images) != len(masks):
        raise ValueError(f"{len(images)} images but {len(masks)} masks")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, files, shape, dtype in (
            (IMAGE_KEY, images, IMAGE_SHAPE, np.float32),
            (MASK_KEY, masks, MASK_SHAPE, np.uint8),
        ):
            d = f.create_dataset(
                key, (len(files), *shape), dtype, chunks=(1, *shape), maxshape=(None, *shape)
            )
            origin = (0,) * len(shape)
            for i, file in enumerate(files):
                d.id.write_direct_chunk((i, *origin), _array_bytes(Path(file), key, shape, dtype))
        if numbers is not None:
            f.create_dataset(NUMBER_KEY, data=np.asarray(numbers, np.int64))
        f.attrs.update(attrs or {})
    return Path(path)


def write_split_files(root: str | Path, version: str, splits: Iterable[Split]) -> list[Path]:
    """``TrainData.h5``, ``TestData.h5`` (and ``ValidData.h5``) of the benchmark (or staged
    benchmark) at ``root``, from its patch files: every patch of each split in ``splits``, of
    dataset ``version``."""
    root = Path(root)
    paths = []
    for split in splits:
        ns = list(numbered(root / SPLIT_DIRS[split] / IMAGE_DIR, IMAGE_STEM))
        path = write_split_file(
            root / SPLIT_FILES[split],
            [root / image_path(split, n) for n in ns],
            [root / mask_path(split, n) for n in ns],
            {"version": version, "split": split.value, "bands": list(STACK_BANDS)},
            ns,
        )
        paths.append(path)
    return paths
