"""The GPU benchmark: the eleven baselines at batch 32 on the paper's split sizes, projected to
11 x 5000 iterations against the 15-minute target (issue 23). Run by
``benchmarks/gpu_check.sh``, after the CUDA resume test.

    python benchmarks/gpu_check.py [--device cuda] [--steady 200] [--warmup 20]
                                   [--patches 959,245,2840] [--models all] [--compile]

A benchmark is synthesized in a temporary folder (``--patches``: the paper's 959 training and
2,840 test patches, with the competition release's 245 validation patches so that every
validation pass is counted; 128 x 128 x 14, float64 on disk) and read by the real loader; its
splits go onto the device once and are shared by every model, as in ``l4s train``. Each model
then trains by the protocol (bf16 autocast, channels-last, fused Adam, cuDNN autotuning on
CUDA) for ``--warmup`` + ``--steady`` iterations, validates, writes its checkpoints and is
scored on the test split. Measured per model:

* start-up: building the model and its optimiser (and ``torch.compile`` with ``--compile``)
  plus the warm-up iterations, counted in full in the projection;
* steady iterations/s over ``--steady`` iterations (the device synchronised at both ends only);
* one validation pass, the test pass, one ``last.pt`` (Adam's state) and one ``best.pt``;
* the peak device memory, and the host's resident memory after the model.

Projected per model: start-up + (5000 - warm-up) / rate + 10 validations + 10 ``best.pt`` (the
most there can be) + 2 ``last.pt`` (every 2,500 iterations) + the test pass. Printed: the table,
the 11 x 5000 total, its ratio to the 15-minute target, the slowest model against 40 it/s, and
the peak host and device memory (the largest model's included). Lines print as they come.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import torch
from rss import peak_rss_mb  # beside this script

from landslide4sense.training import checkpoint
from landslide4sense.training.data import load_benchmark
from landslide4sense.training.feed import on_device
from landslide4sense.training.models import MODELS
from landslide4sense.training.synthetic import write_release
from landslide4sense.training.train import TrainConfig, Trainer

ITERATIONS, VALIDATIONS, RESUME_STATES = 5000, 10, 2
TARGET_MIN, FLOOR_RATE = 15.0, 40.0


def report(line: str = "") -> None:
    print(line, flush=True)


def sync(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def rss_mb() -> float:
    """This process's resident memory now, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(device: torch.device, work) -> float:
    t = sync(device)
    work()
    return sync(device) - t


def measure(name: str, data, cfg: TrainConfig, warmup: int, out: Path) -> dict:
    """Train one model on ``data`` as ``l4s train`` does and time its parts."""
    device = torch.device("cuda" if cfg.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    marks: dict[int, float] = {}

    def progress(i: int, n: int, loss: torch.Tensor) -> None:
        if i in (warmup, n - 1):  # the last iteration validates: its mark would count that
            marks[i] = sync(device)

    t = sync(device)
    trainer = Trainer(name, data, cfg, out)
    trainer.fit(progress)
    start_s = marks[warmup] - t
    rate = (cfg.iterations - 1 - warmup) / (marks[cfg.iterations - 1] - marks[warmup])
    val_s = timed(device, lambda: trainer.evaluate(trainer.val_set))
    best_s = timed(
        device,
        lambda: checkpoint.save(
            out / "best.pt", trainer.checkpoint_info(0.0), trainer.model.state_dict()
        ),
    )
    last_s = timed(
        device,
        lambda: checkpoint.save(
            out / "last.pt",
            trainer.checkpoint_info(0.0),
            trainer.model.state_dict(),
            optimizer=trainer.opt.state_dict(),
            rng=checkpoint.rng_state(trainer.cuda),
        ),
    )
    scores: dict = {}
    test_s = timed(device, lambda: scores.update(trainer.test()))
    gpu_gb = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    projected = (
        start_s
        + (ITERATIONS - warmup) / rate
        + VALIDATIONS * (val_s + best_s)
        + RESUME_STATES * last_s
        + test_s
    )
    return {
        "start_s": start_s,
        "rate": rate,
        "val_s": val_s,
        "test_s": test_s,
        "best_s": best_s,
        "last_s": last_s,
        "gpu_gb": gpu_gb,
        "rss_gb": rss_mb() / 1024,
        "projected_min": projected / 60,
        "test_f1": scores["test"]["all"]["f1"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--steady", type=int, default=200, help="timed iterations per model")
    p.add_argument("--warmup", type=int, default=20, help="iterations before timing")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--patches", default="959,245,2840", help="train,validation,test patches")
    p.add_argument("--size", type=int, default=128, help="patch side in pixels")
    p.add_argument("--models", default="all")
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        report("no CUDA device: run on a GPU host, or pass --device cpu for a dry run")
        return 1
    names = list(MODELS) if args.models == "all" else args.models.split(",")
    n_train, n_val, n_test = (int(v) for v in args.patches.split(","))
    where = (
        f"{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, bf16 autocast, "
        "channels-last, fused Adam, cuDNN autotuning"
        if args.device == "cuda"
        else f"CPU, {torch.get_num_threads()} threads (a dry run)"
    )
    report(f"GPU benchmark: {where}; torch {torch.__version__}, Python {sys.version.split()[0]}")
    started = time.perf_counter()
    failed, total, rows = [], 0.0, []
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        root = write_release(
            Path(tmp) / "release", n_train, n_test, size=args.size, seed=0, n_val=n_val
        )
        synth_s, t = time.perf_counter() - t, time.perf_counter()
        data = load_benchmark(root)
        device = torch.device(args.device)
        for key in ("train", "val", *data.scored):
            on_device(data, key, device)  # once for every model, as in a run
        held = {k: v.resident for (k, _), v in data.on_device.items()}
        report(
            f"benchmark: {'; '.join(data.describe())}; {args.size} x {args.size} x 14 float64 "
            f"on disk; synthesized in {synth_s:.0f} s, checked and put on the device in "
            f"{time.perf_counter() - t:.1f} s (held there: {held})"
        )
        cfg = TrainConfig(
            iterations=args.warmup + args.steady,
            batch_size=args.batch_size,
            eval_every=args.warmup + args.steady,
            device=args.device,
            compile=args.compile,
        )
        report(
            f"each model: {args.warmup} warm-up + {args.steady} timed iterations at batch "
            f"{args.batch_size}, a validation pass, best.pt and last.pt, the test pass"
        )
        report()
        report(
            f"{'model':<12} {'start s':>7} {'it/s':>7} {'val s':>6} {'test s':>6} "
            f"{'best s':>6} {'last s':>6} {'GPU GiB':>7} {'RSS GiB':>7} {'F1':>5} "
            f"{'5000 it, min':>12}"
        )
        for name in names:
            try:
                m = measure(name, data, cfg, args.warmup, Path(tmp) / name)
            except Exception as err:  # report and go on: one model must not hide the others
                failed.append(name)
                report(f"{name:<12} FAILED: {type(err).__name__}: {err}")
                continue
            finally:  # the model's memory back before the next one
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            total += m["projected_min"]
            rows.append((name, m))
            report(
                f"{name:<12} {m['start_s']:7.1f} {m['rate']:7.1f} {m['val_s']:6.2f} "
                f"{m['test_s']:6.2f} {m['best_s']:6.2f} {m['last_s']:6.2f} {m['gpu_gb']:7.2f} "
                f"{m['rss_gb']:7.2f} {m['test_f1']:5.1f} {m['projected_min']:12.2f}"
            )
    report()
    if rows:
        slowest = min(rows, key=lambda r: r[1]["rate"])
        largest = max(rows, key=lambda r: r[1]["gpu_gb"])
        report(
            f"projected: {len(rows)} models x {ITERATIONS} iterations, each with {VALIDATIONS} "
            f"validations of {n_val} patches, checkpoints and the test pass over {n_test}: "
            f"{total:.1f} min, {total / TARGET_MIN:.2f} x the {TARGET_MIN:.0f}-minute target "
            f"({'met' if total <= TARGET_MIN and not failed else 'NOT met'})"
        )
        report(
            f"slowest: {slowest[0]} at {slowest[1]['rate']:.1f} it/s (floor {FLOOR_RATE:.0f}: "
            f"{'met' if slowest[1]['rate'] >= FLOOR_RATE else 'NOT met'}); largest on the "
            f"device: {largest[0]}, {largest[1]['gpu_gb']:.2f} GiB"
        )
    report(
        f"host peak RSS {peak_rss_mb() / 1024:.2f} GiB (target <= 2 GB on a GPU host); the "
        f"benchmark took {(time.perf_counter() - started) / 60:.1f} min"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
