"""The mutation check (``make mutants``): each mutation of ``mutations.toml`` is applied, one at
a time, to a scratch copy of the repository, and the tests that guard that code run there.
Every mutation must be caught (its tests fail), and every snippet must still be in its file
(a list that no longer matches the code fails, so it is kept current when code moves).

    .venv/bin/python tests/mutants/run.py              # the whole list
    .venv/bin/python tests/mutants/run.py -k lock      # the mutations whose name holds "lock"
    .venv/bin/python tests/mutants/run.py -k lock -k guard --no-baseline

The copy is the working tree's tracked and untracked (not ignored) files; its Python processes
(the tests' subprocesses included) import the copy's code, not this checkout's, through a
``sitecustomize`` on ``PYTHONPATH`` that maps the installed namespace onto the copy's folders.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTATIONS = Path(__file__).with_name("mutations.toml")
TIMEOUT = 600  # seconds per mutation's tests; a mutation that hangs them counts as caught
BASELINE_TIMEOUT = 3600  # the selected tests, once, unmutated

# Ahead of the editable install's finder (which points at this checkout): the packages of the
# installed namespace, found in the copy's folders.
SITECUSTOMIZE = """
import importlib.util, json, os, sys

_FOLDERS = json.loads(os.environ["L4S_MUTANT_PACKAGES"])


class _CopyFinder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        folder = _FOLDERS.get(name)
        if folder is None:
            return None
        init = os.path.join(folder, "__init__.py")
        return importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[folder]
        )


sys.meta_path.insert(0, _CopyFinder)
"""


@dataclass(frozen=True)
class Mutation:
    """One realistic bug: ``original`` (found exactly once in ``file``) becomes ``replacement``."""

    name: str
    file: str
    original: str
    replacement: str
    tests: list[str]  # pytest node ids: files, or file::test
    why: str


def read_mutations(path: Path = MUTATIONS) -> list[Mutation]:
    return [Mutation(**m) for m in tomllib.loads(path.read_text())["mutation"]]


def copy_tree(dest: Path) -> None:
    """The working tree's tracked and untracked, not ignored, files, into ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def package_folders(copy: Path) -> dict[str, str]:
    """Each package of the installed namespace and its folder in the copy (pyproject's
    ``package-dir``)."""
    setuptools = tomllib.loads((copy / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: str(copy / folder) for name, folder in setuptools["package-dir"].items()}


def environment(copy: Path, site: Path) -> dict[str, str]:
    fixtures = os.environ.get("L4S_FIXTURES", str(ROOT.parent / "shared" / "fixtures"))
    return {
        **os.environ,
        "PYTHONPATH": str(site),
        "L4S_MUTANT_PACKAGES": json.dumps(package_folders(copy)),
        "L4S_FIXTURES": fixtures,  # the copy lies elsewhere: name the real-data fixtures
        "PYTHONDONTWRITEBYTECODE": "1",  # a mutated file must never be served from a stale .pyc
    }


def check_imports_the_copy(copy: Path, env: dict[str, str]) -> None:
    """Stop unless the copy's Python imports the copy's code (a core and a stage module)."""
    probe = (
        "import landslide4sense.store.output as a, landslide4sense.training.metrics as b; "
        "print(a.__file__); print(b.__file__)"
    )
    where = subprocess.run(
        [sys.executable, "-c", probe], cwd=copy, env=env, capture_output=True, text=True
    )
    files = where.stdout.split()
    if where.returncode or not files or not all(f.startswith(f"{copy}/") for f in files):
        sys.exit(f"mutants: the scratch copy imports {where.stdout or where.stderr}, not its own")


def run_tests(
    copy: Path, env: dict[str, str], tests: list[str], timeout: float = TIMEOUT
) -> tuple[int | None, str]:
    """pytest's exit status on ``tests`` in the copy (None: timed out) and its last lines."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    # A session of its own: on a timeout its servers and workers go with it.
    proc = subprocess.Popen(
        cmd,
        cwd=copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, ""
    return proc.returncode, "\n".join(out.splitlines()[-15:])


def matches(m: Mutation, root: Path) -> bool:
    """Whether ``m``'s snippet is in its file exactly once."""
    path = root / m.file
    return path.is_file() and path.read_text().count(m.original) == 1


def try_mutation(m: Mutation, copy: Path, env: dict[str, str]) -> str:
    """``caught``, ``survived`` or ``error`` (the tests could not run, or found nothing)."""
    path = copy / m.file
    text = path.read_text()
    path.write_text(text.replace(m.original, m.replacement))
    try:
        status, tail = run_tests(copy, env, m.tests)
    finally:
        path.write_text(text)
    if status == 0:
        return "survived"
    if status in (None, 1):  # failed, or hung
        return "caught"
    print(tail)
    return "error"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "-k", action="append", default=[], help="only the mutations whose name contains this"
    )
    ap.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the first run of the selected tests without any mutation (which shows that "
        "a caught mutation is caught by the mutation, not by a test failing anyway)",
    )
    args = ap.parse_args(argv)
    mutations = [m for m in read_mutations() if not args.k or any(k in m.name for k in args.k)]
    stale = [m.name for m in mutations if not matches(m, ROOT)]
    if stale:
        print(f"mutants: snippets no longer in their files (update mutations.toml): {stale}")
        return 1
    started = time.monotonic()
    results: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="l4s-mutants-") as tmp:
        copy, site = Path(tmp) / "repo", Path(tmp) / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        copy_tree(copy)
        env = environment(copy, site)
        check_imports_the_copy(copy, env)
        if not args.no_baseline:
            baseline = sorted({t for m in mutations for t in m.tests})
            status, tail = run_tests(copy, env, baseline, BASELINE_TIMEOUT)
            if status != 0:
                print(tail)
                print(f"mutants: the selected tests fail without any mutation (status {status})")
                return 1
            print(f"baseline: the selected tests pass ({time.monotonic() - started:.0f} s)")
        for m in mutations:
            t0 = time.monotonic()
            outcome = try_mutation(m, copy, env)
            results.setdefault(outcome, []).append(m.name)
            print(f"{outcome:8} {time.monotonic() - t0:6.1f} s  {m.name}: {m.why}", flush=True)
    caught, elapsed = len(results.get("caught", [])), time.monotonic() - started
    print(f"mutants: {caught}/{len(mutations)} caught in {elapsed:.0f} s")
    for outcome in ("survived", "error"):
        if results.get(outcome):
            print(f"{outcome}: {', '.join(results[outcome])}")
    return 0 if caught == len(mutations) else 1


if __name__ == "__main__":
    sys.exit(main())
