"""ETL benchmark: build a synthesized full Sentinel-2 tile and print where the time goes.

    python benchmarks/etl.py [--out bench-out] [--sizes 10980,5490] [--skip-synthesis]

For each size (pixels per side at 10 m; 10980 is a full Sentinel-2 tile) it synthesizes raw
layers once (bands at native 10/20/60 m, a 12.5 m DEM in the neighbouring UTM zone, 5,000
landslide polygons scaled by area), then builds them in a child process and prints the wall
time of each stage, patches/s and the child's peak RSS. In the same run it measures the floor:
reading every input pixel plus writing the same number of bytes, in as many files, as the
output. Targets (issue 2): >= 300 patches/s, peak RSS <= 3 GB, total <= 2x the floor, time
linear in area.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affine import Affine  # noqa: E402
from rss import peak_rss_mb  # noqa: E402  (beside this script)

from landslide4sense.regions import Grid  # noqa: E402

ORIGIN = (600000.0, 4800000.0)  # a Sentinel-2 tile corner in UTM 54N
CRS = "EPSG:32654"


def tile_grid(size: int) -> Grid:
    return Grid(CRS, Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1]), size, size)


def synthesize(raw: Path, size: int) -> None:
    from landslide4sense.acquisition.synthetic import synthesize_scene

    if (raw / "tile" / "labels.gpkg").exists():
        return
    n = round(5000 * (size / 10980) ** 2)
    t = time.perf_counter()
    synthesize_scene(raw, "tile", tile_grid(size), seed=7, n_landslides=n, margin=600.0)
    print(f"  synthesized {size} x {size} px raw layers in {time.perf_counter() - t:.0f} s")


def build(raw: Path, work: Path, size: int) -> dict:
    """The pipeline's stages, in the order the flow runs them (run in a child process)."""
    from shapely.geometry import box

    from landslide4sense.acquisition import LocalSource
    from landslide4sense.annotation import prepare_labels
    from landslide4sense.patching import RegionJob, assemble, patch_rows, write_terrain
    from landslide4sense.records import LayerProvenance
    from landslide4sense.regions import parse_region

    grid = tile_grid(size)
    region = parse_region(
        {
            "name": "tile",
            "event": {"trigger": "rainfall", "date": "2020-07-01"},
            "aoi": {"bbox": [141.0, 42.0, 142.0, 43.0]},
            "imagery": {"start": "2020-08-01", "end": "2020-09-01"},
        }
    )
    times: dict[str, float] = {}
    peaks: dict[str, float] = {}

    def stage(name, fn, *args, **kw):
        t = time.perf_counter()
        result = fn(*args, **kw)
        times[name] = time.perf_counter() - t
        peaks[name] = peak_rss_mb() / 1024
        return result

    layers = stage("fetch (local)", LocalSource(raw).fetch, region, grid, work)

    def labels_and_terrain():  # side by side, as the flow submits them
        with ThreadPoolExecutor(2) as pool:
            labels = pool.submit(prepare_labels, layers.labels, grid, work / "labels")
            pool.submit(write_terrain, layers.dem, grid, work).result()
            return labels.result()

    labels = stage("labels + terrain (DEM, slope)", labels_and_terrain)
    job = RegionJob(
        name="tile",
        grid=grid,
        bands={b: str(p) for b, p in layers.bands.items()},
        slope=str(work / "slope.tif"),
        dem=str(work / "dem.tif"),
        mask=str(labels.mask),
        aoi_wkt=box(*grid.bounds).wkt,
        scaling="l4s",
        work=str(work / "patches"),
        provenance=LayerProvenance(source=layers.source),
    )

    def cut_all():  # two blocks at a time, as the flow's ThreadPoolTaskRunner(max_workers=2)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda ab: patch_rows(job, *ab), job.blocks()))

    stage("patches: stack, tile, write", cut_all)
    meta = stage("assemble: split, link, card", assemble, work / "bench", [job], "l4s")
    n = meta.counts.train + meta.counts.test
    return {"times": times, "peaks": peaks, "patches": n}


def floor(raw: Path, work: Path, patches: int) -> float:
    """Read every input pixel, then write ``patches`` x (image + mask) bytes as files."""
    import numpy as np
    import rasterio

    t = time.perf_counter()
    for f in [*sorted((raw / "tile" / "s2").glob("*.tif")), raw / "tile" / "dem.tif"]:
        with rasterio.open(f) as src:
            src.read(1)
    (raw / "tile" / "labels.gpkg").read_bytes()
    img = np.zeros((128, 128, 14), np.float32).tobytes()
    mask = np.zeros((128, 128), np.uint8).tobytes()
    out = work / "floor"
    out.mkdir(parents=True, exist_ok=True)
    for i in range(patches):
        (out / f"image_{i}.bin").write_bytes(img)
        (out / f"mask_{i}.bin").write_bytes(mask)
    return time.perf_counter() - t


def run_child(raw: Path, work: Path, size: int) -> tuple[dict, float]:
    """Build in a fresh process, so its peak RSS is the build's alone."""
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cmd = [sys.executable, __file__, "--child", str(raw), str(work), str(size)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, max(result["peaks"].values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench-out")
    p.add_argument("--sizes", default="5490,10980", help="pixels per side, comma-separated")
    args = p.parse_args()
    print(f"ETL benchmark on {os.cpu_count()} cores; output in {args.out}")
    results = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        raw, work = args.out / f"raw-{size}", args.out / f"work-{size}"
        print(f"\n== {size} x {size} px ({size * size / 1e8:.2f} x 10^8 px)")
        synthesize(raw, size)
        result, peak_gb = run_child(raw, work, size)
        total = sum(result["times"].values())
        n = result["patches"]
        t_floor = floor(raw, work, n)
        for name, secs in result["times"].items():
            peak = result["peaks"][name]
            print(f"  {name:<32} {secs:7.2f} s   (peak RSS so far {peak:.2f} GB)")
        print(f"  {'total':<32} {total:7.2f} s   {n} patches, {n / total:.0f} patches/s")
        print(
            f"  peak RSS {peak_gb:.2f} GB; floor (read inputs + write same bytes) "
            f"{t_floor:.2f} s; total / floor = {total / t_floor:.2f}"
        )
        results[size] = (total, n)
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    if len(results) > 1:
        (s0, (t0, n0)), (s1, (t1, n1)) = sorted(results.items())[:2]
        print(
            f"\nlinearity: {s1}/{s0} area ratio {(s1 / s0) ** 2:.2f}, time ratio {t1 / t0:.2f}, "
            f"seconds per patch {t0 / n0 * 1000:.2f} ms vs {t1 / n1 * 1000:.2f} ms"
        )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(build(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
