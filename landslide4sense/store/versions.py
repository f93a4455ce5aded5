"""The versions of a benchmark folder, and publishing one so that a kill cannot break it.

Layout::

    OUT/versions/<version>/     each kept version, complete (TrainData/, TestData/, manifest.csv,
                                dataset.json, card.md, figures/, regions/, ...); only its
                                record (.l4s-version.json) changes, when it is made current
    OUT/current -> versions/<version>     the commit point: one symbolic link
    OUT/TrainData -> current/TrainData    the layout users and loaders read (the original
    OUT/dataset.json -> current/...       release's): a link through ``current`` per entry
    OUT/training/                         training results per version (not versioned)

Publishing (:func:`commit`) writes the new version into ``versions/.staging-*`` (invisible),
renames it to ``versions/<version>`` once whole (the version file, written last, lists its
files and region jobs), then replaces ``current`` by an atomic rename of a new link. Readers
see the previous version up to that rename and the new one after it, whole either way: a kill
at any instant leaves one or the other, and ``OUT/dataset.json`` exists only when ``current``
points at a complete version. The next publish removes what a killed one left (a staging
folder, a temporary link, a half-pruned version). The last :data:`KEEP_VERSIONS` versions stay
on disk, the ones current most recently (patches are hard links, so a kept version costs
little); :func:`restore` makes an older one current again. Files the tool did not write are
never deleted: pruning removes only the files a version's own list names.

To read one version throughout (a long training run while new versions may be published),
read ``OUT/versions/<version>/``: :func:`version_folder` gives the current one.

Staging, committing and restoring write the folder: they run under its lock, which the run
took once when it opened the folder (:func:`landslide4sense.store.benchmark.open_benchmark`,
whose :class:`~landslide4sense.store.benchmark.Benchmark` calls them). Reading needs no lock.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from landslide4sense.errors import ConfigError, InputDataError, L4SError, MissingInputError
from landslide4sense.files import files_under, write_json
from landslide4sense.layout import CURRENT, DATASET_JSON, STATE_DIR, VERSION_FILE, VERSIONS_DIR
from landslide4sense.store.output import is_benchmark
from landslide4sense.store.trust import (
    RecordError,
    names_inside,
    relative_inside,
    resolved_inside,
)

log = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"
STAGING_STAMP = ".l4s-staging"  # in a staging folder from its first instant: ours to sweep
TMP_PREFIX = ".l4s-tmp-"  # temporary links in OUT, renamed onto their name
KEEP_VERSIONS = 2
#: Our versions: the first 12 hex digits of a content hash (patching.assemble).
VERSION_PATTERN = re.compile(r"[0-9a-f]{12}")


class PublishError(L4SError, OSError):
    """Publishing failed (a full disk, a folder in the way); the previous version stays."""


def check_version(version: object, source: str | Path | None = None) -> str:
    """``version`` if it has the form of ours (12 hex digits); it names folders, so nothing else
    is taken (``/etc``, ``../x``, an empty string...).

    Args:
        version: a version a user gave, or one read from a file.
        source: the file it was read from (its field ``version``); None when a user gave it.

    Raises:
        ConfigError: a version a user gave is not one of ours.
        InputDataError: the ``version`` of file ``source`` is not one of ours.
    """
    if isinstance(version, str) and VERSION_PATTERN.fullmatch(version):
        return version
    if source is None:
        raise ConfigError(
            f"{version!r} is not a landslide4sense dataset version (12 hexadecimal digits, "
            "like 86620ba3cd76); `l4s versions OUT` lists them"
        )
    raise InputDataError(
        f"{source}: field 'version' is {version!r}, not a dataset version of ours (12 hex "
        "digits, as `l4s build` writes); rebuild the benchmark, or remove dataset.json to "
        "train on the folder as a release"
    )


def current_version(out: str | Path) -> str | None:
    """The version ``OUT/current`` points at, or None (nothing published yet).

    Raises:
        ConfigError: ``current`` points somewhere that is not one of our versions.
    """
    link = Path(out) / CURRENT
    if not link.is_symlink():
        return None
    target = Path(os.readlink(link))
    if target.parent != Path(VERSIONS_DIR) or not VERSION_PATTERN.fullmatch(target.name):
        raise ConfigError(
            f"{link} points to {target}, not to {VERSIONS_DIR}/<version>; restore one with "
            "`l4s restore OUT VERSION` (see `l4s versions OUT`)"
        )
    return target.name


def version_folder(out: str | Path, version: str | None = None) -> Path:
    """The folder of ``version`` (default: the current one) of benchmark ``out``.

    Raises:
        MissingInputError: no such complete version.
    """
    out = Path(out)
    version = check_version(version) if version is not None else current_version(out)
    folder = out / VERSIONS_DIR / str(version)
    if version is None or not _is_complete(folder):
        raise MissingInputError(
            f"{out}: no {'published version' if version is None else f'version {version}'}"
            " (`l4s versions OUT` lists them)"
        )
    return folder


def data_folder(path: str | Path) -> Path:
    """Where to read the benchmark at ``path``: its current version's folder when ``path`` is a
    benchmark of ours (so a reader sees one version throughout), else ``path`` itself (the
    original release, or a copy of one version)."""
    path = Path(path)
    return version_folder(path) if is_benchmark(path) and current_version(path) else path


@dataclass(frozen=True)
class VersionInfo:
    """A kept version, as :func:`list_versions` reports it."""

    version: str
    made_current: int  # when it last became current, ns since the epoch (the order of versions)
    created: str
    counts: dict[str, int]  # patches per split, in the layout's order (train, val, test)
    layout: str
    regions: list[str]
    current: bool

    @property
    def train(self) -> int:
        return self.counts.get("train", 0)

    @property
    def test(self) -> int:
        return self.counts.get("test", 0)


def list_versions(out: str | Path) -> list[VersionInfo]:
    """The complete versions kept in ``out``, the one current most recently first."""
    out = Path(out)
    current = current_version(out)
    found = []
    for folder in _versions(out):
        if not _is_complete(folder):
            continue
        meta = json.loads((folder / DATASET_JSON).read_text())
        counts = meta.get("counts", {})
        made = version_record(folder / VERSION_FILE).get("made_current", 0)
        found.append(
            VersionInfo(
                folder.name,
                made,
                str(meta.get("created", "")),
                {s: counts[s] for s in ("train", "val", "test") if s in counts},
                str(meta.get("layout", "release")),
                [r["name"] for r in meta.get("regions", [])],
                folder.name == current,
            )
        )
    return sorted(found, key=lambda v: v.made_current, reverse=True)


def version_jobs(out: str | Path, version: str | None = None) -> list[Path]:
    """The region job files of a version, in the order the regions joined the benchmark.

    Raises:
        RecordError: the version's record names a job outside ``OUT/.l4s``.
    """
    out = Path(out)
    path = version_folder(out, version) / VERSION_FILE
    return _jobs_inside(path, version_record(path).get("jobs", []), out)


def version_record(path: Path) -> dict:
    """A version's record (``.l4s-version.json``), read.

    Raises:
        RecordError: it is not a JSON object.
    """
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RecordError(
            f"{path}: unreadable version record ({err}); restore the folder from a backup, or "
            "rebuild it into a new folder with `l4s build`"
        ) from err
    if not isinstance(record, dict):
        raise RecordError(f"{path}: a version record is a JSON object; rebuild the folder")
    return record


def _jobs_inside(record: Path, jobs: object, out: Path) -> list[Path]:
    """The job files a record names, each checked to lie in ``OUT/.l4s``."""
    if not isinstance(jobs, list):
        raise RecordError(f"{record}: 'jobs' is not a list of job files; rebuild the folder")
    state = out / STATE_DIR
    found = []
    for job in jobs:
        name = relative_inside(record, job, state)
        if not name.parts or name.parts[0] != STATE_DIR:
            raise RecordError(
                f"{record}: names job {job!r}, not one in {state}; restore the folder from a "
                "backup, or rebuild it into a new folder with `l4s build`"
            )
        resolved_inside(record, Path(name), state.parent)
        resolved_inside(record, Path(*name.parts[1:]), state)
        found.append(out / name)
    return found


def check_records(out: str | Path) -> None:
    """Every record of benchmark ``out`` names only paths inside it, before a run trusts them:
    ``current``, a published ``dataset.json`` (our link, not a user's file), and each kept
    version's file and job lists.

    Raises:
        ConfigError: ``current`` points elsewhere, or ``dataset.json`` is not ours.
        RecordError: a record names a path outside its folder.
    """
    out = Path(out)
    if not is_benchmark(out):
        return
    current_version(out)
    meta = out / DATASET_JSON
    if (meta.exists() or meta.is_symlink()) and not _ours(meta):
        raise ConfigError(
            f"{meta} was not written by landslide4sense, but {out} carries its marker "
            f"({STATE_DIR}/): move your {DATASET_JSON} elsewhere, or choose another --out"
        )
    for folder in _versions(out):
        path = folder / VERSION_FILE
        if path.is_file():
            record = version_record(path)
            names_inside(path, record.get("files", []), folder)
            _jobs_inside(path, record.get("jobs", []), out)


@contextmanager
def staged(out: str | Path) -> Iterator[Path]:
    """A fresh, invisible folder to write a version into; hand it to :func:`commit` inside the
    block. Leftovers of killed publishes go first; the folder goes if the block fails. The
    caller holds the folder's lock (:meth:`.Benchmark.staged`).

    Raises:
        PublishError: writing failed on a full disk or another system error.
    """
    out = Path(out)
    stage = out / VERSIONS_DIR / f"{STAGING_PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        _sweep(out)
        stage.mkdir(parents=True)
        (stage / STAGING_STAMP).touch()
        yield stage
    except L4SError:
        raise
    except OSError as err:
        raise _failed(out, "writing a new version", err) from err
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _failed(out: Path, what: str, err: OSError) -> PublishError:
    """What to raise when ``what`` failed on a system error: which version the benchmark
    shows, and the fix."""
    return PublishError(
        f"{out}: {what} failed ({err}); the benchmark shows version "
        f"{current_version(out) or '(none)'}. Free space or fix the cause and re-run"
    )


def commit(
    out: str | Path, stage: Path, version: str, jobs: list[Path], keep: int = KEEP_VERSIONS
) -> None:
    """Publish the version written in ``stage`` as ``OUT/versions/<version>`` and make it
    current; prune versions beyond the last ``keep``.

    Args:
        out: the benchmark folder (the caller holds its lock: :meth:`.Benchmark.commit`).
        stage: a folder from :func:`staged`, holding the whole version.
        version: its version (see :func:`check_version`).
        jobs: the region job files, in join order (recorded for the next ``add-region``).
        keep: how many versions stay on disk (the current one included; at least 1).

    Raises:
        PublishError: the disk is full, or a folder is in the way; the previous version stays
            current and the next publish removes what this one left.
    """
    out = Path(out)
    check_version(version)
    try:
        files = sorted(name for name, _ in files_under(stage))
        record = {
            "version": version,
            "made_current": time.time_ns(),
            "jobs": [os.path.relpath(j, out) for j in jobs],
            "files": [*files, VERSION_FILE],
        }
        write_json(stage / VERSION_FILE, record)
        target = out / VERSIONS_DIR / version
        if _is_complete(target):  # the same content is published already
            shutil.rmtree(stage)
            _made_current(target)
        else:
            _remove_version(target)  # a half-pruned leftover of the same name
            os.rename(stage, target)
        _switch(out, version)
        _prune(out, max(1, keep))
        _sweep(out)
    except L4SError:
        raise
    except OSError as err:
        raise _failed(out, f"publishing version {version}", err) from err


def restore(out: str | Path, version: str) -> None:
    """Make kept ``version`` the current one again (its files are untouched). The caller holds
    the folder's lock (:meth:`.Benchmark.restore`).

    Raises:
        ConfigError: ``version`` is not one of ours.
        MissingInputError: ``out`` keeps no such version.
    """
    out = Path(out)
    _made_current(version_folder(out, version))
    _switch(out, version)


def _made_current(folder: Path) -> None:
    """Stamp a kept version as made current now (pruning keeps the most recent ones)."""
    record = json.loads((folder / VERSION_FILE).read_text())
    write_json(folder / VERSION_FILE, {**record, "made_current": time.time_ns()})


def _point_current(out: Path, version: str) -> None:
    """Replace ``OUT/current`` by a link to ``versions/<version>`` in one atomic rename."""
    _replace_link(out / CURRENT, Path(VERSIONS_DIR) / version)


def _replace_link(path: Path, target: Path) -> None:
    """Make ``path`` a link to ``target`` in one atomic rename."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _ours(link: Path) -> bool:
    """Whether ``link`` is one of the layout links we make (``name -> current/name``)."""
    return link.is_symlink() and Path(os.readlink(link)) == Path(CURRENT) / link.name


def _switch(out: Path, version: str) -> None:
    """Make ``version`` current: first a link ``OUT/<name> -> current/<name>`` for each entry
    of the version that lacks one (dangling until the switch), then the switch itself (one
    rename of ``current``), then the links to entries the version lacks go. A kill at any
    point leaves every entry of the current version reachable, ``dataset.json`` included, so
    a folder whose ``dataset.json`` opens always shows one whole version. Anything in OUT
    that is not ours stays."""
    folder = out / VERSIONS_DIR / version
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    for name in names:
        path = out / name
        if _ours(path):
            continue
        if path.exists() or path.is_symlink():
            log.warning(
                "%s was not written by landslide4sense: left as it is (the current "
                "version's is %s)",
                path,
                folder / name,
            )
            continue
        _replace_link(path, Path(CURRENT) / name)
    _point_current(out, version)
    for path in out.iterdir():
        if _ours(path) and path.name not in names:
            path.unlink()


def discard_unpublished(out: str | Path) -> None:
    """Remove what publishing wrote in a folder where no version ever became current
    (``versions/``, ``current`` and the layout links); other files stay."""
    out = Path(out)
    if current_version(out) is not None:
        return
    shutil.rmtree(out / VERSIONS_DIR, ignore_errors=True)
    for path in out.iterdir():
        if path.is_symlink() and (_ours(path) or path.name.startswith(TMP_PREFIX)):
            path.unlink()


def _versions(out: Path) -> list[Path]:
    """Every folder of ``versions/`` named like a version."""
    folder = out / VERSIONS_DIR
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if VERSION_PATTERN.fullmatch(p.name)]


def _is_complete(folder: Path) -> bool:
    return (folder / VERSION_FILE).is_file() and (folder / DATASET_JSON).is_file()


def _prune(out: Path, keep: int) -> None:
    """Remove the versions beyond the current one and the ``keep - 1`` newest others."""
    current = current_version(out)
    others = [v for v in list_versions(out) if v.version != current]
    for info in others[keep - 1 :]:
        _remove_version(out / VERSIONS_DIR / info.version)
        log.info("%s: version %s removed (the last %d are kept)", out, info.version, keep)


def _remove_version(folder: Path) -> None:
    """Delete the files a version's own list names, then its empty folders. ``dataset.json``
    goes first (the version is no longer complete), the list last (a kill in between leaves a
    folder the next publish finishes removing). Files not on the list stay."""
    record = folder / VERSION_FILE
    if not record.is_file():
        if folder.exists():
            raise PublishError(
                f"{folder} is in the way: it is not a version landslide4sense wrote; move it "
                "elsewhere and re-run"
            )
        return
    files = [str(n) for n in names_inside(record, version_record(record).get("files"), folder)]
    for name in sorted(files, key=lambda n: (n != DATASET_JSON, n == VERSION_FILE)):
        (folder / name).unlink(missing_ok=True)
    for tmp in folder.glob(f".{Path(VERSION_FILE).stem}.*.tmp.json"):  # a killed re-stamp's
        tmp.unlink()
    for d in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    if any(folder.iterdir()):
        left = [name for name, _ in files_under(folder)]
        log.warning("%s: kept %s (not written by landslide4sense)", folder, ", ".join(left[:5]))
    else:
        folder.rmdir()


def _sweep(out: Path) -> None:
    """Remove what killed publishes left: staging folders, temporary links, half-pruned
    versions (their list remains, their ``dataset.json`` is gone)."""
    for tmp in out.glob(f"{TMP_PREFIX}*"):
        if tmp.is_symlink():
            tmp.unlink()
    for stage in (out / VERSIONS_DIR).glob(f"{STAGING_PREFIX}*"):
        if (stage / STAGING_STAMP).is_file() and not stage.is_symlink():  # ours, not a user's
            shutil.rmtree(stage, ignore_errors=True)
    for folder in _versions(out):
        if (folder / VERSION_FILE).is_file() and not (folder / DATASET_JSON).exists():
            _remove_version(folder)
