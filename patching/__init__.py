"""From raw layers to patches: terrain, the 14-band stack on the grid, tiles, HDF5, split, card.

The stages, in order: :func:`write_terrain` (metric DEM and slope),
:class:`RegionJob` + :func:`patch_rows` (cut a region's tiles, block by block;
:func:`cut_blocks` on several processes), and
:func:`assemble` (split, number, publish the benchmark with manifest, card and figures).
"""

from landslide4sense.patching.assemble import assemble, split_count
from landslide4sense.patching.hdf5 import read_image, read_mask, write_image, write_mask
from landslide4sense.patching.region import (
    RegionJob,
    RegionTiles,
    collect_tiles,
    cut_blocks,
    patch_rows,
)
from landslide4sense.patching.resample import open_on_grid, read_on_grid
from landslide4sense.patching.stack import L4S_SCALE, GridStack, scale, scale_divisors
from landslide4sense.patching.terrain import slope_degrees, write_terrain

__all__ = [
    "L4S_SCALE",
    "GridStack",
    "RegionJob",
    "RegionTiles",
    "assemble",
    "collect_tiles",
    "cut_blocks",
    "open_on_grid",
    "patch_rows",
    "read_image",
    "read_mask",
    "read_on_grid",
    "scale",
    "scale_divisors",
    "slope_degrees",
    "split_count",
    "write_image",
    "write_mask",
    "write_terrain",
]
