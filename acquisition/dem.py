"""The DEM of a region, by the region's ``dem`` key, for every source alike."""

from __future__ import annotations

from pathlib import Path

from landslide4sense.errors import MissingInputError
from landslide4sense.regions import Grid, Region


def fetch_dem(
    region: Region,
    grid: Grid,
    work: Path,
    raw: str | Path | None = None,
    ee_url: str | None = None,
    ee_creds=None,
) -> tuple[Path, dict]:
    """``local``: ``RAW/<region>/dem.tif``; ``asf-palsar-rtc``: ASF's 12.5 m RTC DEM;
    ``srtm`` / ``aw3d30``: Earth Engine. Returns the DEM file and provenance.

    Raises:
        MissingInputError: ``dem: local`` without the file.
    """
    if region.dem == "asf-palsar-rtc":
        from landslide4sense.acquisition.asf import AsfDemSource

        return AsfDemSource().fetch_dem(region, grid, Path(work) / "asf")
    if region.dem in ("srtm", "aw3d30"):
        from landslide4sense.acquisition.earthengine import fetch_ee_dem

        return fetch_ee_dem(region, grid, Path(work) / "earthengine", ee_url, ee_creds)
    dem = Path(raw or "") / region.name / "dem.tif"
    if not dem.is_file():
        raise MissingInputError(
            f"{dem}: region '{region.name}' has `dem: local`, so its DEM must be in the raw "
            "folder; pass --raw, or set dem to srtm, aw3d30 or asf-palsar-rtc"
        )
    return dem, {"dem_product": "local file"}
