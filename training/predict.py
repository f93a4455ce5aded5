"""Mapping landslides in a region with a trained model (``l4s predict``, the ``map_event`` flow).

The region's 14-band stack is built on its grid by the benchmark's own code (the terrain stage
for slope and DEM, :class:`~landslide4sense.patching.GridStack` for the bilinear resampling of
every layer), scaled as the checkpoint's training data was (its ``scaling``) and standardised
with the checkpoint's mean and std. The model sees 128 x 128 windows that overlap by half;
their probabilities are blended with weights that fall linearly towards each window's edge,
so every pixel is covered, no seam shows along window borders, and a pixel's value comes
mostly from the windows it lies near the centre of. The grid is processed one strip of
windows at a time: memory holds a strip, whatever the region's size.

Outputs, in the output folder:

* ``probability.tif``: the landslide probability (float32, 0..1; NaN where a band has no
  data), a Cloud-Optimized GeoTIFF on the region grid (its CRS, transform and size);
* ``landslides.gpkg``: layer ``landslides``, polygons where the probability is at least
  ``threshold`` (0.5: the model's own decision), with their mean probability and area.

Imports rasterio and geopandas (unlike the rest of :mod:`landslide4sense.training`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.shutil
import torch
from rasterio.windows import Window

from landslide4sense.choices import Device
from landslide4sense.errors import InputDataError
from landslide4sense.files import atomic_path
from landslide4sense.geo import Grid, GridStack, scale, write_terrain
from landslide4sense.geo.polygonize import polygonize
from landslide4sense.layout import PATCH_SIZE, STACK_BANDS
from landslide4sense.training.checkpoint import CheckpointInfo, load_model
from landslide4sense.training.train import pick_device

log = logging.getLogger(__name__)

PROBABILITY, POLYGONS, LAYER = "probability.tif", "landslides.gpkg", "landslides"


def window_starts(length: int, size: int, stride: int) -> list[int]:
    """Offsets of windows of ``size`` every ``stride`` that cover ``0..length``; the last one
    ends at ``length`` (one window at 0 when ``length <= size``)."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    return starts if starts[-1] == length - size else [*starts, length - size]


def blend_weights(size: int) -> np.ndarray:
    """(size, size) weights of a window's pixels: the product of each axis's distance to the
    window's edge (in pixels, from 0.5), so highest at the centre and never zero."""
    d = np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5).astype(np.float32)
    return np.outer(d, d) / d.max() ** 2


@dataclass
class Prediction:
    """What :func:`predict_region` wrote."""

    probability: Path
    polygons: Path
    landslides: gpd.GeoDataFrame
    info: CheckpointInfo

    @property
    def area_m2(self) -> float:
        return float(self.landslides["area_m2"].sum()) if len(self.landslides) else 0.0


class Blender:
    """Blends the probabilities of overlapping windows, one strip of windows at a time.

    Windows start at :func:`window_starts` rows and columns of a ``height`` x ``width`` grid.
    :meth:`add` takes the windows of the next strip and returns the rows no later strip
    touches, blended: weighted means of every window that covers them, NaN where invalid.
    """

    def __init__(self, height: int, width: int, size: int, stride: int):
        self.height, self.width = height, width
        self.rows = window_starts(height, size, stride)
        self.cols = window_starts(width, size, stride)
        self.h, self.w = min(size, height), min(size, width)
        self.weights = blend_weights(size)[: self.h, : self.w]
        self.done = 0  # rows before this one are returned; the buffers hold the next ones
        self.acc = np.zeros((0, width), np.float32)
        self.wsum = np.zeros((0, width), np.float32)
        self.valid = np.zeros((0, width), bool)

    def add(self, k: int, probs: np.ndarray, valid: np.ndarray) -> tuple[int, np.ndarray]:
        """Blend strip ``k``: ``probs`` (len(cols), h, w) and the strip's ``valid`` (h, width).

        Returns:
            (first row, finished rows (n, width) float32).
        """
        r, h, w = self.rows[k], self.h, self.w
        grow = r + h - (self.done + len(self.acc))  # rows this strip adds below the buffers
        if grow > 0:
            self.acc = np.concatenate([self.acc, np.zeros((grow, self.width), np.float32)])
            self.wsum = np.concatenate([self.wsum, np.zeros((grow, self.width), np.float32)])
            self.valid = np.concatenate([self.valid, valid[h - grow :]])
        top = r - self.done
        for c, p in zip(self.cols, probs, strict=True):
            self.acc[top : top + h, c : c + w] += p * self.weights
            self.wsum[top : top + h, c : c + w] += self.weights
        stop = self.rows[k + 1] if k + 1 < len(self.rows) else self.height
        n, start = stop - self.done, self.done
        with np.errstate(invalid="ignore", divide="ignore"):
            rows = np.where(self.valid[:n], self.acc[:n] / self.wsum[:n], np.nan)
        self.acc, self.wsum, self.valid = self.acc[n:], self.wsum[n:], self.valid[n:]
        self.done = stop
        return start, rows.astype(np.float32)


def model_inputs(stack: GridStack, info: CheckpointInfo, blender: Blender):
    """The model's input for each strip of windows, built as the benchmark built its patches.

    Yields:
        (k, windows (len(cols), 14, h, w) standardised with NaN as 0, valid (h, width)) for
        strip ``k``; every row of the stack is read once.
    """
    mean = np.asarray(info.mean, np.float32)[:, None, None]
    std = np.asarray(info.std, np.float32)[:, None, None]
    width, h, w = blender.width, blender.h, blender.w
    start, img = 0, np.empty((len(STACK_BANDS), 0, width), np.float32)  # rows start.. read
    for k, r in enumerate(blender.rows):
        if r + h > start + img.shape[1]:
            have = start + img.shape[1]
            new, _, _ = stack.read(Window(0, have, width, r + h - have))
            img = np.concatenate([img[:, r - start :], scale(new, info.scaling)], axis=1)
        else:
            img = img[:, r - start :]
        start = r
        strip = img[:, :h]
        x = np.nan_to_num((strip - mean) / std, nan=0.0)  # missing pixels: the mean
        yield k, np.stack([x[:, :, c : c + w] for c in blender.cols]), np.isfinite(strip).all(0)


def predict_region(
    checkpoint: str | Path,
    grid: Grid,
    bands: dict[str, Path],
    slope: Path,
    dem: Path,
    out: str | Path,
    device: Device | str = Device.AUTO,
    threshold: float = 0.5,
    min_area_m2: float = 100.0,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> Prediction:
    """Apply a checkpoint to a region's stack; write the probability COG and the polygons.

    Args:
        checkpoint: a ``best.pt`` written by ``l4s train``.
        grid: the region's grid.
        bands: Sentinel-2 band name (``B01``..``B12``) to raster, any CRS and resolution.
        slope, dem: the terrain stage's slope and DEM (see
            :func:`landslide4sense.geo.write_terrain`).
        out: the output folder.
        threshold: the probability from which a pixel is a landslide.
        min_area_m2: polygons smaller than this are dropped.
        progress: called as (strips done, strips) after each strip of windows.

    Raises:
        InputDataError: the checkpoint was trained on other bands.
    """
    out = Path(out)
    model, info = load_model(checkpoint, pick_device(device))
    if info.bands != list(STACK_BANDS):
        raise InputDataError(
            f"{checkpoint}: trained on bands {info.bands}; the stack has {list(STACK_BANDS)}"
        )
    out.mkdir(parents=True, exist_ok=True)
    blender = Blender(grid.height, grid.width, PATCH_SIZE, PATCH_SIZE // 2)
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "width": grid.width,
        "height": grid.height,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with tempfile.TemporaryDirectory(dir=out, prefix=".predict-") as work:
        tmp = Path(work) / PROBABILITY  # tiled GeoTIFF written strip by strip, then the COG
        with GridStack(grid, bands, slope, dem) as stack, rasterio.open(tmp, "w", **profile) as dst:
            for k, windows, valid in model_inputs(stack, info, blender):
                start, rows = blender.add(k, probabilities(model, windows, batch_size), valid)
                dst.write(rows[None], window=Window(0, start, grid.width, len(rows)))
                if progress is not None:
                    progress(k + 1, len(blender.rows))
        with atomic_path(out / PROBABILITY) as cog:
            rasterio.shutil.copy(
                tmp,
                cog,
                driver="COG",
                compress="DEFLATE",
                predictor=3,
                blocksize=512,
                overview_resampling="average",
            )
    with rasterio.open(out / PROBABILITY) as src:
        probability = src.read(1)
    landslides = polygonize(
        probability >= threshold, {"probability": probability}, grid, min_area_m2
    ).rename(columns={"cand_id": "landslide_id"})
    with atomic_path(out / POLYGONS) as tmp:
        landslides.to_file(tmp, layer=LAYER, driver="GPKG")
    log.info(
        "%s on a %d x %d grid: %d landslide polygons, %.3f km2",
        info.model,
        grid.width,
        grid.height,
        len(landslides),
        landslides["area_m2"].sum() / 1e6,
    )
    return Prediction(out / PROBABILITY, out / POLYGONS, landslides, info)


def model_candidates(
    checkpoint: str | Path,
    grid: Grid,
    bands: dict[str, Path],
    dem: str | Path,
    work: str | Path,
    device: Device | str = Device.AUTO,
    min_area_m2: float = 1000.0,
    threshold: float = 0.5,
) -> gpd.GeoDataFrame:
    """Landslide candidates from a trained model (``l4s annotate candidates --from-model``):
    the polygons of :func:`predict_region`, with ``source`` ``model:<name>`` and their mean
    ``probability``. The DEM (any CRS) goes through the terrain stage first."""
    dem_m, slope = write_terrain(dem, grid, Path(work) / "terrain")
    p = predict_region(
        checkpoint, grid, bands, slope, dem_m, Path(work) / "model", device, threshold, min_area_m2
    )
    return p.landslides.drop(columns="landslide_id").assign(source=f"model:{p.info.model}")


def probabilities(model: torch.nn.Module, windows: np.ndarray, batch: int) -> np.ndarray:
    """Landslide probability (softmax of class 1) of every pixel of (n, 14, h, w) windows.

    Windows smaller than the model's patch (a grid under 128 px) are padded with zeros, the
    standardised mean.
    """
    device = next(model.parameters()).device
    n, c, h, w = windows.shape
    size = max(h, w, PATCH_SIZE)
    out = np.empty((n, h, w), np.float32)
    with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda"):
        for a in range(0, n, batch):
            x = np.zeros((len(windows[a : a + batch]), c, size, size), np.float32)
            x[:, :, :h, :w] = windows[a : a + batch]
            logits = model(torch.from_numpy(x).to(device)).float()
            out[a : a + len(x)] = torch.softmax(logits, 1)[:, 1, :h, :w].cpu().numpy()
    return out


__all__ = [
    "Blender",
    "Prediction",
    "blend_weights",
    "model_candidates",
    "model_inputs",
    "predict_region",
    "probabilities",
    "window_starts",
]
