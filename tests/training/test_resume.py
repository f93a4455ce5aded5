"""A training process killed mid-run resumes to exactly the result of an uninterrupted run.

A real child process trains; it is SIGKILLed between two checkpoints; the run is resumed from
its ``last.pt`` and must end with the same weights, history and test scores as a run that was
never interrupted. The model has dropout, so the result also depends on the restored random
generators, and it resizes bilinearly (ContextNet: down to 1/4 and back up), whose CUDA backward
is deterministic only through :func:`training.models.blocks.bilinear`'s matrices. On the CPU
always; on CUDA where a GPU is present (``benchmarks/gpu_check.sh`` runs it there), both with
``deterministic``.

Self-contained on purpose: it needs only torch, numpy, h5py, pydantic and
``landslide4sense.training`` (a GPU host may have nothing else; run it with ``--noconftest``).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from landslide4sense.training import TrainConfig, checkpoint, load_benchmark, train_model
from landslide4sense.training.synthetic import write_release

# Deterministic cuBLAS (read when CUDA starts; harmless on the CPU).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

CHILD = """
import pathlib, sys, time
from landslide4sense.training import TrainConfig, load_benchmark, train_model
root, out, marker, config, name, stop_at = sys.argv[1:]

def progress(iteration, total, loss):
    if iteration == int(stop_at):  # between two checkpoints: tell the parent, then wait
        pathlib.Path(marker).write_text(str(iteration))
        time.sleep(600)

train_model(name, load_benchmark(root), TrainConfig.model_validate_json(config), out, progress)
"""

CASES = [
    pytest.param("cpu", "ContextNet", id="cpu"),
    pytest.param(
        "cuda",
        "ContextNet",
        id="cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="no CUDA device (benchmarks/gpu_check.sh runs it)"
        ),
    ),
]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("release"), 24, 6, size=32, seed=11)


def kill_mid_run(root, out, cfg: TrainConfig, name: str, stop_at: int, tmp_path) -> None:
    """Train in a child process and SIGKILL it once it has done ``stop_at`` iterations."""
    marker, log = tmp_path / "reached", tmp_path / "child.log"
    with log.open("w") as f:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(root),
                str(out),
                str(marker),
                cfg.model_dump_json(),
                name,
                str(stop_at),
            ],
            cwd=tmp_path,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the child stopped or stalled before iteration {stop_at}:\n{log.read_text()}"
                )
            time.sleep(0.1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize(("device", "name"), CASES)
def test_a_killed_run_resumes_to_the_same_result(release, tmp_path, device, name):
    cfg = TrainConfig(
        iterations=8,
        batch_size=2,
        eval_every=3,
        resume_every=3,
        device=device,
        seed=3,
        augment=True,
        deterministic=True,
    )
    data = load_benchmark(release)
    whole = train_model(name, data, cfg, tmp_path / "whole", keep_optimizer=True)

    kill_mid_run(release, tmp_path / "resumed", cfg, name, stop_at=5, tmp_path=tmp_path)
    assert checkpoint.load(tmp_path / "resumed" / "last.pt")["info"].iteration == 3
    resumed = train_model(name, data, cfg, tmp_path / "resumed", keep_optimizer=True)

    def without_time(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert without_time(resumed["history"]) == without_time(whole["history"])
    assert json.dumps(resumed["scores"]) == json.dumps(whole["scores"])
    a = checkpoint.load(tmp_path / "whole" / "last.pt")
    b = checkpoint.load(tmp_path / "resumed" / "last.pt")
    assert all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert all(torch.equal(x, y) for x, y in zip(a["rng"]["cuda"], b["rng"]["cuda"], strict=True))
