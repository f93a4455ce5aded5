"""Paths read from the tool's own records, trusted only once they resolve inside their folder.

A version record (``.l4s-version.json``), a region job file, a marker or a link may have been
edited by hand, damaged, or received from someone else with a benchmark. Every path read from
one is checked here before the tool reads, links or deletes through it: it must be relative,
without ``..``, and must not leave its folder through a symbolic link. Anything else stops the
run with one line naming the record, the path and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from landslide4sense.errors import ConfigError


class RecordError(ConfigError):
    """A record of the tool names a path outside the folder it may name paths in."""


def _outside(record: Path, name: object, folder: Path, why: str) -> RecordError:
    return RecordError(
        f"{record}: names {name!r}, {why}; the tool reads and deletes only files inside "
        f"{folder}. The record was edited or damaged: restore the folder from a backup, or "
        "rebuild it into a new folder with `l4s build`"
    )


def relative_inside(record: Path, name: object, folder: Path) -> PurePosixPath:
    """``name`` as a relative path that stays inside ``folder`` (checked on the text only).

    Raises:
        RecordError: ``name`` is not a string, is empty or absolute, or holds ``..``.
    """
    if not isinstance(name, str) or not name or "\0" in name:
        raise _outside(record, name, folder, "which is not a file name")
    path = PurePosixPath(name)
    if path.is_absolute() or os.path.isabs(name) or ".." in path.parts:
        raise _outside(record, name, folder, "outside its folder")
    return path


def resolved_inside(record: Path, path: Path, folder: Path) -> Path:
    """``path`` (absolute, or relative to ``folder``) if it stays inside ``folder`` once every
    symbolic link is followed.

    Raises:
        RecordError: it leads outside ``folder``.
    """
    full = (folder / path).resolve()
    if not full.is_relative_to(folder.resolve()):
        raise _outside(record, str(path), folder, f"which leads to {full}")
    return full


def names_inside(record: Path, names: object, folder: Path) -> list[PurePosixPath]:
    """Every name of a record's list, checked: as text, then each distinct folder they sit in
    resolved once (a version lists tens of thousands of files in a few folders).

    Raises:
        RecordError: the list is not a list, or one name leads outside ``folder``.
    """
    if not isinstance(names, list):
        raise _outside(record, names, folder, "where a list of file names belongs")
    paths = [relative_inside(record, n, folder) for n in names]
    for parent in {p.parent for p in paths}:  # a file that is a link is unlinked, not followed
        resolved_inside(record, Path(parent), folder)
    return paths
