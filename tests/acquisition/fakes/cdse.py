"""The Copernicus Data Space Ecosystem's STAC API and its ``eodata`` bucket, on 127.0.0.1.

From ``contracts/stac.md`` (section 2) and ``contracts/cdse-odata-sentinel-2-l1c-product.json``:
the STAC API (1.1) searches with CQL2 ``filter`` (JSON here), ``sortby`` and ``fields``, and
refuses what it does not document (``query``); products live in the bucket ``eodata`` under
``Sentinel-2/MSI/<L1C | L1C_N0500>/<YYYY>/<MM>/<DD>/<SAFE>/`` with zero-padded month and day, a
separate ``L1C_N0500`` tree for the Collection-1 reprocessing; the bucket is not
requester-pays and is signed for region ``default`` (use :class:`FakeS3` with
``bucket="eodata", payer=False, region="default"``).

No real CDSE STAC item was found (contracts/README.md): the item's id (the SAFE name without
``.SAFE``) and its asset keys (``B02_10m``...) are the stand-in's own; the band files' names
inside the SAFE (``T<tile>_<sensing>_<band>.jp2`` under ``GRANULE/<granule>/IMG_DATA``) are
verified (contracts/stac.md, section 3).
"""

from __future__ import annotations

import datetime as dt
import json

import rasterio
from rasterio.warp import transform_bounds
from shapely.geometry import box

from tests.acquisition.fakes.stac import FakeStac, band_assets, write_scene
from tests.helpers import CONTRACTS, RIOTILER

BUCKET = "eodata"
#: CQL2 comparison operators the stand-in evaluates (and ``and``).
COMPARE = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a == b,
}


def odata_record() -> dict:
    return json.loads((CONTRACTS / "cdse-odata-sentinel-2-l1c-product.json").read_text())


def cdse_item(
    when: str,
    cloud: float,
    footprint: list[float],
    tile: str,
    bands: dict[str, int],
    baseline: str = "05.00",
    orbit: int = 26783,
) -> tuple[dict, dict[str, str]]:
    """A CDSE L1C item and its bands' object keys in ``eodata`` (band name to key).

    Args:
        when: ISO datetime of the acquisition.
        cloud: ``eo:cloud_cover``.
        footprint: lon/lat bbox of the data.
        tile: the MGRS tile, e.g. ``19UDP``.
        bands: band name (``B02``) to its pixel size (m).
        baseline: the processing baseline (``05.00``: the ``L1C_N0500`` tree).
        orbit: the absolute orbit (in the granule's folder name).
    """
    record = odata_record()
    day = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    sensing = f"{day:%Y%m%dT%H%M%S}"
    n = baseline.replace(".", "")
    # The record's name, with this acquisition's date, tile and baseline.
    name = f"S2A_MSIL1C_{sensing}_N{n}_R045_T{tile}_{sensing}"
    tree = "L1C_N0500" if baseline >= "05.00" else "L1C"
    folder = f"Sentinel-2/MSI/{tree}/{day:%Y/%m/%d}/{name}.SAFE"
    assert record["S3Path"].startswith("/eodata/Sentinel-2/MSI/L1C_N0500/2020/08/08/")
    granule = f"L1C_T{tile}_A{orbit:06d}_{sensing}"
    keys = {
        band: f"{folder}/GRANULE/{granule}/IMG_DATA/T{tile}_{sensing}_{band}.jp2" for band in bands
    }
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": name,
        "collection": "sentinel-2-l1c",
        "bbox": footprint,
        "geometry": json.loads(json.dumps(box(*footprint).__geo_interface__)),
        "properties": {
            "datetime": when,
            "eo:cloud_cover": cloud,
            "grid:code": f"MGRS-{tile}",
            "platform": "sentinel-2a",
        },
        "assets": {
            f"{band}_{gsd}m": {
                "href": f"s3://{BUCKET}/{keys[band]}",
                "type": "image/jp2",
                "roles": ["data"],
                "gsd": gsd,
            }
            for band, gsd in bands.items()
        },
        "links": [],
    }
    return item, keys


class FakeCdse(FakeStac):
    """CDSE's STAC API: CQL2-JSON ``filter`` instead of ``query`` (refused, HTTP 400)."""

    search_fields = frozenset(
        {
            "collections",
            "bbox",
            "intersects",
            "datetime",
            "limit",
            "ids",
            "filter",
            "filter-lang",
            "sortby",
            "fields",
            "next",
            "token",
        }
    )
    conformance = (
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/item-search#filter",
        "https://api.stacspec.org/v1.0.0/item-search#sort",
        "https://api.stacspec.org/v1.0.0/item-search#fields",
        "https://api.stacspec.org/v1.0.0/collections",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    )
    catalog_id, stac_version = "cdse-stac", "1.1.0"

    def matches(self, item: dict, params: dict) -> bool:
        """The CQL2-JSON ``filter`` (comparisons of properties with values, ``and``).

        Raises:
            ValueError: another filter language, or an operator it does not know (HTTP 400).
        """
        cql = params.get("filter")
        if cql is None:
            return True
        if params.get("filter-lang", "cql2-json") != "cql2-json" or not isinstance(cql, dict):
            raise ValueError("filter: only cql2-json is served by the stand-in")
        return _evaluate(cql, item["properties"])


def _evaluate(node: dict, properties: dict) -> bool:
    op, args = node.get("op"), node.get("args", [])
    if op == "and":
        return all(_evaluate(a, properties) for a in args)
    if op not in COMPARE or len(args) != 2 or "property" not in args[0]:
        raise ValueError(f"filter: unsupported CQL2 expression {json.dumps(node)}")
    value = properties.get(args[0]["property"])
    return value is not None and COMPARE[op](value, args[1])


# The archive the riotiler tests serve (real-data fixture).
CDSE_KEYS = {"cdse-access-key": "cdse-secret-key"}


def cdse_archive(folder):
    """A: a 2017 scene of the Collection-1 reprocessing (baseline 05.00, L1C_N0500: its pixels
    carry +1000 DN, and nothing but its name says so); B: the original 02.05 product, with a
    cloud; C: too cloudy for the filter."""
    with rasterio.open(RIOTILER / "B01.jp2") as src:
        here = list(transform_bounds(src.crs, "EPSG:4326", *src.bounds))
    bands = {band: 900 for band in band_assets()}
    items, files = [], {}
    for i, (when, cloud, baseline, shift, cloudy) in enumerate(
        [
            ("2017-07-29T15:26:00Z", 5.0, "05.00", 1000, False),
            ("2017-08-08T15:26:00Z", 20.0, "02.05", 0, True),
            ("2017-08-18T15:26:00Z", 90.0, "02.05", 3000, False),
        ]
    ):
        item, keys = cdse_item(when, cloud, here, "19UDP", bands, baseline)
        local = write_scene(folder / str(i), shift, cloudy)
        files |= {keys[band]: local[key] for band, key in band_assets().items()}
        items.append(item)
    return items, files
