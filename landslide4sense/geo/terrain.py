"""Terrain layers: the DEM on a metric grid, and its slope in degrees (richdem, Horn's method).

Slope is computed on the DEM at its native resolution, in a metric CRS, before anything is
resampled to 10 m: resampling first would smooth the terrain and flatten the slopes. A DEM in
geographic degrees is first projected to the region's UTM zone at its own pixel size.
:func:`write_terrain` does both in one pass over blocks of rows, so memory does not grow with
the DEM. The DEM is read through the one window reader (:mod:`.reader`: GDAL's rules for
missing data).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
import richdem as rd
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from landslide4sense.errors import InputDataError
from landslide4sense.files import atomic_path
from landslide4sense.geo.grid import Grid
from landslide4sense.geo.reader import WarpedReader, WindowReader

log = logging.getLogger(__name__)

BLOCK_ROWS = 512
_FD_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """Silence richdem's C++ banner and progress bar (written straight to fds 1 and 2)."""
    with _FD_LOCK:
        saved = [os.dup(1), os.dup(2)]
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in (*saved, devnull):
                os.close(fd)


def slope_degrees(z: np.ndarray, xres: float, yres: float, nodata: float = -9999.0) -> np.ndarray:
    """Slope in degrees of a DEM array (Horn's method, richdem).

    Args:
        z: elevations in metres; cells equal to ``nodata`` or NaN are missing.
        xres, yres: pixel size in metres (positive).
        nodata: the value marking missing cells in ``z``.

    Returns:
        float32 slope in degrees, NaN where the DEM is missing. At the array's edge and next to
        missing cells, richdem substitutes the centre cell for the absent neighbours.
    """
    z = np.where(np.isnan(z), nodata, z).astype(np.float32, copy=False)
    arr = rd.rdarray(z, no_data=nodata)
    arr.geotransform = [0.0, float(xres), 0.0, 0.0, 0.0, -float(abs(yres))]
    with _quiet_fds():
        s = np.asarray(rd.TerrainAttribute(arr, attrib="slope_degrees"), dtype=np.float32)
    s = s.copy()
    s[z == nodata] = np.nan
    return s


def _profile(width: int, height: int, crs, transform) -> dict:
    # No nodata is declared: missing cells are NaN values, which bilinear resampling carries
    # over by itself. That lets the read onto the grid take GDAL's fast path.
    return {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }


def _row_blocks(height: int, rows: int) -> Iterator[tuple[int, int]]:
    """(first row, end row) of consecutive blocks of ``rows`` rows."""
    for r0 in range(0, height, rows):
        yield r0, min(height, r0 + rows)


def _overlaps(win: Window, src) -> bool:
    return (
        win.col_off < src.width
        and win.row_off < src.height
        and win.col_off + win.width > 0
        and win.row_off + win.height > 0
    )


def _write_block(dem_dst, slope_dst, window: Window, z: np.ndarray, s: np.ndarray) -> None:
    dem_dst.write(z, 1, window=window)
    slope_dst.write(s, 1, window=window)


def _projected(src, grid: Grid, margin: float) -> tuple[WarpedReader, Grid]:
    """A reader of a DEM in geographic degrees projected (bilinear) onto the grid's UTM CRS at
    its own pixel size in metres, and that metric grid (``grid`` plus ``margin`` m)."""
    lat = math.radians(grid.center_lonlat()[1])
    xres = src.res[0] * 111320.0 * math.cos(lat)
    yres = src.res[1] * 110574.0
    # The finer axis: the warp only upsamples. (Downsampling one axis with GDAL's bilinear
    # kernel biased a tilted test plane by up to 0.6 m, i.e. 0.5 deg of slope.)
    res = round(min(xres, yres), 1)
    target = grid.buffered(margin, res)
    # A near-exact transformer (GDAL's default approximates it to 1/8 px): elevation errors on
    # the plane test drop from 1 cm to 3 mm.
    log.info("DEM %s projected from degrees to %s at %.1f m", Path(src.name).name, grid.crs, res)
    return WarpedReader(src, target, tolerance=0.001), target


def _cropped(src, dem_path: Path, grid: Grid, margin: float) -> tuple[WindowReader, Window]:
    """A reader of a DEM in a metric CRS, and its window (in whole pixels) under ``grid`` plus
    ``margin`` m; the window may reach past the DEM's edges."""
    if src.crs.linear_units_factor[1] != 1.0:
        raise InputDataError(
            f"{dem_path}: DEM CRS {src.crs} is neither in metres nor in degrees; "
            "reproject it to a UTM zone (gdalwarp -t_srs EPSG:326xx) first"
        )
    b = transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
    f = from_bounds(b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin, src.transform)
    c0, r0 = math.floor(f.col_off), math.floor(f.row_off)
    win = Window(c0, r0, math.ceil(f.col_off + f.width) - c0, math.ceil(f.row_off + f.height) - r0)
    if not _overlaps(win, src):
        raise InputDataError(
            f"{dem_path}: the DEM (bounds {tuple(round(v) for v in src.bounds)} in "
            f"{src.crs}) does not cover the region grid ({tuple(round(v) for v in b)}); "
            "supply a DEM of the region's area"
        )
    return WindowReader(src), win


def _metric_rows(
    src, dem_path: Path, grid: Grid, margin: float, stack: contextlib.ExitStack
) -> tuple[Callable[[int, int], np.ndarray], Grid]:
    """Rows ``r0..r1-1`` of the DEM on a metric grid covering ``grid`` plus ``margin`` m (float32,
    NaN for no data), and that grid: the DEM's own pixels when it is metric, else projected."""
    if src.crs.is_geographic:
        warp, target = _projected(src, grid, margin)
        stack.callback(warp.close)
        return lambda r0, r1: warp.read(Window(0, r0, target.width, r1 - r0)), target
    reader, win = _cropped(src, dem_path, grid, margin)
    target = Grid(src.crs.to_string(), src.window_transform(win), int(win.width), int(win.height))
    c0, top = int(win.col_off), int(win.row_off)
    return lambda r0, r1: reader.read(Window(c0, top + r0, target.width, r1 - r0)), target


def _write_blocks(
    read_rows: Callable[[int, int], np.ndarray], target: Grid, dem_dst, slope_dst
) -> int:
    """Write the DEM and its slope block by block; return how many DEM cells are valid.

    Each block is read with a one-row halo, so the slope equals a whole-array computation.
    Reading the next block and writing the last one (GDAL, without the GIL) run on two threads
    while richdem computes a block's slope: each dataset is used by one thread, and one block
    read ahead and one being written at most keep memory at a few blocks.
    """
    xres, yres = abs(target.transform.a), abs(target.transform.e)
    blocks = [
        (r0, r1, max(0, r0 - 1), min(target.height, r1 + 1))  # rows, and with the halo
        for r0, r1 in _row_blocks(target.height, BLOCK_ROWS)
    ]
    valid = 0
    with ThreadPoolExecutor(1) as reads, ThreadPoolExecutor(1) as writes:
        ahead = reads.submit(read_rows, *blocks[0][2:]) if blocks else None
        written = None
        for i, (r0, r1, a0, _) in enumerate(blocks):
            z = ahead.result()
            if i + 1 < len(blocks):
                ahead = reads.submit(read_rows, *blocks[i + 1][2:])
            s = slope_degrees(z, xres, yres)
            valid += int(np.isfinite(z[r0 - a0 : r1 - a0]).sum())
            if written is not None:
                written.result()
            w = Window(0, r0, target.width, r1 - r0)
            written = writes.submit(
                _write_block, dem_dst, slope_dst, w, z[r0 - a0 : r1 - a0], s[r0 - a0 : r1 - a0]
            )
        if written is not None:
            written.result()
    return valid


def write_terrain(
    dem_path: str | Path, grid: Grid, out_dir: str | Path, margin: float = 200.0
) -> tuple[Path, Path]:
    """The DEM under ``grid`` (plus ``margin`` m) on a metric CRS, and its slope in degrees.

    A DEM in a projected CRS is cropped without resampling. A DEM in geographic degrees is
    projected (bilinear) onto the grid's UTM CRS at its own pixel size in metres. Slope is
    computed on that metric DEM at its native resolution. One pass in blocks of rows, each read
    with a one-row halo, so the slope equals a whole-array computation and memory stays flat.
    Both rasters cover the whole grid; where the DEM does not, they hold NaN.

    Returns:
        (``out_dir/dem.tif``, ``out_dir/slope.tif``).

    Raises:
        InputDataError: the DEM does not cover the grid, or is neither metric nor geographic.
    """
    dem_path, out_dir = Path(dem_path), Path(out_dir)
    dem_out, slope_out = out_dir / "dem.tif", out_dir / "slope.tif"
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(rasterio.open(dem_path))
        read_rows, target = _metric_rows(src, dem_path, grid, margin, stack)
        profile = _profile(target.width, target.height, target.crs, target.transform)
        dem_tmp = stack.enter_context(atomic_path(dem_out))
        slope_tmp = stack.enter_context(atomic_path(slope_out))
        dem_dst = stack.enter_context(rasterio.open(dem_tmp, "w", **profile))
        slope_dst = stack.enter_context(rasterio.open(slope_tmp, "w", **profile))
        if _write_blocks(read_rows, target, dem_dst, slope_dst) == 0:
            raise InputDataError(
                f"{dem_path}: the DEM does not cover the region grid {grid.bounds} "
                f"({grid.crs}) with a single valid elevation; supply a DEM of the region's area"
            )
        dem_dst.close()
        slope_dst.close()
    return dem_out, slope_out
