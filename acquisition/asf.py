"""The paper's DEM: the DEM inside ASF's ALOS PALSAR radiometric-terrain-corrected products.

The "ALOS PALSAR DEM" of Landslide4Sense is the DEM that ASF ships inside its high-resolution
(RT1, 12.5 m) RTC products. It is not a DEM product of its own: ASF resampled its source DEM
(NED in the US, **SRTM GL1 elsewhere**, up-sampled from about 30 m) to 12.5 m and converted it
to **ellipsoidal heights** (WGS84), so it differs from geoid-based DEMs by the geoid
undulation (tens of metres). Slope, the pipeline's use of it, is unaffected by that offset.

:class:`AsfDemSource` finds the RTC granules over the AOI with ``asf_search``, keeps the
fewest that cover it (one per frame: the newest processing of each path/frame), downloads
them (Earthdata login, and the ALOS EULA accepted once), extracts each ``*.dem.tif`` and
mosaics them at exactly 12.5 m in the first one's UTM zone, cropped to the region (nodata
-9999). Every failure is a :class:`SourceError`; transient ones are retried by
:mod:`acquisition.retry` (asf_search's own retries are turned off while we search, and zips
are streamed by :func:`fetch_zip`, with a timeout, not by asf_search, which calls every 4xx a
login problem and retries nothing).

Credentials: ``EARTHDATA_USERNAME`` and ``EARTHDATA_PASSWORD``, or ``EARTHDATA_TOKEN``, or a
``~/.netrc`` entry for ``urs.earthdata.nasa.gov``. They are never logged or written out.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import netrc
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
import requests
import shapely
from rasterio.merge import merge
from rasterio.vrt import WarpedVRT
from rasterio.warp import Resampling, calculate_default_transform, transform_bounds
from shapely.geometry import shape

from landslide4sense import __version__
from landslide4sense.acquisition.base import DemLayer
from landslide4sense.acquisition.retry import (
    RetryPolicy,
    TransientError,
    is_transient,
    raise_for_status,
)
from landslide4sense.errors import SourceError
from landslide4sense.extras import require_extra
from landslide4sense.files import atomic_path, digest
from landslide4sense.geo import Grid
from landslide4sense.regions import Region

log = logging.getLogger(__name__)

EDL_HOST = "urs.earthdata.nasa.gov"
RESOLUTION = 12.5
NODATA = -9999.0
MARGIN = 300.0  # metres around the grid, so slope has neighbours at the edges
HEIGHTS = "ellipsoidal (WGS84), SRTM GL1-derived outside the US (NED inside), up-sampled to 12.5 m"
EARTHDATA_SETUP = (
    "set EARTHDATA_USERNAME and EARTHDATA_PASSWORD (or EARTHDATA_TOKEN, or a "
    "~/.netrc entry for urs.earthdata.nasa.gov) of a free NASA Earthdata login, "
    "and accept the ALOS PALSAR EULA once at https://search.asf.alaska.edu "
    "(sign in, download any ALOS PALSAR product)"
)


def earthdata_login() -> tuple[str, str] | None:
    """Which Earthdata credentials are configured: ("password", user), ("token", ""), or None."""
    if os.environ.get("EARTHDATA_USERNAME") and os.environ.get("EARTHDATA_PASSWORD"):
        return "password", os.environ["EARTHDATA_USERNAME"]
    if os.environ.get("EARTHDATA_TOKEN"):
        return "token", ""
    try:
        auth = netrc.netrc().authenticators(EDL_HOST)
    except (FileNotFoundError, netrc.NetrcParseError):
        auth = None
    return ("netrc", auth[0]) if auth else None


def session(edl_host: str | None = None):
    """An ``asf_search`` session, authenticated with the configured Earthdata login.

    Raises:
        SourceError: no credentials, or Earthdata refused them.
    """
    asf = require_extra("asf_search", "asf")
    s = asf.ASFSession(edl_host=edl_host)
    kind = earthdata_login()
    if kind is None:
        raise SourceError(f"ASF downloads need an Earthdata login: {EARTHDATA_SETUP}")
    try:
        if kind[0] == "token":
            return s.auth_with_token(os.environ["EARTHDATA_TOKEN"])
        if kind[0] == "password":
            return s.auth_with_creds(kind[1], os.environ["EARTHDATA_PASSWORD"])
        auth = netrc.netrc().authenticators(EDL_HOST)
        return s.auth_with_creds(auth[0], auth[2])
    except (asf.ASFAuthenticationError, requests.RequestException) as err:
        raise SourceError(
            f"Earthdata login failed ({type(err).__name__}); {EARTHDATA_SETUP}"
        ) from err


@contextlib.contextmanager
def _single_attempt_searches() -> Iterator[None]:
    """asf_search retries a failed CMR page 3 times by itself; while we search, once (our
    policy is the only layer of retries). Nor does it post a report of each failed search to
    ASF (its default): l4s sends nothing the user did not ask for."""
    from tenacity import stop_after_attempt

    asf = require_extra("asf_search", "asf")
    # (the package exports a function of the module's name: import the module by path)
    search_generator = importlib.import_module("asf_search.search.search_generator")
    original, reporting = search_generator.get_page, asf.REPORT_ERRORS
    search_generator.get_page = original.retry_with(stop=stop_after_attempt(1))
    asf.REPORT_ERRORS = False
    try:
        yield
    finally:
        search_generator.get_page, asf.REPORT_ERRORS = original, reporting


def fewest_granules(products: list, aoi: shapely.Geometry) -> list:
    """The fewest products that cover ``aoi``: the newest processing of each frame, then
    frames chosen greedily by the share of the AOI still uncovered that each covers.

    Raises:
        SourceError: the products do not cover the AOI.
    """
    frames: dict[tuple, object] = {}
    for p in sorted(products, key=lambda p: str(p.properties.get("processingDate")), reverse=True):
        pr = p.properties
        frames.setdefault(
            (pr.get("pathNumber"), pr.get("frameNumber"), pr.get("flightDirection")), p
        )
    left, chosen = aoi, []
    candidates = sorted(frames.values(), key=lambda p: p.properties["fileName"])
    while not left.is_empty and left.area > 1e-9 * aoi.area:
        best = max(
            candidates, key=lambda p: shape(p.geometry).intersection(left).area, default=None
        )
        if best is None or shape(best.geometry).intersection(left).area == 0:
            covered = 100 * (1 - left.area / aoi.area)
            raise SourceError(
                f"ASF's ALOS PALSAR RTC granules cover only {covered:.1f}% of the AOI; set "
                "dem: srtm or aw3d30 in the region file"
            )
        chosen.append(best)
        candidates.remove(best)
        left = left.difference(shape(best.geometry))
    return chosen


class AsfDemSource:
    """ALOS PALSAR RTC 12.5 m DEMs from ASF.

    Args:
        host: the CMR search host (``asf_search``'s default: NASA's CMR); tests use a stand-in.
        session: an authenticated ``asf_search`` session (default: :func:`session`).
        policy: the retry policy of every call.
    """

    def __init__(self, host: str | None = None, session=None, policy: RetryPolicy | None = None):
        self.host, self._session, self.policy = host, session, policy or RetryPolicy()

    @property
    def session(self):
        if self._session is None:
            self._session = session()
        return self._session

    def search(self, region: Region) -> list:
        """Every RTC high-resolution granule intersecting the AOI.

        Raises:
            SourceError: the search failed for good.
        """
        asf = require_extra("asf_search", "asf")

        def search() -> list:
            try:
                with _single_attempt_searches():
                    return list(
                        asf.geo_search(
                            platform=asf.PLATFORM.ALOS,
                            processingLevel=asf.PRODUCT_TYPE.RTC_HIGH_RES,
                            intersectsWith=region.aoi_geometry().wkt,
                            session=self._session or asf.ASFSession(),
                            opts=asf.ASFSearchOptions(host=self.host) if self.host else None,
                        )
                    )
            except asf.ASFSearchError as err:
                raise search_error(err) from err
            except ValueError as err:
                raise SourceError(f"ASF search refused: {err}") from err
            except requests.RequestException as err:
                raise TransientError(f"ASF search: {err}") from err

        return self.policy.call(search, "ASF search")

    def download(self, product, folder: Path) -> Path:
        """The product's zip in ``folder`` (downloaded once, atomically, under our policy)."""
        name = product.properties["fileName"]
        archive = folder / name

        def download() -> Path:
            with atomic_path(archive) as tmp:
                fetch_zip(self.session, product.properties["url"], tmp)
                check_zip(tmp, product, name)
            return archive

        return archive if archive.exists() else self.policy.call(download, f"downloading {name}")

    def fetch_dem(self, region: Region, grid: Grid, work: Path) -> DemLayer:
        """The DEM of the fewest granules covering ``region``, at 12.5 m, cropped to ``grid``
        (plus a margin). Cached under a key of the granules, the grid and the code version.

        Raises:
            SourceError: no granule, partial cover, a refused download, a zip without a DEM.
        """
        work = Path(work)
        products = self.search(region)
        if not products:
            raise SourceError(
                f"ASF has no ALOS PALSAR RTC granule over region '{region.name}'; set "
                "dem: srtm or aw3d30 in the region file"
            )
        chosen = fewest_granules(products, region.aoi_geometry())
        names = [p.properties["fileName"] for p in chosen]
        out = work / f"dem-{digest(names, grid.to_dict(), RESOLUTION, __version__)}.tif"
        if not out.exists():
            dems = [extract_dem(self.download(p, work / "zips"), work / "dems") for p in chosen]
            mosaic_dems(dems, out, grid)
        log.info("ASF RTC DEM of %s from %d of %d granules", region.name, len(names), len(products))
        details = {
            "dem_product": "ASF ALOS PALSAR RTC high-res DEM (12.5 m)",
            "dem_granules": ", ".join(names),
            "dem_heights": HEIGHTS,
            "dem_citation": attribution(chosen),
        }
        return DemLayer(out, details)


def search_error(err: Exception) -> SourceError:
    """An ``asf_search`` search failure by kind: CMR's 5xx, 408 and 429 and a read timeout
    (which asf_search words as a permanent ``ASFSearchError``) are transient; the rest final."""
    asf = require_extra("asf_search", "asf")
    cause = err.__cause__
    response = getattr(cause, "response", None)
    status = getattr(response, "status_code", None)
    if (
        isinstance(err, asf.ASFSearch5xxError)
        or isinstance(cause, requests.Timeout | requests.ConnectionError)
        or (status is not None and is_transient(status))
    ):
        return TransientError(f"ASF search: {err}", status)
    return SourceError(f"ASF search refused: {err}")


#: The fix of each refusal of a download (asf_search calls every 4xx an authentication error).
DOWNLOAD_FIXES = {
    401: EARTHDATA_SETUP,
    403: EARTHDATA_SETUP,
    404: "ASF no longer serves this file: re-run (the search finds the current granules)",
}
TIMEOUT = (30, 300)  # seconds to connect, and between bytes, of a download
CHUNK_BYTES = 1 << 20


@contextlib.contextmanager
def zip_response(session, url: str) -> Iterator:
    """The streamed answer to a zip's URL on the authenticated ``session`` (redirects to the
    Earthdata login and the data's host followed, with a timeout), its body not yet read.

    Raises:
        TransientError: HTTP 408, 429 (with its Retry-After), 5xx, a dropped connection or a
            timeout.
        SourceError: any other refusal, or a web page instead of the zip (the Earthdata login
            or the ALOS PALSAR EULA, never accepted: the message links the page).
    """
    name = url.rsplit("/", 1)[-1]
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as r:
            status = r.status_code
            raise_for_status(
                status,
                " ".join(r.text[:200].split()) if status >= 400 else "",
                r.headers,
                f"downloading {name}",
                DOWNLOAD_FIXES.get(status, "check https://status.earthdata.nasa.gov and re-run"),
            )
            if "html" in r.headers.get("Content-Type", ""):
                raise SourceError(
                    f"downloading {name}: ASF answered with a web page ({r.url}), not the zip: "
                    "the Earthdata login was not accepted, or the ALOS PALSAR EULA is not "
                    f"accepted yet; open {r.url} signed in to Earthdata, accept, and re-run"
                )
            yield r
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    ) as err:
        raise TransientError(f"downloading {name}: {err}") from err


def fetch_zip(session, url: str, dest: Path) -> None:
    """Stream the zip at ``url`` into ``dest`` (:func:`zip_response` says what it raises)."""
    with zip_response(session, url) as r, open(dest, "wb") as f:
        for chunk in r.iter_content(CHUNK_BYTES):
            f.write(chunk)


def probe_zip(session, url: str) -> int:
    """The size ASF would send for the zip at ``url``, its body not downloaded: proves the
    login and the EULA (:func:`zip_response` says what it raises)."""
    with zip_response(session, url) as r:
        return int(r.headers.get("Content-Length") or 0)


def check_zip(path: Path, product, name: str) -> None:
    """A downloaded product (``name``, at ``path``) is a whole zip of the announced size.

    Raises:
        TransientError: it is cut short or corrupt (a re-download may fix it).
    """
    expected = product.properties.get("bytes")
    size = path.stat().st_size
    if expected and abs(float(expected) - size) > 1:
        raise TransientError(f"{name}: {size} bytes downloaded, ASF announced {expected}")
    if not zipfile.is_zipfile(path):
        raise TransientError(f"{name}: not a zip file (a cut-off download?)")


def _years(products: list, key: str) -> str:
    years = sorted({str(p.properties.get(key) or "")[:4] for p in products} - {""})
    return ", ".join(years) or "(year unknown)"


def attribution(products: list) -> str:
    """ASF's required credit for RTC products: the year ASF processed them, and the year JAXA
    acquired the PALSAR scenes (``ASF DAAC 2015; Includes Material (c) JAXA/METI 2010``)."""
    return (
        f"ASF DAAC {_years(products, 'processingDate')}; Includes Material \u00a9 JAXA/METI "
        f"{_years(products, 'startTime')}"
    )


def extract_dem(archive: Path, folder: Path) -> Path:
    """The ``*.dem.tif`` of an RTC product zip, extracted once into ``folder``.

    Raises:
        SourceError: the zip holds no DEM.
    """
    with zipfile.ZipFile(archive) as z:
        members = [m for m in z.namelist() if m.lower().endswith("dem.tif")]
        if not members:
            raise SourceError(f"{archive}: no *.dem.tif inside; is it an RTC product?")
        out = folder / Path(members[0]).name
        if not out.exists():
            with atomic_path(out) as tmp, z.open(members[0]) as src:
                tmp.write_bytes(src.read())
    return out


def mosaic_dems(paths: list[Path], out: Path, grid: Grid) -> Path:
    """One DEM at exactly 12.5 m in the first DEM's CRS, covering ``grid`` plus a margin.

    A DEM in another CRS is warped (bilinear) onto a 12.5 m grid of that CRS first; each
    source's nodata becomes -9999. Where DEMs overlap, the first one's values are kept.
    """
    with rasterio.open(paths[0]) as first:
        crs = first.crs
    bounds = transform_bounds(grid.crs, crs, *grid.buffered(MARGIN).bounds)
    with contextlib.ExitStack() as stack:
        sources = []
        for p in paths:
            src = stack.enter_context(rasterio.open(p))
            if src.crs != crs or src.res != (RESOLUTION, RESOLUTION):
                transform, width, height = calculate_default_transform(
                    src.crs, crs, src.width, src.height, *src.bounds, resolution=RESOLUTION
                )
                src = stack.enter_context(
                    WarpedVRT(
                        src,
                        crs=crs,
                        transform=transform,
                        width=width,
                        height=height,
                        resampling=Resampling.bilinear,
                        src_nodata=src.nodata,
                        nodata=NODATA,
                    )
                )
            sources.append(src)
        data, transform = merge(
            sources,
            bounds=bounds,
            res=RESOLUTION,
            nodata=NODATA,
            dtype="float32",
            target_aligned_pixels=True,
        )
    data[~np.isfinite(data)] = NODATA
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": NODATA,
        "tiled": True,
    }
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data[0], 1)
    return out
