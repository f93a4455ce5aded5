"""The baseline for benchmarks/etl.py: the script a user would write without this project.

    python benchmarks/naive.py RAW_REGION OUT --crs EPSG:32654 --origin 600000 4800000 --size 10980

The plain way: every layer read whole and reprojected whole onto the 10 m grid with
``rasterio.warp.reproject`` (bilinear), slope from the reprojected DEM with ``np.gradient``,
labels rasterized with ``rasterio.features.rasterize``, the 14 bands stacked in one array,
then one ``h5py.File`` per patch (the first quarter of the tiles train, the rest test). It
writes the same layout and patch count as ``l4s`` (no manifest, card or checksums).
Deliberately not imported from the project.
"""

import argparse
from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import rasterio
from affine import Affine
from rasterio.features import rasterize
from rasterio.warp import Resampling, reproject

BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12"]
SCALE = [
    1111.81236406,
    824.63171476,
    663.41636217,
    445.17289745,
    645.8582926,
    1547.73508126,
    1960.44401001,
    1941.32229668,
    674.07572865,
    9.04787384,
    1113.98338755,
    519.90397929,
    20.29228266,
    772.83144788,
]
SIZE = 128


def main():
    p = argparse.ArgumentParser()
    p.add_argument("raw", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--crs", required=True)
    p.add_argument("--origin", type=float, nargs=2, required=True)
    p.add_argument("--size", type=int, required=True)
    args = p.parse_args()
    transform = Affine(10, 0, args.origin[0], 0, -10, args.origin[1])
    n = args.size
    stack = np.full((14, n, n), np.nan, np.float32)

    for i, band in enumerate(BANDS):
        with rasterio.open(args.raw / "s2" / f"{band}.tif") as src:
            reproject(
                src.read(1),
                stack[i],
                src_transform=src.transform,
                src_crs=src.crs,
                src_nodata=0,
                dst_transform=transform,
                dst_crs=args.crs,
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )

    with rasterio.open(args.raw / "dem.tif") as src:
        dem = src.read(1).astype(np.float32)
        dem[dem == src.nodata] = np.nan
        reproject(
            dem,
            stack[13],
            src_transform=src.transform,
            src_crs=src.crs,
            src_nodata=np.nan,
            dst_transform=transform,
            dst_crs=args.crs,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
    dz_dy, dz_dx = np.gradient(stack[13], 10.0)
    stack[12] = np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))

    labels = gpd.read_file(args.raw / "labels.gpkg").to_crs(args.crs)
    mask = rasterize(labels.geometry, out_shape=(n, n), transform=transform, dtype="uint8")

    for i, s in enumerate(SCALE):
        stack[i] /= s

    tiles = [(r, c) for r in range(n // SIZE) for c in range(n // SIZE)]
    valid = [
        (r, c)
        for r, c in tiles
        if not np.isnan(stack[:, r * SIZE : (r + 1) * SIZE, c * SIZE : (c + 1) * SIZE]).any()
    ]
    n_train = -(-len(valid) // 4)
    for split in ("TrainData", "TestData"):
        for kind in ("img", "mask"):
            (args.out / split / kind).mkdir(parents=True, exist_ok=True)
    for k, (r, c) in enumerate(valid):
        split, number = ("TrainData", k + 1) if k < n_train else ("TestData", k - n_train + 1)
        rows, cols = slice(r * SIZE, (r + 1) * SIZE), slice(c * SIZE, (c + 1) * SIZE)
        with h5py.File(args.out / split / "img" / f"image_{number}.h5", "w") as f:
            f.create_dataset("img", data=stack[:, rows, cols].transpose(1, 2, 0))
        with h5py.File(args.out / split / "mask" / f"mask_{number}.h5", "w") as f:
            f.create_dataset("mask", data=mask[rows, cols])
    print(len(valid))


if __name__ == "__main__":
    main()
