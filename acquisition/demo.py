"""A seeded, physically plausible raw scene, written in the local source's layout.

Used by ``l4s demo`` (the embedded default), by the tests and by the benchmarks. The scene is
made on a 10 m "truth" grid a little larger than the region's grid:

* terrain: fractal relief in metres (several octaves of cubic-interpolated noise), with flat
  valley floors;
* land cover: forest on the hillslopes, fields on flat ground, a gravel river bed in the lowest
  valley floors, and landslide scars (bare soil) on steep slopes, elongated downslope;
* Sentinel-2 L1C-like digital numbers (TOA reflectance x 10000) per band from per-class spectra,
  hill shading and sensor noise, written at each band's native 10/20/60 m (block means);
* a DEM in another CRS (a neighbouring UTM zone at 12.5 m, or geographic degrees), and the scar
  polygons in lon/lat.

``variant="pre"`` writes the same place before the event: no scars, green fields.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import calculate_default_transform, reproject
from shapely import affinity
from shapely.geometry import Polygon

from landslide4sense.acquisition.base import S2_NATIVE_RESOLUTION
from landslide4sense.files import atomic_path, write_json, write_text
from landslide4sense.geo import Grid
from landslide4sense.regions import Region, parse_region, region_grid

log = logging.getLogger(__name__)

# Land-cover classes of the synthetic scene.
FOREST, SCAR, FIELD_BARE, FIELD_GREEN, GRAVEL, WATER = range(6)
CLASS_NAMES = ("forest", "scar", "field_bare", "field_green", "gravel", "water")

# TOA reflectance x 10000 per class and band (typical L1C values for each surface).
_SPECTRA = {
    #        B01   B02   B03   B04   B05   B06   B07   B08   B8A  B09 B10   B11   B12
    FOREST: (1150, 850, 750, 450, 850, 2100, 2500, 2650, 2750, 800, 12, 1450, 650),
    SCAR: (1350, 1250, 1450, 1700, 1950, 2200, 2350, 2450, 2550, 900, 18, 3100, 2500),
    FIELD_BARE: (1300, 1150, 1300, 1500, 1800, 2050, 2200, 2300, 2400, 850, 16, 2800, 2200),
    FIELD_GREEN: (1100, 800, 850, 500, 1000, 2500, 3000, 3200, 3300, 850, 12, 1700, 800),
    GRAVEL: (1400, 1400, 1550, 1650, 1800, 1900, 1950, 2000, 2050, 800, 15, 2400, 2000),
    WATER: (1200, 900, 700, 450, 400, 350, 330, 300, 280, 150, 8, 150, 100),
}
_BAND_ORDER = tuple(S2_NATIVE_RESOLUTION)  # B01..B08, B8A, B09..B12: the columns above
SPECTRA = np.array([_SPECTRA[c] for c in range(len(CLASS_NAMES))], dtype=np.float32)


@dataclass(frozen=True)
class SceneTruth:
    """What a synthetic scene holds, for tests that need the exact answer."""

    grid: Grid
    landslides: gpd.GeoDataFrame  # polygons in the grid's CRS
    classes: Path  # uint8 GeoTIFF of land-cover classes on the truth grid


def fractal_terrain(grid: Grid, rng: np.random.Generator, relief: float = 900.0) -> np.ndarray:
    """Elevation in metres on ``grid``: octaves of cubic-interpolated noise, flat valley floors."""
    z = np.zeros((grid.height, grid.width), np.float32)
    left, bottom, right, top = grid.bounds
    for cell, amp in (
        (5120, 1.0),
        (2560, 0.55),
        (1280, 0.3),
        (640, 0.16),
        (320, 0.08),
        (160, 0.04),
    ):
        n_x = math.ceil((right - left) / cell) + 4
        n_y = math.ceil((top - bottom) / cell) + 4
        coarse = rng.standard_normal((n_y, n_x)).astype(np.float32) * amp
        src_t = Affine(cell, 0, left - 2 * cell, 0, -cell, top + 2 * cell)
        layer = np.empty_like(z)
        reproject(
            coarse,
            layer,
            src_transform=src_t,
            src_crs=grid.crs,
            dst_transform=grid.transform,
            dst_crs=grid.crs,
            resampling=Resampling.cubic,
        )
        z += layer
    lo, hi = np.percentile(z[:: max(1, grid.height // 256), :: max(1, grid.width // 256)], [1, 99])
    z = (z - lo) / (hi - lo)
    floor = 0.18  # valley floors: everything below flattens out
    z = np.where(z < floor, floor + (z - floor) * 0.05, z)
    return (150.0 + relief * (z - floor + 0.05)).astype(np.float32)


def slope_aspect(z: np.ndarray, res: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope (degrees) and downslope direction (radians, from +x towards +y in map units)."""
    dz_dy, dz_dx = np.gradient(z, res)
    dz_dy = -dz_dy  # rows grow southwards
    slope = np.degrees(np.arctan(np.hypot(dz_dx, dz_dy))).astype(np.float32)
    downslope = np.arctan2(-dz_dy, -dz_dx).astype(np.float32)
    return slope, downslope


def landslide_polygons(
    grid: Grid,
    slope: np.ndarray,
    downslope: np.ndarray,
    n: int,
    rng: np.random.Generator,
    min_slope: float = 22.0,
    margin_px: int = 0,
) -> list[Polygon]:
    """``n`` scar polygons on slopes steeper than ``min_slope``, elongated downslope."""
    h, w = slope.shape
    polys: list[Polygon] = []
    tries = 0
    while len(polys) < n and tries < 200 * n + 1000:
        tries += 1
        r = int(rng.integers(margin_px, h - margin_px))
        c = int(rng.integers(margin_px, w - margin_px))
        if slope[r, c] < min_slope:
            continue
        length = float(np.clip(rng.lognormal(math.log(170.0), 0.5), 50.0, 700.0))
        width = length * float(rng.uniform(0.3, 0.6))
        x, y = grid.transform @ (c + 0.5, r + 0.5)
        k = 20
        ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
        rad = 1.0 + rng.uniform(-0.12, 0.12, k)
        ring = np.c_[np.cos(ang) * rad * length / 2, np.sin(ang) * rad * width / 2]
        poly = Polygon(ring)
        poly = affinity.rotate(poly, float(downslope[r, c]), origin=(0, 0), use_radians=True)
        polys.append(affinity.translate(poly, x, y))
    return polys


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    h, w = (a.shape[0] // k) * k, (a.shape[1] // k) * k
    return a[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3), dtype=np.float32)


def synthesize_scene(
    raw: str | Path,
    name: str,
    grid: Grid,
    *,
    seed: int = 0,
    n_landslides: int | None = None,
    dem_crs: str | None = None,
    dem_resolution: float = 12.5,
    label_crs: str = "EPSG:4326",
    variant: str = "post",
    margin: float = 1200.0,
    date: str = "2020-10-01",
) -> SceneTruth:
    """Write ``raw/<name>/{s2/B*.tif, s2/scenes.json, dem.tif, labels.gpkg}`` covering ``grid``.

    Args:
        raw: the raw folder (local source layout).
        name: the region's name (subfolder).
        grid: the region's grid; the scene covers it plus ``margin`` metres.
        seed: the same seed gives the same terrain, cover and scars (pre and post alike).
        n_landslides: number of scars; default one per 0.5 km2 of grid.
        dem_crs: CRS of the DEM file (default: the neighbouring UTM zone); ``EPSG:4326`` writes
            it in geographic degrees at about ``dem_resolution`` metres.
        dem_resolution: DEM pixel size in metres.
        label_crs: CRS of the written label polygons.
        variant: ``post`` (scars, bare fields) or ``pre`` (no scars, green fields).
        margin: extra metres around the grid.
        date: acquisition date written in ``scenes.json``.

    Returns:
        The truth: the truth grid, the scar polygons and the land-cover raster.
    """
    if variant not in ("pre", "post"):
        raise ValueError(f"variant must be 'pre' or 'post', got {variant!r}")
    rng = np.random.default_rng(seed)  # drawn from in this order: terrain, cover, scars, bands
    truth = _truth_grid(grid, margin)
    out = Path(raw) / name
    (out / "s2").mkdir(parents=True, exist_ok=True)
    z = fractal_terrain(truth, rng)
    slope, downslope = slope_aspect(z, 10.0)
    classes, fields = _land_cover(z, slope, rng, variant, grid.width * grid.height)
    n = n_landslides if n_landslides is not None else max(1, int(grid.width * grid.height / 5000))
    polys = landslide_polygons(truth, slope, downslope, n, rng, margin_px=30)
    if variant == "post" and polys:
        scar = rasterize(
            ((p, 1) for p in polys), out_shape=z.shape, transform=truth.transform, dtype=np.uint8
        )
        classes[scar == 1] = SCAR
        del scar
    lit = _illumination(slope, downslope) * _canopy_vigor(truth, classes, rng)
    del slope, downslope
    _write_bands(out / "s2", truth, classes, lit, rng)
    del lit
    _write_dem(out / "dem.tif", z, truth, dem_crs or _neighbour_utm(truth.crs), dem_resolution)
    _write_scenes(out / "s2" / "scenes.json", dt.date.fromisoformat(date))
    slides = gpd.GeoDataFrame(
        {"slide_id": np.arange(1, len(polys) + 1)}, geometry=polys, crs=truth.crs
    )
    if variant == "post":
        with atomic_path(out / "labels.gpkg") as tmp:
            slides.to_crs(label_crs).to_file(tmp, driver="GPKG", layer="labels")
    _write_raster(out / "classes.tif", classes, truth)
    log.info(
        "synthetic %s scene %s: %d x %d px, %d scars, %d fields",
        variant,
        name,
        truth.width,
        truth.height,
        len(polys),
        len(fields),
    )
    return SceneTruth(truth, slides, out / "classes.tif")


def _truth_grid(grid: Grid, margin: float) -> Grid:
    """The 10 m truth grid: ``grid`` plus ``margin`` m, its origin and size snapped to 60 m so
    that the 20 m and 60 m bands nest exactly."""
    truth = grid.buffered(margin, 10.0)
    t = truth.transform
    x0, y1 = math.floor(t.c / 60) * 60, math.ceil(t.f / 60) * 60
    w = math.ceil((t.c + truth.width * 10 - x0) / 60) * 6
    h = math.ceil((y1 - (t.f - truth.height * 10)) / 60) * 6
    return Grid(truth.crs, Affine(10, 0, x0, 0, -10, y1), w, h)


def _land_cover(
    z: np.ndarray, slope: np.ndarray, rng: np.random.Generator, variant: str, grid_px: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Land-cover classes before the scars: forest, a gravel river bed with water in the lowest
    valley floors, and fields (bare after the event, green before) on flat ground; and the
    fields as (row, col, height, width). Every random number is drawn in both variants so pre
    and post stay aligned."""
    h, w = z.shape
    classes = np.full(z.shape, FOREST, np.uint8)
    flat = slope < 4.0
    river = flat & (z < np.percentile(z[flat], 15)) if flat.any() else flat  # lowest floors
    classes[river] = GRAVEL
    classes[river & (rng.random(z.shape, dtype=np.float32) < 0.35)] = WATER
    n_fields = max(2, int(grid_px * 100 / 2.0e6))
    fields = []
    for _ in range(n_fields * 20):
        if len(fields) >= n_fields:
            break
        r, c = int(rng.integers(0, h - 40)), int(rng.integers(0, w - 40))
        fh, fw = int(rng.integers(15, 40)), int(rng.integers(15, 40))
        if flat[r : r + fh, c : c + fw].mean() > 0.9 and not river[r : r + fh, c : c + fw].any():
            fields.append((r, c, fh, fw))
    for r, c, fh, fw in fields:
        classes[r : r + fh, c : c + fw] = FIELD_BARE if variant == "post" else FIELD_GREEN
    return classes, fields


def _illumination(slope: np.ndarray, downslope: np.ndarray) -> np.ndarray:
    """Hill shading, as a factor on reflectance: sun from the south-east at 45 degrees."""
    az, el = math.radians(150.0), math.radians(45.0)
    sl = np.radians(slope)
    aspect_from_north = np.pi / 2 - downslope  # direction the slope faces, clockwise from north
    shade = np.sin(el) * np.cos(sl) + np.cos(el) * np.sin(sl) * np.cos(az - aspect_from_north)
    return np.clip(0.45 + 0.75 * shade / math.sin(el), 0.3, 1.4).astype(np.float32)


def _canopy_vigor(truth: Grid, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A slow variation of the forest canopy's reflectance (1 elsewhere)."""
    t, h, w = truth.transform, truth.height, truth.width
    vigor = np.ones((h, w), np.float32)
    reproject(
        rng.uniform(0.9, 1.1, (h // 50 + 4, w // 50 + 4)).astype(np.float32),
        vigor,
        src_transform=Affine(500, 0, t.c - 1000, 0, -500, t.f + 1000),
        src_crs=truth.crs,
        dst_transform=t,
        dst_crs=truth.crs,
        resampling=Resampling.cubic,
    )
    vigor[classes != FOREST] = 1.0
    return vigor


def _write_raster(path: Path, a: np.ndarray, truth: Grid, k: int = 1) -> None:
    """A tiled GeoTIFF of ``a`` on the truth grid coarsened ``k`` times."""
    with (
        atomic_path(path) as tmp,
        rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            width=a.shape[1],
            height=a.shape[0],
            count=1,
            dtype=a.dtype,
            crs=truth.crs,
            transform=truth.transform @ Affine.scale(k),
            tiled=True,
            blockxsize=512,
            blockysize=512,
        ) as dst,
    ):
        dst.write(a, 1)


def _write_bands(
    folder: Path, truth: Grid, classes: np.ndarray, lit: np.ndarray, rng: np.random.Generator
) -> None:
    """Sentinel-2 L1C-like DNs of every band at its native resolution (block means): each
    class's spectrum, times ``lit`` (hill shading and canopy) where the band sees the ground,
    plus sensor noise."""
    for b, band in enumerate(_BAND_ORDER):
        refl = SPECTRA[:, b][classes]
        if band not in ("B10", "B01", "B09"):  # atmospheric bands barely see the ground
            refl *= lit
        refl += rng.standard_normal(classes.shape, dtype=np.float32) * (0.02 * refl + 5.0)
        k = S2_NATIVE_RESOLUTION[band] // 10
        dn = _block_mean(refl, k) if k > 1 else refl
        dn = np.clip(np.rint(dn), 1, 65535).astype(np.uint16)
        _write_raster(folder / f"{band}.tif", dn, truth, k)
        del refl, dn


def _write_scenes(path: Path, day: dt.date) -> None:
    """``scenes.json``: a plausible L1C product id on the acquisition date."""
    scenes = [
        {
            "id": f"S2B_MSIL1C_{day:%Y%m%d}T013659_N0500_R074_T00SYN_{day:%Y%m%d}T030512",
            "date": day.isoformat(),
            "cloud_cover": 0.0,
        }
    ]
    write_text(path, json.dumps(scenes, indent=2) + "\n")


def _neighbour_utm(crs: str) -> str:
    epsg = int(crs.split(":")[1])
    zone = epsg % 100
    return f"EPSG:{epsg - zone + (zone % 60) + 1}"  # the next zone east (60 wraps to 1)


def _write_dem(path: Path, z: np.ndarray, truth: Grid, dem_crs: str, res_m: float) -> None:
    left, bottom, right, top = truth.bounds
    if dem_crs == "EPSG:4326":
        lat = math.radians(truth.center_lonlat()[1])
        res = (res_m / (111320.0 * math.cos(lat)), res_m / 110574.0)
    else:
        res = (res_m, res_m)
    transform, width, height = calculate_default_transform(
        truth.crs, dem_crs, truth.width, truth.height, left, bottom, right, top, resolution=res
    )
    dem = np.full((height, width), -9999.0, np.float32)
    reproject(
        z,
        dem,
        src_transform=truth.transform,
        src_crs=truth.crs,
        dst_transform=transform,
        dst_crs=dem_crs,
        dst_nodata=-9999.0,
        resampling=Resampling.cubic,
    )
    with (
        atomic_path(path) as tmp,
        rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=1,
            dtype="float32",
            crs=dem_crs,
            transform=transform,
            nodata=-9999.0,
            tiled=True,
        ) as dst,
    ):
        dst.write(dem, 1)


# The embedded default: two small regions in central Japan, one with its DEM in the
# neighbouring UTM zone, one with its DEM in geographic degrees.
DEMO_REGIONS = (
    {
        "name": "demo-hills",
        "event": {"trigger": "rainfall", "date": "2020-07-08"},
        "aoi": {"bbox": [138.10, 36.20, 138.24, 36.32]},
        "imagery": {"start": "2020-09-01", "end": "2020-11-15", "cloud_threshold": 0.6},
        "dem": "local",
        "labels": "labels.gpkg",
        "notes": "Synthetic demo region (seeded): fractal terrain, forest, fields, a river "
        "bed and landslide scars. DEM in the neighbouring UTM zone (53N) at 12.5 m.",
    },
    {
        "name": "demo-valley",
        "event": {"trigger": "earthquake", "date": "2020-05-20"},
        "aoi": {"bbox": [137.60, 36.00, 137.72, 36.10]},
        "imagery": {"start": "2020-06-01", "end": "2020-08-31", "cloud_threshold": 0.6},
        "dem": "local",
        "labels": "labels.gpkg",
        "notes": "Synthetic demo region (seeded). DEM in geographic degrees (EPSG:4326) at "
        "about 30 m, like SRTM or AW3D30.",
    },
)
_DEMO_DEM = {"demo-hills": ("EPSG:32653", 12.5), "demo-valley": ("EPSG:4326", 30.0)}


def write_demo_inputs(root: str | Path, seed: int = 2022) -> tuple[Path, Path]:
    """Write the demo's region files and raw folder under ``root``.

    Returns:
        (regions folder, raw folder).
    """
    root = Path(root)
    regions_dir, raw = root / "regions", root / "raw"
    for i, data in enumerate(DEMO_REGIONS):
        region: Region = parse_region(data)
        yaml_path = regions_dir / f"{region.name}.yaml"
        if not yaml_path.exists():
            write_text(yaml_path, f"# {region.notes}\n" + region.to_yaml())
        if (raw / region.name / "labels.gpkg").exists():
            continue  # already written by an earlier run (same seed, same bytes)
        if region.name == "demo-hills":  # pre-event bands, for `l4s annotate candidates`
            pre = raw / region.name / "pre"
            synthesize_scene(
                raw / region.name,
                "pre",
                region_grid(region),
                seed=seed + i,
                variant="pre",
                date="2020-06-15",
            )
            (pre / "dem.tif").unlink()
            (pre / "classes.tif").unlink()
        dem_crs, dem_res = _DEMO_DEM[region.name]
        synthesize_scene(  # its labels.gpkg marks the region as written (see above)
            raw,
            region.name,
            region_grid(region),
            seed=seed + i,
            dem_crs=dem_crs,
            dem_resolution=dem_res,
            date=str(region.imagery.start),
        )
    write_json(
        root / "raw" / "README.json", {"what": "synthetic raw layers for `l4s demo`", "seed": seed}
    )
    return regions_dir, raw
