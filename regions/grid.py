"""A region's grid: the UTM zone of its AOI's centroid, 10 m pixels, snapped (see
:mod:`landslide4sense.geo.grid`)."""

from __future__ import annotations

from rasterio.warp import transform_bounds

from landslide4sense.geo.grid import Grid, snapped_grid, utm_crs
from landslide4sense.regions.schema import Region


def region_grid(region: Region, resolution: float = 10.0) -> Grid:
    """The grid of a region: UTM zone of the AOI centroid, ``resolution`` m, covering the AOI."""
    aoi = region.aoi_geometry()
    c = aoi.centroid
    crs = utm_crs(c.x, c.y)
    bounds = transform_bounds("EPSG:4326", crs, *aoi.bounds, densify_pts=21)
    return snapped_grid(crs, bounds, resolution)
