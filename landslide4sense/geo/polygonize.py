"""Polygons of a boolean raster on a grid, with the mean of any layers under each.

OBIA candidates (annotation) and a model's detection map (training) both turn a mask on the
region's grid into polygons this way.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from rasterio.features import shapes
from scipy import ndimage
from shapely.geometry import shape

from landslide4sense.geo.grid import Grid


def segment_means(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of ``values`` per segment label (index = label)."""
    n = int(labels.max()) + 1
    ok = np.isfinite(values)
    total = np.bincount(labels[ok], weights=values[ok], minlength=n)
    count = np.bincount(labels[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def polygonize(
    mask: np.ndarray, layers: dict[str, np.ndarray], grid: Grid, min_area_m2: float
) -> gpd.GeoDataFrame:
    """Polygons of the mask (8-connected), in the grid's CRS, with the mean of each layer.

    Returns:
        cand_id (1..n), one column per layer, area_m2, geometry.
    """
    blobs, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    means = {k: segment_means(blobs, v) for k, v in layers.items()}
    area = np.bincount(blobs.ravel(), minlength=n + 1) * grid.resolution**2
    rows = []
    for geom, value in shapes(blobs, mask=blobs > 0, transform=grid.transform, connectivity=8):
        i = int(value)
        if area[i] < min_area_m2:
            continue
        rows.append(
            {
                "geometry": shape(geom),
                **{k: float(means[k][i]) for k in layers},
                "area_m2": float(area[i]),
                "_blob": i,
            }
        )
    columns = [*layers, "area_m2"]
    gdf = gpd.GeoDataFrame(
        rows, columns=[*columns, "_blob", "geometry"], geometry="geometry", crs=grid.crs
    )
    # One blob may come out as several shapes (holes, touching corners): one row per blob.
    gdf = gdf.dissolve(by="_blob", aggfunc="first").reset_index(drop=True)
    gdf["geometry"] = shapely.make_valid(gdf.geometry.values)
    gdf.insert(0, "cand_id", np.arange(1, len(gdf) + 1))
    return gdf[["cand_id", *columns, "geometry"]]
