"""Sentinel-2 L1C from the Copernicus Data Space Ecosystem (CDSE): free, with an account.

The same composite as the ``stac`` source (s2cloudless masks, offsets by processing baseline,
per-pixel median), from CDSE instead of Earth Search's requester-pays bucket:

- the scenes from CDSE's STAC API (``https://stac.dataspace.copernicus.eu/v1``, collection
  ``sentinel-2-l1c``), searched with a CQL2 ``filter`` on ``eo:cloud_cover`` (the API's
  documented filter language);
- the JPEG 2000 bands from the S3 bucket ``eodata`` (``https://eodata.dataspace.copernicus.eu``,
  region ``default``, not requester-pays), signed with the S3 keys of a free CDSE account
  (``CDSE_S3_ACCESS_KEY`` / ``CDSE_S3_SECRET_KEY``, made at
  https://eodata-s3keysmanager.dataspace.copernicus.eu/);
- at most 4 reads in flight: the free tier allows 4 concurrent connections (and 2000 S3
  requests a minute, 20 MB/s per connection, 12 TB per 30 days; contracts/stac.md).

No real CDSE STAC item was available when this was written (contracts/README.md), so a band is
found by its SAFE file name (``T<tile>_<sensing time>_B02.jp2``, verified), whatever the asset
keys; the baseline by the product name's ``_Nxxxx_`` (``L1C_N0500`` reprocessings carry the
offset, whatever the sensing date).
"""

from __future__ import annotations

import os
import re

import rasterio

from landslide4sense.acquisition.retry import RetryPolicy
from landslide4sense.acquisition.stac import CANDIDATES, StacSource, s3_env
from landslide4sense.errors import SourceError
from landslide4sense.regions import Region

CDSE_STAC = "https://stac.dataspace.copernicus.eu/v1"
CDSE_S3 = "https://eodata.dataspace.copernicus.eu"
COLLECTION = "sentinel-2-l1c"
BUCKET = "eodata"
S3_REGION = "default"  # CDSE's S3 signs with region "default" (its boto3 example)
READERS = 4  # the free tier's concurrent connections
KEY_VARS = ("CDSE_S3_ACCESS_KEY", "CDSE_S3_SECRET_KEY")
SETUP = (
    "make S3 keys of your free Copernicus Data Space account at "
    "https://eodata-s3keysmanager.dataspace.copernicus.eu/ (the secret is shown once) and set "
    "CDSE_S3_ACCESS_KEY and CDSE_S3_SECRET_KEY"
)
#: A band's JPEG 2000 inside a SAFE product: ``.../IMG_DATA/T54PXA_20200808T010311_B02.jp2``.
BAND_FILE = re.compile(r"_(B\d[\dA])\.jp2$")


def cdse_keys() -> dict[str, str] | None:
    """The CDSE account's S3 keys for GDAL, or None when not set."""
    access, secret = (os.environ.get(v) for v in KEY_VARS)
    if not (access and secret):
        return None
    return {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret}


def search_parameters(region: Region, collection: str = COLLECTION, max_items: int = 10) -> dict:
    """CDSE's item search of a region: a CQL2-JSON filter on cloud cover, least cloudy first."""
    return {
        "collections": [collection],
        "intersects": region.aoi_geometry().__geo_interface__,
        "datetime": f"{region.imagery.start.isoformat()}/{region.imagery.end.isoformat()}",
        "filter": {
            "op": "<=",
            "args": [{"property": "eo:cloud_cover"}, region.imagery.max_scene_cloud],
        },
        "filter_lang": "cql2-json",
        "sortby": [{"field": "properties.eo:cloud_cover", "direction": "asc"}],
        "limit": max_items,
        "max_items": max_items,
    }


def band_hrefs(item) -> dict[str, str]:
    """Each band's href in ``item``, by the SAFE file name of its asset."""
    found = {}
    for asset in item.assets.values():
        name = BAND_FILE.search(asset.href)
        if name:
            found[name[1]] = asset.href
    return found


class CdseSource(StacSource):
    """Sentinel-2 L1C composites from the Copernicus Data Space Ecosystem.

    Args:
        url: the STAC API (default ``L4S_CDSE_STAC_URL``, else CDSE's).
        collection: the L1C collection id.
        max_items: scenes at most, the least cloudy first.
        s3_endpoint: the S3 endpoint (default ``L4S_CDSE_S3_ENDPOINT``, else CDSE's
            ``eodata``; a mirror, or a stand-in in tests).
        policy: the retry policy of every call.
    """

    name = "cdse"
    readers = READERS

    def __init__(
        self,
        url: str | None = None,
        collection: str = COLLECTION,
        max_items: int = 10,
        s3_endpoint: str | None = None,
        policy: RetryPolicy | None = None,
    ):
        url = url or os.environ.get("L4S_CDSE_STAC_URL") or CDSE_STAC
        s3_endpoint = s3_endpoint or os.environ.get("L4S_CDSE_S3_ENDPOINT") or CDSE_S3
        super().__init__(url, collection, max_items, s3_endpoint, policy)

    def search_parameters(self, region: Region) -> dict:
        return search_parameters(region, self.collection, CANDIDATES * self.max_items)

    def href(self, item, band: str) -> str:
        """Where ``band`` of ``item`` is, by its SAFE file name.

        Raises:
            SourceError: the item has no such band.
        """
        href = band_hrefs(item).get(band)
        if href is None:
            raise SourceError(
                f"CDSE item {item.id} has no {band} (*_{band}.jp2) asset; is the collection "
                f"{self.collection} Level-1C?"
            )
        return href

    def credentials(self) -> dict[str, str]:
        keys = cdse_keys()
        if keys is None:
            raise SourceError(f"the cdse source reads CDSE's eodata bucket: {SETUP}")
        return keys

    def env(self) -> rasterio.Env:
        """Not requester-pays; signed for region ``default``."""
        return s3_env(self._keys, self.s3_endpoint, AWS_REQUEST_PAYER="", AWS_REGION=S3_REGION)

    def describe(self) -> str:
        return f"{self.url} {self.collection} (s3://{BUCKET}, Copernicus Data Space)"


def plan(region: Region, grid) -> dict:
    """What the CDSE source would request for ``region`` (offline)."""
    from landslide4sense.acquisition.stac import plan as stac_plan

    return stac_plan(region, grid) | {
        "source": "cdse",
        "stac_api": CDSE_STAC,
        "search": CdseSource().search_parameters(region),
        "s3": f"{CDSE_S3}/{BUCKET}",
        "assets": "by SAFE file name: *_<band>.jp2",
        "readers": READERS,
    }
