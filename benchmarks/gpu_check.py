"""The GPU check: the eleven baselines at batch 32 with the real loader, and the 5000-iteration
projection (issue 12, point 8). Run by ``benchmarks/gpu_check.sh``, after the CUDA
resume test.

    python benchmarks/gpu_check.py [--device cuda] [--iterations 60] [--eval-every 30]
                                   [--patches 512,128,256] [--models all]

A benchmark in the competition layout (TrainData, ValidData, TestData, all with masks;
128 x 128 x 14 float64 on disk) is synthesized in a temporary folder and read by the real
loader (:func:`load_benchmark`). Each model then trains by the paper's protocol on the device
(bf16 autocast, channels-last, cuDNN autotuning on CUDA), with its validation passes and
checkpoints, and is scored on the test split. Measured per model: training iterations/s
(steady state: between iteration 10 and the first validation), seconds per 100 patches of
validation and of test scoring, seconds to write a checkpoint pair (``best.pt`` and
``last.pt`` with Adam's state), peak GPU memory. Projected: 5000 iterations with 10 validation
passes of 245 patches (ValidData of the original release), 10 checkpoint pairs and the test
pass over 800 patches; the sum over the models, against the target of 30 minutes. Then the
host memory of training with a release of the original's size (``benchmarks/train.py``, part
(c), on the device).

Needs only torch, numpy, h5py, pydantic and the landslide4sense wheel. ``gpu_check.sh``
appends what it prints to ``$OUT/gpu_check.txt``.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rss import peak_rss_mb  # beside this script

from landslide4sense.training import checkpoint
from landslide4sense.training.data import load_benchmark
from landslide4sense.training.models import MODELS
from landslide4sense.training.synthetic import write_release
from landslide4sense.training.train import TrainConfig, Trainer

#: The original release: validation and test patches, validations per 5000 iterations.
RELEASE_VAL, RELEASE_TEST, VALIDATIONS, ITERATIONS = 245, 800, 10, 5000
TARGET_MIN = 30.0


def report(line: str = "") -> None:
    print(line, flush=True)


def sync(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def measure(name: str, data, cfg: TrainConfig, out: Path) -> dict:
    """Train one model on ``data`` as ``l4s train`` does and time its parts."""
    trainer = Trainer(name, data, cfg, out)
    device = trainer.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    warm, end = max(1, min(10, cfg.eval_every // 3)), cfg.eval_every - 1  # before a validation
    marks: dict[int, float] = {}

    def progress(i: int, n: int, loss: torch.Tensor) -> None:
        if i in (warm, end):
            marks[i] = sync(device)

    t = sync(device)
    trainer.fit(progress)
    fit_s = sync(device) - t
    if end > warm and end in marks:
        rate = (end - warm) / (marks[end] - marks[warm])
    else:  # too few iterations for a steady state: the whole fit, validations included
        rate = cfg.iterations / fit_s
    t = sync(device)
    trainer.evaluate(data.val)
    val_s = sync(device) - t
    t = sync(device)
    scores = trainer.test()
    test_s = sync(device) - t
    t = time.perf_counter()
    info = trainer.checkpoint_info(0.0)
    checkpoint.save(out / "probe_best.pt", info, trainer.model.state_dict())
    checkpoint.save(
        out / "probe_last.pt",
        info,
        trainer.model.state_dict(),
        optimizer=trainer.opt.state_dict(),
        rng=checkpoint.rng_state(trainer.cuda),
    )
    save_s = time.perf_counter() - t
    gpu_gb = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    per_val, per_test = val_s / len(data.val), test_s / len(data.test)
    projected = (
        ITERATIONS / rate + VALIDATIONS * (RELEASE_VAL * per_val + save_s) + RELEASE_TEST * per_test
    )
    del trainer
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {
        "rate": rate,
        "val_100": 100 * per_val,
        "test_100": 100 * per_test,
        "save_s": save_s,
        "fit_s": fit_s,
        "gpu_gb": gpu_gb,
        "projected_min": projected / 60,
        "test_f1": scores["test"]["all"]["f1"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--eval-every", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--patches", default="512,128,256", help="train,validation,test patches")
    p.add_argument("--size", type=int, default=128, help="patch side in pixels")
    p.add_argument("--models", default="all")
    p.add_argument(
        "--release",
        default="3799,245,800",
        help="train,validation,test patches for the host memory figure",
    )
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        report("no CUDA device: run on a GPU host, or pass --device cpu for a dry run")
        return 1
    names = list(MODELS) if args.models == "all" else args.models.split(",")
    n_train, n_val, n_test = (int(v) for v in args.patches.split(","))
    where = (
        f"{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, bf16 autocast, "
        "channels-last, cuDNN autotuning"
        if args.device == "cuda"
        else f"CPU, {torch.get_num_threads()} threads (a dry run)"
    )
    report(f"GPU check: {where}; torch {torch.__version__}, Python {sys.version.split()[0]}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        root = write_release(
            Path(tmp) / "release", n_train, n_test, size=args.size, seed=0, n_val=n_val
        )
        synth_s, t = time.perf_counter() - t, time.perf_counter()
        data = load_benchmark(root)
        report(
            f"benchmark: {'; '.join(data.describe())}; {args.size} x {args.size} x 14 "
            f"float64 on disk; synthesized in {synth_s:.0f} s, loaded in "
            f"{time.perf_counter() - t:.1f} s"
        )
        cfg = TrainConfig(
            iterations=args.iterations,
            batch_size=args.batch_size,
            eval_every=args.eval_every,
            device=args.device,
        )
        report(
            f"each model: {args.iterations} iterations at batch {args.batch_size}, validation "
            f"every {args.eval_every}, checkpoints, the test pass"
        )
        report()
        report(
            f"{'model':<12} {'it/s':>7} {'val s/100':>9} {'test s/100':>10} {'ckpt s':>7} "
            f"{'fit s':>7} {'GPU GiB':>7} {'test F1':>7} {'5000 it, min':>12}"
        )
        total, failed = 0.0, []
        for name in names:
            try:
                m = measure(name, data, cfg, Path(tmp) / name)
            except Exception as err:  # report and go on: one model must not hide the others
                failed.append(name)
                report(f"{name:<12} FAILED: {type(err).__name__}: {err}")
                continue
            total += m["projected_min"]
            report(
                f"{name:<12} {m['rate']:7.2f} {m['val_100']:9.2f} {m['test_100']:10.2f} "
                f"{m['save_s']:7.2f} {m['fit_s']:7.1f} {m['gpu_gb']:7.2f} "
                f"{m['test_f1']:7.1f} {m['projected_min']:12.1f}"
            )
    report()
    report(
        f"projected: {len(names) - len(failed)} models x {ITERATIONS} iterations, each with "
        f"{VALIDATIONS} validations of {RELEASE_VAL} patches, {VALIDATIONS} checkpoint pairs "
        f"and the test pass over {RELEASE_TEST}: {total:.1f} min (target <= {TARGET_MIN:.0f} "
        f"min: {'met' if total <= TARGET_MIN and not failed else 'NOT met'})"
    )
    memory = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("train.py")),
            "--parts",
            "c",
            "--device",
            args.device,
            "--release",
            args.release,
        ],
        capture_output=True,
        text=True,
    )
    for line in (memory.stdout + (memory.stderr if memory.returncode else "")).splitlines():
        report(line)
    report(
        f"host peak RSS of this check {peak_rss_mb() / 1024:.2f} GiB; it took "
        f"{(time.perf_counter() - started) / 60:.1f} min"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed or memory.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
