"""Landslide label polygons: read, repair, reproject and rasterize onto a region's grid.

Labels may come as GeoPackage, Shapefile or GeoJSON in any CRS. Invalid geometries are repaired
(``make_valid``) and counted, empty ones dropped, multi-part ones split, and everything is
reprojected to the grid's CRS before rasterizing (1 = landslide, pixel centre inside a polygon).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
import shapely
from rasterio.features import rasterize
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from landslide4sense.errors import InputDataError, MissingInputError
from landslide4sense.files import atomic_path, read_json, write_json
from landslide4sense.geo import Grid
from landslide4sense.records import LabelReport, MergeReport

log = logging.getLogger(__name__)

MASK_BLOCK_ROWS = 1024


def layers_of(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: label file not found")
    try:
        return [name for name, _ in pyogrio.list_layers(path)]
    except Exception as err:
        raise InputDataError(
            f"{path}: not a readable GeoPackage ({err}); restore it from a copy, or recreate "
            "it with `l4s annotate candidates`"
        ) from err


def history(path: str | Path) -> MergeReport | None:
    """The counts of the last merge, if the file has them."""
    if Path(path).suffix.lower() != ".gpkg" or "label_history" not in layers_of(path):
        return None
    rows = pyogrio.read_dataframe(path, layer="label_history")
    if not len(rows):
        return None
    return MergeReport.model_validate(json.loads(rows.iloc[[-1]].to_json(orient="records"))[0])


def read_labels(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read label polygons from a GeoPackage (layer ``labels`` if present), Shapefile or GeoJSON.

    Raises:
        MissingInputError: the file does not exist.
        InputDataError: the file is not a readable vector file, the layer is ambiguous, or it
            has no CRS.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: label file not found")
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as err:  # pyogrio raises several DataSourceError kinds
        raise InputDataError(
            f"{path}: cannot read the label file as GeoPackage/Shapefile/GeoJSON ({err}); "
            "re-export it from QGIS or ogr2ogr"
        ) from err
    if layer is None:
        if "labels" in layers:
            layer = "labels"
        elif len(layers) == 1:
            layer = layers[0]
        else:
            raise InputDataError(
                f"{path}: holds layers {layers}; name the one to use 'labels' or pass its name"
            )
    elif layer not in layers:
        raise InputDataError(f"{path}: no layer '{layer}' (layers: {layers})")
    try:
        gdf = gpd.read_file(path, layer=layer)
    except Exception as err:
        raise InputDataError(f"{path}: layer '{layer}' cannot be read ({err})") from err
    if gdf.crs is None:
        raise InputDataError(
            f"{path}: layer '{layer}' has no CRS; assign the CRS it was drawn in (QGIS: Layer "
            "properties > Source, or `ogr2ogr -a_srs EPSG:xxxx`)"
        )
    return gdf


def clean_labels(
    gdf: gpd.GeoDataFrame, crs: str, min_area_m2: float = 0.0, source: str = ""
) -> tuple[gpd.GeoDataFrame, LabelReport]:
    """Repair, split into polygons, reproject to ``crs`` and drop slivers below ``min_area_m2``.

    Returns:
        The cleaned polygons (one Polygon per row, in ``crs``) and the counts of what changed.
    """
    report = LabelReport(source=source, crs=str(gdf.crs), features_read=len(gdf))
    geoms = gdf.geometry
    empty = geoms.isna() | geoms.is_empty
    report.empty_dropped = int(empty.sum())
    gdf = gdf.loc[~empty].copy()
    invalid = ~gdf.geometry.is_valid
    report.invalid_repaired = int(invalid.sum())
    if report.invalid_repaired:
        gdf.loc[invalid, "geometry"] = shapely.make_valid(gdf.geometry[invalid].values)
        log.info("%s: repaired %d invalid geometries", source, report.invalid_repaired)
    gdf = gdf.explode(index_parts=False, ignore_index=True)
    polygonal = gdf.geometry.geom_type == "Polygon"
    report.non_polygon_dropped = int((~polygonal).sum())
    gdf = gdf.loc[polygonal].to_crs(crs)
    area = gdf.geometry.area
    sliver = area < min_area_m2
    report.slivers_dropped = int(sliver.sum())
    gdf = gdf.loc[~sliver].reset_index(drop=True)
    report.polygons = len(gdf)
    report.area_m2 = float(shapely.union_all(gdf.geometry.values).area) if len(gdf) else 0.0
    return gdf, report


def rasterize_labels(
    geoms: list[BaseGeometry] | np.ndarray, transform, shape: tuple[int, int]
) -> np.ndarray:
    """Burn polygons into a uint8 array: 1 where a pixel's centre lies inside one, else 0."""
    if len(geoms) == 0:
        return np.zeros(shape, np.uint8)
    return rasterize(
        ((g, 1) for g in geoms), out_shape=shape, transform=transform, fill=0, dtype=np.uint8
    )


def write_label_mask(geoms: np.ndarray, grid: Grid, out_path: str | Path) -> Path:
    """Rasterize polygons (in the grid's CRS) onto the whole grid, in blocks of rows."""
    tree = shapely.STRtree(geoms)
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with atomic_path(out_path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, grid.height, MASK_BLOCK_ROWS):
            r1 = min(grid.height, r0 + MASK_BLOCK_ROWS)
            win = rasterio.windows.Window(0, r0, grid.width, r1 - r0)
            hits = geoms[tree.query(box(*grid.window_bounds(win)))] if len(geoms) else []
            dst.write(
                rasterize_labels(hits, grid.window_transform(win), (r1 - r0, grid.width)),
                1,
                window=win,
            )
    return Path(out_path)


@dataclass
class PreparedLabels:
    """Labels ready for patching: polygons in the grid CRS, the mask on the grid, the counts."""

    polygons: Path
    mask: Path
    report: LabelReport


def prepare_labels(
    path: str | Path,
    grid: Grid,
    out_dir: str | Path,
    aoi: BaseGeometry | None = None,
    min_area_m2: float = 0.0,
    layer: str | None = None,
) -> PreparedLabels:
    """Read, clean and rasterize a region's labels onto its grid (skipped when already done).

    Args:
        path: the label file.
        grid: the region's grid.
        out_dir: where ``labels.gpkg``, ``mask.tif`` and ``labels.json`` go.
        aoi: the AOI in the grid's CRS (default: the grid's bounds).
        min_area_m2: polygons smaller than this are dropped as slivers.
        layer: the layer to read (default ``labels`` or the only one).

    Raises:
        InputDataError: the labels hold polygons but none intersects the AOI.
    """
    out_dir = Path(out_dir)
    done = out_dir / "labels.json"
    result = PreparedLabels(out_dir / "labels.gpkg", out_dir / "mask.tif", None)  # type: ignore[arg-type]
    if done.exists() and result.mask.exists():
        result.report = LabelReport.model_validate(read_json(done))
        return result
    gdf, report = clean_labels(read_labels(path, layer), grid.crs, min_area_m2, str(path))
    if report.non_polygon_dropped and not report.polygons + report.slivers_dropped:
        raise InputDataError(
            f"{path}: the labels are {report.non_polygon_dropped} points or lines, no polygon; "
            "landslide labels are the outlines of the scars: digitise them as polygons"
        )
    report.layer, report.corrections = layer, history(path)
    area = aoi if aoi is not None else box(*grid.bounds)
    if len(gdf) and not gdf.geometry.intersects(area).any():
        lb = gpd.GeoSeries([area], crs=grid.crs).to_crs("EPSG:4326").total_bounds.round(4)
        fb = gdf.to_crs("EPSG:4326").total_bounds.round(4)
        raise InputDataError(
            f"{path}: none of the {len(gdf)} label polygons intersects the region's AOI "
            f"(labels span lon/lat {tuple(fb)}, AOI {tuple(lb)}); check the region's aoi and the "
            f"CRS of the label file (read as {report.crs})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(result.polygons) as tmp:
        gdf[["geometry"]].to_file(tmp, driver="GPKG", layer="labels")
    write_label_mask(gdf.geometry.values, grid, result.mask)
    write_json(done, report.model_dump(mode="json"))
    result.report = report
    log.info(
        "labels %s: %d polygons, %.3f km2 (%d repaired, %d empty dropped)",
        Path(path).name,
        report.polygons,
        report.area_m2 / 1e6,
        report.invalid_repaired,
        report.empty_dropped,
    )
    return result
