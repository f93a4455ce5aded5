"""The 10 m grid every layer of a region is resampled onto.

The grid is derived, never configured: the UTM zone of the AOI's centroid, square pixels of
``resolution`` metres, and an origin snapped to multiples of the resolution, so that two builds
of the same AOI always land on the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from affine import Affine
from pydantic import PlainSerializer, PlainValidator
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window

from landslide4sense.errors import ConfigError
from landslide4sense.layout import PATCH_SIZE


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, affine transform and size in pixels."""

    crs: str
    transform: Affine
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ConfigError(f"grid size must be positive, got {self.width} x {self.height}")
        if self.transform.b != 0 or self.transform.d != 0 or self.transform.e >= 0:
            raise ConfigError(f"grid must be north-up without rotation, got {self.transform}")

    @property
    def resolution(self) -> float:
        return self.transform.a

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        left, top = self.transform.c, self.transform.f
        return (
            left,
            top + self.transform.e * self.height,
            left + self.transform.a * self.width,
            top,
        )

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of a window of this grid."""
        left = self.transform.c + window.col_off * self.transform.a
        top = self.transform.f + window.row_off * self.transform.e
        return (
            left,
            top + window.height * self.transform.e,
            left + window.width * self.transform.a,
            top,
        )

    def center_lonlat(self) -> tuple[float, float]:
        """The grid's centre in longitude and latitude."""
        left, bottom, right, top = self.bounds
        xs, ys = warp_transform(self.crs, "EPSG:4326", [(left + right) / 2], [(bottom + top) / 2])
        return xs[0], ys[0]

    def window_transform(self, window: Window) -> Affine:
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    def tile_shape(self, size: int = PATCH_SIZE) -> tuple[int, int]:
        """Number of whole ``size`` x ``size`` tiles as (rows, cols); partial edge tiles drop."""
        return self.height // size, self.width // size

    def tile_windows(self, size: int = PATCH_SIZE) -> Iterator[tuple[int, int, Window]]:
        """Whole tiles, no overlap, in row-major order: (tile_row, tile_col, window)."""
        rows, cols = self.tile_shape(size)
        for r in range(rows):
            for c in range(cols):
                yield r, c, Window(c * size, r * size, size, size)

    def buffered(self, margin: float = 0.0, resolution: float | None = None) -> Grid:
        """The smallest grid of ``resolution`` pixels (default: this grid's), origin on multiples
        of it, covering this grid's bounds grown by ``margin`` metres on every side."""
        left, bottom, right, top = self.bounds
        grown = (left - margin, bottom - margin, right + margin, top + margin)
        return snapped_grid(self.crs, grown, resolution or self.resolution)

    def to_dict(self) -> dict:
        t = self.transform
        return {
            "crs": self.crs,
            "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        return cls(d["crs"], Affine(*d["transform"][:6]), int(d["width"]), int(d["height"]))


def utm_crs(lon: float, lat: float) -> str:
    """The WGS 84 / UTM zone CRS (``EPSG:326zz`` north, ``EPSG:327zz`` south) of a point.

    Uses the regular 6-degree zones (the Norway and Svalbard exceptions are ignored).
    """
    zone = min(math.floor((lon + 180.0) / 6.0) + 1, 60)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def snapped_grid(
    crs: str, bounds: tuple[float, float, float, float], resolution: float = 10.0
) -> Grid:
    """The smallest grid of ``resolution`` pixels, origin on multiples of it, covering bounds."""
    left, bottom, right, top = bounds
    x0 = math.floor(left / resolution) * resolution
    y1 = math.ceil(top / resolution) * resolution
    x1 = math.ceil(right / resolution) * resolution
    y0 = math.floor(bottom / resolution) * resolution
    width = round((x1 - x0) / resolution)
    height = round((y1 - y0) / resolution)
    return Grid(
        CRS.from_user_input(crs).to_string(),
        Affine(resolution, 0, x0, 0, -resolution, y1),
        width,
        height,
    )


def _to_grid(value: Any) -> Grid:
    if isinstance(value, Grid):
        return value
    if isinstance(value, dict):
        return Grid.from_dict(value)
    raise ValueError(f"expected a grid (crs, transform, width, height), got {value!r}")


#: A :class:`Grid` field of a pydantic record, stored as its ``to_dict()``.
GridField = Annotated[
    Grid, PlainValidator(_to_grid), PlainSerializer(lambda g: g.to_dict(), return_type=dict)
]
