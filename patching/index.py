"""The georeferenced patch index: GeoParquet and a STAC Collection, from the manifest rows.

``manifest.csv`` gives each patch's bounds in its own UTM CRS, so regions in different zones
cannot share one layer. :func:`patch_index` adds each patch's footprint in EPSG:4326 to every
manifest column (the native bounds and CRS stay as columns): the result opens as one layer in
QGIS, is searched spatially, and shows whether patches of different splits overlap
(:func:`split_overlaps`). :func:`stac_collection` describes the same patches as STAC Items
(label extension for the masks, ``ml-aoi:split`` for the split) whose assets are the HDF5
files, with relative links only, so the benchmark folder can move.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from landslide4sense.files import atomic_path
from landslide4sense.layout import PATCH_SIZE, STACK_BANDS

#: The ml-aoi extension's names of our splits.
ML_AOI_SPLITS = {"train": "train", "val": "validate", "test": "test"}
ML_AOI_SCHEMA = "https://stac-extensions.github.io/ml-aoi/v0.2.0/schema.json"
LABEL_SCHEMA = "https://stac-extensions.github.io/label/v1.0.1/schema.json"
PROJECTION_SCHEMA = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
EO_SCHEMA = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
#: Sentinel-2 MSI bands: (common name, centre wavelength in micrometres, as STAC's eo
#: extension and ESA give them). The last two channels are derived from the DEM.
S2_EO = {
    "B01": ("coastal", 0.443),
    "B02": ("blue", 0.49),
    "B03": ("green", 0.56),
    "B04": ("red", 0.665),
    "B05": ("rededge071", 0.704),
    "B06": ("rededge075", 0.74),
    "B07": ("rededge078", 0.783),
    "B08": ("nir", 0.842),
    "B09": ("nir09", 0.945),
    "B10": ("cirrus", 1.375),
    "B11": ("swir16", 1.61),
    "B12": ("swir22", 2.19),
}
DEM_BANDS = {"slope": "terrain slope (degrees, Horn)", "dem": "elevation (metres)"}
#: Where a scene of each source is described (its id appended): ``derived_from`` links.
SCENE_URLS = {
    "earthengine": "https://earthengine.googleapis.com/v1/projects/earthengine-public/assets/"
    "COPERNICUS/S2_HARMONIZED/",
    "stac": "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l1c/items/",
}
#: What the label extension says of every mask (a raster of two classes, for segmentation).
LABEL_FIELDS = {
    "label:description": "landslide mask: 1 = landslide, 0 = other",
    "label:type": "raster",
    "label:properties": None,
    "label:classes": [{"name": None, "classes": [0, 1]}],
    "label:tasks": ["segmentation"],
}
HDF5_MEDIA_TYPE = "application/x-hdf5"


def stac_bands() -> list[dict]:
    """The 14 channels of a patch, in order, as STAC 1.1 ``bands`` (eo fields for S2)."""
    bands = []
    for name in STACK_BANDS:
        if name in S2_EO:
            common, micrometres = S2_EO[name]
            bands.append(
                {
                    "name": name,
                    "description": f"Sentinel-2 {name}",
                    "eo:common_name": common,
                    "eo:center_wavelength": micrometres,
                }
            )
        else:
            bands.append({"name": name, "description": DEM_BANDS[name]})
    return bands


def scene_links(source: str, scene_ids: str) -> list[dict]:
    """``derived_from`` links to the Sentinel-2 scenes of a patch (none for local files)."""
    base = SCENE_URLS.get(source)
    if base is None:
        return []
    return [
        {"rel": "derived_from", "href": base + scene, "type": GEOJSON if source == "stac" else JSON}
        for scene in scene_ids.split(";")
        if scene
    ]


def patch_index(rows: Iterable[Mapping]) -> gpd.GeoDataFrame:
    """Every manifest column plus each patch's footprint in EPSG:4326 (``geometry``).

    Args:
        rows: manifest rows with at least ``xmin``, ``ymin``, ``xmax``, ``ymax`` and ``crs``.
    """
    frame = pd.DataFrame(list(rows))
    footprints = np.empty(len(frame), dtype=object)
    for crs, group in frame.groupby("crs", sort=False):
        boxes = shapely.box(group["xmin"], group["ymin"], group["xmax"], group["ymax"])
        to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform
        footprints[frame.index.get_indexer(group.index)] = shapely.transform(
            boxes, to_wgs84, interleaved=False
        )
    return gpd.GeoDataFrame(frame, geometry=list(footprints), crs="EPSG:4326")


def write_patch_index(path: str | Path, index: gpd.GeoDataFrame) -> Path:
    """Write ``index`` as GeoParquet 1.1, atomically, with a ``bbox`` covering column (readers
    filter row groups by it without decoding geometries)."""
    with atomic_path(path) as tmp:
        index.to_parquet(tmp, index=False, write_covering_bbox=True)
    return Path(path)


def write_footprints(path: str | Path, index: gpd.GeoDataFrame) -> Path:
    """Write ``index`` as a GeoPackage (layer ``patches``), atomically: the footprints for GIS
    that read no GeoParquet (GDAL before 3.8 without its Arrow driver, QGIS 3.22 as shipped)."""
    import pyogrio

    quiet = logging.getLogger("pyogrio")  # it logs "Created N records" at INFO
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    try:
        with atomic_path(path) as tmp:
            pyogrio.write_dataframe(index, tmp, layer="patches", driver="GPKG")
    finally:
        quiet.setLevel(level)
    return Path(path)


def split_overlaps(index: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    """Pairs of patch ids from different splits whose footprints overlap (more than an edge).

    Tiles of one region never overlap (one grid, no overlap); patches of two regions whose
    AOIs overlap can, and a test patch over a training patch would leak.
    """
    geoms = index.geometry.values
    left, right = index.sindex.query(geoms, predicate="intersects")
    split = index["split"].to_numpy()
    keep = (left < right) & (split[left] != split[right])
    left, right = left[keep], right[keep]
    # Neighbours in one grid share an edge exactly (area 0); float noise stays far below this.
    min_area = 1e-6 * float(shapely.area(geoms).min()) if len(index) else 0.0
    overlap = shapely.area(shapely.intersection(geoms[left], geoms[right])) > min_area
    ids = index["id"].to_numpy()
    return list(zip(ids[left[overlap]], ids[right[overlap]], strict=True))


STAC_VERSION = "1.1.0"
JSON, GEOJSON = "application/json", "application/geo+json"


def _stamp(day: dt.date, end: bool = False) -> str:
    """The first (or last) instant of ``day``, UTC, as STAC writes it."""
    return f"{day.isoformat()}T{'23:59:59.999999' if end else '00:00:00'}Z"


def stac_collection(
    index: gpd.GeoDataFrame,
    *,
    collection_id: str,
    title: str,
    description: str,
    licence: str,
    windows: Mapping[str, tuple[dt.date, dt.date]],
    thumbnails: Sequence[str] | None = None,
) -> tuple[dict, list[dict]]:
    """A STAC Collection with one Item per patch (STAC 1.1 JSON records: the collection, its
    items); Items link to the HDF5 files relatively. :func:`write_stac` saves them.

    Each Item holds the patch's footprint (EPSG:4326), its own grid (projection extension:
    code, bounds, shape, transform), ``ml-aoi:split`` (train, validate or test), the mask as a
    label asset (label extension: raster, classes 0 and 1, segmentation) and the image as the
    feature asset. Its time range is the region's imagery window (the patches are composites).
    The records are built here rather than through pystac's objects, whose link resolution
    grows with the square of the patch count (11 s for a full Sentinel-2 tile's 7,225);
    ``tests/patching/test_index.py`` reads them back with pystac.

    Args:
        index: the patch index (:func:`patch_index`).
        collection_id: the collection's id.
        title: the collection's title.
        description: the collection's description (markdown).
        licence: an SPDX licence id, or ``other``.
        windows: each region's imagery window (start, end).
        thumbnails: each patch's thumbnail URI (its ``thumbnail`` asset), in index order.
    """
    items = []
    bands = stac_bands()
    for i, row in enumerate(index.itertuples(index=False)):
        start, end = windows[row.region]
        xmin, ymin, xmax, ymax = (float(v) for v in (row.xmin, row.ymin, row.xmax, row.ymax))
        res = (xmax - xmin) / PATCH_SIZE
        items.append(
            {
                "type": "Feature",
                "stac_version": STAC_VERSION,
                "stac_extensions": [ML_AOI_SCHEMA, PROJECTION_SCHEMA, LABEL_SCHEMA, EO_SCHEMA],
                "id": row.id,
                "geometry": shapely.geometry.mapping(row.geometry),
                "bbox": list(row.geometry.bounds),
                "properties": {
                    "ml-aoi:split": ML_AOI_SPLITS[row.split],
                    "proj:code": row.crs,
                    "proj:bbox": [xmin, ymin, xmax, ymax],
                    "proj:shape": [PATCH_SIZE, PATCH_SIZE],
                    "proj:transform": [res, 0.0, xmin, 0.0, -res, ymax],
                    **LABEL_FIELDS,
                    "l4s:region": row.region,
                    "l4s:tile": [int(row.tile_row), int(row.tile_col)],
                    "l4s:landslide_fraction": float(row.landslide_fraction),
                    "start_datetime": _stamp(start),
                    "end_datetime": _stamp(end, end=True),
                    "datetime": None,
                },
                # Items live in stac/items/<id>.json: two levels below the benchmark's root.
                "links": [
                    {"rel": rel, "href": "../collection.json", "type": JSON, "title": title}
                    for rel in ("root", "collection", "parent")
                ]
                + scene_links(row.source, row.scene_ids),
                "assets": {
                    "image": {
                        "href": f"../../{row.image}",
                        "type": HDF5_MEDIA_TYPE,
                        "title": "14-band image (dataset 'img', 128 x 128 x 14)",
                        "ml-aoi:role": "feature",
                        "ml-aoi:reference-grid": True,
                        "bands": bands,
                        "roles": ["data"],
                    },
                    "mask": {
                        "href": f"../../{row.mask}",
                        "type": HDF5_MEDIA_TYPE,
                        "title": "landslide mask (dataset 'mask', 128 x 128)",
                        "ml-aoi:role": "label",
                        "roles": ["labels"],
                    },
                    **_thumbnail(thumbnails, i),
                },
                "collection": collection_id,
            }
        )
    interval = [
        min(_stamp(s) for s, _ in windows.values()),
        max(_stamp(e, end=True) for _, e in windows.values()),
    ]
    collection = {
        "type": "Collection",
        "id": collection_id,
        "stac_version": STAC_VERSION,
        "description": description,
        "links": [{"rel": "root", "href": "./collection.json", "type": JSON, "title": title}]
        + [{"rel": "item", "href": f"./items/{i['id']}.json", "type": GEOJSON} for i in items],
        "stac_extensions": [ML_AOI_SCHEMA, EO_SCHEMA],
        "title": title,
        "extent": {
            "spatial": {"bbox": [index.total_bounds.tolist()]},
            "temporal": {"interval": [interval]},
        },
        "license": licence,
        "summaries": {"ml-aoi:split": sorted({ML_AOI_SPLITS[s] for s in index["split"]})},
        "item_assets": {
            "image": {"type": HDF5_MEDIA_TYPE, "roles": ["data"], "bands": bands},
            "mask": {"type": HDF5_MEDIA_TYPE, "roles": ["labels"]},
            "thumbnail": {"type": "image/jpeg", "roles": ["thumbnail"]},
        },
    }
    return collection, items


def _thumbnail(thumbnails: Sequence[str] | None, i: int) -> dict:
    """The ``thumbnail`` asset of the ``i``-th item, if there are thumbnails."""
    if thumbnails is None:
        return {}
    return {
        "thumbnail": {
            "href": thumbnails[i],
            "type": "image/jpeg",
            "title": "RGB (B04, B03, B02) with the landslide mask outlined",
            "roles": ["thumbnail"],
        }
    }


def write_stac(folder: str | Path, stac: tuple[dict, list[dict]]) -> Path:
    """Save a :func:`stac_collection` self-contained under ``folder`` (``collection.json``,
    ``items/<id>.json``, the schema of the ``l4s:*`` fields; every link relative), atomically;
    returns the collection file.

    Items are written compact, one line each: a full tile has 7,225 of them, and indenting
    takes ``json`` off its C encoder."""
    folder = Path(folder)
    collection, items = stac
    with atomic_path(folder) as tmp:
        (tmp / "items").mkdir(parents=True)
        for item in items:
            (tmp / "items" / f"{item['id']}.json").write_text(json.dumps(item))
        (tmp / "collection.json").write_text(json.dumps(collection, indent=2))
        (tmp / L4S_SCHEMA).write_text(
            files("landslide4sense.patching").joinpath("templates/l4s-stac-schema.json").read_text()
        )
    return folder / "collection.json"


#: The JSON Schema of the items' ``l4s:*`` fields, published beside the collection.
L4S_SCHEMA = "l4s-schema.json"
