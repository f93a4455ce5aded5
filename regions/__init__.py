"""Event regions: the YAML registry in this folder and the code that loads and validates it.

``load_region("regions/iburi-2018.yaml")`` gives a validated :class:`Region`;
``region_grid(region)`` gives the 10 m UTM grid (:class:`landslide4sense.geo.Grid`) every layer
is resampled onto.
"""

from landslide4sense.records import SENTINEL2_START
from landslide4sense.regions.grid import region_grid
from landslide4sense.regions.schema import (
    Region,
    load_region,
    load_regions,
    parse_region,
)

__all__ = [
    "SENTINEL2_START",
    "Region",
    "load_region",
    "load_regions",
    "parse_region",
    "region_grid",
]
