"""Sentinel-2 L1C (and SRTM / AW3D30 DEMs) from Google Earth Engine.

The composite: ``COPERNICUS/S2_HARMONIZED`` (L1C, with B10) over the region's AOI and imagery
window, each scene linked by ``system:index`` to its Cloud Score+ image
(``GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED``), pixels kept where ``cs_cdf`` >= the region's
threshold, then the per-pixel median. Each band group is exported at its native resolution
(10, 20, 60 m) on grids nested in the region's 10 m grid, through ``computePixels`` requests
planned within its limits and downloaded by :mod:`acquisition.download`.

Authentication: ``earthengine authenticate`` once (stored credentials), Google's
application-default credentials (``gcloud auth application-default login``), or a
service-account key file named by ``L4S_EE_SERVICE_ACCOUNT_KEY``; the Cloud project from
``L4S_EE_PROJECT`` (or ``EARTHENGINE_PROJECT`` / ``GOOGLE_CLOUD_PROJECT``), else the one
``earthengine set_project`` stored or the credentials' quota project
(:mod:`acquisition.credentials`). No secret is logged or written to an output.

Without network, :func:`offline` builds and serializes the same expressions deterministically
from the algorithm list that ships with earthengine-api (``ee.apitestcase``: not a documented
public API, hence the pinned version).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from landslide4sense.acquisition.base import (
    S2_NATIVE_RESOLUTION,
    DemLayer,
    Scene,
    Sentinel2Layers,
    band_groups,
)
from landslide4sense.acquisition.credentials import EE_SETUP, ee_project
from landslide4sense.acquisition.download import BlockRequest, download_blocks, mosaic, plan_blocks
from landslide4sense.acquisition.retry import (
    RetryPolicy,
    TooBigError,
    TransientError,
    is_transient,
    raise_for_status,
    retry_after_seconds,
)
from landslide4sense.errors import ConfigError, SourceError
from landslide4sense.extras import require_extra
from landslide4sense.geo import Grid
from landslide4sense.regions import Region

ee = require_extra("ee", "earthengine")
requests = require_extra("requests", "earthengine")
auth_errors = require_extra("google.auth.exceptions", "earthengine")
AuthorizedSession = require_extra("google.auth.transport.requests", "earthengine").AuthorizedSession
HttpError = require_extra("googleapiclient.errors", "earthengine").HttpError

log = logging.getLogger(__name__)

S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
CLOUD_SCORE_PLUS = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
CS_BAND = "cs_cdf"
#: Our band names and the catalog's (``B1``..``B12``, ``B8A``: no zero padding).
EE_BAND_NAMES = {band: band[0] + band[1:].lstrip("0") for band in S2_NATIVE_RESOLUTION}
#: DEMs Earth Engine offers: asset, band, native pixel size (m), is it an ImageCollection.
EE_DEMS = {
    "srtm": ("USGS/SRTMGL1_003", "elevation", 30, False),
    "aw3d30": ("JAXA/ALOS/AW3D30/V4_1", "DSM", 30, True),
}


def aoi(region: Region) -> ee.Geometry:
    """The AOI as an Earth Engine geometry (planar lon/lat edges, like the YAML's bbox)."""
    geom = region.aoi_geometry()
    return ee.Geometry(geom.__geo_interface__, proj="EPSG:4326", geodesic=False)


def _window(region: Region) -> tuple[str, str]:
    end = region.imagery.end + dt.timedelta(days=1)  # filterDate's end is exclusive
    return region.imagery.start.isoformat(), end.isoformat()


def scenes(region: Region) -> ee.ImageCollection:
    """The region's L1C scenes, each with its Cloud Score+ band linked by ``system:index``."""
    start, end = _window(region)
    l1c = ee.ImageCollection(S2_COLLECTION).filterBounds(aoi(region)).filterDate(start, end)
    return l1c.linkCollection(ee.ImageCollection(CLOUD_SCORE_PLUS), [CS_BAND])


def s2_composite(region: Region) -> ee.Image:
    """Median of the scenes with pixels of ``cs_cdf`` below the threshold masked, as uint16 DN;
    the catalog's bands (``B1``...) renamed to ours (``B01``...)."""
    threshold = region.imagery.cloud_threshold
    clear = scenes(region).map(lambda img: img.updateMask(img.select(CS_BAND).gte(threshold)))
    renamed = clear.select(list(EE_BAND_NAMES.values()), list(EE_BAND_NAMES))
    return renamed.median().round().toUint16()


def scene_summary(region: Region, scale: float = 200.0) -> ee.FeatureCollection:
    """Per scene: id, date, and the share of its AOI pixels masked as cloudy (at ``scale`` m)."""
    threshold, area = region.imagery.cloud_threshold, aoi(region)

    def summary(img):
        cloudy = (
            img.select(CS_BAND)
            .lt(threshold)
            .reduceRegion(ee.Reducer.mean(), area, scale, maxPixels=1e9)
        )
        return ee.Feature(
            None,
            {
                "id": img.get("system:index"),
                "date": img.date().format("YYYY-MM-dd"),
                "cloud_share": cloudy.get(CS_BAND),
            },
        )

    return ee.FeatureCollection(scenes(region).map(summary))


def dem_image(kind: str) -> ee.Image:
    asset, band, _, collection = EE_DEMS[kind]
    img = ee.ImageCollection(asset).select(band).mosaic() if collection else ee.Image(asset)
    return img.select([band], ["elevation"]).toFloat()


def s2_requests(grid: Grid, side: int | None = None) -> list[BlockRequest]:
    """computePixels requests of every band group at its native resolution."""
    return [
        req
        for res, bands in band_groups().items()
        for req in plan_blocks(f"s2-{res}m", bands, grid.buffered(resolution=res), "uint16", side)
    ]


def dem_requests(kind: str, grid: Grid, margin: float = 300.0) -> list[BlockRequest]:
    """Requests of an Earth Engine DEM on a UTM grid at its native pixel size (plus a margin,
    so slope has neighbours at the edges)."""
    return plan_blocks(
        f"dem-{kind}", ("elevation",), grid.buffered(margin, EE_DEMS[kind][2]), "float32"
    )


def request_bodies(image: ee.Image) -> Callable[[BlockRequest], dict]:
    """A function giving each block's computePixels body (also its cache identity): the
    expression, serialized once, and the block's bands (``bandIds``) and grid."""
    expression = ee.serializer.encode(image, for_cloud_api=True)

    def body(req: BlockRequest) -> dict:
        t = req.transform
        return {
            "expression": expression,
            "fileFormat": "GEO_TIFF",
            "bandIds": list(req.bands),
            "grid": {
                "dimensions": {"width": req.width, "height": req.height},
                "affineTransform": {
                    "scaleX": t.a,
                    "shearX": t.b,
                    "translateX": t.c,
                    "shearY": t.d,
                    "scaleY": t.e,
                    "translateY": t.f,
                },
                "crsCode": req.grid.crs,
            },
        }

    return body


CHUNK_BYTES = 1 << 20
_local = threading.local()


def _session():
    """This thread's HTTP session, authorized with the credentials ``ee.Initialize`` was given
    (one per thread: a requests session is not safe to share between threads)."""
    creds = ee.data._get_state().credentials
    session = getattr(_local, "session", None)
    if session is None or getattr(_local, "creds", None) is not creds:
        if creds is None:  # an API key: it is in the request's URL already
            session = requests.Session()
        else:  # as the client's own transport: the quota project travels as a header
            session = AuthorizedSession(
                creds.with_quota_project(None) if creds.quota_project_id else creds
            )
        _local.session, _local.creds = session, creds
    return session


def _reason(response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


#: Earth Engine's answers (HTTP 400, like a malformed request) to a computation too big for it.
TOO_BIG = re.compile(r"memory limit exceeded|computation timed out", re.IGNORECASE)
SMALLER_BLOCK = (
    "the computation was too big for Earth Engine: l4s splits such blocks by itself; to start "
    "smaller, set imagery: block_px in the region file (or --block-px)"
)
#: The fix of each kind of refusal (the message of a 4xx answer says what was refused).
FIXES = {
    400: "the request is malformed, a bug in l4s: report it with `l4s plan REGION --json`",
    401: "check the credentials: run `earthengine authenticate`, or set "
    "L4S_EE_SERVICE_ACCOUNT_KEY to a service-account key file",
    403: "check that L4S_EE_PROJECT names a Cloud project registered for Earth Engine, with the "
    "Earth Engine API enabled, on which your account may run computations",
    404: "check L4S_EE_PROJECT and the Earth Engine endpoint",
}


def _post(method: str, body: dict, dest: Path | None = None):
    """POST one Earth Engine REST call (``computePixels`` or ``compute``) as the client would
    (URL, headers and JSON body come from its own API resource), on our session, so our retry
    policy sees the HTTP status. With ``dest`` the answer streams there in 1 MB chunks and its
    size is returned; otherwise the decoded JSON ``result``.

    Raises:
        TransientError: HTTP 408, 429, 5xx, a dropped connection or a short body.
        SourceError: any other refusal, with the fix.
    """
    resource = ee.data._get_cloud_projects_raw()
    resource = resource.image() if method == "computePixels" else resource.value()
    call = getattr(resource, method)(project=ee.data._get_projects_path(), body=body)
    try:
        with _session().request(
            call.method,
            call.uri,
            data=call.body,
            headers=call.headers,
            stream=dest is not None,
            timeout=(30, 600),
        ) as response:
            status = response.status_code
            reason = _reason(response) if status >= 400 else ""
            if status == 400 and TOO_BIG.search(reason):
                raise TooBigError(f"Earth Engine {method}: HTTP 400: {reason}; {SMALLER_BLOCK}")
            fix = FIXES.get(status, "check the Earth Engine status page and re-run")
            raise_for_status(
                status,
                reason,
                response.headers,
                f"Earth Engine {method}",
                fix,
            )
            if dest is None:
                return response.json()["result"]
            size = 0
            with open(dest, "wb") as f:
                for chunk in response.iter_content(CHUNK_BYTES):
                    f.write(chunk)
                    size += len(chunk)
            return size
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    ) as err:
        raise TransientError(f"connection to Earth Engine failed: {err}") from err
    except auth_errors.GoogleAuthError as err:  # a refused token could not refresh
        raise SourceError(
            f"Earth Engine {method}: credentials refused ({err}); {FIXES[401]}"
        ) from err


def send(body: dict, dest: Path) -> int:
    """POST one computePixels request and stream the GeoTIFF into ``dest``; returns its size."""
    return _post("computePixels", body, dest)


def compute_value(obj, policy: RetryPolicy | None = None):
    """The value of an Earth Engine object (``getInfo``), through our retry policy."""
    body = {"expression": ee.serializer.encode(obj, for_cloud_api=True)}
    return (policy or RetryPolicy()).call(lambda: _post("compute", body), "Earth Engine compute")


def credentials():
    """Service-account credentials from ``L4S_EE_SERVICE_ACCOUNT_KEY``, else stored ones."""
    key = os.environ.get("L4S_EE_SERVICE_ACCOUNT_KEY")
    if not key:
        return "persistent"
    path = Path(key)
    if not path.is_file():
        raise ConfigError(f"L4S_EE_SERVICE_ACCOUNT_KEY names {path}, which is not a file")
    email = json.loads(path.read_text())["client_email"]
    return ee.ServiceAccountCredentials(email, key_file=str(path))


def project() -> str | None:
    """The Cloud project of every call (:func:`acquisition.credentials.ee_project`)."""
    return ee_project()


SETUP = EE_SETUP


def initialize(url: str | None = None, creds=None, policy: RetryPolicy | None = None) -> None:
    """Initialize the Earth Engine client (real network; ``url`` for another endpoint).

    The client's own retries are turned off: our policy retries, once.

    Raises:
        SourceError: no credentials or no project (the message says how to set them up).
    """
    if project() is None:
        raise SourceError(f"no Earth Engine project: {SETUP}")

    def start() -> None:
        ee.data.setMaxRetries(0)
        try:
            ee.Initialize(
                credentials=creds if creds is not None else credentials(),
                url=url,
                project=project(),
            )
        except (requests.ConnectionError, requests.Timeout) as err:
            raise TransientError(f"Earth Engine unreachable: {err}") from err
        except (ee.EEException, auth_errors.GoogleAuthError) as err:
            http = err.__context__  # the client turns HTTP errors into EEException
            if isinstance(http, HttpError) and is_transient(http.status_code):
                raise TransientError(
                    f"Earth Engine start: {err}",
                    http.status_code,
                    retry_after_seconds(http.resp.get("retry-after")),
                ) from err
            raise SourceError(f"Earth Engine could not start ({err}); {SETUP}") from err
        ee.data.setMaxRetries(0)

    (policy or RetryPolicy()).call(start, "Earth Engine start")


@contextlib.contextmanager
def offline(project_id: str = "l4s-offline") -> Iterator[None]:
    """Earth Engine initialised without network: expressions build and serialize, nothing runs.

    Uses the algorithm list bundled with earthengine-api (``ee.apitestcase.GetAlgorithms``).
    """
    from ee import apitestcase

    saved = (ee.data._install_cloud_api_resource, ee.data.getAlgorithms)
    ee.Reset()
    ee.data._install_cloud_api_resource = lambda: None
    ee.data.getAlgorithms = apitestcase.GetAlgorithms
    try:
        ee.Initialize(None, "", project=project_id)
        yield
    finally:
        ee.Reset()
        ee.data._install_cloud_api_resource, ee.data.getAlgorithms = saved


def requested_side(region: Region, side: int | None = None) -> int | None:
    """The block side of the region's requests: ``side`` (the CLI's ``--block-px``), else the
    region's ``imagery.block_px``, else None (the largest within the request limits)."""
    return side or region.imagery.block_px


def plan(region: Region, grid: Grid, dem: bool = True, side: int | None = None) -> dict:
    """What an Earth Engine export of ``region`` would request (offline); ``side``: the block
    side in px (default: the region's, else the largest within the limits)."""
    with offline():
        image = s2_composite(region)
        reqs = s2_requests(grid, requested_side(region, side))
        out = {
            "source": "earthengine",
            "block_px": {
                f"{res}m": max(r.width for r in reqs if r.grid.resolution == res)
                for res in band_groups()
            },
            "grid": grid.to_dict(),
            "collections": [S2_COLLECTION, CLOUD_SCORE_PLUS],
            "requests": [r.to_dict() | {"grid": r.grid.to_dict()} for r in reqs],
            "expression": ee.serializer.encode(image, for_cloud_api=True),
            "scene_summary": ee.serializer.encode(scene_summary(region), for_cloud_api=True),
        }
        if dem and region.dem in EE_DEMS:
            out["dem_requests"] = [
                r.to_dict() | {"grid": r.grid.to_dict()} for r in dem_requests(region.dem, grid)
            ]
            out["dem_expression"] = ee.serializer.encode(dem_image(region.dem), for_cloud_api=True)
    return out


class EarthEngineSource:
    """Sentinel-2 L1C composites from Earth Engine.

    Args:
        concurrency: computePixels requests in flight (default 16, at most 40).
        block_px: the side of a request's block in px (default: the region's
            ``imagery.block_px``, else the largest within the request limits); a block Earth
            Engine finds too big is split in four anyway.
        url: another Earth Engine endpoint (tests use a local stand-in).
        creds: credentials to use instead of the standard ones.
        policy: the retry policy of every call.
    """

    name = "earthengine"

    def __init__(
        self,
        concurrency: int = 16,
        block_px: int | None = None,
        url: str | None = None,
        creds=None,
        policy: RetryPolicy | None = None,
    ):
        self.concurrency, self.block_px, self.url, self.creds = concurrency, block_px, url, creds
        self.policy = policy or RetryPolicy()

    def fetch(self, region: Region, grid: Grid, work: Path) -> Sentinel2Layers:
        """The region's composite, one file per band at its native resolution.

        Raises:
            SourceError: no credentials, no scene in the window, or the service failed.
        """
        initialize(self.url, self.creds, self.policy)
        out = Path(work) / "earthengine"
        summary = compute_value(scene_summary(region), self.policy)["features"]
        if not summary:
            raise SourceError(
                f"no Sentinel-2 L1C scene over region '{region.name}' between "
                f"{region.imagery.start} and {region.imagery.end}; widen the imagery window"
            )
        reqs = s2_requests(grid, requested_side(region, self.block_px))
        report = download_blocks(
            reqs,
            request_bodies(s2_composite(region)),
            send,
            out / "cache",
            self.concurrency,
            self.policy,
        )
        bands = mosaic(reqs, report.paths, out / "s2", nodata=0)
        found = [
            Scene(
                id=f["properties"]["id"],
                date=f["properties"]["date"],
                cloud_cover=_percent(f["properties"].get("cloud_share")),
            )
            for f in summary
        ]
        details = {
            "collections": f"{S2_COLLECTION} + {CLOUD_SCORE_PLUS} ({CS_BAND})",
            "cloud_threshold": region.imagery.cloud_threshold,
            "cloud_masked_share": _mean([s.cloud_cover for s in found]),
            "composite": "per-pixel median of Cloud Score+ masked scenes",
            "requests": report.requests,
            "cached_blocks": report.cache_hits,
            "split_blocks": report.splits,
        }
        return Sentinel2Layers(self.name, bands, found, details)


def fetch_ee_dem(
    region: Region,
    grid: Grid,
    out: Path,
    url: str | None = None,
    creds=None,
    concurrency: int = 16,
    policy: RetryPolicy | None = None,
) -> DemLayer:
    """SRTM or AW3D30 from Earth Engine on a UTM grid at its native 30 m (one float32 band)."""
    policy = policy or RetryPolicy()
    initialize(url, creds, policy)
    image = dem_image(region.dem)
    reqs = dem_requests(region.dem, grid)
    report = download_blocks(reqs, request_bodies(image), send, out / "cache", concurrency, policy)
    path = mosaic(reqs, report.paths, out / f"dem-{region.dem}")["elevation"]
    return DemLayer(
        path,
        {
            "dem_product": f"{EE_DEMS[region.dem][0]} via Earth Engine",
            "dem_heights": "orthometric (EGM96 geoid)",
        },
    )


def _percent(share) -> float | None:
    return None if share is None else round(100 * float(share), 2)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 2) if values else None


__all__ = ["EarthEngineSource", "fetch_ee_dem", "offline", "plan", "s2_composite"]
