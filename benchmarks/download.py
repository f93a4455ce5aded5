"""Download benchmark: the Earth Engine export engine against a local stand-in with latency.

    python benchmarks/download.py [--latency 0.2] [--concurrency 16] [--size 10980]

The stand-in (tests/acquisition/fakes.py) runs in its own process, as a remote service would,
and answers every computePixels request after ``--latency`` seconds. The client is the real
earthengine-api client and our engine. Printed, side by side in one run:

* a full-tile export of 13 bands (10/20/60 m groups, the engine's own block plan): wall time,
  throughput against the ideal ``concurrency x block size / latency``, the client's peak RSS
  against the bytes downloaded (memory must stay flat while blocks stream to disk);
* the same with small blocks (latency-bound: shows whether the cap is kept busy);
* a re-run with the warm cache: requests made (must be zero).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from affine import Affine  # noqa: E402
from rss import peak_rss_mb  # noqa: E402  (beside this script)

from landslide4sense.acquisition.earthengine import band_groups, nested_grid  # noqa: E402
from landslide4sense.regions import Grid  # noqa: E402


def tile_grid(size: int) -> Grid:
    return Grid("EPSG:32654", Affine(10, 0, 600000, 0, -10, 4800000), size, size)


def serve(size: int, latency: float, urls, stop, stats) -> None:
    """The stand-in, with one synthetic source raster per band group (cheap patterns)."""
    from tests.acquisition.fakes import FakeEarthEngine

    sources = {}
    for res, bands in band_groups().items():
        g = nested_grid(tile_grid(size), res)
        rows = np.arange(g.height, dtype=np.uint16)[:, None]
        cols = np.arange(g.width, dtype=np.uint16)[None, :]
        sources[bands] = (g, np.stack([(rows + cols + 100 * i) for i in range(len(bands))]))
    fake = FakeEarthEngine(sources)
    fake.latency = latency
    with fake.running():
        urls.put(fake.url)
        stop.wait()
        stats.put({"max_in_flight": fake.max_in_flight, "requests": fake.pixel_requests})


def export(url: str, size: int, concurrency: int, cache: Path, side: int | None) -> dict:
    from google.auth.credentials import AnonymousCredentials

    from landslide4sense.acquisition import earthengine as eem
    from landslide4sense.acquisition.download import RetryPolicy, download_blocks, mosaic
    from landslide4sense.regions import parse_region

    region = parse_region(
        {
            "name": "tile",
            "event": {"trigger": "rainfall", "date": "2020-07-01"},
            "aoi": {"bbox": [141.0, 42.0, 142.0, 43.0]},
            "imagery": {"start": "2020-08-01", "end": "2020-09-01"},
        }
    )
    eem.initialize(url, AnonymousCredentials())
    image = eem.s2_composite(region)
    reqs = eem.s2_requests(tile_grid(size), side)
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    report = download_blocks(
        reqs, eem.request_bodies(image), eem.send, cache, concurrency, RetryPolicy(base=0.05)
    )
    t_download = time.perf_counter() - t
    rss1 = peak_rss_mb()
    t = time.perf_counter()
    if report.requests:
        mosaic(reqs, report.paths, cache.parent / "mosaic", nodata=0)
    t_mosaic = time.perf_counter() - t
    return {
        "blocks": len(reqs),
        "requests": report.requests,
        "bytes": report.bytes,
        "seconds": t_download,
        "mosaic": t_mosaic,
        "rss_before": rss0,
        "rss_after": rss1,
        "block_bytes": max(r.bytes for r in reqs),
        "occupancy": report.busy_seconds / (concurrency * t_download),
    }


def export_in_child(*args) -> dict:
    """:func:`export` in a fresh process, so its peak RSS is its own."""
    q = mp.Queue()
    child = mp.Process(target=lambda: q.put(export(*args)))
    child.start()
    result = q.get()
    child.join()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--size", type=int, default=10980)
    p.add_argument("--small", type=int, default=256, help="block side of the latency-bound run")
    args = p.parse_args()
    os.environ.setdefault("L4S_EE_PROJECT", "benchmark")
    urls, stats, stop = mp.Queue(), mp.Queue(), mp.Event()
    server = mp.Process(target=serve, args=(args.size, args.latency, urls, stop, stats))
    server.start()
    url = urls.get(timeout=600)
    tmp = Path(tempfile.mkdtemp(prefix="l4s-download-"))
    try:
        print(
            f"download benchmark: {args.size} x {args.size} px tile, 13 bands, "
            f"{args.latency * 1000:.0f} ms latency, concurrency {args.concurrency}, "
            f"{os.cpu_count()} cores"
        )
        runs = (("engine's plan", None), (f"{args.small} px blocks", args.small))
        for name, side in runs:
            cache = tmp / name.replace(" ", "_") / "cache"
            r = export_in_child(url, args.size, args.concurrency, cache, side)
            ideal = r["bytes"] / (r["blocks"] / args.concurrency * args.latency)
            rounds = -(-r["blocks"] // args.concurrency)
            floor = rounds * args.latency
            print(
                f"\n  {name}: {r['blocks']} blocks (largest {r['block_bytes'] / 1e6:.1f} MB), "
                f"{r['bytes'] / 1e9:.2f} GB in {r['seconds']:.2f} s = "
                f"{r['bytes'] / r['seconds'] / 1e6:.0f} MB/s"
            )
            print(
                f"    vs concurrency x block / latency: {r['bytes'] / r['seconds'] / ideal:.0%}"
                f"; vs {rounds} rounds of latency ({floor:.2f} s): {floor / r['seconds']:.0%}"
                f"; cap occupancy {r['occupancy']:.0%}"
            )
            print(
                f"    client peak RSS {r['rss_after']:.0f} MB (before {r['rss_before']:.0f} MB)"
                f" for {r['bytes'] / 1e6:.0f} MB downloaded; mosaic {r['mosaic']:.2f} s"
            )
            again = export_in_child(url, args.size, args.concurrency, cache, side)
            print(
                f"    re-run with warm cache: {again['requests']} requests, "
                f"{again['seconds']:.2f} s"
            )
        stop.set()
        s = stats.get(timeout=60)
        print(
            f"\n  stand-in saw at most {s['max_in_flight']} requests in flight "
            f"({s['requests']} computePixels requests in all)"
        )
    finally:
        stop.set()
        server.join(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
