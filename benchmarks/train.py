"""Training benchmark: loader throughput, iterations/s on the CPU, host memory of the release.

    python benchmarks/train.py [--patches 400] [--cpu-batch 8] [--models all]
                               [--release 3799,245,800] [--parts abc]

(a) Loader: patches/s of our loader (every file read once into one array, batches sliced from
    it) against the original Landslide4Sense code's approach on the same files (open the image
    and the mask HDF5 file per sample, normalise band by band in a Python loop), over two
    epochs, side by side in one run. Target: >= 10x.
(b) Training iterations/s per model on the CPU (batch ``--cpu-batch``).
(c) Host memory: a release the size of the original competition release (3,799 training,
    245 validation and 800 test patches of 128 x 128 x 14, float64 on disk, all with masks) is
    synthesized in a temporary folder (64 different patches per split, the rest hard links to
    them: memory does not depend on content); a child process loads it and trains on it
    (ContextNet, batch 32, two validation passes and the test pass) and reports its peak
    resident memory (VmHWM). Target: <= 4.5 GB. The training array alone is 3.5 GB (float32).
On a GPU, ``benchmarks/gpu_check.sh`` measures the eleven models with this loader.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from rss import peak_rss_mb  # beside this script

from landslide4sense.training.data import load_benchmark, read_split
from landslide4sense.training.models import MODELS, get_model
from landslide4sense.training.synthetic import write_release


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


def ours_epoch(train, batch: int) -> None:
    order = np.random.default_rng(0).permutation(len(train))
    for a in range(0, len(train), batch):
        idx = order[a : a + batch]
        torch.from_numpy(train.read(idx)), torch.from_numpy(train.masks[idx].astype(np.int64))


def loader(n: int, batch: int = 32, samples: int = 5000 * 32) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_release(Path(tmp), n, 1, seed=0)
        stats = read_split(root, "train", in_memory=True)
        mean, std = stats.mean, stats.std
        del stats
        print(f"(a) loader, {n} patches of 128 x 128 x 14 (float64 on disk), batch {batch}")
        t = time.perf_counter()
        original_epoch(root, n, mean, std, batch)
        t_orig = time.perf_counter() - t
        t = time.perf_counter()
        data = load_benchmark(root, val_fraction=0.0)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(3):
            ours_epoch(data.train, batch)
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


def iterations_per_second(name: str, batch: int, n: int, warmup: int) -> float:
    """Training iterations/s of a model on the CPU (random batches: the model's cost alone)."""
    torch.manual_seed(0)
    model = get_model(name)
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=5e-4)
    x = torch.randn(batch, 14, 128, 128)
    y = torch.randint(0, 2, (batch, 128, 128))
    for i in range(warmup + n):
        if i == warmup:
            t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return n / (time.perf_counter() - t)


def memory_child(root: str, device: str) -> None:
    """Load the release and train on it; print the figures as JSON (run in its own process)."""
    from landslide4sense.training import TrainConfig, train_model

    t = time.perf_counter()
    data = load_benchmark(root)
    loaded, after_load = time.perf_counter() - t, peak_rss_mb()
    cfg = TrainConfig(iterations=4, batch_size=32, eval_every=2, device=device)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        m = train_model("ContextNet", data, cfg, out)
    figures = {
        "load_s": loaded,
        "after_load_mb": after_load,
        "train_s": time.perf_counter() - t,
        "peak_mb": peak_rss_mb(),
        "array_mb": data.train.array.nbytes / 2**20,
        "splits": m["splits"],
    }
    print(json.dumps(figures))


def memory(sizes: tuple[int, int, int], device: str) -> None:
    n_train, n_val, n_test = sizes
    print(
        f"\n(c) host memory: a release of {n_train} training, {n_val} validation and {n_test} "
        "test patches (128 x 128 x 14, float64 on disk), loaded and trained on (ContextNet "
        f"on the {device.upper()}, batch 32, 4 iterations, 2 validation passes, the test "
        "pass)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_release(tmp, n_train, n_test, n_val=n_val, seed=0, distinct=64)
        print(f"  synthesized in {time.perf_counter() - t:.0f} s")
        done = subprocess.run(
            [sys.executable, __file__, "--memory-child", tmp, "--device", device],
            capture_output=True,
            text=True,
            check=True,
        )
    r = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {'; '.join(r['splits'])}")
    print(
        f"  training array {r['array_mb'] / 1024:.2f} GiB; loaded in {r['load_s']:.0f} s, "
        f"peak RSS after loading {r['after_load_mb'] / 1024:.2f} GiB"
    )
    print(
        f"  peak RSS while training and scoring: {r['peak_mb'] / 1024:.2f} GiB "
        f"({r['peak_mb'] * 2**20 / 1e9:.2f} GB; target <= 4.5 GB), train+score "
        f"{r['train_s']:.0f} s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--patches", type=int, default=400)
    p.add_argument("--cpu-batch", type=int, default=8)
    p.add_argument("--cpu-iterations", type=int, default=3)
    p.add_argument("--models", default="all")
    p.add_argument("--release", default="3799,245,800", help="train,val,test patches for (c)")
    p.add_argument("--parts", default="abc", help="which of (a), (b), (c) to run")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="(c) trains here")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.device)
        return
    names = list(MODELS) if args.models == "all" else args.models.split(",")
    if "a" in args.parts:
        loader(args.patches)
    if "b" in args.parts:
        print(
            f"\n(b) CPU ({torch.get_num_threads()} threads), batch {args.cpu_batch}, 128 x 128 x 14"
        )
        for name in names:
            rate = iterations_per_second(name, args.cpu_batch, args.cpu_iterations, 1)
            print(f"  {name:<12} {rate:7.3f} it/s")
    if "c" in args.parts:
        memory(tuple(int(v) for v in args.release.split(",")), args.device)


if __name__ == "__main__":
    main()
