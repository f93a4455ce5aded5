"""Keyless Sentinel-2 L1C from a STAC API (default: Earth Search's ``sentinel-2-l1c``).

A STAC search over the AOI and imagery window, scenes filtered by ``eo:cloud_cover`` (the
region's ``max_scene_cloud``); each band is read from every scene's COG with windowed reads
(GDAL fetches only the byte ranges it needs) onto a grid nested in the region's grid at the
band's native resolution, cloudy pixels masked with the scene's own mask when it has one
(``scl`` of L2A, ``qa60`` of L1C), and the per-pixel median is taken. For users without an
Earth Engine account.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from landslide4sense.acquisition.base import RawLayers, Scene
from landslide4sense.acquisition.dem import fetch_dem
from landslide4sense.acquisition.earthengine import band_groups, nested_grid
from landslide4sense.acquisition.local import find_labels
from landslide4sense.errors import SourceError
from landslide4sense.extras import require_extra
from landslide4sense.files import atomic_path
from landslide4sense.regions import Grid, Region

log = logging.getLogger(__name__)

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
L1C_COLLECTION = "sentinel-2-l1c"
#: Asset keys of each band: Earth Search's common names first, then the band names.
ASSETS = {
    "B01": ("coastal", "B01"),
    "B02": ("blue", "B02"),
    "B03": ("green", "B03"),
    "B04": ("red", "B04"),
    "B05": ("rededge1", "B05"),
    "B06": ("rededge2", "B06"),
    "B07": ("rededge3", "B07"),
    "B08": ("nir", "B08"),
    "B8A": ("nir08", "B8A"),
    "B09": ("nir09", "B09"),
    "B10": ("cirrus", "B10"),
    "B11": ("swir16", "B11"),
    "B12": ("swir22", "B12"),
}
BLOCK_ROWS = 256


def search_parameters(
    region: Region, collection: str = L1C_COLLECTION, max_items: int = 50
) -> dict:
    """The STAC item search of a region (what ``l4s plan --source stac`` prints)."""
    return {
        "collections": [collection],
        "bbox": list(region.aoi_geometry().bounds),
        "datetime": f"{region.imagery.start.isoformat()}/{region.imagery.end.isoformat()}",
        "query": {"eo:cloud_cover": {"lte": region.imagery.max_scene_cloud}},
        "max_items": max_items,
        "sortby": "properties.datetime",
    }


def _asset(item, band: str) -> str | None:
    for key in ASSETS[band]:
        if key in item.assets:
            return item.assets[key].href
    return None


def cloud_mask(item, grid: Grid, window: Window) -> np.ndarray | None:
    """True where the scene's own mask says cloud (or shadow), on ``grid``; None without one."""
    if "scl" in item.assets:  # L2A scene classification: shadow, cloud (medium, high), cirrus
        classes = _read(item.assets["scl"].href, grid, window, Resampling.nearest, 0)
        return np.isin(classes, (3, 8, 9, 10))
    for key in ("qa60", "QA60"):  # L1C quality band: bit 10 opaque clouds, bit 11 cirrus
        if key in item.assets:
            qa = _read(item.assets[key].href, grid, window, Resampling.nearest, None)
            return (qa.astype(np.uint32) & ((1 << 10) | (1 << 11))) > 0
    return None


# Remote COGs: no directory listing per file (one request saved, no sidecars expected), and
# GDAL's own retries of transient HTTP errors.
REMOTE = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MAX_RETRY": "4",
          "GDAL_HTTP_RETRY_DELAY": "1", "GDAL_HTTP_TIMEOUT": "60"}  # fmt: skip


def _read(href: str, grid: Grid, window: Window, resampling: Resampling, nodata) -> np.ndarray:
    with (
        rasterio.Env(**REMOTE),
        rasterio.open(href) as src,
        WarpedVRT(
            src,
            crs=grid.crs,
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=resampling,
            dtype="float32",
            src_nodata=nodata,
            nodata=float("nan"),
        ) as vrt,
    ):
        return vrt.read(1, window=window)


def median_band(items, band: str, grid: Grid, out: Path) -> Path:
    """Per-pixel median of ``band`` over the scenes, cloudy and missing pixels left out."""
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "uint16",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": 0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, grid.height, BLOCK_ROWS):
            window = Window(0, r0, grid.width, min(BLOCK_ROWS, grid.height - r0))
            stack = []
            for item in items:
                href = _asset(item, band)
                if href is None:
                    continue
                values = _read(href, grid, window, Resampling.bilinear, 0)
                mask = cloud_mask(item, grid, window)
                if mask is not None:
                    values[mask] = np.nan
                stack.append(values)
            if not stack:
                raise SourceError(f"no scene has an asset for band {band} ({ASSETS[band]})")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # pixels cloudy in every scene
                med = np.nanmedian(np.stack(stack), axis=0)
            dst.write(np.nan_to_num(np.rint(med), nan=0).astype(np.uint16), 1, window=window)
    return out


class StacSource:
    """Sentinel-2 L1C composites from a STAC API, no account needed.

    Args:
        raw: folder whose ``<region>/`` holds the labels (and ``dem.tif`` for ``dem: local``).
        url: the STAC API (default Earth Search).
        collection: the L1C collection id.
        max_items: scenes at most (the least cloudy first).
    """

    name = "stac"

    def __init__(
        self,
        raw: str | Path | None = None,
        url: str = EARTH_SEARCH,
        collection: str = L1C_COLLECTION,
        max_items: int = 50,
    ):
        self.raw, self.url, self.collection, self.max_items = raw, url, collection, max_items

    def search(self, region: Region) -> list:
        pystac_client = require_extra("pystac_client", "stac")

        params = search_parameters(region, self.collection, self.max_items)
        try:
            client = pystac_client.Client.open(self.url)
            items = list(client.search(**params).items())
        except Exception as err:  # pystac-client raises several kinds (API, HTTP, JSON)
            raise SourceError(f"STAC search at {self.url} failed: {err}") from err
        items = sorted(items, key=lambda i: (i.properties.get("eo:cloud_cover", 0), i.id))
        if not items:
            raise SourceError(
                f"no {self.collection} scene at {self.url} over region '{region.name}' between "
                f"{region.imagery.start} and {region.imagery.end} with at most "
                f"{region.imagery.max_scene_cloud}% cloud; widen the window or the cloud limit"
            )
        return items

    def fetch(self, region: Region, grid: Grid, work: Path) -> RawLayers:
        items = self.search(region)
        out = Path(work) / "stac" / "s2"
        bands = {}
        for res, names in band_groups().items():
            g = nested_grid(grid, res)
            for band in names:
                path = out / f"{band}.tif"
                if not path.exists():
                    median_band(items, band, g, path)
                bands[band] = path
        masked = sum(any(k in i.assets for k in ("scl", "qa60", "QA60")) for i in items)
        scenes = [
            Scene(
                i.id,
                str(i.datetime.date()) if i.datetime else None,
                i.properties.get("eo:cloud_cover"),
            )
            for i in items
        ]
        dem, dem_details = fetch_dem(region, grid, Path(work), self.raw)
        details = {
            "stac_api": self.url,
            "collection": self.collection,
            "scene_cloud_limit": region.imagery.max_scene_cloud,
            "composite": "per-pixel median",
            "pixel_cloud_mask": f"{masked} of {len(items)} scenes have one (scl/qa60)",
            **dem_details,
        }
        labels = find_labels(region, Path(self.raw or ".") / region.name)
        return RawLayers(region.name, self.name, bands, dem, labels, scenes, details)
