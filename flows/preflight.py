"""What is checked before a build starts: bad input gets one message, at once, and no output.

``l4s build``, ``add-region`` and ``demo`` run :func:`check_build` before Prefect is even
imported, and the build flows run it again first thing (a deployment run has no CLI in front
of it). It reads headers, never pixels, in well under two seconds, and writes nothing (not even
the output folder). What it checks, per region: the region file (schema, GeoJSON AOI), the
AOI's size against a cap and against one patch, the output folder (ours, or new or empty; the
scaling of an existing benchmark); for the local source: every band file and the DEM open as
georeferenced rasters and are whole, the DEM covers the grid, the labels are polygons in a
vector format with a CRS near the AOI (or pre-event bands exist to make candidates); for the
networked sources and DEMs: their credentials are configured (no network call).
Checks that need pixels (no valid tile, labels that miss the AOI polygon by polygon) stay in
the stages.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from landslide4sense.choices import RELEASE, OutputLayout, Scaling, names
from landslide4sense.errors import ConfigError, EmptyResultError, InputDataError, MissingInputError
from landslide4sense.layout import PATCH_SIZE
from landslide4sense.store.output import check_output
from landslide4sense.store.versions import check_records

if TYPE_CHECKING:  # the geo stack is imported when a check runs, not with the CLI
    from landslide4sense.records import DatasetMeta
    from landslide4sense.regions import Region

log = logging.getLogger(__name__)

#: The default cap on a region's AOI: about four Sentinel-2 tiles (110 x 110 km each). A typo in
#: a bbox (a whole continent) would otherwise mean days of downloads and terabytes of patches.
MAX_AOI_KM2 = 50_000.0
EARTH_RADIUS_KM = 6371.0088  # the mean radius
POLYGONAL = ("Polygon", "MultiPolygon", "Polygon Z", "MultiPolygon Z")


def region_files(regions: str | Path) -> list[Path]:
    """The region files of a build: every ``*.yaml`` of a folder, or the one file given."""
    from landslide4sense.regions import load_regions

    regions = Path(regions)
    if regions.is_file():
        return [regions]
    if not regions.exists():
        raise MissingInputError(f"{regions}: no such folder or region file (--regions)")
    return [r.path for r in load_regions(regions)]


def check_aoi(region: Region, max_km2: float = MAX_AOI_KM2) -> None:
    """The AOI is at most ``max_km2`` and holds at least one whole 128 x 128 px patch.

    Raises:
        ConfigError: the AOI is larger than the cap.
        EmptyResultError: its grid is smaller than one patch.
    """
    from landslide4sense.regions import region_grid

    if not (math.isfinite(max_km2) and max_km2 > 0):  # NaN would pass every comparison
        raise ConfigError(f"--max-aoi-km2 must be a positive number of km2, got {max_km2}")
    # The grid covers the AOI's bounding box: that is what would be downloaded and cut.
    west, south, east, north = region.aoi_geometry().bounds
    km2 = (
        EARTH_RADIUS_KM**2
        * math.radians(east - west)
        * abs(math.sin(math.radians(north)) - math.sin(math.radians(south)))
    )
    if km2 > max_km2:
        raise ConfigError(
            f"{region.path}: the aoi's bounding box covers {km2:,.0f} km2, more than the cap of "
            f"{max_km2:,.0f} km2; check the bbox (west, south, east, north in degrees), split "
            "the region, or raise the cap with --max-aoi-km2 (the default, "
            f"{MAX_AOI_KM2:,.0f} km2, is about four Sentinel-2 tiles)"
        )
    grid = region_grid(region)
    rows, cols = grid.tile_shape()
    if rows * cols == 0:
        raise EmptyResultError(
            f"region '{region.name}': none of its 0 tiles is valid: its grid ({grid.width} x "
            f"{grid.height} px at 10 m) is smaller than one {PATCH_SIZE} x {PATCH_SIZE} px "
            f"patch. Make the AOI of {region.path} at least 1.28 km wide and high"
        )


def check_dem(dem: Path, region: Region) -> None:
    """The DEM's footprint overlaps the region's grid."""
    import rasterio
    from rasterio.warp import transform_bounds

    from landslide4sense.regions import region_grid

    grid = region_grid(region)
    with rasterio.open(dem) as src:
        if src.crs is None:
            return  # check_raster has said so already
        b = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
    g = grid.bounds
    if b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
        raise InputDataError(
            f"{dem}: the DEM (bounds {tuple(round(v) for v in b)} in {grid.crs}) does not cover "
            f"the grid of region '{region.name}' ({tuple(round(v) for v in g)}); supply a DEM of "
            "the region's area"
        )


def _label_layer(path: Path, layers: list[str]) -> str:
    for name in ("labels", "candidates"):
        if name in layers:
            return name
    if len(layers) == 1:
        return layers[0]
    raise InputDataError(
        f"{path}: holds layers {layers}; name the one with the corrected polygons 'labels'"
    )


def check_labels(path: Path, region: Region) -> None:
    """A vector file of polygons with a CRS, whose extent meets the AOI.

    Raises:
        InputDataError: an unsupported format, an unreadable file, no CRS, points or lines
            instead of polygons, or an extent nowhere near the AOI.
    """
    import pyogrio
    from rasterio.warp import transform_bounds

    from landslide4sense.acquisition.local import LABEL_SUFFIXES

    if path.suffix.lower() not in LABEL_SUFFIXES:
        raise InputDataError(
            f"{path}: unsupported label format '{path.suffix}'; give the landslide polygons as "
            "a GeoPackage (.gpkg), Shapefile (.shp) or GeoJSON (.geojson)"
        )
    try:
        layer = _label_layer(path, [name for name, _ in pyogrio.list_layers(path)])
        info = pyogrio.read_info(path, layer=layer, force_total_bounds=True)
    except pyogrio.errors.DataSourceError as err:
        raise InputDataError(
            f"{path}: cannot read the label file ({err}); re-export it from QGIS or ogr2ogr"
        ) from err
    kind = info.get("geometry_type")
    if info["crs"] is None:
        raise InputDataError(
            f"{path}: layer '{layer}' has no CRS; assign the CRS it was drawn in (QGIS: Layer "
            "properties > Source, or `ogr2ogr -a_srs EPSG:xxxx`)"
        )
    if info["features"] and kind not in POLYGONAL and not _has_polygons(path, layer):
        raise InputDataError(
            f"{path}: layer '{layer}' holds {kind or 'no polygon'} geometries, not polygons; "
            "landslide labels are the outlines of the scars: digitise them as polygons"
        )
    if not info["features"]:
        log.warning(
            "%s: layer '%s' holds no polygon: region '%s' gets no landslide pixel",
            path,
            layer,
            region.name,
        )
        return
    lon_lat = transform_bounds(info["crs"], "EPSG:4326", *info["total_bounds"], densify_pts=21)
    aoi = region.aoi_geometry().bounds
    if lon_lat[0] > aoi[2] or lon_lat[2] < aoi[0] or lon_lat[1] > aoi[3] or lon_lat[3] < aoi[1]:
        raise InputDataError(
            f"{path}: none of the {info['features']} label polygons intersects the region's AOI "
            f"(labels span lon/lat {tuple(round(v, 4) for v in lon_lat)}, AOI "
            f"{tuple(round(v, 4) for v in aoi)}); check the region's aoi and the CRS of the "
            f"label file (read as {info['crs']})"
        )


def _has_polygons(path: Path, layer: str) -> bool:
    """Whether a layer of mixed or undeclared geometry type holds any polygon."""
    import pyogrio
    import shapely

    _, _, geometry, _ = pyogrio.raw.read(path, layer=layer, columns=[])
    kinds = shapely.get_type_id(shapely.from_wkb(geometry))
    return bool(((kinds == 3) | (kinds == 6)).any())  # Polygon, MultiPolygon


def _check_raw(region: Region, source: str, raw: Path | None) -> None:
    """The local source's band files, a local DEM, and the labels already in ``RAW/<name>/``
    (whatever the source)."""
    from landslide4sense.acquisition.local import LocalSource, find_dem, find_labels
    from landslide4sense.regions import region_grid

    region_dir = Path(raw or ".") / region.name
    if source == "local":
        LocalSource(raw).fetch(region, region_grid(region), raw)  # finds and checks; writes nothing
    if region.dem == "local":
        check_dem(find_dem(region_dir).path, region)
    labels = find_labels(region, region_dir)
    if labels is not None:
        check_labels(labels, region)
    elif source == "local" and not (raw / region.name / "pre" / "s2").is_dir():
        raise no_labels(region, raw)


def no_labels(region: Region, raw: Path | None) -> MissingInputError:
    """The error for a region with neither labels nor pre-event imagery for candidates."""
    folder = Path(raw or ".") / region.name
    return MissingInputError(
        f"region '{region.name}' has no labels: add the corrected landslide polygons as "
        f"{folder / 'labels.gpkg'}, or provide pre-event imagery ({folder / 'pre' / 's2'}/"
        "B02..B08.tif, or annotation.pre_imagery in the region file) to make OBIA candidates"
    )


def check_scaling(out: Path, scaling: str) -> None:
    """A region added to a benchmark is scaled as the benchmark is."""
    from landslide4sense.store.benchmark import Benchmark  # the records: not with the CLI

    meta = Benchmark(out=out).meta()
    if meta is not None and meta.scaling != scaling:
        raise ConfigError(
            f"{out}: the benchmark uses scaling '{meta.scaling}', not '{scaling}'; pass "
            "--scaling to match, or rebuild it into a new folder with `l4s build`"
        )


def same_layout(
    out: Path, meta: DatasetMeta | None, valid: bool | None, split_files: bool | None
) -> OutputLayout:
    """The layout of a region added to the benchmark at ``out``: the benchmark's (``meta``);
    an option given must agree with it."""
    published = meta.layout if meta is not None else RELEASE
    asked = OutputLayout(
        published.valid if valid is None else valid,
        published.split_files if split_files is None else split_files,
    )
    if meta is not None and asked != published:
        raise ConfigError(
            f"{out}: the benchmark has the {published} layout, not {asked}; leave "
            "--valid and --split-files out to keep it, or rebuild it with `l4s build`"
        )
    return asked


def check_layout(out: Path, valid: bool | None, split_files: bool | None) -> None:
    """A region added to a benchmark keeps its layout (refused before Prefect starts)."""
    from landslide4sense.store.benchmark import Benchmark  # the records: not with the CLI

    same_layout(out, Benchmark(out=out).meta(), valid, split_files)


def check_build(
    files: list[Path],
    source: str,
    raw: Path | None,
    out: Path,
    scaling: str,
    max_aoi_km2: float = MAX_AOI_KM2,
    adding: bool = False,
) -> list[Region]:
    """Everything a build of ``files`` into ``out`` (``adding``: to the benchmark there) can be
    refused for before it starts.

    Returns:
        The validated regions.

    Raises:
        L4SError: the first problem found, naming the file, what is wrong and the fix.
    """
    if scaling not in names(Scaling):
        raise ConfigError(f"--scaling must be one of {', '.join(names(Scaling))}, got {scaling!r}")
    check_output(out)
    check_records(out)
    if adding:
        check_scaling(out, scaling)
    if source == "local" and raw is None:
        raise ConfigError("the local source needs --raw RAW (the folder of raw layers)")
    if source == "local" and not Path(raw).is_dir():
        raise MissingInputError(f"{raw}: raw folder not found (--raw)")
    from landslide4sense.regions import load_region

    regions = [load_region(f) for f in files]
    for region in regions:
        check_aoi(region, max_aoi_km2)
        _check_raw(region, source, None if raw is None else Path(raw))
    from landslide4sense.acquisition.credentials import check_credentials

    check_credentials(regions, source)  # before any download: the DEM's too
    return regions


DEMO_ENTRIES = {"regions", "raw", "benchmark", "annotation"}


def check_demo(root: Path) -> None:
    """``l4s demo`` writes only into a new or empty folder, or into one it wrote before.

    Raises:
        NotABenchmarkError: the folder holds anything else (the demo would build it too).
    """
    from landslide4sense.acquisition.demo import DEMO_REGIONS
    from landslide4sense.store.output import NotABenchmarkError, check_writable

    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotABenchmarkError(f"{root}: --out must be a folder; this is a file")
    check_writable(root)
    if not root.exists() or not any(root.iterdir()):
        return
    readme = root / "raw" / "README.json"
    ours = readme.is_file() and "l4s demo" in readme.read_text()
    demo_files = {f"{r['name']}.yaml" for r in DEMO_REGIONS}
    foreign = sorted(p.name for p in root.iterdir() if p.name not in DEMO_ENTRIES) + sorted(
        f"regions/{p.name}" for p in (root / "regions").glob("*") if p.name not in demo_files
    )
    if not ours or foreign:
        shown = ", ".join(foreign[:6]) or ", ".join(sorted(p.name for p in root.iterdir())[:6])
        raise NotABenchmarkError(
            f"{root}: not a folder `l4s demo` wrote (it holds {shown}); the demo builds every "
            "region file under it and writes next to your files: choose a new folder with --out"
        )
    check_output(root / "benchmark")
    check_records(root / "benchmark")
