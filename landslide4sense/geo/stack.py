"""The 14-band stack on a region's grid: Sentinel-2 B1..B12 (no B8A), slope, DEM; plus the mask.

Every layer is resampled onto the grid (bilinear: all 14 bands are continuous) by the one
window reader (:mod:`.reader`), one window at a time, so nothing larger than a window is ever
in memory. Missing data travels as NaN: what GDAL's mask says (an internal mask, alpha, a
declared nodata), Sentinel-2's 0 when a band declares neither, and anything outside a layer's
footprint.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from landslide4sense.choices import Scaling
from landslide4sense.geo.grid import Grid
from landslide4sense.geo.reader import open_on_grid
from landslide4sense.layout import S2_BANDS

#: The original release divided each band by these fixed means (its maintainers' statement).
L4S_SCALE = np.array(
    [
        1111.81236406,
        824.63171476,
        663.41636217,
        445.17289745,
        645.8582926,
        1547.73508126,
        1960.44401001,
        1941.32229668,
        674.07572865,
        9.04787384,
        1113.98338755,
        519.90397929,
        20.29228266,
        772.83144788,
    ],
    dtype=np.float32,
)


def scale_divisors(scaling: Scaling) -> np.ndarray:
    """What each of the 14 bands is divided by: the release's constants (``l4s``) or ones."""
    return L4S_SCALE if Scaling(scaling) is Scaling.L4S else np.ones_like(L4S_SCALE)


def scale(img: np.ndarray, scaling: Scaling) -> np.ndarray:
    """Apply a scaling to a (14, h, w) stack in source units, in place.

    ``l4s`` divides by the original release's per-band constants; ``raw`` keeps source units
    (DN, degrees, metres).
    """
    if Scaling(scaling) is Scaling.L4S:
        img /= L4S_SCALE[:, None, None]
    return img


class GridStack:
    """Reads windows of the 14-band stack and the label mask on ``grid``.

    Use as a context manager; :meth:`read` returns ``(img, valid, mask)``. Without a ``mask``
    (applying a model to a new region), ``mask`` is None.
    """

    def __init__(
        self, grid: Grid, bands: dict[str, Path], slope: Path, dem: Path, mask: Path | None = None
    ):
        self.grid = grid
        self.paths = [Path(bands[b]) for b in S2_BANDS] + [Path(slope), Path(dem)]
        self.mask_path = None if mask is None else Path(mask)
        self._stack = ExitStack()
        self._readers: list = []
        self._mask = None

    def __enter__(self) -> GridStack:
        for i, path in enumerate(self.paths):
            src = self._stack.enter_context(rasterio.open(path))
            s2 = i < len(S2_BANDS)  # the rest are slope and DEM, from the terrain stage
            reader = open_on_grid(src, self.grid, sentinel2=s2, covers_grid=not s2)
            self._stack.callback(reader.close)
            self._readers.append(reader)
        if self.mask_path is not None:
            self._mask = self._stack.enter_context(rasterio.open(self.mask_path))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def read(
        self, window: Window, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The stack in source units, its validity and the label mask over ``window``.

        ``out``, a float32 (14, h, w) array, receives the stack (cutting reuses one for every
        strip: a new 80 MB array per strip cost as much system time as writing the patches).

        Returns:
            img: float32 (14, h, w) (``out`` if given); valid: bool (h, w), True where all 14
            bands have data; mask: uint8 (h, w), 1 = landslide (None without a mask file).
        """
        h, w = int(window.height), int(window.width)
        img = np.empty((len(self._readers), h, w), np.float32) if out is None else out
        if img.shape != (len(self._readers), h, w) or img.dtype != np.float32:
            raise ValueError(
                f"out must be float32 {(len(self._readers), h, w)}, got {img.dtype} {img.shape}"
            )
        valid = np.ones((h, w), bool)
        for i, reader in enumerate(self._readers):
            reader.read(window, img[i])
            valid &= np.isfinite(img[i])  # band by band: no temporary as large as the stack
        mask = None if self._mask is None else self._mask.read(1, window=window)
        return img, valid, mask
