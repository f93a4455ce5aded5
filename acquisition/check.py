"""``l4s sources check``: for each networked source, in seconds, what works and what to fix.

Per source: are credentials found, does the endpoint answer, do the region's collections exist
and how many scenes (granules) fall in its AOI and window. Each check is one line with a
one-line fix. Nothing is retried (a check reports; the fetch retries), nothing downloaded
beyond a few headers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from landslide4sense.acquisition.credentials import ee_credentials
from landslide4sense.acquisition.retry import RetryPolicy
from landslide4sense.errors import L4SError, SourceError
from landslide4sense.extras import require_extra
from landslide4sense.regions import Region

log = logging.getLogger(__name__)

ONCE = RetryPolicy(attempts=1)


@dataclass(frozen=True)
class Check:
    """One line of the report: ``ok`` is None when the check could not run (a previous one
    failed)."""

    source: str
    what: str
    ok: bool | None
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        fix = f"\n{'':24}fix: {self.fix}" if self.ok is False and self.fix else ""
        return f"{mark} {self.source:<12} {self.what:<12} {self.detail}{fix}"


def _run(source: str, what: str, fn: Callable[[], str], fix: str) -> Check:
    """``fn()`` as a check: its text when it works, the error when it does not."""
    try:
        return Check(source, what, True, fn())
    except Exception as err:  # a check reports whatever the clients raise
        return Check(source, what, False, " ".join(str(err).split())[:300], fix)


def check_earthengine(region: Region | None, url: str | None = None, creds=None) -> list[Check]:
    """Credentials and project, the endpoint, the collections and the scenes in the window."""
    try:
        require_extra("ee", "earthengine")
    except L4SError as err:
        return [Check("earthengine", "installed", False, str(err), "pip install the extra")]
    from landslide4sense.acquisition import earthengine as eem

    found = eem.project()
    how = ee_credentials()
    ok = creds is not None or (how is not None and found is not None)
    out = [
        Check(
            "earthengine",
            "credentials",
            ok,
            f"{how or 'none'}, project {found or 'not set'}",
            eem.SETUP,
        )
    ]
    if not ok:
        return out

    def start() -> str:
        eem.initialize(url, creds, ONCE)
        return f"{url or 'earthengine.googleapis.com'} answers"

    out.append(_run("earthengine", "endpoint", start, "check the network and the project"))
    if region is None or not out[-1].ok:
        return out

    def scenes() -> str:
        import ee

        start, end = eem._window(region)
        n = eem.compute_value(eem.scenes(region).size(), ONCE)
        plus = ee.ImageCollection(eem.CLOUD_SCORE_PLUS).filterBounds(eem.aoi(region))
        cs = eem.compute_value(plus.filterDate(start, end).size(), ONCE)
        if n and not cs:
            raise SourceError(f"{n} scene(s) in the window but no Cloud Score+ image yet")
        return f"{eem.S2_COLLECTION}: {n} scene(s) in the window; Cloud Score+ for {cs}"

    out.append(_run("earthengine", "scenes", scenes, "widen imagery: start/end in the region file"))
    return out


def check_scene_source(name: str, source, setup: str, region: Region | None) -> list[Check]:
    """A STAC-and-bucket source's checks: its keys, its STAC endpoint and collection, the
    scenes in the window, the header of one band (one signed read)."""
    from landslide4sense.acquisition import stac

    try:
        source._keys = source.credentials()
        found = "keys found"
    except SourceError as err:  # none, or the chain failed (an unknown profile, expired SSO)
        found = str(err)
    keys = source._keys
    out = [Check(name, "credentials", keys is not None, found, setup)]

    def collection() -> str:
        stac.stac_call(source.url, lambda api: api.get_collection(source.collection))
        return f"{source.url}: collection {source.collection} found"

    out.append(_run(name, "endpoint", collection, f"check the network and {source.url}"))
    if region is None or not out[-1].ok:
        return out
    items: list = []

    def scenes() -> str:
        items.extend(source.search(region))
        return f"{len(items)} scene(s) under {region.imagery.max_scene_cloud}% cloud in the window"

    out.append(_run(name, "scenes", scenes, "widen the window or max_scene_cloud"))
    if keys is None or not items:
        return out

    def read() -> str:
        import rasterio

        href = source.href(items[0], "B01")
        with source.env(), rasterio.open(stac.vsi_path(href)) as src:
            return f"read the header of {href} ({src.width} x {src.height} px)"

    out.append(_run(name, "bucket", read, setup))
    return out


def check_stac(
    region: Region | None, url: str | None = None, s3_endpoint: str | None = None
) -> list[Check]:
    """AWS keys, Earth Search and its collection, scenes in the window, one paid read."""
    from landslide4sense.acquisition import stac

    source = stac.StacSource(url=url or stac.EARTH_SEARCH, s3_endpoint=s3_endpoint, policy=ONCE)
    return check_scene_source("stac", source, stac.AWS_SETUP, region)


def check_cdse(
    region: Region | None, url: str | None = None, s3_endpoint: str | None = None
) -> list[Check]:
    """CDSE's S3 keys, its STAC API and collection, scenes in the window, one read."""
    from landslide4sense.acquisition import cdse

    source = cdse.CdseSource(url=url, s3_endpoint=s3_endpoint, policy=ONCE)
    return check_scene_source("cdse", source, cdse.SETUP, region)


def check_asf(
    region: Region | None, host: str | None = None, edl_host: str | None = None
) -> list[Check]:
    """The Earthdata login (verified with Earthdata), the search, granules over the AOI."""
    try:
        require_extra("asf_search", "asf")
    except L4SError as err:
        return [Check("asf", "installed", False, str(err), "pip install the extra")]
    from landslide4sense.acquisition import asf

    login = asf.earthdata_login()
    out = [
        Check(
            "asf",
            "credentials",
            login is not None,
            f"Earthdata {login[0]}" if login else "no Earthdata login",
            asf.EARTHDATA_SETUP,
        )
    ]
    session = None
    if login is not None:

        def verify() -> str:
            nonlocal session
            session = asf.session(edl_host)
            return "Earthdata accepted the login"

        out.append(_run("asf", "login", verify, asf.EARTHDATA_SETUP))
    if region is None:
        return out

    chosen: list = []

    def granules() -> str:
        found = asf.AsfDemSource(host=host, session=session, policy=ONCE).search(region)
        chosen.extend(asf.fewest_granules(found, region.aoi_geometry()) if found else [])
        return f"{len(found)} RTC granule(s) over the AOI; {len(chosen)} cover it"

    out.append(
        _run(
            "asf",
            "granules",
            granules,
            "check the network; where ASF has no "
            "granule, set dem: srtm or aw3d30 in the region file",
        )
    )
    if session is None or not chosen:
        return out

    def download() -> str:  # the login and the EULA, proved by the answer's headers
        url = chosen[0].properties["url"]
        size = asf.probe_zip(session, url)
        return f"ASF would send {url.rsplit('/', 1)[-1]} ({size / 1e6:.1f} MB)"

    out.append(_run("asf", "download", download, asf.EARTHDATA_SETUP))
    return out


def check_sources(region: Region | None = None, **endpoints) -> list[Check]:
    """Every networked source's checks (``endpoints``: ``ee_url``, ``ee_creds``, ``stac_url``,
    ``s3_endpoint``, ``cdse_url``, ``cdse_s3``, ``cmr_host``, ``edl_host``, for stand-ins)."""
    e = endpoints
    return [
        *check_earthengine(region, e.get("ee_url"), e.get("ee_creds")),
        *check_stac(region, e.get("stac_url"), e.get("s3_endpoint")),
        *check_cdse(region, e.get("cdse_url"), e.get("cdse_s3")),
        *check_asf(region, e.get("cmr_host"), e.get("edl_host")),
    ]
