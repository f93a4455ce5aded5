"""OBIA landslide candidates from pre- and post-event imagery (the paper's Sec. III-C, step 1).

On the region's 10 m grid: difference indices of the two composites (NDVI change, brightness
change, relative NDVI drop), a segmentation of the change image (scikit-image SLIC or
Felzenszwalb, parameters from the region file), and a rule set per segment: NDVI dropped,
brightness rose, the relative NDVI drop is large, and the ground is steep enough. Adjacent
segments that pass merge into polygons; polygons smaller than the minimum area are dropped.
Each candidate keeps its rule scores, so a person correcting them sees why it was proposed.

Candidates may also come from a trained model (``l4s annotate candidates --from-model``, see
:func:`landslide4sense.training.predict.model_candidates`), instead of or beside the OBIA
ones: every candidate's ``source`` says which (``obia``, or ``model:<name>`` with the model's
mean ``probability``), and the agreement report counts and scores each source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from landslide4sense.annotation.corrections import empty_corrections, layers_of, write_layers
from landslide4sense.annotation.labels import read_labels
from landslide4sense.annotation.qgis import (
    read_rgb,
    rgb_stretch,
    write_layer_styles,
    write_project,
    write_rgb,
)
from landslide4sense.errors import InputDataError, MissingInputError
from landslide4sense.geo import Grid, read_on_grid, write_terrain
from landslide4sense.geo.polygonize import polygonize, segment_means
from landslide4sense.layout import find_band
from landslide4sense.regions import Region

log = logging.getLogger(__name__)

BANDS = ("B02", "B03", "B04", "B08")  # blue, green, red, NIR: all at 10 m
SCORES = ("d_ndvi", "d_brightness", "rel_ndvi_drop", "slope", "area_m2")
OBIA = "obia"  # the source of OBIA candidates; a model's is "model:<name>"
#: The columns of the candidates layer (a score a source does not make is empty).
CANDIDATE_COLUMNS = ("cand_id", "source", *SCORES, "probability", "geometry")


@dataclass
class Composite:
    """Reflectance (0..1) of blue, green, red and NIR on the region grid; NaN = no data."""

    blue: np.ndarray
    green: np.ndarray
    red: np.ndarray
    nir: np.ndarray

    @property
    def ndvi(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.nir - self.red) / (self.nir + self.red)

    @property
    def brightness(self) -> np.ndarray:
        """Mean visible reflectance."""
        return (self.blue + self.green + self.red) / 3


def read_composite(bands: dict[str, Path], grid: Grid) -> Composite:
    """The four 10 m bands of a Sentinel-2 L1C folder, as reflectance on ``grid``."""
    missing = [b for b in BANDS if b not in bands]
    if missing:
        raise InputDataError(f"candidates need bands {', '.join(missing)} of both dates")
    a = [read_on_grid(bands[b], grid, sentinel2=True) / 10000.0 for b in BANDS]
    return Composite(*a)


def change_indices(pre: Composite, post: Composite) -> dict[str, np.ndarray]:
    """NDVI change (post - pre), brightness change, and relative NDVI drop ((pre-post)/pre)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (pre.ndvi - post.ndvi) / np.abs(pre.ndvi)
    return {
        "d_ndvi": post.ndvi - pre.ndvi,
        "d_brightness": post.brightness - pre.brightness,
        "rel_ndvi_drop": np.clip(rel, -5, 5),
    }


def segment(indices: dict[str, np.ndarray], region: Region, valid: np.ndarray) -> np.ndarray:
    """Segment labels (1..n; 0 outside the valid area) of the change image."""
    from skimage.segmentation import felzenszwalb, slic

    seg = region.annotation.segmentation
    channels = []
    for name in ("d_ndvi", "d_brightness"):
        v = np.where(valid, indices[name], 0.0)
        scale = np.nanstd(v[valid]) or 1.0
        channels.append((v / scale).astype(np.float32))
    image = np.dstack(channels)
    if seg.algorithm == "slic":
        area_km2 = valid.sum() * 100 / 1e6
        labels = slic(
            image,
            n_segments=max(1, int(area_km2 * seg.n_segments_per_km2)),
            compactness=seg.compactness,
            channel_axis=-1,
            mask=valid,
            min_size_factor=0.1,
            start_label=1,
        )
    else:
        labels = (
            felzenszwalb(
                image,
                scale=seg.felzenszwalb_scale,
                sigma=0.5,
                min_size=seg.min_size_px,
                channel_axis=-1,
            )
            + 1
        )
        labels[~valid] = 0
    return labels.astype(np.int32)


def classify(labels: np.ndarray, layers: dict[str, np.ndarray], region: Region) -> np.ndarray:
    """Boolean mask of the pixels of segments that pass every rule."""
    r = region.annotation.rules
    m = {k: segment_means(labels, v) for k, v in layers.items()}
    passes = (
        (m["d_ndvi"] <= -r.ndvi_drop)
        & (m["d_brightness"] >= r.brightness_rise)
        & (m["rel_ndvi_drop"] >= r.rel_ndvi_drop)
        & (m["slope"] >= r.min_slope)
    )
    passes[0] = False  # outside the valid area
    return passes[labels]


def make_candidates(
    region: Region, grid: Grid, pre: dict[str, Path], post: dict[str, Path], slope: np.ndarray
) -> gpd.GeoDataFrame:
    """Landslide candidate polygons of a region from its pre and post composites.

    Args:
        region: the region (segmentation parameters and rule thresholds in ``annotation``).
        grid: the region's grid.
        pre, post: band name to raster path of the pre- and post-event composites.
        slope: slope in degrees on ``grid``.

    Returns:
        Candidates in the grid's CRS: cand_id, the rule scores, geometry.
    """
    before, after = read_composite(pre, grid), read_composite(post, grid)
    layers = {**change_indices(before, after), "slope": slope}
    valid = np.all([np.isfinite(v) for v in layers.values()], axis=0)
    if not valid.any():
        raise InputDataError(
            f"region '{region.name}': the pre and post composites and the DEM have no pixel in "
            "common on the region grid; check that all three cover the AOI"
        )
    labels = segment(layers, region, valid)
    mask = classify(labels, layers, region) & valid
    gdf = polygonize(mask, layers, grid, region.annotation.rules.min_area_m2)
    log.info(
        "%s: %d segments, %d candidates (%.2f km2)",
        region.name,
        labels.max(),
        len(gdf),
        gdf.area.sum() / 1e6,
    )
    return gdf


def band_files(folder: str | Path, bands: tuple[str, ...] = BANDS) -> dict[str, Path]:
    """Bands of a composite folder in the local layout (``DIR/s2/B*.tif`` or ``DIR/B*.tif``):
    the four 10 m bands OBIA uses, or ``bands``.

    Raises:
        MissingInputError: a band is absent (all missing ones are listed).
    """
    folder = Path(folder)
    s2 = folder / "s2" if (folder / "s2").is_dir() else folder
    found = {b: find_band(s2, b) for b in bands}
    missing = [b for b, p in found.items() if p is None]
    if missing:
        raise MissingInputError(f"{s2}: missing band file(s) {', '.join(missing)} for candidates")
    return found


def combine_candidates(parts: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """Candidates of several sources as one layer: :data:`CANDIDATE_COLUMNS`, ``cand_id``
    numbered 1..n in the order given."""
    frames = [p.to_crs(crs).drop(columns="cand_id", errors="ignore") for p in parts if len(p)]
    gdf = (
        gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
        if frames
        else (gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs), crs=crs))
    )
    for column in CANDIDATE_COLUMNS[1:-1]:
        if column not in gdf:
            gdf[column] = pd.Series(dtype=str if column == "source" else float)
    gdf.insert(0, "cand_id", np.arange(1, len(gdf) + 1))
    return gdf[list(CANDIDATE_COLUMNS)]


def check_target(out: Path, force: bool) -> None:
    """Refuse to write candidates over a file the tool did not make, or over the candidates of
    a file whose corrections refer to them.

    The tool's own label file has a ``candidates`` layer (it made it); a file without one is
    the user's (a hand-made inventory, say ``RAW/<name>/labels.gpkg``) and is never written
    to, nor are the true-colour composites beside a new file. A ``labels`` layer that
    ``annotate merge`` did not write (no ``label_history``) is an inventory too.

    Raises:
        InputDataError: naming the file, what it holds, and the fix.
    """

    out = Path(out)
    if out.suffix.lower() != ".gpkg":
        raise InputDataError(f"{out}: candidates are written as a GeoPackage; name it *.gpkg")
    if not out.exists() and not out.is_symlink():
        taken = [p for p in (rgb_path(out, w) for w in ("pre", "post")) if p.exists()]
        if taken:
            raise InputDataError(
                f"{taken[0]}: exists and was not written beside {out.name} by the tool; "
                "choose another --out (a new file name)"
            )
        return
    names = layers_of(out)
    if "candidates" not in names or ("labels" in names and "label_history" not in names):
        raise InputDataError(
            f"{out}: holds layers {names}, not written by `l4s annotate candidates` (your "
            "labels stay as they are); write candidates to a new file, e.g. --out "
            f"{out.with_name('candidates.gpkg')}"
        )
    if force or "corrections" not in names:
        return
    if len(read_labels(out, "corrections")):
        raise InputDataError(
            f"{out}: holds corrections that refer to the current cand_ids; new candidates "
            "would orphan them. Write to another file, or pass --force to replace them anyway"
        )


def write_candidates(
    region: Region,
    grid: Grid,
    pre: dict[str, Path] | None,
    post: dict[str, Path],
    dem: str | Path,
    out: str | Path,
    work: str | Path,
    force: bool = False,
    model: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Make candidates and write them as the ``candidates`` layer of ``out`` (with an empty
    ``corrections`` layer if it has none), with QGIS default styles for the layers, and the
    post- (and pre-) event true-colour composites beside it (``<name>_post_rgb.tif``,
    ``<name>_pre_rgb.tif``, Cloud-Optimized GeoTIFF) to correct them against, and a QGIS
    project that opens them (``<name>.qgz``). Other layers are kept.

    Args:
        pre, post: the pre- and post-event bands for OBIA; ``pre`` None: no OBIA candidates.
        model: candidates from a trained model, kept beside (after) the OBIA ones.

    Raises:
        InputDataError: ``out`` already holds corrections (new candidate ids would orphan them)
            and ``force`` is not set; or neither OBIA nor a model was asked for.
    """
    out = Path(out)
    check_target(out, force)
    names = layers_of(out) if out.exists() else []
    if pre is None and model is None:
        raise InputDataError("candidates need pre-event bands (OBIA) or a model, or both")
    parts = []
    if pre is not None:
        _, slope_path = write_terrain(dem, grid, Path(work))
        obia = make_candidates(region, grid, pre, post, read_on_grid(slope_path, grid))
        parts.append(obia.assign(source=OBIA))
    if model is not None:
        parts.append(model)
    gdf = combine_candidates(parts, grid.crs)
    layers = {"candidates": gdf}
    if "corrections" not in names or force:
        layers["corrections"] = empty_corrections(gdf.crs)
    write_layers(out, layers)
    write_layer_styles(out)
    rgbs = {"post": read_rgb(post, grid)} | ({"pre": read_rgb(pre, grid)} if pre else {})
    stretch = rgb_stretch(list(rgbs.values()))  # one for both dates: brightness compares
    for when, rgb in rgbs.items():
        write_rgb(rgb_path(out, when), rgb, grid, stretch)
    write_project(out, {f"{when}_rgb": rgb_path(out, when) for when in rgbs}, grid.crs)
    return gdf


def rgb_path(labels: str | Path, when: str) -> Path:
    """The true-colour composite written beside a label file: ``when`` is pre or post."""
    labels = Path(labels)
    return labels.with_name(f"{labels.stem}_{when}_rgb.tif")
