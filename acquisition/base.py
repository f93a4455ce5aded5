"""What the sources deliver: a region's raw layers as files, with their provenance.

A Sentinel-2 source (local files, Earth Engine, STAC) only fetches: it turns a
:class:`~regions.Region` into :class:`Sentinel2Layers`, one raster per band at its native
resolution (any CRS) and the scenes they came from. The DEM comes from the region's ``dem:``
(:mod:`acquisition.dem`) whatever the Sentinel-2 source, as a :class:`DemLayer`; the flow
composes both with the labels into :class:`RawLayers`. Later stages see only file paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from landslide4sense.geo import Grid
from landslide4sense.records import Scene
from landslide4sense.regions import Region

#: Sentinel-2 MSI bands and their native pixel size in metres.
S2_NATIVE_RESOLUTION: dict[str, int] = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B10": 60,
    "B11": 20,
    "B12": 20,
}
#: The twelve bands of the benchmark: B1..B12 without B8A (B10 exists only in L1C).
S2_BANDS: tuple[str, ...] = tuple(b for b in S2_NATIVE_RESOLUTION if b != "B8A")


def band_groups() -> dict[int, tuple[str, ...]]:
    """Sentinel-2 bands grouped by native pixel size: {10: (B02, ...), 20: ..., 60: ...}.

    A group's grid is ``grid.buffered(resolution=res)``: it covers the region's 10 m grid and
    its pixels nest exactly in it (origin on multiples of ``res``)."""
    groups: dict[int, list[str]] = {}
    for band, res in S2_NATIVE_RESOLUTION.items():
        groups.setdefault(res, []).append(band)
    return {res: tuple(bands) for res, bands in sorted(groups.items())}


@dataclass
class Sentinel2Layers:
    """What a Sentinel-2 source returns.

    Attributes:
        source: the source's name (``local``, ``earthengine``, ``stac``).
        bands: band name (``B01``..``B12``, maybe ``B8A``) to raster path, at native resolution.
            Values are L1C digital numbers (reflectance x 10000, the pre-2022 range); 0 means
            no data unless the file declares another nodata.
        scenes: the acquisitions the bands were made from.
        details: provenance (collections, cloud limits, composite method...).
    """

    source: str
    bands: dict[str, Path]
    scenes: list[Scene] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemLayer:
    """A region's DEM: the raster (metres, any CRS) and its provenance (product, heights)."""

    path: Path
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawLayers:
    """A region's raw layers on disk, and their provenance.

    Attributes:
        region: the region's name.
        source: the source's name (``local``, ``earthengine``, ``stac``...).
        bands: Sentinel-2 band name (``B01``..``B12``, maybe ``B8A``) to raster path. Values are
            L1C digital numbers (reflectance x 10000); 0 means no data unless nodata is declared.
        dem: the DEM raster, in metres, any CRS.
        labels: the label polygons (GeoPackage, Shapefile, GeoJSON), or None when the region
            has none yet (the build then makes candidates: see :mod:`annotation`).
        scenes: the acquisitions the bands were made from.
        details: free provenance (collection ids, cloud-masked share, DEM product...).
    """

    region: str
    source: str
    bands: dict[str, Path]
    dem: Path
    labels: Path | None = None
    scenes: list[Scene] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def compose(
        cls, region: str, s2: Sentinel2Layers, dem: DemLayer, labels: Path | None
    ) -> RawLayers:
        """The layers of ``region``: Sentinel-2 from its source, the DEM, the labels."""
        return cls(
            region, s2.source, s2.bands, dem.path, labels, s2.scenes, {**s2.details, **dem.details}
        )


class Source(Protocol):
    """Anything that can deliver a region's Sentinel-2 bands into a work folder."""

    name: str

    def fetch(self, region: Region, grid: Grid, work: Path) -> Sentinel2Layers:
        """Deliver ``region``'s bands covering ``grid``; write any downloads under ``work``."""
        ...
