"""Sentinel-2 L1C without Earth Engine: Earth Search's archive, cloud-masked here.

Earth Search (Element 84) indexes the whole L1C archive as the STAC collection
``sentinel-2-l1c``; its items point at the original JPEG 2000 bands in the AWS bucket
``s3://sentinel-s2-l1c``, which is *requester-pays*: reading needs an AWS account's keys, and
the account pays the transfer (see the README for the cost). L1C items carry no per-pixel
cloud mask, only the scene's ``eo:cloud_cover``.

The composite, with Earth Engine's band order, grids and provenance:

1. search the AOI and imagery window for scenes under the region's ``max_scene_cloud``,
   sorted by ``eo:cloud_cover`` (least cloudy first), and choose from them, least cloudy
   first, the scenes that add an observation where the AOI still has fewer than
   ``min_clear`` (:func:`choose_scenes`), at most ``max_items``: a strip of the AOI that only
   one tile or orbit covers gets its own scenes, however cloudy the tile is over the rest;
   how many scenes each part (tile) got is reported;
2. read each band of each scene with GDAL's ``/vsis3/`` windowed reads (the request-payer
   header set) onto the grid nested in the region's grid at the band's native 10/20/60 m;
3. remove the processing-baseline offset (+1000 DN for baseline 04.00 and later, read from
   ``s2:processing_baseline`` or the product name's ``_Nxxxx_``; the catalogue's
   ``raster:bands`` offset is wrong on older baselines, so it is only compared and warned
   about), so every scene is in the pre-2022 DN range, as Earth Engine's ``S2_HARMONIZED``;
4. mask clouds per pixel with s2cloudless (its LightGBM model ships in its wheel: no network),
   run on the ten bands it needs averaged onto the 60 m grid;
5. take the per-pixel median of the clear values.

Every network call (the search, each band read) goes through :mod:`acquisition.retry`;
GDAL's own retries are off. Composites are cached under a key of everything that changes
their pixels (AOI, grid, window, cloud limits, collection, scene ids, code version).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import rasterio
import rasterio.session
import shapely
import shapely.geometry
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from landslide4sense import __version__
from landslide4sense.acquisition.base import Scene, Sentinel2Layers, band_groups
from landslide4sense.acquisition.retry import RetryPolicy, TransientError, is_transient
from landslide4sense.errors import SourceError
from landslide4sense.extras import require_extra
from landslide4sense.files import atomic_path, digest, write_json
from landslide4sense.geo import Grid
from landslide4sense.regions import Region

log = logging.getLogger(__name__)
T = TypeVar("T")

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
L1C_COLLECTION = "sentinel-2-l1c"
BUCKET_REGION = "eu-central-1"  # sentinel-s2-l1c
#: Earth Search's asset key (the band's common name) of each band.
ASSETS = {
    "B01": "coastal",
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B05": "rededge1",
    "B06": "rededge2",
    "B07": "rededge3",
    "B08": "nir",
    "B8A": "nir08",
    "B09": "nir09",
    "B10": "cirrus",
    "B11": "swir16",
    "B12": "swir22",
}
#: The bands s2cloudless reads, in its order.
CLOUD_BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")
CLOUD_RESOLUTION = 60
NO_DATA = 255  # in a cloud mask: the scene has no pixel there
BLOCK_ROWS = 1024
CANDIDATES = 5  # scenes searched per scene chosen (the choice needs more than the least cloudy)
MIN_CLEAR = 3  # scenes wanted over every part of the AOI (a median of 3 outvotes one cloud)
AOI_SAMPLES = 24  # the AOI is checked on a 24 x 24 lattice of points
TIMEOUT = (10, 60)  # seconds to connect, and between bytes, of every STAC request
READERS = 8  # band reads in flight (GDAL releases the GIL while it waits on the network)
#: Changes whenever the composite's method changes (part of the cache key).
METHOD = "s2cloudless-0.4-60m/harmonized-by-baseline/median/2"
AWS_SETUP = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary "
    "keys), or AWS_PROFILE naming a profile of ~/.aws/credentials or ~/.aws/config (keys, "
    "SSO after `aws sso login`, credential_process), of an AWS account: the sentinel-s2-l1c "
    "bucket is requester-pays, your account pays its transfer"
)


def stac_call(url: str, call: Callable[[Any], T]) -> T:
    """``call(client)`` on the STAC API at ``url``, once: pystac-client's own retries off and
    every request under :data:`TIMEOUT`, so our policy is the only layer of retries.

    Raises:
        TransientError: no answer (refused or dropped connection, timeout), HTTP 408/429/5xx.
        SourceError: any other refusal.
    """
    client = require_extra("pystac_client", "stac")
    requests = require_extra("requests", "stac")
    try:
        io = client.stac_api_io.StacApiIO(timeout=TIMEOUT, max_retries=0)
        return call(client.Client.open(url, stac_io=io))
    except client.exceptions.APIError as err:
        status = getattr(err, "status_code", None)
        if status is None and isinstance(err.__context__, requests.RequestException):
            raise TransientError(f"STAC API at {url} did not answer: {err}") from err
        if status is not None and is_transient(status):
            raise TransientError(f"STAC API at {url}: HTTP {status}: {err}", status) from err
        raise SourceError(
            f"STAC API at {url} refused the request (HTTP {status}): {err}; check the URL "
            "and the region's imagery window"
        ) from err


def search_parameters(
    region: Region, collection: str = L1C_COLLECTION, max_items: int = 10
) -> dict:
    """The STAC item search of a region: least cloudy scenes first (``l4s plan`` prints it)."""
    return {
        "collections": [collection],
        "intersects": region.aoi_geometry().__geo_interface__,
        "datetime": f"{region.imagery.start.isoformat()}/{region.imagery.end.isoformat()}",
        "query": {"eo:cloud_cover": {"lte": region.imagery.max_scene_cloud}},
        "sortby": [{"field": "properties.eo:cloud_cover", "direction": "asc"}],
        "limit": max_items,
        "max_items": max_items,
    }


def aoi_points(aoi, n: int = AOI_SAMPLES) -> np.ndarray:
    """Points of an ``n`` x ``n`` lattice over the AOI's bounds that fall inside it (shapely
    points; the centroid where none does)."""
    west, south, east, north = aoi.bounds
    xs = west + (np.arange(n) + 0.5) * (east - west) / n
    ys = south + (np.arange(n) + 0.5) * (north - south) / n
    points = shapely.points(*np.meshgrid(xs, ys))
    inside = points[shapely.contains(aoi, points)].ravel()
    return inside if inside.size else np.array([aoi.centroid])


def part_of(item) -> str:
    """The part of the AOI a scene belongs to: its MGRS tile (``grid:code``), else its id."""
    return str(item.properties.get("grid:code") or item.id)


def choose_scenes(items: list, aoi, max_items: int = 10, min_clear: int = MIN_CLEAR):
    """From ``items`` (least cloudy first), the scenes that add an observation where the AOI
    has fewer than ``min_clear``, in order, at most ``max_items``; and how many chosen scenes
    cover each AOI lattice point (:func:`aoi_points`)."""
    points = aoi_points(aoi)
    counts = np.zeros(len(points), int)
    chosen = []
    for item in items:
        covers = shapely.contains(shapely.geometry.shape(item.geometry), points)
        if len(chosen) < max_items and (covers & (counts < min_clear)).any():
            chosen.append(item)
            counts += covers
    return chosen, counts


def scenes_per_part(chosen: list, aoi, counts: np.ndarray) -> dict[str, dict]:
    """Per part (tile): the chosen scenes of it, and the fewest scenes any of its AOI points
    got from all tiles (what the median of that part stands on)."""
    points = aoi_points(aoi)
    report = {}
    for part in dict.fromkeys(part_of(i) for i in chosen):
        footprints = [shapely.geometry.shape(i.geometry) for i in chosen if part_of(i) == part]
        mine = shapely.contains(shapely.union_all(footprints), points)
        report[part] = {"scenes": len(footprints), "fewest_per_point": int(counts[mine].min())}
    return report


def plan(region: Region, grid: Grid) -> dict:
    """What the STAC source would request for ``region`` (offline)."""
    return {
        "source": "stac",
        "stac_api": EARTH_SEARCH,
        "grid": grid.to_dict(),
        "search": StacSource().search_parameters(region),
        "assets": ASSETS,
        "band_grids": {f"{res}m": grid.buffered(resolution=res).to_dict() for res in band_groups()},
        "cloud_mask": f"s2cloudless on {', '.join(CLOUD_BANDS)} at {CLOUD_RESOLUTION} m",
    }


def aws_credentials(profile: str | None = None) -> dict[str, str] | None:
    """AWS keys for GDAL, complete, from botocore's credential chain: the environment
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), the profile
    ``profile`` or ``AWS_PROFILE`` of ``~/.aws/credentials`` and ``~/.aws/config`` (static keys
    with their session token, SSO, ``credential_process``, assumed roles), then container and
    instance roles. Temporary keys come with their session token (S3 refuses them without).
    None when the chain finds nothing.

    Raises:
        SourceError: the chain failed (an unknown profile, an expired SSO login...), with its
            reason and the fix.
    """
    botocore = require_extra("botocore.session", "stac")
    exceptions = require_extra("botocore.exceptions", "stac")
    try:
        creds = botocore.Session(profile=profile).get_credentials()
        frozen = creds.get_frozen_credentials() if creds is not None else None
    except exceptions.BotoCoreError as err:
        raise SourceError(f"AWS credentials: {err}; {AWS_SETUP}") from err
    if frozen is None or not frozen.access_key:
        return None
    keys = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    if frozen.token:
        keys["AWS_SESSION_TOKEN"] = frozen.token
    return keys


class _Keys(rasterio.session.Session):
    """AWS keys handed to GDAL (rasterio takes them only through a session; its own AWS
    session needs boto3)."""

    def __init__(self, keys: dict[str, str]):
        self._keys = keys

    @classmethod
    def hascreds(cls, config: dict) -> bool:
        return "AWS_ACCESS_KEY_ID" in config

    @property
    def credentials(self) -> dict[str, str]:
        return self._keys

    def get_credential_options(self) -> dict[str, str]:
        return self._keys


def s3_env(keys: dict[str, str], endpoint: str | None = None, **changes) -> rasterio.Env:
    """GDAL's environment for requester-pays reads (``endpoint``: another S3, e.g. a
    stand-in; ``changes``: options to override, e.g. in tests)."""
    options = {
        "AWS_REQUEST_PAYER": "requester",
        "AWS_REGION": BUCKET_REGION,
        "GDAL_HTTP_MAX_RETRY": "0",  # our policy retries, once
        "GDAL_HTTP_TIMEOUT": "60",
        "GDAL_HTTP_CONNECTTIMEOUT": "10",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".jp2,.tif",
    }
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        options |= {
            "AWS_S3_ENDPOINT": host,
            "AWS_HTTPS": "YES" if scheme == "https" else "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
        }
    return rasterio.Env(session=_Keys(keys), **(options | changes))


def vsi_path(href: str) -> str:
    """GDAL's name of an asset: ``s3://bucket/key`` is ``/vsis3/bucket/key``."""
    return "/vsis3/" + href.removeprefix("s3://") if href.startswith("s3://") else href


#: The processing baseline in a product name: ``..._N0510_...`` is 05.10.
BASELINE_IN_NAME = re.compile(r"_N(\d{2})(\d{2})_")
OFFSET_BASELINE = "04.00"  # products of this baseline and later carry RADIO_ADD_OFFSET -1000


def processing_baseline(item) -> str | None:
    """The item's processing baseline (``05.10``): ``s2:processing_baseline``, else the
    ``_Nxxxx_`` of its product name (``s2:product_uri``, then its id); None if neither says."""
    baseline = item.properties.get("s2:processing_baseline")
    if baseline:
        return str(baseline)
    for name in (item.properties.get("s2:product_uri"), item.id):
        found = BASELINE_IN_NAME.search(name or "")
        if found:
            return f"{found[1]}.{found[2]}"
    return None


def catalogue_offset(item, band: str) -> float | None:
    """The DN offset the catalogue states for ``band`` (``raster:bands`` offset / scale)."""
    asset = item.assets.get(ASSETS[band]) if ASSETS.get(band) else None
    rb = ((asset.extra_fields.get("raster:bands") if asset else None) or [{}])[0]
    if "offset" in rb and rb.get("scale"):
        return float(round(rb["offset"] / rb["scale"]))
    return None


def dn_offset(item, band: str) -> float:
    """The DN to add so the scene is in the pre-2022 range, decided by the processing baseline
    (-1000 from 04.00 on, also for Collection-1 reprocessings of older scenes; 0 before): the
    catalogue's ``raster:bands`` offset is known to be wrong (Earth Search states -0.1 on old
    baselines too), so it decides only where no baseline is known."""
    baseline = processing_baseline(item)
    if baseline is None:
        return catalogue_offset(item, band) or 0.0
    return -1000.0 if baseline >= OFFSET_BASELINE else 0.0


def offset_disagreements(items, band: str = "B02") -> list[str]:
    """A line per item whose catalogue offset differs from the one its baseline implies (the
    composite uses the baseline's: ``l4s`` warns, so a reader of the catalogue is not misled)."""
    lines = []
    for item in items:
        stated, used = catalogue_offset(item, band), dn_offset(item, band)
        if stated is not None and stated != used:
            lines.append(
                f"{item.id}: the catalogue states a DN offset of {stated:+.0f}, its processing "
                f"baseline {processing_baseline(item)} implies {used:+.0f}; using {used:+.0f}"
            )
    return lines


#: Transient failures as GDAL words them: S3's <Message> of a refusal (not the status), and
#: a block read that failed once the file was open (a range request that did not complete).
S3_TRANSIENT = re.compile(
    r"reduce your request rate|internal error|try again|unavailable|"
    r"timed? ?out|onnection|reset by peer|read failed|IReadBlock failed",
    re.IGNORECASE,
)
S3_REFUSED = re.compile(r"access denied|signature|access key id|forbidden", re.IGNORECASE)


def _classify(err: RasterioIOError, href: str) -> SourceError:
    """A failed read as transient (HTTP 429/5xx, S3's SlowDown, timeouts, dropped
    connections) or permanent (refused keys or payment, a missing object)."""
    chain, cause = [], err
    while cause is not None and len(chain) < 5:  # GDAL's earlier errors say more
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    text = "; ".join(dict.fromkeys(chain))
    code = re.search(r"HTTP (?:response )?code:? ?(\d{3})", text)
    status = int(code.group(1)) if code else None
    if (status and is_transient(status)) or S3_TRANSIENT.search(text):
        return TransientError(f"reading {href}: {text}", status)
    if status in (401, 403) or S3_REFUSED.search(text):
        return SourceError(f"reading {href}: access denied ({text}); {AWS_SETUP}")
    return SourceError(
        f"reading {href}: {text}; check that the scene still exists "
        "(re-run the search) and the AWS keys"
    )


class StacSource:
    """Sentinel-2 L1C composites from Earth Search and its requester-pays bucket.

    Args:
        url: the STAC API (default Earth Search v1).
        collection: the L1C collection id.
        max_items: scenes at most, the least cloudy first.
        s3_endpoint: another S3 endpoint (``http://host:port``; tests use a stand-in).
        policy: the retry policy of every call.
    """

    name = "stac"
    readers = READERS  # band reads in flight

    def __init__(
        self,
        url: str = EARTH_SEARCH,
        collection: str = L1C_COLLECTION,
        max_items: int = 10,
        s3_endpoint: str | None = None,
        policy: RetryPolicy | None = None,
    ):
        self.url, self.collection, self.max_items = url, collection, max_items
        self.s3_endpoint, self.policy = s3_endpoint, policy or RetryPolicy()
        self._keys: dict[str, str] | None = None

    def search_parameters(self, region: Region) -> dict:
        """The item search of ``region`` (``l4s plan`` prints it): the candidates."""
        return search_parameters(region, self.collection, CANDIDATES * self.max_items)

    def href(self, item, band: str) -> str:
        """Where ``band`` of ``item`` is (Earth Search keys assets by common name)."""
        return item.assets[ASSETS[band]].href

    def credentials(self) -> dict[str, str]:
        """The S3 keys the band reads are signed with.

        Raises:
            SourceError: none configured (the message says how to set them).
        """
        keys = aws_credentials()
        if keys is None:
            raise SourceError(f"the stac source reads a requester-pays bucket: {AWS_SETUP}")
        return keys

    def env(self) -> rasterio.Env:
        """GDAL's settings of a band read (keys, endpoint, payer)."""
        return s3_env(self._keys, self.s3_endpoint)

    def describe(self) -> str:
        """Where the scenes come from, for the provenance."""
        return f"{self.url} {self.collection} (s3://sentinel-s2-l1c)"

    def search(self, region: Region) -> list:
        """The scenes of the composite, least cloudy first (:func:`choose_scenes`).

        Raises:
            SourceError: the search failed, or found nothing (the message says what to widen).
        """
        params = self.search_parameters(region)
        items = self.policy.call(
            lambda: stac_call(self.url, lambda api: list(api.search(**params).items())),
            "STAC search",
        )
        chosen = choose_scenes(items, region.aoi_geometry(), self.max_items)[0]
        if not chosen:  # none found, or none whose footprint reaches into the AOI
            raise SourceError(
                f"no {self.collection} scene at {self.url} over region '{region.name}' between "
                f"{region.imagery.start} and {region.imagery.end} with at most "
                f"{region.imagery.max_scene_cloud}% cloud; widen the window or the cloud limit"
            )
        return chosen

    def fetch(self, region: Region, grid: Grid, work: Path) -> Sentinel2Layers:
        """The region's composite, one file per band at its native resolution.

        Raises:
            SourceError: no AWS keys, no scene, or a read failed for good.
        """
        self._keys = self.credentials()
        items = self.search(region)
        counts = choose_scenes(items, region.aoi_geometry(), len(items))[1]
        parts = scenes_per_part(items, region.aoi_geometry(), counts)
        for part, got in parts.items():
            if got["fewest_per_point"] < MIN_CLEAR:
                log.warning(
                    "%s: part %s of the AOI has only %d scene(s) under %s%% cloud; widen the "
                    "imagery window or max_scene_cloud for a cleaner median",
                    region.name,
                    part,
                    got["fewest_per_point"],
                    region.imagery.max_scene_cloud,
                )
        for line in offset_disagreements(items):
            log.warning(line)
        key = digest(
            region.aoi.model_dump(mode="json"),
            grid.to_dict(),
            region.imagery.model_dump(mode="json"),
            self.collection,
            [i.id for i in items],
            METHOD,
            __version__,
        )
        out = Path(work) / "stac" / key
        bands = {band: out / f"{band}.tif" for bands in band_groups().values() for band in bands}
        if not all(p.exists() for p in bands.values()):
            masks = [self.cloud_mask(item, grid, out / "clouds") for item in items]
            for res, names in band_groups().items():
                for band in names:
                    if not bands[band].exists():
                        self.median_band(
                            items, masks, band, grid.buffered(resolution=res), bands[band]
                        )
        write_json(out / "scenes.json", [i.id for i in items])
        shares = [cloud_share(out / "clouds" / f"{i.id}.tif") for i in items]
        scenes = [
            Scene(id=i.id, date=str(i.datetime.date()) if i.datetime else None, cloud_cover=share)
            for i, share in zip(items, shares, strict=True)
        ]
        known = [v for v in shares if v is not None]
        details = {
            "collections": self.describe(),
            "scene_cloud_limit": region.imagery.max_scene_cloud,
            "scene_cloud_cover": {i.id: i.properties.get("eo:cloud_cover") for i in items},
            "cloud_masked_share": round(sum(known) / len(known), 2) if known else None,
            "scene_order": f"least cloudy first (eo:cloud_cover), each adding an observation "
            f"where the AOI had fewer than {MIN_CLEAR}",
            "scenes_per_part": parts,
            "harmonized": "processing baseline 04.00+ offset removed (pre-2022 DN range), "
            "decided by the baseline, not the catalogue's raster:bands offset",
            "pixel_cloud_mask": f"s2cloudless 1.7 (threshold 0.4) at {CLOUD_RESOLUTION} m",
            "composite": "per-pixel median of the clear values",
            "cache_key": key,
        }
        return Sentinel2Layers(self.name, bands, scenes, details)

    def read(
        self,
        item,
        band: str,
        grid: Grid,
        window: Window,
        resampling: Resampling = Resampling.bilinear,
    ) -> np.ndarray:
        """``band`` of ``item`` on ``grid`` (float32, NaN where no data), harmonized; in any
        thread (GDAL's settings are per thread: each read sets its own)."""
        with self.env():
            values = read_band(self.href(item, band), grid, window, resampling, self.policy)
        offset = dn_offset(item, band)
        return np.maximum(values + offset, 1) if offset else values

    def cloud_mask(self, item, grid: Grid, folder: Path) -> Path:
        """The scene's cloud mask (1 = cloud) on the 60 m grid, made once with s2cloudless."""
        path = folder / f"{item.id}.tif"
        if path.exists():
            return path
        detector = require_extra("s2cloudless", "stac").S2PixelCloudDetector(
            threshold=0.4, average_over=1, dilation_size=1, all_bands=False
        )
        g = grid.buffered(resolution=CLOUD_RESOLUTION)
        full = Window(0, 0, g.width, g.height)
        reads = in_threads(
            lambda b: self.read(item, b, g, full, Resampling.average), CLOUD_BANDS, self.readers
        )
        stack = np.stack(reads, -1)
        clouds = detector.get_cloud_masks(np.nan_to_num(stack / 10000.0)[None])[0].astype("uint8")
        clouds[np.isnan(stack).all(axis=-1)] = NO_DATA
        profile = {
            "driver": "GTiff",
            "width": g.width,
            "height": g.height,
            "count": 1,
            "dtype": "uint8",
            "crs": g.crs,
            "transform": g.transform,
            "nodata": NO_DATA,
        }
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(clouds, 1)
        log.info(
            "%s: %.1f%% of the region's pixels cloudy (s2cloudless)", item.id, cloud_share(path)
        )
        return path

    def median_band(self, items, masks: list[Path], band: str, grid: Grid, out: Path) -> Path:
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
                stack = in_threads(
                    lambda i, w=window: self.read(items[i], band, grid, w),
                    range(len(items)),
                    self.readers,
                )
                for values, mask in zip(stack, masks, strict=True):
                    values[read_mask(mask, grid, window)] = np.nan
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # pixels cloudy everywhere
                    med = np.nanmedian(np.stack(stack), axis=0)
                dst.write(np.nan_to_num(np.rint(med), nan=0).astype(np.uint16), 1, window=window)
        return out


def read_band(
    href: str, grid: Grid, window: Window, resampling: Resampling, policy: RetryPolicy
) -> np.ndarray:
    """A window of a remote band on ``grid`` (float32, NaN where no data), under ``policy``;
    GDAL's settings (keys, payer) come from the caller's ``rasterio.Env``."""

    def read() -> np.ndarray:
        try:
            with (
                rasterio.open(vsi_path(href)) as src,
                WarpedVRT(
                    src,
                    crs=grid.crs,
                    transform=grid.transform,
                    width=grid.width,
                    height=grid.height,
                    resampling=resampling,
                    dtype="float32",
                    src_nodata=0,
                    nodata=float("nan"),
                ) as vrt,
            ):
                return vrt.read(1, window=window)
        except RasterioIOError as err:
            raise _classify(err, href) from err

    return policy.call(read, f"reading {href}")


def in_threads(fn, args, readers: int = READERS) -> list:
    """``[fn(a) for a in args]``, with up to ``readers`` reads in flight."""
    with ThreadPoolExecutor(readers) as pool:
        return list(pool.map(fn, args))


def read_mask(path: Path, grid: Grid, window: Window) -> np.ndarray:
    """A cloud mask (any grid) on ``grid``'s ``window``, nearest neighbour: True = cloud."""
    with (
        rasterio.open(path) as src,
        WarpedVRT(
            src,
            crs=grid.crs,
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.nearest,
        ) as vrt,
    ):
        return vrt.read(1, window=window) == 1


def cloud_share(path: Path) -> float | None:
    """The share (%) of a scene's pixels over the region that its mask calls cloud, as Earth
    Engine's scene summary reports it; None where the scene has no data there."""
    with rasterio.open(path) as src:
        mask = src.read(1)
    valid = mask != NO_DATA
    return round(100 * float((mask[valid] == 1).mean()), 2) if valid.any() else None
