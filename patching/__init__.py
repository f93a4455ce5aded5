"""From raw layers to patches: terrain, the 14-band stack on the grid, tiles, HDF5, split, card.

The stages, in order (terrain and the stack on the grid are :mod:`landslide4sense.geo`'s):
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

__all__ = [
    "RegionJob",
    "RegionTiles",
    "assemble",
    "collect_tiles",
    "cut_blocks",
    "patch_rows",
    "read_image",
    "read_mask",
    "split_count",
    "write_image",
    "write_mask",
]
