"""The one window reader: any raster, or any raster onto a grid, as float32 with NaN for no data.

The stages read their input rasters through here (terrain, the 14-band stack, OBIA candidates
and their true-colour composites, a model's map of a region), so missing data means the same
thing everywhere. A pixel is missing where GDAL's mask says so (:class:`WindowReader`):

* an internal mask, an alpha band or a per-dataset mask: GDAL's own mask band;
* a declared nodata value: on floats, within 2 float32 ulp of it, as GDAL compares (a DEM whose
  nodata was rounded on its way through a tool is still nodata); on integers, equal to it; a
  fractional nodata on integers is left to GDAL;
* outside the raster (a window may reach past its edges: it is clipped and the rest filled).

One rule is Sentinel-2's, not GDAL's: an L1C band that declares neither nodata nor a mask marks
no data with 0 (``sentinel2=True``, see :func:`source_nodata`).

Onto a region's grid, two readers give the same answer (:func:`open_on_grid` picks):

* :class:`WarpedReader`, the general case: a GDAL warped VRT (any CRS, any pixel size; bilinear,
  float32), which applies the same mask rules itself.
* :class:`AlignedReader`, the common case of Sentinel-2 in its own UTM zone: the source is in the
  grid's CRS, its pixel is an integer multiple ``k`` of the grid's (10, 20 or 60 m onto 10 m) and
  its origin falls on the grid's pixel edges. ``k == 1`` is a plain window read; ``k > 1`` is
  separable bilinear interpolation in numpy, about ten times faster than the warper here.

Both follow GDAL's bilinear rules: a grid pixel is missing when the source pixel containing
its centre is missing (or outside the source), and otherwise the weights are renormalised over
the valid neighbours. ``tests/geo/test_reader.py`` checks the two against each other and
against GDAL.
"""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from landslide4sense.geo.grid import Grid

#: GDAL's default error threshold of a warp's approximate transformer, in pixels.
WARP_TOLERANCE = 0.125


def _gdal_masked(src: rasterio.DatasetReader) -> bool:
    """Whether GDAL's own mask band decides (an internal mask, alpha, per-dataset mask, or a
    fractional nodata on integers) rather than a value comparison done here."""
    flags, nodata = src.mask_flag_enums[0], src.nodata
    if MaskFlags.all_valid in flags:
        return False
    floating = np.dtype(src.dtypes[0]).kind == "f"
    return not (MaskFlags.nodata in flags and (floating or float(nodata).is_integer()))


def source_nodata(src: rasterio.DatasetReader, sentinel2: bool = False) -> float | None:
    """The value marking no data: the declared one; 0 for a Sentinel-2 L1C band that declares
    neither nodata nor a mask (L1C's NO_DATA value); otherwise None."""
    if src.nodata is None and sentinel2 and MaskFlags.all_valid in src.mask_flag_enums[0]:
        return 0.0
    return src.nodata


def _missing(a: np.ndarray, nodata: float) -> np.ndarray:
    """Where ``a`` equals ``nodata`` as GDAL compares: floats within 2 float32 ulp."""
    if a.dtype.kind != "f":
        return a == nodata
    nd = a.dtype.type(nodata)
    eps = np.finfo(np.float32).eps
    return (a == nd) | (np.abs(a - nd) < eps * np.abs(a + nd) * 2)


class WindowReader:
    """Band 1 of a raster over windows in its own pixels, which may reach past its edges: float32,
    NaN where GDAL's mask says no data and outside the raster."""

    def __init__(self, src: rasterio.DatasetReader, sentinel2: bool = False):
        self.src = src
        self.gdal_mask = _gdal_masked(src)
        nodata = source_nodata(src, sentinel2)
        self.nodata = None if nodata is None or np.isnan(nodata) else nodata

    def read(self, window: Window, out: np.ndarray | None = None) -> np.ndarray:
        """The window as float32 (into ``out`` if given, shaped as the window)."""
        c0, r0 = int(window.col_off), int(window.row_off)
        r1, c1 = r0 + int(window.height), c0 + int(window.width)
        if out is None:
            out = np.empty((r1 - r0, c1 - c0), np.float32)
        # The part inside the raster is read directly: rasterio's boundless reads go through a
        # warped VRT, several times slower for the same values.
        rr0, rr1 = max(r0, 0), min(r1, self.src.height)
        cc0, cc1 = max(c0, 0), min(c1, self.src.width)
        if (rr0, rr1, cc0, cc1) != (r0, r1, c0, c1):  # not wholly inside the raster
            out.fill(np.nan)
        if rr0 < rr1 and cc0 < cc1:
            self._inside(Window(cc0, rr0, cc1 - cc0, rr1 - rr0), out[rr0 - r0 :, cc0 - c0 :])
        return out

    def _inside(self, window: Window, out: np.ndarray) -> None:
        part = out[: int(window.height), : int(window.width)]
        if self.gdal_mask:
            # rasterio's masked read makes GDAL read the band a second time to build the mask:
            # only where a comparison here cannot stand in for it.
            masked = self.src.read(1, window=window, masked=True)
            part[...] = masked.astype(np.float32).filled(np.nan)
            return
        a = self.src.read(1, window=window)
        part[...] = a
        if self.nodata is not None:
            part[_missing(a, self.nodata)] = np.nan


def warped(
    src: rasterio.DatasetReader,
    grid: Grid,
    nodata: float | None,
    init_dest_nodata: bool = True,
    tolerance: float = WARP_TOLERANCE,
) -> WarpedVRT:
    """``src`` on ``grid`` through a GDAL warped VRT: bilinear, float32, NaN for no data.

    GDAL applies ``nodata`` (the source's missing value), or else the source's mask band.
    """
    return WarpedVRT(
        src,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=Resampling.bilinear,
        dtype="float32",
        src_nodata=nodata,
        nodata=float("nan"),
        init_dest_nodata=init_dest_nodata,
        tolerance=tolerance,
    )


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
    pixel that touches a missing cell. ``tolerance`` is the approximate transformer's error
    in pixels (GDAL's default; the terrain stage asks for a near-exact one).
    """

    def __init__(
        self,
        src: rasterio.DatasetReader,
        grid: Grid,
        sentinel2: bool = False,
        covers_grid: bool = False,
        tolerance: float = WARP_TOLERANCE,
    ):
        nodata = source_nodata(src, sentinel2)
        init = not (covers_grid and nodata is None)
        self.vrt = warped(src, grid, nodata, init_dest_nodata=init, tolerance=tolerance)

    def read(self, window: Window, out: np.ndarray | None = None) -> np.ndarray:
        """The window of the grid as float32 (into ``out`` if given)."""
        return self.vrt.read(1, window=window, out=out)

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
        self.source, self.k = WindowReader(src, sentinel2), k
        self.dx = round((grid.transform.c - src.transform.c) / grid.transform.a)
        self.dy = round((src.transform.f - grid.transform.f) / grid.transform.a)

    def read(self, window: Window, out: np.ndarray | None = None) -> np.ndarray:
        """The window of the grid as float32 (into ``out`` if given)."""
        row0, col0 = int(window.row_off), int(window.col_off)
        rows, cols = int(window.height), int(window.width)
        if self.k == 1:
            return self.source.read(Window(col0 + self.dx, row0 + self.dy, cols, rows), out)
        if out is None:
            out = np.empty((rows, cols), np.float32)
        ly, wy, cy = _taps(row0, row0 + rows, self.dy, self.k)
        lx, wx, cx = _taps(col0, col0 + cols, self.dx, self.k)
        r0, c0 = int(ly[0]), int(lx[0])
        a = self.source.read(Window(c0, r0, int(lx[-1]) + 2 - c0, int(ly[-1]) + 2 - r0))
        ly, lx, cy, cx = ly - r0, lx - c0, cy - r0, cx - c0

        def interp(v: np.ndarray) -> np.ndarray:
            return _upsample(_upsample(v, lx, wx, self.k, 1), ly, wy, self.k, 0)

        valid = np.isfinite(a)
        if valid.all():  # the common case: no renormalisation needed
            out[...] = interp(a)
            return out
        a[~valid] = 0.0
        weight = interp(valid.astype(np.float32))
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(interp(a), weight, out=out)
        out[~(valid[np.ix_(cy, cx)] & (weight > 1e-5))] = np.nan
        return out

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
    with rasterio.open(path) as src:
        reader = open_on_grid(src, grid, sentinel2)
        try:
            return reader.read(window)
        finally:
            reader.close()


__all__ = [
    "AlignedReader",
    "WarpedReader",
    "WindowReader",
    "aligned_factor",
    "open_on_grid",
    "read_on_grid",
    "source_nodata",
    "warped",
]
