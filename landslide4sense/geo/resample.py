"""Reading a raster onto the region grid, one window at a time, as float32 with NaN for no data.

Two readers give the same answer:

* :class:`WarpedReader`, the general case: a GDAL warped VRT (any CRS, any pixel size).
* :class:`AlignedReader`, the common case of Sentinel-2 in its own UTM zone: the source is in the
  grid's CRS, its pixel is an integer multiple ``k`` of the grid's (10, 20 or 60 m onto 10 m) and
  its origin falls on the grid's pixel edges. ``k == 1`` is a plain window read; ``k > 1`` is
  separable bilinear interpolation in numpy, about ten times faster than the warper here.

Both follow GDAL's bilinear rules: a grid pixel is missing when the source pixel containing
its centre is missing (or outside the source), and otherwise the weights are renormalised over
the valid neighbours. ``tests/patching/test_resample.py`` checks the two against each other.
"""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from landslide4sense.geo.grid import Grid


def source_nodata(src: rasterio.DatasetReader, sentinel2: bool) -> float | None:
    """The value marking no data: the declared one, or 0 for Sentinel-2 L1C without one."""
    if src.nodata is None and sentinel2:
        return 0.0
    return src.nodata


def aligned_factor(src: rasterio.DatasetReader, grid: Grid) -> int | None:
    """``k`` when ``src`` is on a ``k`` times coarser grid nested in ``grid``, else None."""
    t, g = src.transform, grid.transform
    if src.crs is None or CRS.from_user_input(src.crs) != CRS.from_user_input(grid.crs):
        return None
    if t.b or t.d or g.b or g.d or t.e != -t.a:
        return None
    k = t.a / g.a
    dx, dy = (g.c - t.c) / g.a, (t.f - g.f) / g.a
    if any(abs(v - round(v)) > 1e-6 for v in (k, dx, dy)) or round(k) < 1:
        return None
    return round(k)


class WarpedReader:
    """Any raster onto the grid through a GDAL warped VRT (bilinear).

    ``covers_grid`` declares that ``src`` covers the whole grid and marks missing cells as NaN
    values, not with a nodata value (as the terrain stage writes them). GDAL can then skip
    initialising the output, which doubles its speed here; NaN still spreads to every output
    pixel that touches a missing cell.
    """

    def __init__(
        self,
        src: rasterio.DatasetReader,
        grid: Grid,
        sentinel2: bool = False,
        covers_grid: bool = False,
    ):
        nodata = source_nodata(src, sentinel2)
        self.vrt = WarpedVRT(
            src,
            crs=grid.crs,
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.bilinear,
            dtype="float32",
            src_nodata=nodata,
            nodata=float("nan"),
            init_dest_nodata=not (covers_grid and nodata is None),
        )

    def read(self, window: Window, out: np.ndarray) -> None:
        self.vrt.read(1, window=window, out=out)

    def close(self) -> None:
        self.vrt.close()


def _upsample(v: np.ndarray, left: np.ndarray, w: np.ndarray, k: int, axis: int) -> np.ndarray:
    """``out[i] = v[left[i]] * (1 - w[i]) + v[left[i] + 1] * w[i]`` along ``axis``.

    On a grid nested ``k`` times, positions i, i + k, i + 2k... share one weight and take
    consecutive taps, so each of the ``k`` phases is two slices: no gather.
    """
    shape = list(v.shape)
    shape[axis] = len(left)
    out = np.empty(shape, np.float32)
    at = (slice(None),) * axis
    for p in range(min(k, len(left))):
        first, n = int(left[p]), len(left[p::k])
        lo = v[(*at, slice(first, first + n))]
        hi = v[(*at, slice(first + 1, first + 1 + n))]
        out[(*at, slice(p, None, k))] = lo + (hi - lo) * w[p]
    return out


def _taps(start: int, stop: int, offset: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source index of the left tap, its right-tap weight, and the containing source pixel, for
    grid pixels ``start``..``stop-1`` (``offset``: grid origin minus source origin, in grid px)."""
    centre = (np.arange(start, stop, dtype=np.float64) + offset + 0.5) / k - 0.5
    left = np.floor(centre).astype(np.int64)
    return left, (centre - left).astype(np.float32), np.floor(centre + 0.5).astype(np.int64)


class AlignedReader:
    """A raster nested in the grid (same CRS, pixel ``k`` times the grid's, aligned origin)."""

    def __init__(self, src: rasterio.DatasetReader, grid: Grid, k: int, sentinel2: bool = False):
        self.src, self.k = src, k
        self.nodata = source_nodata(src, sentinel2)
        self.dx = round((grid.transform.c - src.transform.c) / grid.transform.a)
        self.dy = round((src.transform.f - grid.transform.f) / grid.transform.a)

    def _source(
        self, r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Source rows r0..r1-1, cols c0..c1-1 as float32 (into ``out`` if given), NaN outside
        the raster or at nodata."""
        if out is None:
            out = np.empty((r1 - r0, c1 - c0), np.float32)
        rr0, rr1 = max(r0, 0), min(r1, self.src.height)
        cc0, cc1 = max(c0, 0), min(c1, self.src.width)
        if (rr0, rr1, cc0, cc1) != (r0, r1, c0, c1):  # not wholly inside the raster
            out.fill(np.nan)
        if rr0 < rr1 and cc0 < cc1:
            a = self.src.read(1, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
            part = out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
            part[...] = a
            if self.nodata is not None:
                part[a == self.nodata] = np.nan
        return out

    def read(self, window: Window, out: np.ndarray) -> None:
        row0, col0 = int(window.row_off), int(window.col_off)
        rows, cols = int(window.height), int(window.width)
        if self.k == 1:
            r0, c0 = row0 + self.dy, col0 + self.dx
            self._source(r0, r0 + rows, c0, c0 + cols, out)
            return
        ly, wy, cy = _taps(row0, row0 + rows, self.dy, self.k)
        lx, wx, cx = _taps(col0, col0 + cols, self.dx, self.k)
        r0, c0 = int(ly[0]), int(lx[0])
        a = self._source(r0, int(ly[-1]) + 2, c0, int(lx[-1]) + 2)
        ly, lx, cy, cx = ly - r0, lx - c0, cy - r0, cx - c0

        def interp(v: np.ndarray) -> np.ndarray:
            return _upsample(_upsample(v, lx, wx, self.k, 1), ly, wy, self.k, 0)

        valid = np.isfinite(a)
        if valid.all():  # the common case: no renormalisation needed
            out[...] = interp(a)
            return
        a[~valid] = 0.0
        weight = interp(valid.astype(np.float32))
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(interp(a), weight, out=out)
        out[~(valid[np.ix_(cy, cx)] & (weight > 1e-5))] = np.nan

    def close(self) -> None:
        pass


def open_on_grid(
    src: rasterio.DatasetReader, grid: Grid, sentinel2: bool = False, covers_grid: bool = False
):
    """The fastest reader of ``src`` onto ``grid``: :class:`AlignedReader` when it applies."""
    k = aligned_factor(src, grid)
    if k:
        return AlignedReader(src, grid, k, sentinel2)
    return WarpedReader(src, grid, sentinel2, covers_grid)


def read_on_grid(
    path, grid: Grid, window: Window | None = None, sentinel2: bool = False
) -> np.ndarray:
    """One window (default: the whole grid) of a raster file on ``grid``, float32, NaN = no data."""
    window = window or Window(0, 0, grid.width, grid.height)
    out = np.empty((int(window.height), int(window.width)), np.float32)
    with rasterio.open(path) as src:
        reader = open_on_grid(src, grid, sentinel2)
        try:
            reader.read(window, out)
        finally:
            reader.close()
    return out


__all__ = ["AlignedReader", "WarpedReader", "aligned_factor", "open_on_grid", "read_on_grid"]
