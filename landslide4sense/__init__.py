"""landslide4sense: a reproducible ETL for the Landslide4Sense benchmark, and its baselines.

The stages live in the repository's top-level folders and install as subpackages:
:mod:`landslide4sense.regions` (region files, grid), :mod:`landslide4sense.acquisition`
(Sentinel-2 and DEM sources), :mod:`landslide4sense.annotation` (labels),
:mod:`landslide4sense.patching` (stack, tiles, HDF5, publishing), :mod:`landslide4sense.training`
(the eleven baselines) and :mod:`landslide4sense.flows` (Prefect flows and the ``l4s`` CLI).
This core package holds what every stage shares: errors (:mod:`.errors`), atomic files and
the file hash (:mod:`.files`), the closed choices (:mod:`.choices`), the band list and on-disk names
(:mod:`.layout`), the records stages hand each other (:mod:`.records`) and optional extras
(:mod:`.extras`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("landslide4sense")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
