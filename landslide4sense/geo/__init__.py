"""The geospatial floor every stage stands on.

:mod:`.grid` (the region's 10 m grid), :mod:`.reader` (the one window reader: any raster, or any
raster onto the grid, with GDAL's rules for missing data), :mod:`.terrain` (a metric DEM and its
slope), :mod:`.stack` (the 14-band stack and its scaling), :mod:`.polygonize` (a mask on the
grid to polygons; import it from its module: it loads geopandas, which the rest does not need).
Stages import these; they never import each other for them.
"""

from landslide4sense.geo import terrain
from landslide4sense.geo.grid import Grid, snapped_grid, utm_crs
from landslide4sense.geo.reader import open_on_grid, read_on_grid
from landslide4sense.geo.stack import L4S_SCALE, GridStack, scale, scale_divisors
from landslide4sense.geo.terrain import slope_degrees, write_terrain

__all__ = [
    "L4S_SCALE",
    "Grid",
    "GridStack",
    "open_on_grid",
    "read_on_grid",
    "scale",
    "scale_divisors",
    "slope_degrees",
    "snapped_grid",
    "terrain",
    "utm_crs",
    "write_terrain",
]
