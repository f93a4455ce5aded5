"""Stage folders and their keys: a re-run redoes exactly what changed, and trusts nothing else.

A stage's folder is named by a key over everything that changes its output: the content of its
input files (:func:`landslide4sense.files.file_hash`), the code version (:func:`code_version`:
the package version and a hash of the pipeline's source) and every parameter. A stage writes
into a temporary folder that is renamed when whole (:func:`building`) and sealed with the size
and modification time of every file in it; :func:`reusable` checks the seal before a folder is
used again, so a file deleted, cut short or rewritten since is found, and the message names the
folder to delete.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from landslide4sense import __version__
from landslide4sense.errors import L4SError
from landslide4sense.files import atomic_path, digest, files_under, write_json

SEAL = ".sealed.json"  # in a stage folder: its files' sizes and modification times
#: The packages whose code makes the patches (training does not).
PIPELINE = (
    "landslide4sense",
    *(
        f"landslide4sense.{stage}"
        for stage in ("regions", "acquisition", "annotation", "patching", "flows")
    ),
)


class CacheError(L4SError, OSError):
    """A cached file is missing, cut short or changed since its stage wrote it."""


def corrupt(folder: Path, what: str) -> CacheError:
    return CacheError(
        f"{folder}: cached work is damaged ({what}); delete {folder} and re-run (`l4s build`, "
        "or `l4s add-region` of that region, redoes only that stage)"
    )


@functools.cache
def code_version() -> str:
    """``<package version>+<12 hex digits of the pipeline's source>``: any change to the code
    that makes the patches changes every stage key."""
    return f"{__version__}+{source_digest(PIPELINE)}"


def source_digest(packages: tuple[str, ...]) -> str:
    """12 hex digits of the source of every module of ``packages`` (importable names)."""
    h = hashlib.sha256()
    for package in packages:
        spec = find_spec(package)
        for folder in spec.submodule_search_locations or []:
            for path in sorted(Path(folder).glob("*.py")):
                h.update(f"{package}.{path.stem}\0".encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:12]


def stage_key(*parts: Any) -> str:
    """The key of a stage: a digest of its inputs' hashes, its parameters and the code."""
    return digest(*parts, code_version())


def _files(folder: Path, exclude: tuple[str, ...] = ()) -> dict[str, list[int]]:
    """Every file under ``folder`` (relative path: size, modification time), but ``exclude``."""
    found = {}
    for name, entry in files_under(folder):
        if entry.name not in (SEAL, *exclude):
            st = entry.stat()
            found[name] = [st.st_size, st.st_mtime_ns]
    return dict(sorted(found.items()))


def seal(folder: str | Path, exclude: tuple[str, ...] = ()) -> None:
    """Record every file of a finished stage folder (size, modification time), but the
    ``exclude`` names (files rewritten on every run)."""
    folder = Path(folder)
    write_json(folder / SEAL, _files(folder, exclude))


def reusable(folder: str | Path) -> bool:
    """Whether a stage folder is finished (sealed) and intact.

    Raises:
        CacheError: it is sealed, but a file is missing, was cut short or rewritten since.
    """
    folder = Path(folder)
    if not (folder / SEAL).is_file():
        return False
    try:
        sealed = json.loads((folder / SEAL).read_text())
    except ValueError as err:
        raise corrupt(folder, f"{SEAL} is not JSON: {err}") from err
    now = _files(folder)
    for name, stamp in sealed.items():
        if name not in now:
            raise corrupt(folder, f"{name} is missing")
        if now[name] != stamp:
            raise corrupt(
                folder, f"{name} changed since it was written ({stamp[0]} -> {now[name][0]} bytes)"
            )
    return True


@contextmanager
def building(folder: str | Path) -> Iterator[Path]:
    """A temporary folder to build a stage in; renamed onto ``folder`` and sealed when the
    block succeeds, removed when it fails (a stage is done only when all its outputs exist)."""
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        yield tmp
        seal(tmp)


def read_cached(path: str | Path, folder: str | Path) -> Any:
    """A JSON file of a stage folder.

    Raises:
        CacheError: the file is missing or not JSON (naming the folder to delete).
    """
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise corrupt(Path(folder), f"{Path(path).name}: {err}") from err


def clear_temporary(folder: str | Path) -> None:
    """Remove the temporary folders killed stages left in ``folder`` (``.<name>.<id>.tmp``)."""
    import shutil

    for tmp in Path(folder).glob(".*.tmp*"):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.unlink(tmp)
