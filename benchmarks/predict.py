"""Prediction benchmark: a model trained on the demo benchmark maps the demo region.

    python benchmarks/predict.py [--demo demo] [--model U-Net] [--iterations 100]
                                 [--batch-size 8] [--region demo-hills]

Needs ``l4s demo --out DEMO`` first. Trains ``--model`` on ``DEMO/benchmark`` as ``l4s train
--iterations N --batch-size B`` does (skipped when
``DEMO/predict-bench/<model>-<iterations>/best.pt`` exists), applies it to the region with
:func:`predict_region` (as ``l4s predict`` does) and prints the pixel precision, recall and
F1 of the predicted polygons against the demo's own label polygons, rasterized on the region
grid: over the whole grid, and over the region's test tiles only (the first quarter of its
tiles trained the model).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from landslide4sense.annotation import rasterize_labels, read_labels
from landslide4sense.geo import write_terrain
from landslide4sense.layout import PATCH_SIZE, S2_BANDS
from landslide4sense.regions import load_region, region_grid
from landslide4sense.training import TrainConfig, load_benchmark, train_model
from landslide4sense.training.metrics import Confusion
from landslide4sense.training.predict import predict_region


def tile_pixels(bench: Path, region: str, shape: tuple[int, int]) -> np.ndarray:
    """True on the pixels of the region's test tiles."""
    inside = np.zeros(shape, bool)
    with (bench / "manifest.csv").open() as f:
        for r in csv.DictReader(f):
            if r["region"] == region and r["split"] == "test":
                w = Window(
                    int(r["tile_col"]) * PATCH_SIZE,
                    int(r["tile_row"]) * PATCH_SIZE,
                    PATCH_SIZE,
                    PATCH_SIZE,
                )
                inside[w.toslices()] = True
    return inside


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", type=Path, default=Path("demo"))
    p.add_argument("--model", default="U-Net")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--region", default="demo-hills")
    args = p.parse_args()
    bench, raw = args.demo / "benchmark", args.demo / "raw" / args.region
    work = args.demo / "predict-bench" / f"{args.model}-{args.iterations}"
    if not (work / "best.pt").exists():
        t = time.perf_counter()
        cfg = TrainConfig(
            iterations=args.iterations,
            batch_size=args.batch_size,
            eval_every=min(500, args.iterations),
            device="cpu",
        )
        m = train_model(args.model, load_benchmark(bench), cfg, work)
        print(
            f"trained {args.model} for {args.iterations} iterations (batch "
            f"{args.batch_size}) in {time.perf_counter() - t:.0f} s; test F1 on the "
            f"benchmark's patches {m['scores']['test']['all']['f1']:.1f}"
        )
    region = load_region(args.demo / "regions" / f"{args.region}.yaml")
    grid = region_grid(region)
    t = time.perf_counter()
    dem, slope = write_terrain(raw / "dem.tif", grid, work / "terrain")
    bands = {b: raw / "s2" / f"{b}.tif" for b in S2_BANDS}
    pred = predict_region(
        work / "best.pt",
        grid,
        bands,
        slope,
        dem,
        work / "map",
        "cpu",
        min_area_m2=region.annotation.min_area_m2,
    )
    seconds = time.perf_counter() - t
    shape = (grid.height, grid.width)
    ours = rasterize_labels(pred.landslides.geometry.values, grid.transform, shape)
    labels = read_labels(raw / "labels.gpkg").to_crs(grid.crs)
    truth = rasterize_labels(labels.geometry.values, grid.transform, shape)
    tiles = tile_pixels(bench, args.region, shape)
    print(
        f"{args.region}: {grid.width} x {grid.height} px, {len(pred.landslides)} polygons "
        f"({pred.area_m2 / 1e6:.3f} km2) predicted in {seconds:.0f} s by "
        f"{pred.info.model} ({pred.info.iteration} iterations, best checkpoint)"
    )
    for name, where in (("whole region grid", np.ones(shape, bool)), ("test tiles", tiles)):
        c = Confusion().add(ours[where], truth[where])
        print(
            f"  {name:<18} pixel precision {100 * c.precision:5.1f}  recall "
            f"{100 * c.recall:5.1f}  F1 {100 * c.f1:5.1f}  ({where.sum():,} px)"
        )


if __name__ == "__main__":
    main()
