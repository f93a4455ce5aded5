"""Earth Search's STAC API and the requester-pays ``sentinel-s2-l1c`` bucket, on 127.0.0.1.

Items are the real Earth Search L1C item of ``contracts/`` with their identity changed: the
same asset keys (common names), ``s3://sentinel-s2-l1c/tiles/...`` JPEG 2000 hrefs with
month and day not zero-padded, ``raster:bands`` scale and offset, and no cloud-mask asset.
The search honours what it is asked (collections, bbox or intersects, datetime, the
``eo:cloud_cover`` query, sortby, limit with ``next`` pages) and refuses unknown fields. The
bucket answers only requests signed (AWS Signature V4, verified) with a known key and
carrying ``x-amz-request-payer: requester``, as S3 does for a requester-pays bucket; it
serves byte ranges, so GDAL reads windows.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np
import rasterio
from rasterio.warp import transform_bounds
from shapely.geometry import box, shape

from landslide4sense.regions import parse_region
from tests.acquisition.fakes.http import Handler, serving
from tests.helpers import CONTRACTS, RIOTILER

SEARCH_FIELDS = {
    "collections",
    "bbox",
    "intersects",
    "datetime",
    "query",
    "sortby",
    "limit",
    "ids",
    "fields",
    "next",
    "token",
}
MAX_LIMIT = 10000
BUCKET = "sentinel-s2-l1c"


def item_template() -> dict:
    return json.loads((CONTRACTS / "earth-search-sentinel-2-l1c-item.json").read_text())


def band_assets() -> dict[str, str]:
    """Each band's asset key in the real item (``B08`` is ``nir``, ``B8A`` is ``nir08``), read
    from its single-band JPEG 2000 hrefs: the stand-in never takes names from the code under
    test, so a wrong mapping there reads the wrong band here."""
    return {
        Path(a["href"]).stem: key
        for key, a in item_template()["assets"].items()
        if a["href"].endswith(".jp2") and len(a.get("eo:bands", [])) == 1
    }


def l1c_item(
    item_id: str,
    when: str,
    cloud: float,
    footprint: list[float],
    epsg: int,
    tile: str,
    bands: dict[str, tuple[int, list[int], list[float]]],
    baseline: str = "02.05",
    offset: float = -0.1,
) -> dict:
    """An Earth Search L1C item shaped like the real one.

    Args:
        item_id: e.g. ``S2B_19UDP_20170729_0_L1C``.
        when: ISO datetime of the acquisition.
        cloud: ``eo:cloud_cover``.
        footprint: lon/lat bbox of the data.
        epsg: the tile's UTM EPSG code.
        tile: the MGRS tile, e.g. ``19UDP``.
        bands: asset key to (gsd, proj:shape, proj:transform).
        baseline: the processing baseline (04.00 and later carry a -1000 DN offset in their
            pixels); it is also in ``s2:product_uri``'s ``_Nxxxx_``.
        offset: every band's ``raster:bands`` offset. Earth Search states -0.1 whatever the
            baseline (contracts/stac.md: catalogue offsets are known to be wrong), so the
            default is the misleading value real items of the paper's windows carry.
    """
    item = item_template()
    day = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    zone, lat, square = tile[:2], tile[2], tile[3:]
    folder = f"tiles/{int(zone)}/{lat}/{square}/{day.year}/{day.month}/{day.day}/0"
    item["id"] = item_id
    item["bbox"] = footprint
    item["geometry"] = box(*footprint).__geo_interface__
    item["geometry"] = json.loads(json.dumps(item["geometry"]))  # tuples to lists
    p = item["properties"]
    p.update(
        {
            "datetime": when,
            "eo:cloud_cover": cloud,
            "proj:epsg": epsg,
            "mgrs:utm_zone": int(zone),
            "mgrs:latitude_band": lat,
            "mgrs:grid_square": square,
            "grid:code": f"MGRS-{tile}",
            "s2:processing_baseline": baseline,
            "s2:product_uri": f"S2B_MSIL1C_{day:%Y%m%dT%H%M%S}_N{baseline.replace('.', '')}_"
            f"R000_T{tile}_{day:%Y%m%dT%H%M%S}.SAFE",
        }
    )
    template = item["assets"]
    assets = {}
    for key, asset in template.items():
        a = copy.deepcopy(asset)
        a["href"] = f"s3://{BUCKET}/{folder}/{asset['href'].rsplit('/', 1)[1]}"
        if key in bands:
            gsd, proj_shape, transform = bands[key]
            a.update({"gsd": gsd, "proj:shape": proj_shape, "proj:transform": transform})
            a["raster:bands"][0].update({"spatial_resolution": gsd, "offset": offset})
        assets[key] = a
    item["assets"] = assets
    item["links"] = [
        dict(link, href=link["href"].replace("S2B_27VWK_20240206_0_L1C", item_id))
        for link in item["links"]
    ]
    return item


def s3_key(href: str) -> str:
    return href.removeprefix(f"s3://{BUCKET}/")


class FakeStac:
    """A STAC API serving ``items`` (each with its ``collection``) like Earth Search v1.

    Subclasses for other APIs change the class attributes: the search fields accepted, the
    conformance classes, the landing page's id and STAC version.
    """

    search_fields = SEARCH_FIELDS
    conformance = (
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/item-search#query",
        "https://api.stacspec.org/v1.0.0/item-search#sort",
        "https://api.stacspec.org/v1.0.0/collections",
    )
    catalog_id, stac_version = "earth-search-aws", "1.0.0"

    def __init__(self, items: list[dict]):
        self.items = items
        self.searches: list[dict] = []
        self.latency = 0.0  # seconds per search

    @contextmanager
    def running(self, port: int = 0):
        """Serve on ``port`` (default an ephemeral one); ``self.url`` is its address."""
        fake = self

        class StacHandler(Handler):
            def do_GET(self):
                path = self.path.split("?")[0].rstrip("/")
                if path == "":
                    return self.json(fake.landing())
                if path == "/conformance":
                    return self.json({"conformsTo": fake.landing()["conformsTo"]})
                m = re.fullmatch(r"/collections/([^/]+)", path)
                if m and m.group(1) in fake.collections():
                    return self.json(fake.collection(m.group(1)))
                return self.json({"code": "NotFoundError", "description": "Not Found"}, 404)

            def do_POST(self):
                if self.path.split("?")[0] != "/search":
                    return self.json({"code": "NotFoundError", "description": "Not Found"}, 404)
                try:
                    params = json.loads(self.body() or b"{}")
                    page = fake.search(params)
                except ValueError as err:
                    return self.json({"code": "BadRequest", "description": str(err)}, 400)
                return self.json(page, headers={"Content-Type": "application/geo+json"})

        with serving(StacHandler, port=port) as server:
            self.url = f"http://127.0.0.1:{server.server_address[1]}"
            yield self

    def collections(self) -> set[str]:
        return {i["collection"] for i in self.items}

    def collection(self, name: str) -> dict:
        return {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": name,
            "license": "proprietary",
            "description": "Sentinel-2 Level-1C top-of-atmosphere reflectances (stand-in)",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [["2015-06-27T10:25:31.456Z", None]]},
            },
            "links": [
                {"rel": "self", "href": f"{self.url}/collections/{name}"},
                {"rel": "root", "href": self.url + "/"},
            ],
        }

    def landing(self) -> dict:
        return {
            "type": "Catalog",
            "id": self.catalog_id,
            "stac_version": self.stac_version,
            "description": f"{self.catalog_id} (stand-in)",
            "conformsTo": list(self.conformance),
            "links": [
                {"rel": "self", "href": self.url + "/"},
                {"rel": "root", "href": self.url + "/"},
                {"rel": "data", "href": self.url + "/collections"},
                {
                    "rel": "search",
                    "href": self.url + "/search",
                    "method": "POST",
                    "type": "application/geo+json",
                },
            ],
        }

    def search(self, params: dict) -> dict:
        """One page of results, with a ``next`` link when more match.

        Raises:
            ValueError: an unknown field, a bad limit or a malformed filter (HTTP 400).
        """
        self.searches.append(params)
        time.sleep(self.latency)
        unknown = set(params) - self.search_fields
        if unknown:
            raise ValueError(f"unknown search parameter(s) {sorted(unknown)}")
        limit = params.get("limit", 10)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_LIMIT}, got {limit}")
        if "bbox" in params and "intersects" in params:
            raise ValueError("only one of bbox and intersects may be given")
        area = (
            shape(params["intersects"])
            if "intersects" in params
            else (box(*params["bbox"]) if "bbox" in params else None)
        )
        start, _, end = (params.get("datetime") or "../..").partition("/")
        chosen = [
            i
            for i in self.items
            if i["collection"] in params.get("collections", [i["collection"]])
            and (area is None or shape(i["geometry"]).intersects(area))
            and _in_window(i["properties"]["datetime"], start, end)
            and all(
                _query(i["properties"].get(f), ops) for f, ops in params.get("query", {}).items()
            )
            and self.matches(i, params)
        ]
        for rule in reversed(params.get("sortby", [])):
            name = rule["field"].removeprefix("properties.")
            chosen.sort(
                key=lambda i, n=name: (i["properties"].get(n) is None, i["properties"].get(n)),
                reverse=rule.get("direction", "asc") == "desc",
            )
        first = int(params.get("next", 0))
        page = chosen[first : first + limit]
        links = []
        if first + limit < len(chosen):
            body = {**params, "next": str(first + limit)}
            links.append(
                {
                    "rel": "next",
                    "href": self.url + "/search",
                    "method": "POST",
                    "body": body,
                    "merge": False,
                    "type": "application/geo+json",
                }
            )
        return {
            "type": "FeatureCollection",
            "features": page,
            "links": links,
            "numberMatched": len(chosen),
            "numberReturned": len(page),
            "context": {"limit": limit, "matched": len(chosen), "returned": len(page)},
        }

    def matches(self, item: dict, params: dict) -> bool:
        """Whether ``item`` passes the search's other filters (none here)."""
        return True


def _in_window(when: str, start: str, end: str) -> bool:
    t = when[:10]
    return (start in ("", "..") or t >= start[:10]) and (end in ("", "..") or t <= end[:10])


def _query(value, ops: dict) -> bool:
    tests = {
        "lte": lambda a, b: a <= b,
        "lt": lambda a, b: a < b,
        "gte": lambda a, b: a >= b,
        "gt": lambda a, b: a > b,
        "eq": lambda a, b: a == b,
        "neq": lambda a, b: a != b,
    }
    for op, arg in ops.items():
        if op not in tests:
            raise ValueError(f"unknown query operator {op!r}")
        if value is None or not tests[op](value, arg):
            return False
    return True


# --------------------------------------------------------------------------- S3


def _s3_error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature_problem(
    method: str,
    path: str,
    query: str,
    headers,
    keys: dict[str, str],
    region: str,
    tokens: dict[str, str] | None = None,
    payer: bool = True,
) -> tuple[str, str] | None:
    """Why a request's AWS Signature V4 is refused (S3's code and message), or None.

    ``tokens``: the session token of each temporary key (``ASIA...``): S3 knows such a key only
    with its token, signed (``x-amz-security-token``). ``payer``: the bucket is requester-pays.
    """
    auth = headers.get("Authorization", "")
    m = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request,\s*"
        r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})",
        auth,
    )
    if m is None:
        return "AccessDenied", "Access Denied"
    key_id, day, signed_region, signed, signature = m.groups()
    if key_id not in keys:
        return "InvalidAccessKeyId", (
            "The AWS Access Key Id you provided does not exist in our records."
        )
    if signed_region != region:
        return "AuthorizationHeaderMalformed", (
            f"The authorization header is malformed; the "
            f"region '{signed_region}' is wrong; expecting "
            f"'{region}'"
        )
    names = signed.split(";")
    token = (tokens or {}).get(key_id)
    if token is not None and "x-amz-security-token" not in names:
        return "InvalidAccessKeyId", (
            "The AWS Access Key Id you provided does not exist in our records."
        )
    if token is not None and headers.get("x-amz-security-token") != token:
        return "InvalidToken", "The provided token is malformed or otherwise invalid."
    canonical_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names)
    params = sorted(p.partition("=")[::2] for p in query.split("&") if p)
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/~"),
            "&".join(f"{k}={v}" for k, v in params),
            canonical_headers,
            signed,
            headers.get("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            headers.get("x-amz-date", ""),
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    k = _hmac(("AWS4" + keys[key_id]).encode(), day)
    for part in (region, "s3", "aws4_request"):
        k = _hmac(k, part)
    if not hmac.compare_digest(
        hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(), signature
    ):
        return "SignatureDoesNotMatch", (
            "The request signature we calculated does not match the signature you provided."
        )
    paid = "x-amz-request-payer" in names and headers.get("x-amz-request-payer") == "requester"
    if payer and not paid:
        return "AccessDenied", "Access Denied"  # requester-pays bucket, no payer header
    return None


class FakeS3:
    """A requester-pays bucket: ``files`` maps object keys to local files.

    ``keys``: key id to secret; ``tokens``: key id to session token, for temporary keys
    (refused without it); ``bucket``, ``region``, ``payer``: the bucket's name, region, and
    whether it is requester-pays. ``fail_every``: every n-th object request answers 503
    SlowDown; ``latency``: seconds before each answer.
    """

    def __init__(
        self,
        files: dict[str, Path],
        keys: dict[str, str] | None = None,
        region: str = "eu-central-1",
        tokens: dict[str, str] | None = None,
        bucket: str = BUCKET,
        payer: bool = True,
    ):
        self.files, self.region = files, region
        self.keys = keys or {"AKIASTANDIN": "stand-in-secret"}
        self.tokens, self.bucket, self.payer = tokens or {}, bucket, payer
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.refused: list[str] = []
        self.fail_every = 0
        self.latency = 0.0

    @contextmanager
    def running(self):
        fake = self

        class S3Handler(Handler):
            def do_HEAD(self):
                fake.serve(self)

            def do_GET(self):
                fake.serve(self)

        with serving(S3Handler) as server:
            self.url = f"http://127.0.0.1:{server.server_address[1]}"
            yield self

    def serve(self, handler: Handler) -> None:
        path, _, query = handler.path.partition("?")
        time.sleep(self.latency)
        with self.lock:
            self.requests += 1
            n = self.requests
        problem = signature_problem(
            handler.command,
            path,
            query,
            handler.headers,
            self.keys,
            self.region,
            self.tokens,
            self.payer,
        )
        if problem:
            self.refused.append(problem[0])
            return handler.send(403, _s3_error(*problem), "application/xml")
        bucket, _, key = path.lstrip("/").partition("/")
        if self.fail_every and n % self.fail_every == 0:
            return handler.send(
                503, _s3_error("SlowDown", "Please reduce your request rate."), "application/xml"
            )
        if bucket != self.bucket or key not in self.files:
            return handler.send(
                404, _s3_error("NoSuchKey", "The specified key does not exist."), "application/xml"
            )
        data = self.files[key].read_bytes()
        rng = handler.headers.get("Range")
        headers = {"Accept-Ranges": "bytes"}
        if self.payer:
            headers["x-amz-request-charged"] = "requester"
        if rng:
            a, _, b = rng.removeprefix("bytes=").partition("-")
            a, b = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
            part = data[a : b + 1]
            headers["Content-Range"] = f"bytes {a}-{b}/{len(data)}"
            status = 206
        else:
            part, status = data, 200
        with self.lock:
            self.bytes += len(part) if handler.command == "GET" else 0
        handler.send(status, part, "image/jp2", headers)


# The archive the riotiler tests serve (real-data fixture): the scene of tile 19UDP as items of
# several dates, baselines and clouds.
# A 4 km square inside the swath of the riotiler tile 19UDP (2017-07-29).
UDP_REGION = parse_region(
    {
        "name": "udp",
        "event": {"trigger": "rainfall", "date": "2017-07-01"},
        "aoi": {"bbox": [-69.36, 48.19, -69.31, 48.225]},
        "imagery": {"start": "2017-07-20", "end": "2017-08-31", "max_scene_cloud": 60},
    }
)
# A cloud in scene B, on the 900 m pixels: over the west ~40% of the region (cols 81.4-85.6).
CLOUD = (slice(60, 75), slice(75, 83))
KEYS = {"AWS_ACCESS_KEY_ID": "AKIASTANDIN", "AWS_SECRET_ACCESS_KEY": "stand-in-secret"}


def write_scene(folder: Path, shift: int, cloud: bool = False) -> dict[str, Path]:
    """The riotiler bands, ``shift`` DN added to valid pixels; a bright cloud in all bands."""
    folder.mkdir(parents=True)
    files = {}
    for band, key in band_assets().items():
        with rasterio.open(RIOTILER / f"{band}.jp2") as src:
            data, profile = src.read(1), src.profile
        data = np.where(data > 0, data + shift, 0).astype("uint16")
        if cloud:
            data[CLOUD] = 9000 + shift
        with rasterio.open(folder / f"{band}.jp2", "w", **profile) as dst:
            dst.write(data, 1)
        files[key] = folder / f"{band}.jp2"
    return files


def archive(tmp_path: Path):
    """Items and bucket objects: A (clear, old baseline), B (cloud, baseline 05.10 offset),
    and scenes the search must leave out (too cloudy, elsewhere, later, L2A, beyond max)."""
    with rasterio.open(RIOTILER / "B01.jp2") as src:
        here = list(transform_bounds(src.crs, "EPSG:4326", *src.bounds))
        shape, t = [src.height, src.width], list(src.transform)[:6]
    bands = {k: (900, shape, t) for k in band_assets().values()}
    elsewhere = [10.0, 10.0, 11.0, 11.0]
    scenes = [  # id, date, cloud, footprint, baseline, shift, cloud, collection
        ("S2B_19UDP_20170729_0_L1C", "2017-07-29", 5.0, here, "02.05", 0, False, None),
        ("S2A_19UDP_20170808_0_L1C", "2017-08-08", 20.0, here, "05.10", 1000, True, None),
        ("S2A_19UDP_20170818_0_L1C", "2017-08-18", 90.0, here, "02.05", 3000, False, None),
        ("S2B_19UDP_20170721_0_L1C", "2017-07-21", 40.0, here, "02.05", 2000, False, None),
        ("S2A_19UDP_20170915_0_L1C", "2017-09-15", 1.0, here, "02.05", 4000, False, None),
        ("S2A_31UDP_20170801_0_L1C", "2017-08-01", 1.0, elsewhere, "02.05", 6000, False, None),
        ("S2A_19UDP_20170802_0_L2A", "2017-08-02", 1.0, here, "02.05", 5000, False, "l2a"),
    ]
    items, files = [], {}
    for item_id, day, cloud, footprint, baseline, shift, cloudy, collection in scenes:
        item = l1c_item(
            item_id, f"{day}T15:26:00Z", cloud, footprint, 32619, "19UDP", bands, baseline
        )
        if collection:
            item["collection"] = "sentinel-2-l2a"
            for asset in item["assets"].values():
                asset["href"] = asset["href"].replace("/tiles/", "/l2a/tiles/")
        local = write_scene(tmp_path / item_id, shift, cloudy)
        for key, path in local.items():
            files[item["assets"][key]["href"].removeprefix("s3://sentinel-s2-l1c/")] = path
        items.append(item)
    return items, files
