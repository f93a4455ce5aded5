"""The paper's DEM: ALOS PALSAR radiometric-terrain-corrected 12.5 m products from ASF.

The "ALOS PALSAR DEM" of Landslide4Sense is the DEM that ASF ships inside its high-resolution
RTC products (an SRTM/NED derivative resampled to 12.5 m). :class:`AsfDemSource` finds the RTC
granules covering the AOI with ``asf_search``, downloads them (Earthdata login), extracts each
product's ``*dem.tif`` and mosaics them in the DEM's own metric CRS (no resampling when all
granules share one UTM zone), ready for the slope stage.

Credentials: ``EARTHDATA_USERNAME`` and ``EARTHDATA_PASSWORD``, or ``EARTHDATA_TOKEN``, or a
``~/.netrc`` entry for ``urs.earthdata.nasa.gov``. They are never logged or written out.
"""

from __future__ import annotations

import logging
import netrc
import os
import shutil
import zipfile
from pathlib import Path

import rasterio
from rasterio.merge import merge
from rasterio.vrt import WarpedVRT

from landslide4sense.errors import SourceError
from landslide4sense.extras import require_extra
from landslide4sense.files import atomic_path
from landslide4sense.regions import Grid, Region

log = logging.getLogger(__name__)

EDL_HOST = "urs.earthdata.nasa.gov"


def session():
    """An ``asf_search`` session, authenticated when credentials are configured."""
    asf = require_extra("asf_search", "asf")

    s = asf.ASFSession()
    user, password = os.environ.get("EARTHDATA_USERNAME"), os.environ.get("EARTHDATA_PASSWORD")
    if not user:
        try:
            auth = netrc.netrc().authenticators(EDL_HOST)
        except (FileNotFoundError, netrc.NetrcParseError):
            auth = None
        if auth:
            user, _, password = auth
    try:
        if user and password:
            return s.auth_with_creds(user, password)
        if os.environ.get("EARTHDATA_TOKEN"):
            return s.auth_with_token(os.environ["EARTHDATA_TOKEN"])
    except Exception as err:  # asf_search raises ASFAuthenticationError and HTTP errors
        raise SourceError(
            f"Earthdata login failed ({type(err).__name__}); check EARTHDATA_USERNAME / "
            "EARTHDATA_PASSWORD, EARTHDATA_TOKEN or ~/.netrc"
        ) from err
    return s


class AsfDemSource:
    """ALOS PALSAR RTC 12.5 m DEMs from ASF.

    Args:
        host: the CMR search host (``asf_search``'s default: NASA's CMR); tests use a stand-in.
        session: an ``asf_search`` session (default: :func:`session`).
        max_granules: granules at most (the search returns many per place: one suffices per
            footprint, so the newest covering ones are kept).
    """

    def __init__(self, host: str | None = None, session=None, max_granules: int = 20):
        self.host, self._session, self.max_granules = host, session, max_granules

    def search(self, region: Region) -> list:
        asf = require_extra("asf_search", "asf")

        try:
            results = asf.geo_search(
                platform=asf.PLATFORM.ALOS,
                processingLevel=asf.PRODUCT_TYPE.RTC_HIGH_RES,
                intersectsWith=region.aoi_geometry().wkt,
                session=self._session or session(),
                opts=asf.ASFSearchOptions(host=self.host) if self.host else None,
            )
        except SourceError:
            raise
        except Exception as err:  # ASFSearchError and HTTP errors
            raise SourceError(f"ASF search failed: {err}") from err
        return list(results)[: self.max_granules]

    def fetch_dem(self, region: Region, grid: Grid, work: Path) -> tuple[Path, dict]:
        """Download, extract and mosaic the DEMs of the RTC granules over ``region``.

        Raises:
            SourceError: no granule, or a zip without a DEM.
        """
        work = Path(work)
        out = work / "dem.tif"
        products = self.search(region)
        if not products:
            raise SourceError(
                f"ASF has no ALOS PALSAR RTC granule over region '{region.name}'; set "
                "dem: srtm or aw3d30 in the region file"
            )
        names = [p.properties["fileName"] for p in products]
        if not out.exists():
            sess = self._session or session()
            dems = []
            for product, name in zip(products, names, strict=True):
                archive = work / "zips" / name
                if not archive.exists():  # download beside it, rename when complete
                    partial = archive.parent / f".{name}.partial"
                    shutil.rmtree(partial, ignore_errors=True)
                    partial.mkdir(parents=True)
                    product.download(path=str(partial), filename=name, session=sess)
                    (partial / name).replace(archive)
                    partial.rmdir()
                dems.append(extract_dem(archive, work / "dems"))
            mosaic_dems(dems, out)
        log.info("ASF RTC DEM of %s from %d granules", region.name, len(names))
        return out, {
            "dem_product": "ASF ALOS PALSAR RTC high-res DEM (12.5 m)",
            "dem_granules": ", ".join(names),
            "dem_citation": attribution(products),
        }


def _years(products: list, key: str) -> str:
    years = sorted({str(p.properties.get(key) or "")[:4] for p in products} - {""})
    return ", ".join(years) or "(year unknown)"


def attribution(products: list) -> str:
    """ASF's required credit for RTC products: the year ASF processed them, and the year JAXA
    acquired the PALSAR scenes (``ASF DAAC 2015; Includes Material (c) JAXA/METI 2010``)."""
    return (f"ASF DAAC {_years(products, 'processingDate')}; Includes Material \u00a9 JAXA/METI "
            f"{_years(products, 'startTime')}")  # fmt: skip


def extract_dem(archive: Path, folder: Path) -> Path:
    """The ``*dem.tif`` of an RTC product zip, extracted once into ``folder``.

    Raises:
        SourceError: the zip holds no DEM.
    """
    with zipfile.ZipFile(archive) as z:
        members = [m for m in z.namelist() if m.lower().endswith("dem.tif")]
        if not members:
            raise SourceError(f"{archive}: no *dem.tif inside; is it an RTC product?")
        out = folder / Path(members[0]).name
        if not out.exists():
            with atomic_path(out) as tmp, z.open(members[0]) as src:
                tmp.write_bytes(src.read())
    return out


def mosaic_dems(paths: list[Path], out: Path) -> Path:
    """One DEM from several: merged without resampling when they share a CRS, else warped
    onto the first one's CRS and pixel size."""
    with rasterio.open(paths[0]) as first:
        crs, res = first.crs, first.res
    sources, stack = [], []
    try:
        for p in paths:
            src = rasterio.open(p)
            stack.append(src)
            sources.append(src if src.crs == crs else WarpedVRT(src, crs=crs, resolution=res))
        data, transform = merge(sources, res=res, nodata=-9999.0, dtype="float32")
    finally:
        for s in reversed(stack):
            s.close()
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": -9999.0,
        "tiled": True,
    }
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data[0], 1)
    return out
