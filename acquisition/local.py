"""The local source: raw layers already on disk, in this layout::

    RAW/<region-name>/s2/B01.tif ... B12.tif [B8A.tif]   any CRS; 10/20/60 m; nodata or not
    RAW/<region-name>/s2/scenes.json                      optional: [{"id", "date"}, ...]
    RAW/<region-name>/dem.tif                             any CRS, metric or geographic degrees
    RAW/<region-name>/labels.gpkg|.shp|.geojson           any CRS (or the region's `labels`)
    RAW/<region-name>/pre/s2/B02.tif ... B08.tif         optional pre-event bands (candidates)

Band files may be named ``B01``, ``B1`` or end in ``_B01`` (as in SAFE products), with the
suffix ``.tif``, ``.tiff`` or ``.jp2``.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import rasterio
from affine import Affine
from pydantic import ValidationError
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from landslide4sense.acquisition.base import (
    S2_BANDS,
    S2_NATIVE_RESOLUTION,
    DemLayer,
    Scene,
    Sentinel2Layers,
)
from landslide4sense.errors import InputDataError, MissingInputError
from landslide4sense.geo import Grid
from landslide4sense.layout import RASTER_SUFFIXES, find_band
from landslide4sense.regions import Region

log = logging.getLogger(__name__)

LABEL_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json")


def check_raster(path: Path, what: str) -> None:
    """Check that ``path`` opens as a raster with a CRS and a geotransform.

    Raises:
        InputDataError: naming the file, what is missing or broken (not a raster, cut short)
            and how to fix it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.open(path) as src:
                crs, transform, gcps = src.crs, src.transform, src.gcps[0]
                last = Window(src.width - 1, src.height - 1, 1, 1)
                whole = _reads(src, last)
        except RasterioIOError as err:
            raise InputDataError(
                f"{path}: cannot read {what} as a raster ({err}); give a GeoTIFF (or JPEG 2000)"
            ) from err
    if not whole:
        raise InputDataError(
            f"{path}: {what} is cut short (its last block cannot be read: an interrupted copy "
            "or download); copy or download it again"
        )
    if crs is None or (transform == Affine.identity() and not gcps):
        missing = " and ".join(
            m
            for m, bad in (("CRS", crs is None), ("geotransform", transform == Affine.identity()))
            if bad
        )
        raise InputDataError(
            f"{path}: {what} has no {missing}; the pipeline cannot place it on the map. "
            "Fix: export it as a georeferenced GeoTIFF, or assign them with "
            "`gdal_edit.py -a_srs EPSG:xxxx -a_ullr ulx uly lrx lry` (or a .aux.xml sidecar)."
        )


def _reads(src, window: Window) -> bool:
    """Whether the block holding ``window`` decodes (the last block of a cut-off file does not)."""
    try:
        src.read(1, window=window)
    except RasterioIOError:
        return False
    return True


def find_labels(region: Region, region_dir: Path) -> Path | None:
    """The label file: the region's ``labels`` (raw folder first, then beside the YAML), or
    ``labels.*`` in the raw folder."""
    if region.labels:
        candidates = [region_dir / region.labels]
        if region.path is not None:
            candidates.append(region.path.parent / region.labels)
        candidates.append(Path(region.labels))
    else:
        candidates = [region_dir / f"labels{s}" for s in LABEL_SUFFIXES]
    return next((p for p in candidates if p.exists()), None)


def find_dem(region_dir: Path) -> DemLayer:
    """The DEM in a region's raw folder (``dem.tif``, ``.tiff`` or ``.jp2``), checked.

    Raises:
        MissingInputError: no DEM file.
        InputDataError: it has no CRS or geotransform.
    """
    dem = next(
        (region_dir / f"dem{s}" for s in RASTER_SUFFIXES if (region_dir / f"dem{s}").is_file()),
        None,
    )
    if dem is None:
        raise MissingInputError(
            f"{region_dir}/dem.tif: DEM not found; the region has `dem: local`, so add the DEM "
            "as dem.tif there, or set dem to srtm, aw3d30 or asf-palsar-rtc in the region file"
        )
    check_raster(dem, "the DEM")
    return DemLayer(dem, {"dem_product": "local file"})


class LocalSource:
    """Sentinel-2 bands from a local folder (see the module docstring for the layout)."""

    name = "local"

    def __init__(self, raw: str | Path):
        self.raw = Path(raw)

    def fetch(self, region: Region, grid: Grid, work: Path) -> Sentinel2Layers:
        """Find and check the region's band files; nothing is copied.

        Raises:
            MissingInputError: the region folder or bands (all listed) are absent.
            InputDataError: a raster has no CRS or geotransform.
        """
        region_dir = self.raw / region.name
        if not region_dir.is_dir():
            raise MissingInputError(
                f"{region_dir}: raw folder of region '{region.name}' not found; create it with "
                "s2/B01.tif..B12.tif (and dem.tif, labels.gpkg: see acquisition/local.py)"
            )
        s2 = region_dir / "s2"
        bands: dict[str, Path] = {}
        missing = []
        for band in S2_NATIVE_RESOLUTION:
            p = find_band(s2, band)
            if p is not None:
                bands[band] = p
            elif band in S2_BANDS:
                missing.append(band)
        if missing:
            raise MissingInputError(
                f"{s2}: missing Sentinel-2 band file(s) {', '.join(missing)}; the benchmark needs "
                f"all of {', '.join(S2_BANDS)} (named B01.tif, B1.tif or *_B01.jp2)"
            )
        for band in S2_BANDS:
            check_raster(bands[band], f"Sentinel-2 band {band}")
        log.info("local source: %s has %d bands", region.name, len(bands))
        return Sentinel2Layers(
            self.name, bands, _read_scenes(s2), {"raw": str(region_dir.resolve())}
        )


def _read_scenes(s2: Path) -> list[Scene]:
    f = s2 / "scenes.json"
    if not f.exists():
        return [Scene(id=f"local:{s2.resolve()}")]
    try:
        return [Scene.model_validate(s) for s in json.loads(f.read_text())]
    except (json.JSONDecodeError, TypeError, ValidationError) as err:
        raise InputDataError(
            f'{f}: expected a JSON list of {{"id": ..., "date": ...}} objects ({err})'
        ) from err
