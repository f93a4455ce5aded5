"""Training benchmark: loader throughput, and iterations/s of the eleven baselines.

    python benchmarks/train.py [--patches 400] [--cpu-batch 8] [--models all]

(a) Loader: patches/s of our loader (every file read once into one array, batches sliced from
    it) against the original Landslide4Sense code's approach on the same files (open the image
    and the mask HDF5 file per sample, normalise band by band in a Python loop), over two
    epochs, side by side in one run. Target: >= 10x.
(b) Training iterations/s per model on the CPU (batch ``--cpu-batch``).
(c) With a CUDA device: iterations/s per model at batch 32 (bf16, channels-last) and the
    projected time of 11 x 5000 iterations. Target: <= 30 minutes on one H100.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from landslide4sense.training.data import band_stats, load_benchmark, read_split  # noqa: E402
from landslide4sense.training.models import MODELS, get_model  # noqa: E402
from landslide4sense.training.synthetic import write_release  # noqa: E402


def original_epoch(root: Path, n: int, mean: np.ndarray, std: np.ndarray, batch: int) -> None:
    """One epoch as the original code's Dataset + DataLoader (num_workers=0) did it."""
    order = np.random.default_rng(0).permutation(n)
    for a in range(0, n, batch):
        images, labels = [], []
        for i in order[a : a + batch] + 1:
            with h5py.File(root / "TrainData" / "img" / f"image_{i}.h5", "r") as hf:
                image = hf["img"][:]
            with h5py.File(root / "TrainData" / "mask" / f"mask_{i}.h5", "r") as hf:
                label = hf["mask"][:]
            image = np.asarray(image, np.float32).transpose((-1, 0, 1))
            label = np.asarray(label, np.float32)
            for b in range(len(mean)):
                image[b, :, :] -= mean[b]
                image[b, :, :] /= std[b]
            images.append(image.copy())
            labels.append(label.copy())
        torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels))


def ours_epoch(images: np.ndarray, masks: np.ndarray, batch: int) -> None:
    order = np.random.default_rng(0).permutation(len(images))
    for a in range(0, len(images), batch):
        idx = order[a : a + batch]
        torch.from_numpy(images[idx]), torch.from_numpy(masks[idx].astype(np.int64))


def loader(n: int, batch: int = 32, samples: int = 5000 * 32) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_release(Path(tmp), n, 1, seed=0)
        mean, std = band_stats(read_split(root, "train").images)
        print(f"(a) loader, {n} patches of 128 x 128 x 14 (float64 on disk), batch {batch}")
        t = time.perf_counter()
        original_epoch(root, n, mean, std, batch)
        t_orig = time.perf_counter() - t
        t = time.perf_counter()
        data = load_benchmark(root, val_fraction=0.0)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(3):
            ours_epoch(data.train.images, data.train.masks, batch)
        t_epoch = (time.perf_counter() - t) / 3
    epochs = samples / n
    print(f"  original approach: {n / t_orig:9.0f} patches/s, every epoch")
    print(
        f"  ours: reads every file once in {t_load:.2f} s (incl. band statistics), then "
        f"{n / t_epoch:9.0f} patches/s -> {t_orig / t_epoch:.0f}x per epoch"
    )
    total_orig, total_ours = epochs * t_orig, t_load + epochs * t_epoch
    print(
        f"  the paper's protocol ({samples:,} samples, {epochs:.0f} epochs of {n}): original "
        f"{total_orig:.0f} s, ours {total_ours:.1f} s -> {total_orig / total_ours:.1f}x"
    )


def iterations_per_second(
    name: str, device: torch.device, batch: int, n: int, warmup: int
) -> float:
    torch.manual_seed(0)
    model = get_model(name).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=5e-4)
    x = torch.randn(batch, 14, 128, 128, device=device)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch, 128, 128), device=device)
    for i in range(warmup + n):
        if i == warmup:
            if cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if cuda:
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--patches", type=int, default=400)
    p.add_argument("--cpu-batch", type=int, default=8)
    p.add_argument("--cpu-iterations", type=int, default=3)
    p.add_argument("--models", default="all")
    args = p.parse_args()
    names = list(MODELS) if args.models == "all" else args.models.split(",")
    loader(args.patches)
    print(f"\n(b) CPU ({torch.get_num_threads()} threads), batch {args.cpu_batch}, 128 x 128 x 14")
    for name in names:
        rate = iterations_per_second(name, torch.device("cpu"), args.cpu_batch,
                                     args.cpu_iterations, 1)  # fmt: skip
        print(f"  {name:<12} {rate:7.3f} it/s")
    if not torch.cuda.is_available():
        print("\n(c) GPU: no CUDA device here; run this script on a GPU host for (c).")
        return
    print(f"\n(c) {torch.cuda.get_device_name()}, batch 32, bf16, channels-last")
    total = 0.0
    for name in names:
        rate = iterations_per_second(name, torch.device("cuda"), 32, 50, 10)
        total += 5000 / rate
        print(f"  {name:<12} {rate:7.2f} it/s -> 5000 iterations in {5000 / rate / 60:5.1f} min")
    print(f"  all {len(names)} x 5000 iterations: {total / 60:.1f} min (target <= 30 min)")


if __name__ == "__main__":
    main()
