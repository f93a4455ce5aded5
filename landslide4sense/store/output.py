"""The output folder: which folders are ours, and claiming a new one.

A folder is a landslide4sense benchmark when it holds our marker, ``OUT/.l4s/benchmark.json``,
written when the tool first claims the folder; the other commands that write a folder mark it
the same way for their kind of output (``maps.json`` for ``l4s predict``, ``training.json``
for ``l4s train --out``). The tool writes only into a folder that is new, empty, or marked for
that kind; anything else (a project folder, the repository, someone's notes, another kind of
output) is refused before any work starts, so no file the tool did not write is ever moved or
deleted. A folder that cannot be written (read-only, immutable) is refused the same way.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from landslide4sense import __version__
from landslide4sense.errors import ConfigError
from landslide4sense.files import write_json
from landslide4sense.layout import DATASET_JSON, MARKER, STATE_DIR, TRAINING_DIR


class NotABenchmarkError(ConfigError):
    """An output folder holds files that the tool did not write."""


BENCHMARK = MARKER.removesuffix(".json")
#: The kinds of output folder the tool writes, and what each holds, in words.
KINDS = {
    BENCHMARK: "landslide4sense benchmark folder",
    "maps": "folder of `l4s predict` maps",
    "training": "folder of `l4s train` results",
}


def marker(out: str | Path, kind: str = BENCHMARK) -> Path:
    """The marker of a folder of ``kind`` (one of :data:`KINDS`)."""
    return Path(out) / STATE_DIR / f"{kind}.json"


def is_ours(out: str | Path, kind: str = BENCHMARK) -> bool:
    """Whether ``out`` carries our marker for ``kind``."""
    return marker(out, kind).is_file()


def is_benchmark(out: str | Path) -> bool:
    """Whether ``out`` carries our benchmark marker."""
    return is_ours(out, BENCHMARK)


def check_writable(out: str | Path) -> None:
    """Refuse a folder (or, when it does not exist yet, the folder it would be made in) where
    nothing can be written: read-only, immutable, a system folder. Probed by making and
    removing an empty folder, since permission bits say nothing for root or an immutable flag.

    Raises:
        NotABenchmarkError: naming the folder and the fix.
    """
    out = Path(out)
    probe = out / STATE_DIR if (out / STATE_DIR).is_dir() else out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise NotABenchmarkError(f"{out}: --out must be a folder; {probe} is a file")
    try:
        Path(tempfile.mkdtemp(prefix=".l4s-probe-", dir=probe)).rmdir()
    except OSError as err:
        raise NotABenchmarkError(
            f"{out}: cannot write in {probe} ({err.strerror or err}); choose a folder you can "
            "write (or make this one writable)"
        ) from err


def writable(out: str | Path) -> bool:
    """Whether :func:`check_writable` lets ``out`` pass."""
    try:
        check_writable(out)
    except NotABenchmarkError:
        return False
    return True


def own_results(dataset: str | Path, out: str | Path | None) -> Path | None:
    """The folder ``l4s train --out`` must claim as its own: ``out``, unless it is left out or
    is the dataset's own ``training/`` folder (part of the benchmark)."""
    if out is None or Path(out).resolve() == (Path(dataset) / TRAINING_DIR).resolve():
        return None
    return Path(out)


def check_output(out: str | Path, kind: str = BENCHMARK) -> None:
    """Refuse an output folder that cannot be written, or that exists, is not empty and is not
    ours for ``kind`` (a benchmark's records are checked by
    :func:`landslide4sense.store.versions.check_records`).

    A folder holding nothing but ``.l4s`` is one another run is claiming right now.

    Raises:
        NotABenchmarkError: naming what the folder holds and the fix.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotABenchmarkError(f"{out}: --out must be a folder; this is a file")
    check_writable(out)
    if is_ours(out, kind):
        return
    if not out.exists():
        return
    other = next((k for k in KINDS if k != kind and is_ours(out, k)), None)
    if other is not None:
        raise NotABenchmarkError(
            f"{out}: is a {KINDS[other]}, not a {KINDS[kind]}; choose another --out "
            "(for example a new folder)"
        )
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    if not entries or entries == [f"{STATE_DIR}/"]:
        return
    shown = ", ".join(entries[:6]) + (f" and {len(entries) - 6} more" if len(entries) > 6 else "")
    older = (out / DATASET_JSON).exists() and (out / STATE_DIR).is_dir()
    raise NotABenchmarkError(
        f"{out}: not a {KINDS[kind]} (no {STATE_DIR}/{kind}.json) and not empty: "
        f"it holds {shown}. "
        + (
            "It was built by an earlier landslide4sense; rebuild it into a new folder."
            if older
            else "The tool writes only into a new or empty folder, so that it never moves or "
            "deletes files it did not write: choose another --out (for example a new folder)."
        )
    )


def claim_output(out: str | Path, kind: str = BENCHMARK) -> bool:
    """Make ``out`` a folder of ``kind`` if it is new or empty; return whether this call did.

    Raises:
        NotABenchmarkError: see :func:`check_output`.
    """
    out = Path(out)
    check_output(out, kind)
    if is_ours(out, kind):
        return False
    (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    write_json(
        marker(out, kind),
        {
            "what": f"a {KINDS[kind]}; the tool writes only into these",
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "code_version": __version__,
        },
    )
    return True
