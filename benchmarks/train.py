"""Training benchmark on the CPU: this tree's training loop against an older one, side by side.

    python benchmarks/train.py [--baseline 5ef8790] [--models ContextNet,ResU-Net,LinkNet]
                               [--patches 64,16,16] [--iterations 8] [--batch 8]
                               [--release 3799,245,800] [--larger 7598,245,800] [--parts bc]

The older loop is this repository's ``landslide4sense`` core and ``training`` package at
``--baseline`` (default: the commit before issue 23's device path), extracted with ``git
archive`` into a temporary folder and put first on ``PYTHONPATH`` of its child processes;
``--baseline none`` measures this tree only (a GPU host without git). Every figure comes from
its own child process, ours and the baseline's alternately, in one run.

(b) Iterations/s per model on the CPU: each loop trains the model through ``train_model`` (the
    real loader, a validation pass, checkpoints and the test pass) on the same synthetic
    benchmark (``--patches`` train, validation, test; 128 x 128 x 14, float64 on disk), batch
    ``--batch``; the rate is timed from the end of iteration 2 to the end of the last
    iteration before the validation.
(c) Host memory: a release the size of the original competition release (3,799 training, 245
    validation and 800 test patches, all with masks; 64 different patches per split, the
    rest hard links: memory does not depend on content) is loaded and trained on (ContextNet
    on ``--device``, batch 32, 4 iterations, 2 validation passes, the test pass); the peak
    resident memory (VmHWM) of each loop, and of ours with a ``--larger`` release, which
    must not grow. Target: <= 2.5 GB on the CPU.
On a GPU, ``benchmarks/gpu_check.sh`` measures the eleven models at full size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rss import peak_rss_mb  # beside this script

REPO = Path(__file__).resolve().parents[1]
#: The last commit with the loop issue 23 replaced (host arrays, per-batch copies).
BASELINE = "5ef8790"


def baseline_site(rev: str, into: Path) -> Path:
    """A folder holding ``landslide4sense`` (core and ``training``) as of ``rev``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "landslide4sense", "training"],
        capture_output=True,
        check=True,
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "training").rename(into / "landslide4sense" / "training")
    return into


def child(kind: str, site: Path | None, *args: str) -> dict:
    """Run this script's ``kind`` child with this tree's package, or the one in ``site``."""
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"{kind} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rate_child(root: str, name: str, iterations: int, batch: int, device: str) -> None:
    """Train ``name`` and print its steady iterations/s (JSON)."""
    import landslide4sense.training as package
    from landslide4sense.training import TrainConfig, load_benchmark, train_model

    marks: dict[int, float] = {}

    def progress(i: int, n: int, loss) -> None:
        if i in (2, iterations - 1):
            marks[i] = time.perf_counter()

    data = load_benchmark(root)
    cfg = TrainConfig(iterations=iterations, batch_size=batch, eval_every=iterations, device=device)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        m = train_model(name, data, cfg, out, progress)
    rate = (iterations - 3) / (marks[iterations - 1] - marks[2])
    figures = {
        "rate": rate,
        "total_s": time.perf_counter() - t,
        "test_f1": m["scores"]["test"]["all"]["f1"],
        "package": str(Path(package.__file__).parent),
    }
    print(json.dumps(figures))


def memory_child(root: str, device: str) -> None:
    """Load the release and train on it; print the figures as JSON."""
    from landslide4sense.training import TrainConfig, load_benchmark, train_model

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
        "splits": m["splits"],
    }
    print(json.dumps(figures))


def loops(args: argparse.Namespace, tmp: Path) -> list[tuple[str, Path | None]]:
    """(label, site) of the loops to measure: ours, and the baseline's unless ``none``."""
    if args.baseline == "none":
        return [("ours", None)]
    site = baseline_site(args.baseline, tmp / "baseline")
    return [("ours", None), (f"baseline {args.baseline}", site)]


def rates(args: argparse.Namespace, tmp: Path, measured: list[tuple[str, Path | None]]) -> None:
    from landslide4sense.training.synthetic import write_release

    n_train, n_val, n_test = (int(v) for v in args.patches.split(","))
    root = write_release(tmp / "rates", n_train, n_test, n_val=n_val, seed=0)
    print(
        f"(b) iterations/s on the {args.device.upper()}, batch {args.batch}, "
        f"{args.iterations} iterations per run; {n_train} + {n_val} + {n_test} patches of "
        "128 x 128 x 14"
    )
    print(f"  {'model':<12}" + "".join(f"{label:>22}" for label, _ in measured) + "   ratio")
    for name in args.models.split(","):
        figures = [
            child("rate", site, str(root), name, str(args.iterations), str(args.batch), args.device)
            for _, site in measured
        ]
        cells = "".join(f"{f['rate']:12.3f} it/s F1 {f['test_f1']:4.1f}" for f in figures)
        ratio = f"{figures[0]['rate'] / figures[1]['rate']:7.2f}x" if len(figures) > 1 else ""
        print(f"  {name:<12}{cells}  {ratio}")


def memory(args: argparse.Namespace, tmp: Path, measured: list[tuple[str, Path | None]]) -> None:
    from landslide4sense.training.synthetic import write_release

    runs = [(label, site, args.release) for label, site in measured]
    runs.append(("ours", None, args.larger))
    print(
        "\n(c) host memory: a release loaded and trained on (ContextNet on the "
        f"{args.device.upper()}, batch 32, 4 iterations, 2 validation passes, the test pass)"
    )
    for label, site, sizes in runs:
        n_train, n_val, n_test = (int(v) for v in sizes.split(","))
        root = tmp / f"release-{n_train}"
        if not root.exists():
            write_release(root, n_train, n_test, n_val=n_val, seed=0, distinct=64)
        r = child("memory", site, str(root), args.device)
        print(
            f"  {label:<18} {n_train:>6} + {n_val} + {n_test} patches: peak RSS "
            f"{r['peak_mb'] / 1024:.2f} GiB ({r['peak_mb'] * 2**20 / 1e9:.2f} GB; target <= 2.5 "
            f"GB on the CPU), after loading {r['after_load_mb'] / 1024:.2f} GiB; loaded in "
            f"{r['load_s']:.0f} s, trained and scored in {r['train_s']:.0f} s"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default=BASELINE, help="git revision of the older loop, or none")
    p.add_argument("--models", default="ContextNet,ResU-Net,LinkNet")
    p.add_argument("--patches", default="64,16,16", help="train,validation,test patches for (b)")
    p.add_argument("--iterations", type=int, default=8)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--release", default="3799,245,800", help="train,validation,test for (c)")
    p.add_argument("--larger", default="7598,245,800", help="a larger release for (c)")
    p.add_argument("--parts", default="bc", help="which of (b), (c) to run")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = p.parse_known_args()
    if args.child == "rate":
        rate_child(rest[0], rest[1], int(rest[2]), int(rest[3]), rest[4])
        return
    if args.child == "memory":
        memory_child(rest[0], rest[1])
        return
    with tempfile.TemporaryDirectory() as tmp:
        measured = loops(args, Path(tmp))
        if "b" in args.parts:
            rates(args, Path(tmp), measured)
        if "c" in args.parts:
            memory(args, Path(tmp), measured)


if __name__ == "__main__":
    main()
