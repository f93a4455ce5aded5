"""Cutting one region's stack into 128 x 128 patches.

A :class:`RegionJob` names every input of a region (bands, slope, DEM, mask, grid, AOI,
scaling) and the folder its patches go to. :func:`patch_rows` cuts a block of tile rows: for
each strip of 128 grid rows it reads the 14 bands and the mask, drops tiles outside the AOI or
with any missing pixel, and writes the rest. A block is written into a folder of its own under
a temporary name, with an index of its tiles, and renamed when complete: a killed run resumes
at the first unfinished block, no patch file is ever half-written, and blocks are independent.
:func:`cut_blocks` cuts blocks on several processes (the work is CPU-bound and holds the GIL);
every block's bytes are the same whichever process cuts it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from rasterio.windows import Window

from landslide4sense.choices import Scaling
from landslide4sense.errors import EmptyResultError
from landslide4sense.files import read_json, write_json
from landslide4sense.geo.stack import GridStack, scale
from landslide4sense.layout import PATCH_SIZE
from landslide4sense.patching.hdf5 import write_image, write_mask
from landslide4sense.records import (
    BlockIndex,
    DropCounts,
    GridField,
    LayerProvenance,
    Record,
    TileRecord,
)
from landslide4sense.runtime.processes import process_pool
from landslide4sense.store.trust import relative_inside, resolved_inside

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
#: The paths of a job that are the tool's own work (in ``OUT/.l4s``); bands may be inputs.
LOCAL_FIELDS = ("work", "slope", "dem", "mask")


def work_root(job_file: str | Path) -> Path:
    """The work folder holding a job file: ``OUT/.l4s`` for ``OUT/.l4s/<region>/<stage>/``."""
    return Path(job_file).absolute().parents[2]


def _relative(path: str, root: Path) -> str:
    """``path`` relative to ``root`` when it lies under it, else as it is."""
    p = Path(path)
    return p.relative_to(root).as_posix() if p.is_relative_to(root) else path


def _resolve(job_file: Path, path: str, root: Path) -> str:
    """A path of a job, absolute: a relative one is under ``root`` (and must stay there)."""
    if Path(path).is_absolute():
        return path
    resolved_inside(job_file, Path(relative_inside(job_file, path, root)), root)
    return str(root / path)


def _inside(job_file: Path, path: str, root: Path) -> str:
    """A path of the job's own work: absolute, and inside ``root``."""
    full = _resolve(job_file, path, root)
    resolved_inside(job_file, Path(full), root)
    return full


class RegionJob(Record):
    """Everything needed to cut a region's patches; saved as JSON between stages."""

    name: str
    grid: GridField
    bands: dict[str, str]
    slope: str
    dem: str
    mask: str
    aoi_wkt: str  # the AOI in the grid's CRS
    scaling: Scaling
    work: str  # folder of this job's patches and index
    provenance: LayerProvenance
    rows_per_block: int = 4

    def save(self, path: str | Path) -> Path:
        """Write the job to ``path``. Paths inside the work folder that holds it (``OUT/.l4s``,
        two folders up) are written relative to it, so that a benchmark moved or copied
        (``mv``, ``cp -a``) reads its own work, never the original's."""
        root = work_root(path)
        data = self.model_dump(mode="json")
        for field in LOCAL_FIELDS:
            data[field] = _relative(data[field], root)
        data["bands"] = {b: _relative(p, root) for b, p in data["bands"].items()}
        return write_json(path, data)

    @classmethod
    def load(cls, path: str | Path, data: dict | None = None) -> RegionJob:
        """The job saved at ``path`` (``data``: its content, read already), its paths absolute.

        Raises:
            RecordError: a path of the work (patches, slope, DEM, mask) lies outside the work
                folder that holds the job (a job edited by hand, or copied from elsewhere).
        """
        path = Path(path)
        job = cls.model_validate(read_json(path) if data is None else data)
        root = work_root(path)
        found = {f: _inside(path, getattr(job, f), root) for f in LOCAL_FIELDS}
        found["bands"] = {b: _resolve(path, p, root) for b, p in job.bands.items()}
        return job.model_copy(update=found)

    def blocks(self) -> list[tuple[int, int]]:
        """Blocks of tile rows, ``(start, stop)``, that together cover the grid."""
        rows, cols = self.grid.tile_shape()
        if cols == 0:
            return []
        return [
            (a, min(rows, a + self.rows_per_block)) for a in range(0, rows, self.rows_per_block)
        ]

    def block_dir(self, start: int, stop: int) -> Path:
        """The folder of a block's patches and index (present only when complete)."""
        return Path(self.work) / f"rows_{start:04d}_{stop:04d}"

    def index_path(self, start: int, stop: int) -> Path:
        return self.block_dir(start, stop) / "index.json"

    def patch_paths(self, row: int, col: int) -> tuple[Path, Path]:
        start = row - row % self.rows_per_block
        block = self.block_dir(start, min(start + self.rows_per_block, self.grid.tile_shape()[0]))
        name = f"{row:04d}_{col:04d}.h5"
        return block / "img" / name, block / "mask" / name


def _strip_stats(img: np.ndarray, mask: np.ndarray, ncols: int) -> dict[str, np.ndarray]:
    """Per-tile band sums, sums of squares and landslide-pixel sums of one strip.

    Sums and sums of squares accumulate in float64 (the standard deviation comes by
    difference), converted a band and 16 rows at a time (cache-sized: faster than one einsum
    over the strip); landslide sums visit only landslide pixels.
    """
    bands = img.shape[0]
    x = img.reshape(bands, PATCH_SIZE, ncols, PATCH_SIZE)
    total, squares = np.zeros((bands, ncols)), np.zeros((bands, ncols))
    for b in range(bands):
        for r in range(0, PATCH_SIZE, 16):
            v = x[b, r : r + 16].astype(np.float64)
            total[b] += v.sum(axis=(0, 2))
            squares[b] += np.einsum("rct,rct->c", v, v)
    rows, cols = np.nonzero(mask)
    tile = cols // PATCH_SIZE
    return {
        "sum": total,
        "sumsq": squares,
        "sum_ls": np.stack(
            [np.bincount(tile, weights=v, minlength=ncols) for v in img[:, rows, cols]]
        ),
        "n_ls": np.bincount(tile, minlength=ncols),
    }


def patch_rows(job: RegionJob, start: int, stop: int, progress: Progress | None = None) -> Path:
    """Cut tile rows ``start``..``stop-1`` of a region into patches; return the block's index.

    Skipped when the block's index already exists.
    """
    index = job.index_path(start, stop)
    if index.exists():
        return index
    block = index.parent
    # Files go into a partial folder, renamed when whole. Our own leftovers of a killed run go
    # first: a partial folder, or (only if tampered with) a block without its index.
    partial = block.with_name(f".{block.name}.partial")
    for stale in (partial, block):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        (partial / "img").mkdir(parents=True)
        (partial / "mask").mkdir()
        block_index = _cut(job, start, stop, partial, progress)
        # pydantic's own JSON: json.dumps of 300,000 floats took a tenth of cutting's time
        (partial / index.name).write_text(block_index.model_dump_json())
        os.replace(partial, block)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return index


def _cut(
    job: RegionJob, start: int, stop: int, folder: Path, progress: Progress | None
) -> BlockIndex:
    """Write the patches of tile rows ``start``..``stop-1`` into ``folder``; return the index."""
    grid, size = job.grid, PATCH_SIZE
    ncols = grid.tile_shape()[1]
    aoi = shapely.from_wkt(job.aoi_wkt)
    shapely.prepare(aoi)
    tiles: list[TileRecord] = []
    dropped = DropCounts()
    with GridStack(
        grid,
        {k: Path(v) for k, v in job.bands.items()},
        Path(job.slope),
        Path(job.dem),
        Path(job.mask),
    ) as stack:
        img = np.empty((len(stack.paths), size, ncols * size), np.float32)  # every strip's
        for row in range(start, stop):
            img, valid, mask = stack.read(Window(0, row * size, ncols * size, size), out=img)
            scale(img, job.scaling)
            stats = _strip_stats(img, mask, ncols)
            # the strip's tiles at once: in the AOI, and without a missing pixel
            strip = [
                grid.window_bounds(Window(c * size, row * size, size, size)) for c in range(ncols)
            ]
            in_aoi = shapely.intersects(aoi, shapely.box(*np.reshape(strip, (-1, 4)).T))
            whole = valid.reshape(size, ncols, size).all(axis=(0, 2))
            for col, bounds in enumerate(strip):
                if not in_aoi[col]:
                    dropped.outside_aoi += 1
                    continue
                if not whole[col]:
                    dropped.nodata += 1
                    continue
                cs = slice(col * size, (col + 1) * size)
                patch = np.ascontiguousarray(img[:, :, cs].transpose(1, 2, 0))
                label = np.ascontiguousarray(mask[:, cs])
                name = f"{row:04d}_{col:04d}.h5"
                write_image(folder / "img" / name, patch, atomic=False)
                write_mask(folder / "mask" / name, label, atomic=False)
                digest = hashlib.sha256(patch.data)
                digest.update(label.data)
                tiles.append(
                    TileRecord(
                        row=row,
                        col=col,
                        bounds=bounds,
                        landslide_px=int(stats["n_ls"][col]),
                        sha256=digest.hexdigest(),
                        sum=stats["sum"][:, col].tolist(),
                        sumsq=stats["sumsq"][:, col].tolist(),
                        sum_ls=stats["sum_ls"][:, col].tolist(),
                    )
                )
            if progress is not None:
                progress(row - start + 1, stop - start)
            del valid, mask, stats  # before the next strip is read: one strip in memory
    return BlockIndex(rows=(start, stop), tiles=tiles, dropped=dropped)


def cut_blocks(
    blocks: Sequence[tuple[RegionJob, int, int]],
    processes: int = 2,
    progress: Progress | None = None,
) -> list[Path]:
    """Cut blocks ``(job, start, stop)`` of tile rows on ``processes`` worker processes.

    Blocks already cut are skipped. The result is the same as cutting them one after another
    in this process (``processes=1`` does exactly that). On the first failure, blocks not yet
    started are cancelled and the error is raised once the running ones have finished.

    Returns:
        The blocks' index files, in the order given.
    """
    todo = [(job, a, b) for job, a, b in blocks if not job.index_path(a, b).exists()]
    done = len(blocks) - len(todo)

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(blocks))

    if processes <= 1 or len(todo) <= 1:
        for job, a, b in todo:
            patch_rows(job, a, b)
            tick()
    else:  # spawned workers import what cutting needs, not the caller's modules nor Prefect
        with process_pool(min(processes, len(todo))) as pool:
            pending = {pool.submit(patch_rows, job, a, b) for job, a, b in todo}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        wait(pending)
                        raise future.exception()
                    tick()
    return [job.index_path(a, b) for job, a, b in blocks]


@dataclass
class RegionTiles:
    """A region's kept tiles (row-major order) and the count of dropped ones."""

    name: str
    tiles: list[TileRecord]
    dropped: DropCounts
    job: RegionJob


def collect_tiles(job: RegionJob) -> RegionTiles:
    """Gather the tiles of every block of a job.

    Raises:
        FileNotFoundError: a block has not been cut yet.
        EmptyResultError: the region yields no valid tile.
    """
    tiles: list[TileRecord] = []
    dropped = DropCounts()
    for start, stop in job.blocks():
        block = BlockIndex.model_validate_json(job.index_path(start, stop).read_bytes())
        tiles.extend(block.tiles)
        dropped += block.dropped
    tiles.sort(key=lambda t: (t.row, t.col))
    if not tiles:
        rows, cols = job.grid.tile_shape()
        raise EmptyResultError(
            f"region '{job.name}': none of its {rows * cols} tiles is valid "
            f"({dropped.nodata} have missing pixels in some band, {dropped.outside_aoi} lie "
            f"outside the AOI; a grid smaller than 128 x 128 px has none). Check that the "
            "Sentinel-2 bands and the DEM cover the AOI and that the AOI is at least 1.28 km wide"
        )
    return RegionTiles(job.name, tiles, dropped, job)


__all__ = ["RegionJob", "RegionTiles", "collect_tiles", "cut_blocks", "patch_rows"]
