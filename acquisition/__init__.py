"""Getting a region's raw layers: Sentinel-2 bands, a DEM and label polygons, with provenance.

Every source implements :class:`Source` and is looked up by name with :func:`get_source`.
The ``local`` source reads files already on disk; ``earthengine`` exports a Cloud Score+
masked Sentinel-2 L1C median composite; ``stac`` builds one from a STAC API without an
account; the DEM comes from the region's ``dem`` key (:mod:`acquisition.dem`: local, ASF's
ALOS PALSAR RTC, SRTM or AW3D30). ``synthetic`` writes a seeded demo scene.
"""

from __future__ import annotations

from pathlib import Path

from landslide4sense.acquisition.base import (
    S2_BANDS,
    S2_NATIVE_RESOLUTION,
    RawLayers,
    Scene,
    Source,
)
from landslide4sense.acquisition.local import LocalSource, check_raster
from landslide4sense.errors import ConfigError

SOURCES = ("local", "earthengine", "stac")


def get_source(name: str, raw: str | Path | None = None, **options) -> Source:
    """The source called ``name``.

    Args:
        name: one of :data:`SOURCES`.
        raw: the raw folder (the local source reads it; networked sources cache into it).
        options: source-specific options.

    Raises:
        ConfigError: unknown name, or a required option is missing (the message lists them).
    """
    if name == "local":
        if raw is None:
            raise ConfigError("the local source needs --raw RAW (the folder of raw layers)")
        return LocalSource(raw)
    if name == "earthengine":
        from landslide4sense.acquisition.earthengine import EarthEngineSource

        return EarthEngineSource(raw, **options)
    if name == "stac":
        from landslide4sense.acquisition.stac import StacSource

        return StacSource(raw, **options)
    raise ConfigError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}")


def plan_source(name: str, region, grid) -> dict:
    """What source ``name`` would request for ``region`` on ``grid``, without network."""
    if name == "earthengine":
        from landslide4sense.acquisition.earthengine import plan

        return plan(region, grid)
    if name == "stac":
        from landslide4sense.acquisition.earthengine import band_groups, nested_grid
        from landslide4sense.acquisition.stac import EARTH_SEARCH, search_parameters

        return {"source": "stac", "stac_api": EARTH_SEARCH, "grid": grid.to_dict(),
                "search": search_parameters(region),
                "band_grids": {f"{res}m": nested_grid(grid, res).to_dict()
                               for res in band_groups()}}  # fmt: skip
    raise ConfigError(f"no plan for source {name!r}; choose earthengine or stac")


__all__ = [
    "S2_BANDS",
    "S2_NATIVE_RESOLUTION",
    "SOURCES",
    "LocalSource",
    "RawLayers",
    "Scene",
    "Source",
    "check_raster",
    "get_source",
    "plan_source",
]
