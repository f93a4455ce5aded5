"""The built wheel, installed outside the repository, runs the demo and lists the models."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers import DEMO_VERSION

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list, cwd: Path, env: dict | None = None, timeout: int = 600) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_venv_runs_the_demo(tmp_path):
    # The wheel, built from a copy of this checkout (setuptools leaves build/ in the tree it
    # builds, whose stale files would end up in a later wheel), with this venv's setuptools.
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "dist",
            "demo",
            "bench-out",
            "*.egg-info",
            "__pycache__",
            ".*_cache",
        ),
    )
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            tmp_path / "dist",
            src,
        ],
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("landslide4sense-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in (
        "landslide4sense/records.py",
        "landslide4sense/flows/cli.py",
        "landslide4sense/training/models/unet.py",
        "landslide4sense/regions/iburi-2018.yaml",
    ):
        assert member in names, member
    assert not {n.split("/")[0] for n in names} - {
        "landslide4sense",
        wheel.name.split("-py3")[0] + ".dist-info",
    }

    # A fresh venv; the dependencies come from this one's site-packages through a .pth line
    # (a path only: the editable install's finder in there is not activated).
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=tmp_path,
        ).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        cwd=tmp_path,
    )

    where = run(
        [
            python,
            "-c",
            "import landslide4sense.training.models as m, landslide4sense as l;"
            "print(l.__file__); print(m.__file__)",
        ],
        cwd=tmp_path,
    ).split()
    assert all(Path(p).is_relative_to(venv) for p in where), where

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    models = run([venv / "bin" / "l4s", "models"], cwd=tmp_path, env=env)
    assert models.count("\n") == 12 and "ResU-Net" in models
    demo = run([venv / "bin" / "l4s", "demo", "--out", tmp_path / "demo"], cwd=tmp_path, env=env)
    assert f"version {DEMO_VERSION}: 41 train + 123 test patches (l4s scaling)" in demo
