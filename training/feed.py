"""Patches on the training device: held there when they fit, streamed from disk when not.

A split held on the device is copied there once, a chunk of standardised images at a time (no
copy of the split in host memory): bf16 on CUDA (what autocast feeds the convolutions anyway;
3,799 patches are 1.7 GB), channels last, and float32 on the CPU, with its masks as uint8. A
training batch is indexed on the device: each epoch's permutation goes there once, and nothing
waits for the device between iterations. A split that does not fit (on CUDA: more than
:data:`DEVICE_SHARE` of the free memory; on the CPU: more than :data:`HOST_BUDGET` bytes) is
streamed: a background thread reads the next batch from the split file or the patch files
while the device works on this one, through two pinned buffers on CUDA.

The splits are put on a device once and shared by every model of a run (:func:`on_device`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from landslide4sense.training.data import PatchSet, Splits
from landslide4sense.training.metrics import NODATA

#: Bytes of images a CPU run holds in memory; a larger split is streamed from disk, so host
#: memory does not grow with the dataset (3,799 patches are 3.5 GB in float32).
HOST_BUDGET = 2**30
#: Share of the free CUDA memory the images of one split may take (the rest: the models).
DEVICE_SHARE = 0.5
#: Patches copied onto the device at a time.
CHUNK = 64


def image_dtype(device: torch.device) -> torch.dtype:
    """How images are held on ``device``: bf16 on CUDA (autocast's dtype), float32 elsewhere."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def fits(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` of images may be held on ``device``."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= DEVICE_SHARE * free
    return nbytes <= HOST_BUDGET


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of ``n`` patches that epoch ``epoch`` visits."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_indices(n: int, batch_size: int, seed: int, iteration: int) -> np.ndarray:
    """The training batch of ``iteration``: consecutive slices of a per-epoch permutation."""
    per_epoch = max(1, n // batch_size)
    epoch, step = divmod(iteration, per_epoch)
    order = epoch_order(n, seed, epoch)
    return order[step * batch_size : (step + 1) * batch_size] if n >= batch_size else order


def patch_counts(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(N, 4) int64 per patch: true positives, predicted positives, true landslide pixels and
    labelled pixels (mask 255 is no data and is left out), counted on the device."""
    labelled = truth != NODATA
    p, t = (pred == 1) & labelled, truth == 1
    return torch.stack([(p & t).sum((1, 2)), p.sum((1, 2)), t.sum((1, 2)), labelled.sum((1, 2))], 1)


class DeviceSplit:
    """One split on a training device: images held there or streamed, masks held there.

    Args:
        patches: the split.
        device: where the model runs.
        resident: hold the images on the device (True) or stream them (False); None: hold them
            when they fit (:func:`fits`).
    """

    def __init__(self, patches: PatchSet, device: torch.device, resident: bool | None = None):
        self.patches, self.device = patches, torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.dtype = image_dtype(self.device)
        c, h, w = patches.image_shape
        nbytes = len(patches) * c * h * w * self.dtype.itemsize
        self.resident = fits(nbytes, self.device) if resident is None else resident
        masks = patches.masks
        self.masks = None if masks is None else torch.from_numpy(masks).to(self.device)
        self.images = self._load() if self.resident else None

    def __len__(self) -> int:
        return len(self.patches)

    def _load(self) -> torch.Tensor:
        """The standardised images on the device, copied there a chunk at a time; (N, H, W, C)
        on CUDA (channels last), (N, C, H, W) on the CPU."""
        c, h, w = self.patches.image_shape
        shape = (len(self), h, w, c) if self.cuda else (len(self), c, h, w)
        images = torch.empty(shape, dtype=self.dtype, device=self.device)
        for a, x in self.patches.batches(CHUNK):
            chunk = torch.from_numpy(x).to(self.device)
            images[a : a + len(x)] = chunk.permute(0, 2, 3, 1) if self.cuda else chunk
        return images

    def _view(self, images: torch.Tensor) -> torch.Tensor:
        """(k, C, H, W) of held images: channels last on CUDA."""
        return images.permute(0, 3, 1, 2) if self.cuda else images

    def train_batches(
        self, batch_size: int, seed: int, start: int, stop: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images, masks) of iterations ``start`` .. ``stop - 1``, as :func:`batch_indices`
        picks them."""
        n = len(self)
        if not self.resident:
            picks = (batch_indices(n, batch_size, seed, i) for i in range(start, stop))
            yield from self._stream(picks)
            return
        per_epoch, epoch, order = max(1, n // batch_size), None, None
        for i in range(start, stop):
            e, step = divmod(i, per_epoch)
            if e != epoch:  # one small copy per epoch
                epoch, order = e, torch.from_numpy(epoch_order(n, seed, e)).to(self.device)
            idx = order[step * batch_size : (step + 1) * batch_size] if n >= batch_size else order
            yield self._view(self.images.index_select(0, idx)), self.masks.index_select(0, idx)

    def eval_batches(self, size: int) -> Iterator[tuple[int, torch.Tensor]]:
        """(start, images) of consecutive batches of at most ``size`` patches."""
        starts = range(0, len(self), size)
        if self.resident:
            for a in starts:
                yield a, self._view(self.images[a : a + size])
            return
        picks = (np.arange(a, min(a + size, len(self))) for a in starts)
        for a, (x, _) in zip(starts, self._stream(picks), strict=True):
            yield a, x

    def _stream(self, picks: Iterable[np.ndarray]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images, masks) of each index array, read from disk one batch ahead in a thread."""
        pinned: list[tuple[torch.Tensor, torch.Tensor] | None] = [None, None]
        copied: list[torch.cuda.Event | None] = [None, None]

        def read(idx: np.ndarray, slot: int) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(self.patches.read(idx))
            masks = self.patches.masks
            y = torch.from_numpy(masks[idx] if masks is not None else np.zeros(0, np.uint8))
            if not self.cuda:
                return x, y
            if copied[slot] is not None:  # the slot's previous batch has reached the device
                copied[slot].synchronize()
            buf = pinned[slot]
            if buf is None or len(buf[0]) < len(x):
                buf = pinned[slot] = (
                    torch.empty(x.shape, pin_memory=True),
                    torch.empty(y.shape, dtype=torch.uint8, pin_memory=True),
                )
            buf[0][: len(x)].copy_(x)
            buf[1][: len(y)].copy_(y)
            return buf[0][: len(x)], buf[1][: len(y)]

        picks = iter(picks)
        with ThreadPoolExecutor(1) as pool:
            slot, idx = 0, next(picks, None)
            pending = None if idx is None else pool.submit(read, idx, slot)
            while pending is not None:
                x, y = pending.result()
                idx = next(picks, None)
                pending = None if idx is None else pool.submit(read, idx, 1 - slot)
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                if self.cuda:
                    copied[slot] = torch.cuda.Event()
                    copied[slot].record()
                    x = x.contiguous(memory_format=torch.channels_last)
                yield x, y
                slot = 1 - slot


def on_device(splits: Splits, key: str, device: torch.device) -> DeviceSplit:
    """Split ``key`` (``train``, ``val`` or a scored one, e.g. ``test``) of ``splits`` on
    ``device``, made once and kept in ``splits.on_device`` for the next model."""
    cache_key = (key, str(device))
    if cache_key not in splits.on_device:
        patches = {"train": splits.train, "val": splits.val, **splits.scored}[key]
        splits.on_device[cache_key] = DeviceSplit(patches, device)
    return splits.on_device[cache_key]
