"""The DEM of a region, by the region's ``dem`` key, whatever the Sentinel-2 source."""

from __future__ import annotations

from pathlib import Path

from landslide4sense.acquisition.base import DemLayer
from landslide4sense.acquisition.local import find_dem
from landslide4sense.geo import Grid
from landslide4sense.regions import Region


def fetch_dem(
    region: Region, grid: Grid, work: Path, raw: str | Path | None = None, **options
) -> DemLayer:
    """``local``: ``RAW/<region>/dem.tif``; ``asf-palsar-rtc``: ASF's 12.5 m RTC DEM;
    ``srtm`` / ``aw3d30``: Earth Engine (30 m).

    Args:
        region: the region (its ``dem`` key chooses).
        grid: the region's 10 m grid (the DEM covers it, with a margin for slope).
        work: folder for downloads (``work/asf``, ``work/earthengine``).
        raw: the raw folder (``dem: local``).
        options: passed to the networked DEM source (``url``/``creds`` for Earth Engine,
            ``host``/``session`` for ASF; tests point them at stand-ins).

    Raises:
        MissingInputError: ``dem: local`` without the file.
        SourceError: a networked DEM could not be fetched.
    """
    if region.dem == "asf-palsar-rtc":
        from landslide4sense.acquisition.asf import AsfDemSource

        return AsfDemSource(**options).fetch_dem(region, grid, Path(work) / "asf")
    if region.dem in ("srtm", "aw3d30"):
        from landslide4sense.acquisition.earthengine import fetch_ee_dem

        return fetch_ee_dem(region, grid, Path(work) / "earthengine", **options)
    return find_dem(Path(raw or "") / region.name)
