"""The output folder: which folders are ours, and claiming a new one.

A folder is a landslide4sense benchmark when it holds our marker, ``OUT/.l4s/benchmark.json``,
written when the tool first claims the folder. The tool writes only into a folder that is new,
empty, or marked; anything else (a project folder, the repository, someone's notes) is refused
before any work starts, so no file the tool did not write is ever moved or deleted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from landslide4sense import __version__
from landslide4sense.errors import ConfigError
from landslide4sense.files import write_json
from landslide4sense.layout import DATASET_JSON, MARKER, STATE_DIR


class NotABenchmarkError(ConfigError):
    """An output folder holds files that the tool did not write."""


def is_benchmark(out: str | Path) -> bool:
    """Whether ``out`` carries our marker."""
    return (Path(out) / STATE_DIR / MARKER).is_file()


def check_output(out: str | Path) -> None:
    """Refuse an output folder that exists, is not empty and is not a benchmark of ours.

    A folder holding nothing but ``.l4s`` is one another run is claiming right now.

    Raises:
        NotABenchmarkError: naming what the folder holds and the fix.
    """
    out = Path(out)
    if not out.exists() or is_benchmark(out):
        return
    if not out.is_dir():
        raise NotABenchmarkError(f"{out}: --out must be a folder; this is a file")
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    if not entries or entries == [f"{STATE_DIR}/"]:
        return
    shown = ", ".join(entries[:6]) + (f" and {len(entries) - 6} more" if len(entries) > 6 else "")
    older = (out / DATASET_JSON).exists() and (out / STATE_DIR).is_dir()
    raise NotABenchmarkError(
        f"{out}: not a landslide4sense benchmark folder (no {STATE_DIR}/{MARKER}) and not empty: "
        f"it holds {shown}. "
        + (
            "It was built by an earlier landslide4sense; rebuild it into a new folder."
            if older
            else "The tool writes only into a new or empty folder, so that it never moves or "
            "deletes files it did not write: choose another --out (for example a new folder)."
        )
    )


def claim_output(out: str | Path) -> bool:
    """Make ``out`` a benchmark folder if it is new or empty; return whether this call did.

    Raises:
        NotABenchmarkError: see :func:`check_output`.
    """
    out = Path(out)
    check_output(out)
    if is_benchmark(out):
        return False
    (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    write_json(
        out / STATE_DIR / MARKER,
        {
            "what": "a landslide4sense benchmark folder; the tool writes only into these",
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "code_version": __version__,
        },
    )
    return True
