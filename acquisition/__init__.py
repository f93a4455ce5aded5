"""Getting a region's raw layers: Sentinel-2 bands, a DEM and label polygons, with provenance.

A Sentinel-2 source implements :class:`Source` (it only fetches bands) and is looked up by
name with :func:`get_source`. The ``local`` source reads files already on disk;
``earthengine`` exports a Cloud Score+ masked L1C median composite; ``stac`` builds one from
Earth Search's L1C archive (requester-pays S3) with s2cloudless masks computed here, ``cdse``
the same from the Copernicus Data Space Ecosystem (free account). The DEM
comes from the region's ``dem`` key whatever the source (:func:`fetch_dem`: local, ASF's ALOS
PALSAR RTC, SRTM or AW3D30), the labels from the raw folder (:func:`find_labels`); the flow
composes the three. ``synthetic`` writes a seeded demo scene.
"""

from __future__ import annotations

from pathlib import Path

from landslide4sense.acquisition.base import (
    S2_BANDS,
    S2_NATIVE_RESOLUTION,
    DemLayer,
    RawLayers,
    Scene,
    Sentinel2Layers,
    Source,
    band_groups,
)
from landslide4sense.acquisition.dem import fetch_dem
from landslide4sense.acquisition.local import LocalSource, check_raster, find_labels
from landslide4sense.choices import SourceKind, names
from landslide4sense.errors import ConfigError

SOURCES = tuple(names(SourceKind))


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

        return EarthEngineSource(**options)
    if name == "stac":
        from landslide4sense.acquisition.stac import StacSource

        return StacSource(**options)
    if name == "cdse":
        from landslide4sense.acquisition.cdse import CdseSource

        return CdseSource(**options)
    raise ConfigError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}")


def plan_source(name: str, region, grid, block_px: int | None = None) -> dict:
    """What source ``name`` would request for ``region`` on ``grid``, without network
    (``block_px``: Earth Engine's block side, default the region's or the largest allowed)."""
    if name == "earthengine":
        from landslide4sense.acquisition.earthengine import plan

        return plan(region, grid, side=block_px)
    if name == "stac":
        from landslide4sense.acquisition.stac import plan

        return plan(region, grid)
    if name == "cdse":
        from landslide4sense.acquisition.cdse import plan

        return plan(region, grid)
    raise ConfigError(f"no plan for source {name!r}; choose earthengine, stac or cdse")


__all__ = [
    "S2_BANDS",
    "S2_NATIVE_RESOLUTION",
    "SOURCES",
    "DemLayer",
    "LocalSource",
    "RawLayers",
    "Scene",
    "Sentinel2Layers",
    "Source",
    "band_groups",
    "check_raster",
    "fetch_dem",
    "find_labels",
    "get_source",
    "plan_source",
]
