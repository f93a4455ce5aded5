"""Provenance that travels with a benchmark: portable names for inputs, and the environment.

A published benchmark must not carry the builder's absolute paths (they mean nothing on
another machine and say who built it where): :func:`portable` names an input relative to a
named root (``RAW/demo-hills/labels.gpkg``) or, outside every root, by its file name and a
content hash. :func:`environment` records what built it: the package version, the git commit
of the code when it runs from a repository, and the versions of the libraries that decide
the numbers (GDAL and PROJ reproject, numpy computes, h5py writes, torch trains).
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from landslide4sense import __version__
from landslide4sense.files import file_hash


def portable(path: str | Path, roots: Mapping[str, str | Path]) -> str:
    """``path`` named without the machine's absolute paths.

    Args:
        path: a file or folder (relative paths are taken from the working directory).
        roots: named folders, e.g. ``{"RAW": raw}``.

    Returns:
        ``<ROOT>/<path inside it>`` for the first root holding it; otherwise the file's name
        with its content hash (``labels.gpkg (sha256 3f2a...)``), or just its name when it is
        not a readable file.
    """
    resolved = Path(path).resolve()
    for name, root in roots.items():
        if resolved.is_relative_to(Path(root).resolve()):
            return Path(name, resolved.relative_to(Path(root).resolve())).as_posix()
    if resolved.is_file():
        return f"{resolved.name} (sha256 {file_hash(resolved)[:16]})"
    return resolved.name


def portable_values(values: Mapping[str, Any], roots: Mapping[str, str | Path]) -> dict:
    """``values`` with every absolute path among them made :func:`portable`."""
    return {
        k: portable(v, roots) if isinstance(v, str) and os.path.isabs(v) else v
        for k, v in values.items()
    }


def git_commit(folder: str | Path | None = None) -> str | None:
    """The commit of the git repository holding ``folder`` (default: this package's source),
    with ``+dirty`` when it has uncommitted changes; None outside a repository or without git."""
    folder = Path(folder or Path(__file__).parent)
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()

        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def _installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def environment() -> dict[str, str | None]:
    """What built a benchmark: package, git commit, Python and the libraries that matter.

    torch is looked up, not imported (a build does not need it); a library that is not
    installed is None.
    """
    import h5py
    import numpy
    import pyproj
    import rasterio

    return {
        "landslide4sense": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "gdal": rasterio.__gdal_version__,
        "proj": getattr(rasterio, "__proj_version__", None),  # the PROJ rasterio reprojects with
        "proj_pyproj": pyproj.proj_version_str,  # the PROJ of footprints and AOIs
        "rasterio": rasterio.__version__,
        "numpy": numpy.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "torch": _installed("torch"),
    }
