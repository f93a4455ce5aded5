"""ETL benchmark: ``l4s add-region`` of a synthesized Sentinel-2 tile beside the naive script
and the I/O floor.

    python benchmarks/etl.py [--out bench-out] [--sizes 5490,10980] [--runs 3] [--stages]

For each size (pixels per side at 10 m; 10980 is a full Sentinel-2 tile) it writes a region
file whose derived grid is size x size px and synthesizes raw layers for it once (bands at
native 10/20/60 m, a 12.5 m DEM in the neighbouring UTM zone, 5,000 landslide polygons scaled
by area). Then, side by side and alternating, ``--runs`` times:

* ours: ``l4s add-region`` as a user runs it, from the command's start to its exit, with the
  local Prefect API already up (as for every command after the first; the cold start is
  measured below);
* naive: ``benchmarks/naive.py``, the plain script (whole arrays, ``rasterio.warp.reproject``,
  one ``h5py.File`` per patch);
* floor: reading every input pixel, then writing the same number of bytes in as many files.

Each gets its wall time, patches/s and peak RSS (the summed RSS of the command's processes,
sampled every 50 ms; for ours including the local API server), as min / median / max over the
runs; ratios are taken run by run. A run's output is emptied and deleted only when the
benchmark ends (:func:`discard`: on this machine's disk, deleting it at once would slow the
next run's file creation). Start it on a disk that has not deleted many files in the last
minutes. Then: time per patch, quarter vs full tile (linearity);
start-up (``l4s --help``, a rejected input, and the time from ``l4s`` to its first stage with
the local API cold and warm); and the cost of one patch file written each way. ``--stages``
adds each stage's time from an in-process run of the pipeline.

Targets (issue 14): ours >= 3x faster than naive, peak RSS <= 1.5 GB, time linear in area,
total <= 1.3x the floor; first stage running <= 3 s after ``l4s`` starts, ``--help`` and
input validation < 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rss import peak_rss_mb, run_measured  # noqa: E402  (beside this script)

L4S = str(Path(sys.executable).with_name("l4s"))
FIRST_STAGE = "fetching raw layers"  # the first task's first log line


def region_data(lon_half: float, lat_half: float) -> dict:
    """A region around 141 E, 43 N (the centre of UTM zone 54) with a lon/lat box AOI."""
    return {
        "name": "tile",
        "event": {"trigger": "rainfall", "date": "2020-07-01"},
        "aoi": {"bbox": [141.0 - lon_half, 43.0 - lat_half, 141.0 + lon_half, 43.0 + lat_half]},
        "imagery": {"start": "2020-08-01", "end": "2020-09-01"},
    }


def tile_region(size: int):
    """The region whose derived grid is ``size`` x ``size`` px, and that grid."""
    from landslide4sense.regions import parse_region, region_grid

    def grid(a: float, b: float):
        return region_grid(parse_region(region_data(a, b)))

    def bisect(f, target: int) -> float:  # the smallest half-extent giving ``target`` px
        lo, hi = 0.001, 3.0
        for _ in range(50):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
        return hi

    a = b = 0.5
    for _ in range(4):  # width depends a little on the latitudes, and height on the longitudes
        a = bisect(lambda x, b=b: grid(x, b).width, size)
        b = bisect(lambda y, a=a: grid(a, y).height, size)
    g = grid(a, b)
    if (g.width, g.height) != (size, size):
        raise RuntimeError(f"no lon/lat box gives a {size} px grid (got {g.width} x {g.height})")
    return region_data(a, b), g


def prepare(folder: Path, size: int):
    """Region file and raw layers of one size (synthesized once); returns (yaml, raw, grid)."""
    import yaml

    from landslide4sense.acquisition.demo import synthesize_scene

    data, grid = tile_region(size)
    region, raw = folder / "tile.yaml", folder / "raw"
    if not (raw / "tile" / "labels.gpkg").exists():
        t = time.perf_counter()
        n = round(5000 * (size / 10980) ** 2)
        synthesize_scene(raw, "tile", grid, seed=7, n_landslides=n, margin=600.0)
        print(f"  synthesized {size} x {size} px raw layers in {time.perf_counter() - t:.0f} s")
    region.write_text(yaml.safe_dump(data, sort_keys=False))
    return region, raw, grid


def count_patches(folder: Path) -> int:
    return sum(len(list((folder / s / "img").glob("*.h5"))) for s in ("TrainData", "TestData"))


# --- the three contenders ---------------------------------------------------------------


def l4s_env(home: Path) -> dict:
    """The benchmark's own Prefect home (its own local API), nothing pointing elsewhere."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {**env, "PREFECT_HOME": str(home)}


def api_pid(home: Path) -> int | None:
    try:
        return json.loads((home / "l4s-api.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def api_alive(home: Path) -> bool:
    """Whether the benchmark's local API server is running (its file outlives it)."""
    from landslide4sense.flows.api import server_alive

    pid = api_pid(home)
    return pid is not None and server_alive(pid)


def stop_api(home: Path) -> None:
    """Stop the benchmark's local API server (started by the l4s runs below)."""
    pid = api_pid(home)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
    except ProcessLookupError:
        pass


RETIRED: Path | None = None  # set by main(): where discarded outputs wait for the end


def discard(folder: Path) -> None:
    """Take a run's output away: its disk space now, its files when the benchmark ends.

    This machine's disk is ext4 without a journal. There the kernel does not reuse an inode
    freed in the last minute (six while its inode table block is not yet written): every
    file created meanwhile scans its inode group past those inodes, about 0.6 ms per file
    instead of 0.02. Deleting the previous run's 14,000 to 22,000 files right before a run
    made that run pay 9 to 14 s of system time, which a build on a disk that has not just
    deleted one does not pay. Truncating the files frees their blocks and keeps their
    inodes in use; :func:`main` deletes them at the end.
    """
    if not folder.exists():
        return
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                with contextlib.suppress(OSError):  # what cannot be emptied is deleted at the end
                    os.truncate(path, 0)
    RETIRED.mkdir(parents=True, exist_ok=True)
    folder.rename(RETIRED / f"{folder.name}-{time.monotonic_ns()}")


def measured(cmd: list[str], out: Path, keep: bool = False, **kw) -> dict:
    """``run_measured`` with the number of patches written to ``out``, which is discarded
    afterwards unless ``keep`` (a full tile's output is 6.6 GB). The previous run's output
    is on disk before it starts (``sync``): no run pays for another's writeback."""
    discard(out)
    os.sync()
    try:
        r = run_measured(cmd, **kw)
        return {**r, "patches": count_patches(out)}
    finally:
        if not keep:
            discard(out)


def ours(region: Path, raw: Path, out: Path, home: Path, keep: bool = False) -> dict:
    cmd = [L4S, "add-region", str(region), "--raw", str(raw), "--out", str(out)]
    pid = api_pid(home)
    return measured(
        cmd,
        out,
        keep,
        env=l4s_env(home),
        marks={FIRST_STAGE: FIRST_STAGE},
        also=[pid] if pid else [],
    )


def naive(raw: Path, out: Path, grid) -> dict:
    t = grid.transform
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "naive.py"),
        str(raw / "tile"),
        str(out),
        "--crs",
        grid.crs,
        "--origin",
        str(t.c),
        str(t.f),
        "--size",
        str(grid.width),
    ]
    return measured(cmd, out)


def floor(raw: Path, out: Path, patches: int) -> dict:
    cmd = [sys.executable, __file__, "--floor", str(raw / "tile"), str(out), str(patches)]
    return {**measured(cmd, out), "patches": patches}


def write_floor(raw: Path, out: Path, patches: int) -> None:
    """Read every input pixel, then write ``patches`` x (image + mask) files of our sizes."""
    import numpy as np
    import rasterio

    for f in [*sorted((raw / "s2").glob("*.tif")), raw / "dem.tif"]:
        with rasterio.open(f) as src:
            src.read(1)
    (raw / "labels.gpkg").read_bytes()
    img = np.zeros(2048 + 128 * 128 * 14 * 4, np.uint8).tobytes()  # header + float32 data
    mask = np.zeros(2048 + 128 * 128, np.uint8).tobytes()
    out.mkdir(parents=True, exist_ok=True)
    for i in range(patches):
        (out / f"image_{i}.h5").write_bytes(img)
        (out / f"mask_{i}.h5").write_bytes(mask)


# --- the pipeline's stages, in one process ------------------------------------------------


def stages(region: Path, raw: Path, work: Path) -> dict:
    """Each stage's time, run in this order as the flow runs them (in a child process)."""
    from concurrent.futures import ThreadPoolExecutor

    from shapely.geometry import box

    from landslide4sense.acquisition import LocalSource, RawLayers, fetch_dem, find_labels
    from landslide4sense.annotation import prepare_labels
    from landslide4sense.geo import write_terrain
    from landslide4sense.patching import RegionJob, assemble, cut_blocks
    from landslide4sense.records import LayerProvenance
    from landslide4sense.regions import load_region, region_grid

    reg = load_region(region)
    grid = region_grid(reg)
    times: dict[str, float] = {}

    def stage(name, fn, *args, **kw):
        t = time.perf_counter()
        result = fn(*args, **kw)
        times[name] = time.perf_counter() - t
        return result

    def fetch():  # as the flow's first task composes them
        s2 = LocalSource(raw).fetch(reg, grid, work)
        dem = fetch_dem(reg, grid, work, raw)
        return RawLayers.compose(reg.name, s2, dem, find_labels(reg, raw / reg.name))

    layers = stage("fetch (local)", fetch)

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
    blocks = [(job, a, b) for a, b in job.blocks()]
    stage(f"patches ({os.cpu_count()} processes)", cut_blocks, blocks, os.cpu_count())
    stage("assemble: split, link, card", assemble, work / "bench", [job], "l4s")
    return {"times": times, "peak_gb": peak_rss_mb() / 1024}


# --- the single file per split -------------------------------------------------------------


def split_files(bench: Path) -> dict:
    """Build ``TrainData.h5``/``TestData.h5`` from a benchmark's patch files, then read (and
    check) the training split from them and from the patch files (in a child process)."""
    import numpy as np

    from landslide4sense.choices import Split
    from landslide4sense.layout import SPLIT_FILES
    from landslide4sense.patching.split_file import write_split_files
    from landslide4sense.records import read_dataset_meta
    from landslide4sense.training.data import read_split

    meta = read_dataset_meta(bench / "dataset.json")
    t = time.perf_counter()
    write_split_files(bench, meta.version, [Split.TRAIN, Split.TEST])
    built = time.perf_counter() - t
    stats = {"mean": meta.train_mean, "std": meta.train_std}
    t = time.perf_counter()
    packed = read_split(bench, "train", **stats)
    from_file = time.perf_counter() - t
    packed_images = packed.read(range(len(packed)))
    for name in SPLIT_FILES.values():
        (bench / name).unlink(missing_ok=True)
    t = time.perf_counter()
    files = read_split(bench, "train", **stats)
    from_files = time.perf_counter() - t
    if not np.array_equal(packed_images, files.read(range(len(files)))):
        raise RuntimeError("the split file and the patch files disagree")
    return {
        "patches": count_patches(bench),
        "train": len(files),
        "built": built,
        "from_file": from_file,
        "from_files": from_files,
    }


def report_split_files(bench: Path) -> None:
    cmd = [sys.executable, __file__, "--split-files", str(bench)]
    r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    print(f"\n== the single file per split ({r['patches']} patches, {r['train']} training)")
    print(f"  built from the patch files      {r['patches'] / r['built']:7.0f} patches/s")
    print(f"  training split read, one file   {r['train'] / r['from_file']:7.0f} patches/s")
    print(f"  training split read, per patch  {r['train'] / r['from_files']:7.0f} patches/s")


# --- one patch file, each way -------------------------------------------------------------


def patch_files(out: Path, n: int = 300, rounds: int = 3) -> None:
    import h5py
    import numpy as np

    from landslide4sense.patching import write_image, write_mask

    rng = np.random.default_rng(0)
    img = rng.random((128, 128, 14), dtype=np.float32)
    mask = (rng.random((128, 128)) < 0.1).astype(np.uint8)

    def plain(i: int, folder: Path) -> None:
        with h5py.File(folder / f"image_{i}.h5", "w") as f:
            f.create_dataset("img", data=img)
        with h5py.File(folder / f"mask_{i}.h5", "w") as f:
            f.create_dataset("mask", data=mask)

    def ours_atomic(i: int, folder: Path) -> None:
        write_image(folder / f"image_{i}.h5", img)
        write_mask(folder / f"mask_{i}.h5", mask)

    def ours_block(i: int, folder: Path) -> None:
        write_image(folder / f"image_{i}.h5", img, atomic=False)
        write_mask(folder / f"mask_{i}.h5", mask, atomic=False)

    ways = {
        "h5py.File per patch (plain)": plain,
        "fixed header + data, temp name + rename": ours_atomic,
        "fixed header + data, in a block folder": ours_block,
    }
    secs: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):  # interleaved, files discarded at once: the same page-cache state
        for name, fn in ways.items():
            folder = out / "files"
            folder.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            for i in range(n):
                fn(i, folder)
            secs[name].append(time.perf_counter() - t)
            discard(folder)
    print(f"\n== one patch file (image + mask), {n} each way x {rounds}, median")
    for name, values in secs.items():
        t = statistics.median(values)
        print(f"  {name:<42} {t / n * 1e6:7.0f} us per pair, {n / t:6.0f} patches/s")


# --- report -------------------------------------------------------------------------------


def spread(values: list[float], fmt: str) -> str:
    v = sorted(values)
    return " / ".join(format(x, fmt) for x in (v[0], statistics.median(v), v[-1]))


def startup(region: Path, raw: Path, folder: Path, home: Path, runs: int) -> None:
    env = l4s_env(home)
    helps, rejects, cold = [], [], []
    for _ in range(runs):
        helps.append(run_measured([L4S, "--help"], env=env)["wall"])
        bad = [
            L4S,
            "add-region",
            str(folder / "missing.yaml"),
            "--raw",
            str(raw),
            "--out",
            str(folder / "x"),
        ]
        t = time.perf_counter()
        subprocess.run(bad, env=env, capture_output=True)
        rejects.append(time.perf_counter() - t)
        stop_api(home)
        cold.append(ours(region, raw, folder / "ours", home)["marks"][FIRST_STAGE])
    print(f"\n== start-up, {runs} runs, min / median / max (s)")
    print(f"  l4s --help                                   {spread(helps, '.2f')}")
    print(f"  l4s add-region with a missing region file    {spread(rejects, '.2f')}")
    print(f"  l4s add-region to its first stage, API cold  {spread(cold, '.2f')}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench-out")
    p.add_argument("--sizes", default="5490,10980", help="pixels per side, comma-separated")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--stages", action="store_true", help="also time each stage in-process")
    args = p.parse_args()
    global RETIRED
    RETIRED = args.out / "retired"  # a killed benchmark's are deleted at the end of the next
    home = args.out / "prefect-home"
    sizes = sorted(int(s) for s in args.sizes.split(","))
    load = os.getloadavg()[0]
    print(f"ETL benchmark on {os.cpu_count()} cores (load average {load:.1f}); in {args.out}")
    per_patch: dict[int, float] = {}
    sized: dict[int, tuple[int, float]] = {}  # size: (patches, median wall)
    warm_starts: list[float] = []
    try:
        for size in sizes:
            folder = args.out / f"tile-{size}"
            print(f"\n== {size} x {size} px ({size * size / 1e8:.2f} x 10^8 px)")
            region, raw, grid = prepare(folder, size)
            if not api_alive(home):  # warm the API once (not measured)
                ours(region, raw, folder / "ours", home)
            rows: dict[str, list[dict]] = {"ours": [], "naive": [], "floor": []}
            for run in range(args.runs):
                keep = size == sizes[0] and run == args.runs - 1  # for the split files below
                rows["ours"].append(ours(region, raw, folder / "ours", home, keep))
                rows["naive"].append(naive(raw, folder / "naive", grid))
                rows["floor"].append(floor(raw, folder / "floor", rows["ours"][-1]["patches"]))
            warm_starts += [r["marks"][FIRST_STAGE] for r in rows["ours"]]
            print(
                f"  {args.runs} runs, min / median / max; patches: ours "
                f"{rows['ours'][0]['patches']}, naive {rows['naive'][0]['patches']}"
            )
            print(
                f"  {'':<24}{'wall (s)':>20}{'patches/s':>22}{'CPU (s)':>20}{'peak RSS (GB)':>20}"
            )
            names = {
                "ours": "ours: l4s add-region",
                "naive": "naive script",
                "floor": "floor (I/O only)",
            }
            walls_of = {key: [r["wall"] for r in runs] for key, runs in rows.items()}
            for key, runs in rows.items():
                walls = walls_of[key]
                rates = [r["patches"] / r["wall"] for r in runs]
                cpus = [r["cpu"] for r in runs]
                peaks = [r["peak_gb"] for r in runs]
                print(
                    f"  {names[key]:<24}{spread(walls, '.1f'):>20}{spread(rates, '.0f'):>22}"
                    f"{spread(cpus, '.1f'):>20}{spread(peaks, '.2f'):>20}"
                )
            pairs = list(zip(rows["ours"], rows["naive"], rows["floor"], strict=True))
            speed = [n["wall"] / o["wall"] for o, n, _ in pairs]
            work = [n["cpu"] / o["cpu"] for o, n, _ in pairs]
            over = [o["wall"] / f["wall"] for o, _, f in pairs]
            print(
                f"  ours is {spread(speed, '.2f')} x faster than naive (wall), and does its "
                f"work in {spread(work, '.2f')} x less CPU time; ours / floor = "
                f"{spread(over, '.2f')} (wall)"
            )
            per_patch[size] = statistics.median(r["wall"] / r["patches"] for r in rows["ours"])
            sized[size] = (rows["ours"][0]["patches"], statistics.median(walls_of["ours"]))
            if keep:
                report_split_files(folder / "ours")
            discard(folder / "ours")
            if args.stages:
                work = folder / "stages"
                discard(work)
                cmd = [sys.executable, __file__, "--stages", str(region), str(raw), str(work)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                for name, secs in result["times"].items():
                    print(f"  stage {name:<38} {secs:7.2f} s")
                total = sum(result["times"].values())
                t_floor = statistics.median(r["wall"] for r in rows["floor"])
                print(
                    f"  pipeline alone (stages, no CLI) {total:.1f} s = {total / t_floor:.2f} x "
                    f"the floor; peak RSS of its process {result['peak_gb']:.2f} GB"
                )
                discard(work)
        if len(sizes) > 1:
            s0, s1 = sizes[0], sizes[-1]
            print(
                f"\n== linearity: {s1}/{s0} px = {(s1 / s0) ** 2:.2f}x the area; ours takes "
                f"{per_patch[s0] * 1000:.2f} vs {per_patch[s1] * 1000:.2f} ms per patch "
                f"(median, command start to exit)"
            )
            (n0, t0), (n1, t1) = sized[s0], sized[s1]
            slope = (t1 - t0) / max(n1 - n0, 1)
            print(
                f"  through both: {t0 - slope * n0:.1f} s fixed (start-up, publishing) + "
                f"{slope * 1000:.2f} ms per patch"
            )
        folder = args.out / f"tile-{sizes[0]}"
        region, raw, _ = prepare(folder, sizes[0])
        startup(region, raw, folder, home, args.runs)
        print(f"  l4s add-region to its first stage, API warm  {spread(warm_starts, '.2f')}")
        discard(folder / "ours")
        patch_files(args.out)
    finally:
        stop_api(home)
        shutil.rmtree(RETIRED, ignore_errors=True)
    print(f"\nload average now {os.getloadavg()[0]:.1f} (other work on this machine skews timings)")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--floor":
        write_floor(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--split-files":
        print(json.dumps(split_files(Path(sys.argv[2]))))
    elif len(sys.argv) == 5 and sys.argv[1] == "--stages":
        r = stages(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
        print(json.dumps(r))
    else:
        main()
