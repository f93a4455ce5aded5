"""Make docs/annotation_example.png: candidates, corrections and labels on a synthetic pair.

    python docs/annotation_example.py [--keep DIR]

The figure in the README. Seeded: the same picture every time. ``--keep DIR`` also leaves the
GeoPackage (candidates, corrections, labels, QGIS styles) and the pre/post RGB composites in
DIR, for docs/qgis_example.py.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from landslide4sense.acquisition.demo import synthesize_scene  # noqa: E402
from landslide4sense.annotation import band_files, merge, read_labels, write_candidates  # noqa: E402
from landslide4sense.annotation.corrections import write_layers  # noqa: E402
from landslide4sense.geo import read_on_grid  # noqa: E402
from landslide4sense.regions import parse_region, region_grid  # noqa: E402

REGION = parse_region(
    {
        "name": "example",
        "event": {"trigger": "rainfall", "date": "2020-07-08"},
        "aoi": {"bbox": [138.10, 36.20, 138.13, 36.225]},
        "imagery": {"start": "2020-09-01", "end": "2020-11-15"},
    }
)


def main(keep: Path | None = None) -> None:
    grid = region_grid(REGION)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for variant in ("pre", "post"):
            synthesize_scene(tmp / variant, "example", grid, seed=4, variant=variant, margin=300.0)
        gpkg = tmp / "labels.gpkg"
        cands = write_candidates(
            REGION,
            grid,
            band_files(tmp / "pre" / "example"),
            band_files(tmp / "post" / "example"),
            tmp / "post" / "example" / "dem.tif",
            gpkg,
            tmp / "work",
        )
        c = cands.geometry.iloc[len(cands) // 2].centroid
        corr = gpd.GeoDataFrame(
            {
                "op": ["delete", "reshape", "add"],
                "target": pd.array([1, 3, None], dtype="Int64"),
                "reason": ["road cut", "scar boundary", "missed scar"],
                "editor": ["ab"] * 3,
                "edited_at": ["2026-11-24T10:00:00", "2026-11-24T10:05:00", "2026-11-24T10:10:00"],
            },
            geometry=[None, cands.geometry.iloc[2].buffer(25), c.buffer(80)],
            crs=cands.crs,
        )
        write_layers(gpkg, {"corrections": corr})
        merge(gpkg)
        labels = read_labels(gpkg, "labels")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for f in gpkg.parent.glob("labels*"):
                shutil.copy2(f, keep / f.name)
        post = [
            read_on_grid(p, grid, sentinel2=True)
            for b, p in band_files(tmp / "post" / "example").items()
            if b in ("B04", "B03", "B02")
        ]
        pre = [
            read_on_grid(p, grid, sentinel2=True)
            for b, p in band_files(tmp / "pre" / "example").items()
            if b in ("B04", "B03", "B02")
        ]
    extent = [grid.bounds[0], grid.bounds[2], grid.bounds[1], grid.bounds[3]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    for ax, bands, title in (
        (axes[0], pre, "1. pre-event (RGB)"),
        (axes[1], post, "2. post-event + OBIA candidates"),
    ):
        rgb = np.dstack(
            [
                (b - np.nanpercentile(b, 2)) / np.ptp(np.nanpercentile(b, [2, 98]))
                for b in bands[::-1]
            ]
        )
        ax.imshow(np.clip(rgb, 0, 1), extent=extent)
        ax.set_title(title, fontsize=10)
    cands.boundary.plot(ax=axes[1], color="yellow", linewidth=1)
    cands.boundary.plot(ax=axes[2], color="grey", linewidth=1, linestyle="--")
    labels.plot(ax=axes[2], color="tab:red", alpha=0.6)
    corr.dropna(subset=["geometry"]).boundary.plot(ax=axes[2], color="tab:green", linewidth=1.5)
    axes[2].set_xlim(extent[:2])
    axes[2].set_ylim(extent[2:])
    axes[2].set_title("3. corrections (green) merged: labels (red)", fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    out = ROOT / "docs" / "annotation_example.png"
    fig.savefig(out, dpi=70)
    print(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="also leave the GeoPackage and RGBs here")
    main(parser.parse_args().keep)
