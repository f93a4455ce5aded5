"""Event regions: the YAML registry in this folder and the code that loads and validates it.

``load_region("regions/iburi-2018.yaml")`` gives a validated :class:`Region`;
``region_grid(region)`` gives the 10 m UTM :class:`Grid` every layer is resampled onto.
"""

from landslide4sense.regions.grid import PATCH_SIZE, Grid, region_grid, snapped_grid, utm_crs
from landslide4sense.regions.schema import (
    SENTINEL2_START,
    Region,
    load_region,
    load_regions,
    parse_region,
)

__all__ = [
    "PATCH_SIZE",
    "SENTINEL2_START",
    "Grid",
    "Region",
    "load_region",
    "load_regions",
    "parse_region",
    "region_grid",
    "snapped_grid",
    "utm_crs",
]
