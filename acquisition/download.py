"""Downloading a raster in blocks: planning, a concurrency cap, back-off, a cache, a mosaic.

A remote raster too large for one request (Earth Engine's ``computePixels`` answers at most
48 MB and 32768 px a side) is cut into :class:`BlockRequest` windows that tile its grid
exactly. :func:`download_blocks` fetches them with at most ``concurrency`` requests in flight,
each under the one retry policy (:mod:`acquisition.retry`), and keeps every block in a
content-addressed cache (the digest of the request body names the
GeoTIFF), so a re-run downloads nothing and an interrupted export resumes. Blocks stream to
disk as they arrive (a temporary file, renamed when complete), so memory does not grow with
the block size; :func:`mosaic` then writes each band onto its grid, block by block.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.windows import Window

from landslide4sense.acquisition.retry import RetryPolicy, TooBigError
from landslide4sense.errors import ConfigError, SourceError
from landslide4sense.files import atomic_path
from landslide4sense.geo import Grid
from landslide4sense.runtime.console import progress as show_progress

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 48 * 10**6  # Earth Engine's computePixels limit (48 MB), headers aside
MAX_REQUEST_SIDE = 32768
MAX_CONCURRENCY = 40  # Earth Engine's quota answers 429 beyond about 40 concurrent requests
DTYPE_BYTES = {"uint8": 1, "uint16": 2, "int16": 2, "float32": 4, "float64": 8}
#: The smallest side a block too big to compute is split down to (quadrants of 128 px would be
#: 4,096 requests per 10 m group of a 29 x 29 km region: past that, the window is the problem).
MIN_SPLIT_SIDE = 128


@dataclass(frozen=True)
class BlockRequest:
    """One window of a band group's grid, to be fetched as a GeoTIFF."""

    group: str
    bands: tuple[str, ...]
    grid: Grid
    col: int
    row: int
    width: int
    height: int
    dtype: str = "uint16"

    @property
    def transform(self) -> Affine:
        return self.grid.window_transform(Window(self.col, self.row, self.width, self.height))

    @property
    def bytes(self) -> int:
        return self.width * self.height * len(self.bands) * DTYPE_BYTES[self.dtype]

    def quadrants(self) -> list[BlockRequest]:
        """The block cut in four (two where one side is a single pixel), row-major; together
        they tile it exactly."""
        w, h = (self.width + 1) // 2, (self.height + 1) // 2
        return [
            replace(self, col=self.col + c, row=self.row + r, width=width, height=height)
            for r, height in ((0, h), (h, self.height - h))
            for c, width in ((0, w), (w, self.width - w))
            if width and height
        ]

    def to_dict(self) -> dict:
        return {
            "group": self.group,
            "bands": list(self.bands),
            "resolution": self.grid.resolution,
            "x_offset": self.col,
            "y_offset": self.row,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
        }


def block_side(
    n_bands: int,
    dtype: str,
    max_bytes: int = MAX_REQUEST_BYTES,
    max_side: int = MAX_REQUEST_SIDE,
    multiple: int = 256,
) -> int:
    """The largest square block (a multiple of ``multiple`` px) within both limits."""
    side = math.isqrt(max_bytes // (n_bands * DTYPE_BYTES[dtype]))
    return max(multiple, min(max_side, side) // multiple * multiple)


def plan_blocks(
    group: str, bands: Iterable[str], grid: Grid, dtype: str = "uint16", side: int | None = None
) -> list[BlockRequest]:
    """Windows that tile ``grid`` exactly (row-major), each within the request limits.

    Raises:
        ConfigError: ``side`` breaks a limit.
    """
    bands = tuple(bands)
    largest = block_side(len(bands), dtype, multiple=1)
    side = side or block_side(len(bands), dtype)
    if not 1 <= side <= largest:
        raise ConfigError(
            f"block side {side} px (--block-px, or imagery: block_px in the region file) is "
            f"outside 1..{largest} px, the 48 MB / 32768 px request limits of {len(bands)} "
            f"{dtype} band(s); choose a side in that range"
        )
    return [
        BlockRequest(
            group, bands, grid, c, r, min(side, grid.width - c), min(side, grid.height - r), dtype
        )
        for r in range(0, grid.height, side)
        for c in range(0, grid.width, side)
    ]


@dataclass(frozen=True)
class BlockResult:
    """What fetching one block took: bytes written, each attempt's (start, end) times (its
    parts' included), and how many times it or a part was split."""

    bytes: int = 0
    attempts: tuple[tuple[float, float], ...] = ()
    retries: int = 0
    splits: int = 0


@dataclass
class DownloadReport:
    """What :func:`download_blocks` did."""

    paths: list[Path]
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    splits: int = 0  # blocks split in four because the service found them too big
    bytes: int = 0
    max_in_flight: int = 0
    seconds: float = 0.0
    busy_seconds: float = 0.0  # summed over requests, from sending to the last byte on disk


def request_key(body: dict) -> str:
    """The cache key of a request: sha256 of its canonical JSON body."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def block_path(cache: Path, body: dict) -> Path:
    """Where the block of request ``body`` is cached (named by the digest of the body)."""
    key = request_key(body)
    return cache / key[:2] / f"{key}.tif"


def fetch_block(
    req: BlockRequest,
    body: Callable[[BlockRequest], dict],
    send: Callable[[dict, Path], int],
    cache: Path,
    policy: RetryPolicy,
    min_side: int = MIN_SPLIT_SIDE,
) -> BlockResult:
    """Send one request under ``policy`` and stream its answer into its cache file (atomically:
    a failed attempt leaves nothing). A block the service finds too big to compute
    (:class:`TooBigError`) is fetched as its four quadrants, each the same way (down to
    ``min_side`` px), and stitched into the block's file.

    Raises:
        SourceError: the block failed for good, or is too big even at ``min_side``.
    """
    path = block_path(cache, body(req))
    if path.exists():  # a part cached by an earlier, interrupted split
        return BlockResult()
    attempts: list[tuple[float, float]] = []

    def attempt() -> int:
        started = time.perf_counter()
        try:
            with atomic_path(path) as tmp:
                return send(body(req), tmp)
        finally:
            attempts.append((started, time.perf_counter()))

    try:
        size = policy.call(attempt, f"block {path.name[:12]}")
        return BlockResult(size, tuple(attempts), len(attempts) - 1)
    except TooBigError as err:
        if min(req.width, req.height) <= min_side:
            raise TooBigError(
                f"{err} (even after splitting to {req.width} x {req.height} px); narrow the "
                "imagery window (fewer scenes to compose) or the AOI"
            ) from err
        log.info("block %s is too big to compute (%s): fetching its quadrants", path.name, err)
    parts = req.quadrants()
    results = [fetch_block(p, body, send, cache, policy, min_side) for p in parts]
    stitch(req, parts, [block_path(cache, body(p)) for p in parts], path)
    return BlockResult(
        sum(r.bytes for r in results),
        tuple(attempts) + tuple(a for r in results for a in r.attempts),
        len(attempts) - 1 + sum(r.retries for r in results),
        1 + sum(r.splits for r in results),
    )


def stitch(req: BlockRequest, parts: list[BlockRequest], paths: list[Path], out: Path) -> Path:
    """One GeoTIFF of block ``req`` from the GeoTIFFs of ``parts`` (which tile it exactly)."""
    profile = {
        "driver": "GTiff",
        "width": req.width,
        "height": req.height,
        "count": len(req.bands),
        "dtype": req.dtype,
        "crs": req.grid.crs,
        "transform": req.transform,
    }
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for part, path in zip(parts, paths, strict=True):
            with rasterio.open(path) as src:
                window = Window(part.col - req.col, part.row - req.row, part.width, part.height)
                dst.write(src.read().astype(req.dtype, copy=False), window=window)
    return out


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one time (touching ends do not overlap)."""
    events = sorted((t, step) for a, b in intervals for t, step in ((a, 1), (b, -1)))
    peak = open_now = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def summarize(
    paths: list[Path], results: list[BlockResult | None], seconds: float
) -> DownloadReport:
    """The report of a download: ``results[i]`` is None where block ``i`` came from cache."""
    fetched = [r for r in results if r is not None]
    attempts = [a for r in fetched for a in r.attempts]
    return DownloadReport(
        paths,
        requests=len(attempts),
        cache_hits=len(results) - len(fetched),
        retries=sum(r.retries for r in fetched),
        splits=sum(r.splits for r in fetched),
        bytes=sum(r.bytes for r in fetched),
        max_in_flight=peak_overlap(attempts),
        seconds=seconds,
        busy_seconds=sum(b - a for a, b in attempts),
    )


def download_blocks(
    requests: list[BlockRequest],
    body: Callable[[BlockRequest], dict],
    send: Callable[[dict, Path], int],
    cache: str | Path,
    concurrency: int = 16,
    policy: RetryPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
    min_side: int = MIN_SPLIT_SIDE,
) -> DownloadReport:
    """Fetch every block (or find it in ``cache``); returns the block files, in order.

    Args:
        requests: the blocks.
        body: builds the request body of a block (its digest is the cache key).
        send: sends a body and streams the GeoTIFF into the file it is given, returning its
            size; raises :class:`TransientError` for answers worth retrying and another
            :class:`SourceError` for the rest.
        cache: folder of cached blocks.
        concurrency: requests in flight at most (1..40).
        policy: the retry policy; default :class:`RetryPolicy`.
        progress: called with (blocks done, blocks) as blocks complete.
        min_side: the smallest side a block too big to compute is split down to.

    Raises:
        ConfigError: concurrency outside 1..40.
        SourceError: a block failed for good (blocks already fetched stay in the cache).
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ConfigError(f"concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")
    policy = policy or RetryPolicy()
    started = time.perf_counter()
    bodies = [body(r) for r in requests]
    paths = [block_path(Path(cache), b) for b in bodies]
    results: list[BlockResult | None] = [None] * len(requests)
    missing = [i for i, p in enumerate(paths) if not p.exists()]
    done = len(requests) - len(missing)
    expected = sum(requests[i].bytes for i in missing)  # the blocks' uncompressed size
    bar = show_progress(f"downloading {len(missing)} blocks", expected, "bytes", log)
    with ThreadPoolExecutor(concurrency) as pool, bar as advance:
        futures = {
            pool.submit(fetch_block, requests[i], body, send, Path(cache), policy, min_side): i
            for i in missing
        }
        try:
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                advance(results[futures[fut]].bytes)
                done += 1
                if progress is not None:
                    progress(done, len(requests))
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    report = summarize(paths, results, time.perf_counter() - started)
    log.info(
        "%d blocks: %d requests, %d from cache, %d retries, %d split, %.1f MB in %.1f s",
        len(requests),
        report.requests,
        report.cache_hits,
        report.retries,
        report.splits,
        report.bytes / 1e6,
        report.seconds,
    )
    return report


def mosaic(
    requests: list[BlockRequest],
    paths: list[Path],
    out_dir: str | Path,
    nodata: float | None = None,
) -> dict[str, Path]:
    """Write each band of the blocks onto its group's grid: ``out_dir/<band>.tif``.

    Each block is read once, and memory holds one block whatever the grid's size.

    Raises:
        SourceError: a block's GeoTIFF does not match its request (size or band count).
    """
    out_dir = Path(out_dir)
    groups: dict[tuple[str, ...], list[tuple[BlockRequest, Path]]] = {}
    for req, path in zip(requests, paths, strict=True):
        groups.setdefault(req.bands, []).append((req, path))
    outputs: dict[str, Path] = {}
    for bands, blocks in groups.items():
        grid, dtype = blocks[0][0].grid, blocks[0][0].dtype
        profile = {
            "driver": "GTiff",
            "width": grid.width,
            "height": grid.height,
            "count": 1,
            "dtype": dtype,
            "crs": grid.crs,
            "transform": grid.transform,
            "nodata": nodata,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with contextlib.ExitStack() as stack:
            dsts = [
                stack.enter_context(
                    rasterio.open(
                        stack.enter_context(atomic_path(out_dir / f"{b}.tif")), "w", **profile
                    )
                )
                for b in bands
            ]
            for req, path in blocks:
                with rasterio.open(path) as src:
                    if (src.width, src.height, src.count) != (req.width, req.height, len(bands)):
                        raise SourceError(
                            f"{path}: block is {src.width} x {src.height} px with {src.count} "
                            f"bands, the request asked {req.width} x {req.height} px with "
                            f"{len(bands)}; delete the file and re-run"
                        )
                    data = src.read().astype(dtype, copy=False)
                window = Window(req.col, req.row, req.width, req.height)
                for dst, band_data in zip(dsts, data, strict=True):
                    dst.write(band_data, 1, window=window)
            for dst in dsts:
                dst.close()
        outputs.update({b: out_dir / f"{b}.tif" for b in bands})
    return outputs
