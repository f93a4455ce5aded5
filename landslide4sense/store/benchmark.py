"""The one entry to an output folder: :func:`open_benchmark` claims it, takes its lock once and
hands the run a :class:`Benchmark`, through which the run stages, publishes and restores
versions, reads the current one and hashes its inputs.

The lock is held from the moment the folder is opened until the block ends: every write to
the folder (a stage, a publish, a restore) goes through the handle, whose writing methods
refuse to run when this process does not hold the lock. Reading (:meth:`Benchmark.meta`,
:meth:`Benchmark.versions`...) needs no lock: a reader sees one whole version either way.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from landslide4sense.errors import L4SError, MissingInputError, OutdatedFileError
from landslide4sense.files import file_hash
from landslide4sense.layout import DATASET_JSON, STATE_DIR
from landslide4sense.records import DatasetMeta, read_dataset_meta
from landslide4sense.store.lock import is_held, output_lock
from landslide4sense.store.output import claim_output, is_benchmark
from landslide4sense.store.versions import (
    KEEP_VERSIONS,
    VersionInfo,
    commit,
    current_version,
    discard_unpublished,
    list_versions,
    restore,
    staged,
    version_folder,
    version_jobs,
)

log = logging.getLogger(__name__)

HASHES = "hashes"  # OUT/.l4s/hashes: remembered content hashes of input files


class Benchmark(BaseModel):
    """A benchmark folder, as a run sees it (a pydantic model: it crosses Prefect tasks).

    Attributes:
        out: the folder (absolute, when :func:`open_benchmark` made it).
    """

    model_config = ConfigDict(frozen=True)

    out: Path

    @classmethod
    def at(cls, out: str | Path) -> Benchmark:
        """The benchmark at ``out``, to read.

        Raises:
            MissingInputError: ``out`` is not a landslide4sense benchmark folder.
        """
        if not is_benchmark(out):
            raise MissingInputError(f"{out}: not a landslide4sense benchmark folder")
        return cls(out=Path(out))

    @property
    def work(self) -> Path:
        """``OUT/.l4s``: the tool's own state and the stage folders a re-run resumes from."""
        return self.out / STATE_DIR

    def file_hash(self, path: str | Path) -> str:
        """The sha256 of an input file, remembered in ``OUT/.l4s/hashes`` while it is
        unchanged."""
        return file_hash(path, self.work / HASHES)

    def version(self) -> str | None:
        """The current version, or None (nothing published yet)."""
        return current_version(self.out)

    def meta(self) -> DatasetMeta | None:
        """The current version's ``dataset.json``, or None: nothing published yet, or a
        benchmark an older landslide4sense wrote (replaced by the next publish, without its
        history of versions).

        Raises:
            InputDataError: ``dataset.json`` is from a newer landslide4sense, or unreadable.
        """
        path = self.out / DATASET_JSON
        if not path.exists():
            return None
        try:
            return read_dataset_meta(path)
        except OutdatedFileError as err:
            log.warning("%s; replacing it, without its history of versions", err)
            return None

    def versions(self) -> list[VersionInfo]:
        """The kept versions, the one current most recently first."""
        return list_versions(self.out)

    def jobs(self, version: str | None = None) -> list[Path]:
        """The region job files of ``version`` (default: the current one; none when nothing
        is published), in the order the regions joined."""
        if version is None and self.version() is None:
            return []
        return version_jobs(self.out, version)

    def folder(self) -> Path:
        """The current version's own folder, to read one version throughout."""
        return version_folder(self.out)

    @contextmanager
    def staged(self) -> Iterator[Path]:
        """A fresh, invisible folder to write a version into (:func:`.versions.staged`)."""
        self._check_held()
        with staged(self.out) as stage:
            yield stage

    def commit(
        self, stage: Path, version: str, jobs: list[Path], keep: int = KEEP_VERSIONS
    ) -> None:
        """Publish the version written in ``stage`` and make it current
        (:func:`.versions.commit`)."""
        self._check_held()
        commit(self.out, stage, version, jobs, keep)

    def restore(self, version: str) -> None:
        """Make kept ``version`` current again (:func:`.versions.restore`)."""
        self._check_held()
        restore(self.out, version)

    def _check_held(self) -> None:
        if not is_held(self.out):
            raise RuntimeError(f"{self.out}: write through open_benchmark(), which holds the lock")


@contextmanager
def open_benchmark(
    out: str | Path,
    command: str,
    flow_run: str | None = None,
    claim: bool = True,
    timeout: float | None = None,
) -> Iterator[Benchmark]:
    """Open output folder ``out`` for one run: claim it, and hold its lock for the block.

    When the block fails on bad input (an :class:`~landslide4sense.errors.L4SError`) in a folder
    this call claimed and nothing was published, the claim is undone: what it wrote goes
    (``OUT/.l4s``, ``versions/``), and the folder too if this call made it, so the folder can be
    used again as it was.

    Args:
        out: the folder.
        command: what the run is, in words (the lock tells a waiting run).
        flow_run: the Prefect flow run, when the run is one.
        claim: make ``out`` a benchmark folder when it is new or empty; False takes the folder
            as it is (a benchmark to restore, or the results folder of a release).
        timeout: seconds to wait for another run at most (None: as long as it takes).

    Raises:
        NotABenchmarkError: ``out`` holds files the tool did not write.
        OutputLocked: another run still holds it after ``timeout`` seconds.
    """
    out = Path(out).absolute()
    existed = out.exists()
    claimed = claim and claim_output(out)
    with output_lock(out, command, flow_run, timeout):
        claimed = (claim and claim_output(out)) or claimed  # made again if a failed run removed it
        try:
            yield Benchmark(out=out)
        except L4SError:
            if claimed and _nothing_published(out):
                discard_unpublished(out)
                shutil.rmtree(out / STATE_DIR, ignore_errors=True)
                if not existed:
                    shutil.rmtree(out, ignore_errors=True)
            raise


def _nothing_published(out: Path) -> bool:
    try:
        return current_version(out) is None
    except L4SError:  # a damaged `current`: not ours to undo
        return False
