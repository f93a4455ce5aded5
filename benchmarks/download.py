"""Download benchmark: each networked source against its strict stand-in, with latency.

    python benchmarks/download.py [--latency 0.2] [--concurrency 16] [--size 5490]
                                  [--scenes 4] [--region 1500] [--dem 4000]

Each stand-in (tests/acquisition/fakes) runs in its own process, as a remote service would,
and answers every request after ``--latency`` seconds; the clients are the real ones
(earthengine-api and our block engine; pystac-client and GDAL's /vsis3/ reads; asf_search).
Printed, side by side in one run:

* Earth Engine: a ``--size`` px square of 13 bands (10/20/60 m groups, the engine's block
  plan), the stand-in evaluating the Cloud Score+ masked median of one scene per block: wall
  time and throughput against the ideal ``concurrency x block / latency``, the client's peak
  RSS against the bytes downloaded, then the same with small blocks, and a warm re-run;
* STAC: a ``--region`` px square from ``--scenes`` scenes in the requester-pays bucket
  (signed, paid reads): wall time, bytes read against the bands' sizes, s2cloudless and median
  time; a warm re-run;
* ASF: one RTC zip holding a ``--dem`` px 12.5 m DEM: download throughput, extract + mosaic
  time, a warm re-run.
"""

from __future__ import annotations

import argparse
import contextlib
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

from landslide4sense.geo import Grid  # noqa: E402
from landslide4sense.regions import parse_region, region_grid  # noqa: E402

TOKEN = "stand-in-token"
KEYS = {"AWS_ACCESS_KEY_ID": "AKIASTANDIN", "AWS_SECRET_ACCESS_KEY": "stand-in-secret"}


def tile_grid(size: int) -> Grid:
    return Grid("EPSG:32654", Affine(10, 0, 600000, 0, -10, 4800000), size, size)


def in_child(fn, *args) -> dict:
    """``fn(*args)`` in a fresh process (its own peak RSS), its dict result."""
    q = mp.Queue()
    child = mp.Process(target=lambda: q.put(fn(*args)))
    child.start()
    result = q.get()
    child.join()
    return result


def serve(make, latency: float, urls, stop, stats) -> None:
    """Run the stand-in ``make()`` builds until ``stop``; report its counters."""
    fake = make()
    fake.latency = latency
    with fake.running():
        urls.put(fake.url)
        stop.wait()
        values = {k: getattr(fake, k) for k in dir(fake) if not k.startswith("_")}
        stats.put({k: v for k, v in values.items() if isinstance(v, int | float)})


class Service:
    """A stand-in in its own process."""

    def __init__(self, make, latency: float):
        self.urls, self.stats, self.stop = mp.Queue(), mp.Queue(), mp.Event()
        self.proc = mp.Process(target=serve, args=(make, latency, self.urls, self.stop, self.stats))
        self.proc.start()
        self.url = self.urls.get(timeout=900)

    def close(self) -> dict:
        self.stop.set()
        stats = self.stats.get(timeout=120)
        self.proc.join(timeout=60)
        return stats


# --------------------------------------------------------------------------- Earth Engine


def ee_stand_in(size: int):
    from landslide4sense.acquisition.earthengine import EE_BAND_NAMES
    from tests.acquisition.fakes import FakeEarthEngine
    from tests.acquisition.fakes.earthengine import s2_catalog
    from tests.acquisition.test_earthengine import scene_grid

    grid = scene_grid(tile_grid(size))
    bands = {}
    for i, (ours, theirs) in enumerate(EE_BAND_NAMES.items()):
        g = grid.buffered(resolution={10: 10, 20: 20, 60: 60}[_native(ours)])
        rows = np.arange(g.height, dtype=np.uint16)[:, None]
        bands[theirs] = rows + np.arange(g.width, dtype=np.uint16)[None, :] + 100 * i
    cs = np.ones((grid.height, grid.width), np.float32)
    return FakeEarthEngine(
        s2_catalog(grid, [("20200801T000000_20200801T000000_T54TWN", "2020-08-05", bands, cs)])
    )


def _native(band: str) -> int:
    from landslide4sense.acquisition import S2_NATIVE_RESOLUTION

    return S2_NATIVE_RESOLUTION[band]


def ee_export(url: str, size: int, concurrency: int, cache: Path, side: int | None) -> dict:
    from google.oauth2.credentials import Credentials

    from landslide4sense.acquisition import earthengine as eem
    from landslide4sense.acquisition.download import download_blocks, mosaic
    from landslide4sense.acquisition.retry import RetryPolicy

    region = parse_region(
        {
            "name": "tile",
            "event": {"trigger": "rainfall", "date": "2020-07-01"},
            "aoi": {"bbox": [141.0, 42.0, 143.0, 44.0]},
            "imagery": {"start": "2020-08-01", "end": "2020-09-01"},
        }
    )
    policy = RetryPolicy(base=0.05)
    eem.initialize(url, Credentials(TOKEN), policy)
    reqs = eem.s2_requests(tile_grid(size), side)
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    report = download_blocks(
        reqs, eem.request_bodies(eem.s2_composite(region)), eem.send, cache, concurrency, policy
    )
    seconds = time.perf_counter() - t
    rss1 = peak_rss_mb()
    t = time.perf_counter()
    if report.requests:
        mosaic(reqs, report.paths, cache.parent / "mosaic", nodata=0)
    return {
        "blocks": len(reqs),
        "requests": report.requests,
        "bytes": report.bytes,
        "seconds": seconds,
        "mosaic": time.perf_counter() - t,
        "rss_before": rss0,
        "rss_after": rss1,
        "block_bytes": max(r.bytes for r in reqs),
        "occupancy": report.busy_seconds / (concurrency * seconds),
    }


def bench_earthengine(args, tmp: Path) -> None:
    os.environ["L4S_EE_PROJECT"] = "fake-project"
    service = Service(lambda: ee_stand_in(args.size), args.latency)
    print(
        f"\nEarth Engine: {args.size} x {args.size} px, 13 bands, concurrency "
        f"{args.concurrency}, the stand-in evaluating the masked median per block"
    )
    try:
        for name, side in (("engine's plan", None), (f"{args.small} px blocks", args.small)):
            cache = tmp / "ee" / name.replace(" ", "_") / "cache"
            r = in_child(ee_export, service.url, args.size, args.concurrency, cache, side)
            ideal = r["bytes"] / (r["blocks"] / args.concurrency * args.latency)
            rounds = -(-r["blocks"] // args.concurrency)
            print(
                f"  {name}: {r['blocks']} blocks (largest {r['block_bytes'] / 1e6:.1f} MB), "
                f"{r['bytes'] / 1e6:.0f} MB in {r['seconds']:.2f} s = "
                f"{r['bytes'] / r['seconds'] / 1e6:.0f} MB/s; vs concurrency x block / "
                f"latency {r['bytes'] / r['seconds'] / ideal:.0%}; vs {rounds} rounds of "
                f"latency {rounds * args.latency / r['seconds']:.0%}; cap occupancy "
                f"{r['occupancy']:.0%}"
            )
            print(
                f"    client peak RSS {r['rss_after']:.0f} MB (before {r['rss_before']:.0f} MB)"
                f" for {r['bytes'] / 1e6:.0f} MB downloaded; mosaic {r['mosaic']:.2f} s"
            )
            again = in_child(ee_export, service.url, args.size, args.concurrency, cache, side)
            print(f"    warm re-run: {again['requests']} requests, {again['seconds']:.2f} s")
    finally:
        s = service.close()
    print(
        f"  stand-in: at most {s['max_in_flight']} requests in flight, "
        f"{s['pixel_requests']} computePixels requests"
    )


# --------------------------------------------------------------------------- STAC


def stac_archive(folder: Path, px: int, scenes: int) -> tuple[list[dict], dict[str, Path], Grid]:
    """``scenes`` L1C scenes over a ``px`` square (10 m) as tiled GeoTIFF band files."""
    import rasterio

    from landslide4sense.acquisition import S2_NATIVE_RESOLUTION
    from landslide4sense.acquisition.stac import ASSETS
    from tests.acquisition.fakes import l1c_item

    region = bench_region(px)
    grid = region_grid(region).buffered(2000, 60)
    rng = np.random.default_rng(0)
    items, files = [], {}
    for s in range(scenes):
        bands = {}
        for band, res in S2_NATIVE_RESOLUTION.items():
            g = grid.buffered(resolution=res)
            data = rng.integers(800, 3000, (g.height, g.width), dtype=np.uint16)
            path = folder / f"s{s}" / f"{band}.jp2"
            path.parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(
                path,
                "w",
                driver="GTiff",
                width=g.width,
                height=g.height,
                count=1,
                dtype="uint16",
                crs=g.crs,
                transform=g.transform,
                tiled=True,
                blockxsize=512,
                blockysize=512,
            ) as dst:
                dst.write(data, 1)
            bands[ASSETS[band]] = (res, [g.height, g.width], list(g.transform)[:6])
        w, so, e, n = region.aoi.bbox
        item = l1c_item(
            f"S2A_54TWN_202008{s + 1:02d}_0_L1C",
            f"2020-08-{s + 1:02d}T01:00:00Z",
            5.0 + s,
            [w - 0.1, so - 0.1, e + 0.1, n + 0.1],
            32654,
            "54TWN",
            bands,
            "05.10",
        )
        for key in bands:
            files[item["assets"][key]["href"].removeprefix("s3://sentinel-s2-l1c/")] = (
                folder / f"s{s}" / f"{next(b for b, k in ASSETS.items() if k == key)}.jp2"
            )
        items.append(item)
    return items, files, grid


def bench_region(px: int):
    lon, lat, d = 141.0, 42.8, px * 10 / 111_000
    return parse_region(
        {
            "name": "bench",
            "event": {"trigger": "rainfall", "date": "2020-07-01"},
            "aoi": {"bbox": [lon, lat, lon + d * 1.35, lat + d]},
            "imagery": {"start": "2020-08-01", "end": "2020-08-31"},
        }
    )


def stac_fetch(api: str, s3: str, px: int, scenes: int, work: Path) -> dict:
    from landslide4sense.acquisition.stac import StacSource

    os.environ.update(KEYS)
    region = bench_region(px)
    t = time.perf_counter()
    layers = StacSource(url=api, s3_endpoint=s3, max_items=scenes).fetch(
        region, region_grid(region), work
    )
    return {"seconds": time.perf_counter() - t, "rss": peak_rss_mb(), "bands": len(layers.bands)}


class _Both:
    """The STAC API and the bucket as one stand-in process (two servers)."""

    def __init__(self, items, files):
        from tests.acquisition.fakes import FakeS3, FakeStac

        self.api, self.s3 = FakeStac(items), FakeS3(files)
        self.latency = 0.0

    @property
    def requests(self) -> int:
        return self.s3.requests

    @property
    def bytes(self) -> int:
        return self.s3.bytes

    @contextlib.contextmanager
    def running(self):
        self.s3.latency = self.api.latency = self.latency
        with self.api.running(), self.s3.running():
            self.url = f"{self.api.url} {self.s3.url}"
            yield self


def bench_stac(args, tmp: Path) -> None:
    items, files, _ = stac_archive(tmp / "bucket", args.region, args.scenes)
    size = sum(p.stat().st_size for p in files.values())
    service = Service(lambda: _Both(items, files), args.latency)
    api, s3 = service.url.split()
    print(
        f"\nSTAC: a {args.region} x {args.region} px region from {args.scenes} scenes "
        f"({size / 1e6:.0f} MB of band files in the bucket), signed requester-pays reads"
    )
    try:
        r = in_child(stac_fetch, api, s3, args.region, args.scenes, tmp / "stac")
        print(
            f"  cold: {r['seconds']:.1f} s for {r['bands']} bands (s2cloudless at 60 m, median)"
            f"; client peak RSS {r['rss']:.0f} MB"
        )
        again = in_child(stac_fetch, api, s3, args.region, args.scenes, tmp / "stac")
        print(f"  warm re-run: {again['seconds']:.2f} s (search only; composite cached)")
    finally:
        s = service.close()
    print(
        f"  bucket: {s['requests']} requests, {s['bytes'] / 1e6:.0f} MB read "
        f"({s['bytes'] / size:.0%} of the band files)"
    )


# --------------------------------------------------------------------------- ASF


def asf_stand_in(folder: str, px: int):
    import rasterio

    from tests.acquisition.fakes import FakeAsf, Granule
    from tests.acquisition.test_asf import rtc_zip

    region = bench_region(px // 2)
    g = region_grid(region).buffered(1000, 12.5)
    g = Grid(g.crs, g.transform, px, px)
    dem = Path(folder) / "dem.tif"
    z = (np.add.outer(np.arange(px), np.arange(px)) % 3000).astype("float32")
    with rasterio.open(
        dem,
        "w",
        driver="GTiff",
        width=px,
        height=px,
        count=1,
        dtype="float32",
        crs=g.crs,
        transform=g.transform,
        nodata=-32768,
        tiled=True,
    ) as dst:
        dst.write(z, 1)
    w, s, e, n = region.aoi.bbox
    ring = [(w - 1, s - 1), (e + 1, s - 1), (e + 1, n + 1), (w - 1, n + 1), (w - 1, s - 1)]
    return FakeAsf(
        [Granule(20000, 800, 400, ring, rtc_zip("AP_20000_FBS_F0800_RT1.zip", dem))], Path(folder)
    )


def asf_fetch(host: str, cert: str, px: int, work: Path) -> dict:
    from landslide4sense.acquisition.asf import AsfDemSource, session

    os.environ.update({"REQUESTS_CA_BUNDLE": cert, "EARTHDATA_TOKEN": TOKEN})
    region = bench_region(px // 2)
    t = time.perf_counter()
    layer = AsfDemSource(host=host, session=session(edl_host=host)).fetch_dem(
        region, region_grid(region), work
    )
    return {
        "seconds": time.perf_counter() - t,
        "rss": peak_rss_mb(),
        "bytes": layer.path.stat().st_size,
    }


def bench_asf(args, tmp: Path) -> None:
    folder = tmp / "asf-src"
    folder.mkdir()
    service = Service(lambda: _AsfUrl(asf_stand_in(str(folder), args.dem)), args.latency)
    host, cert = service.url.split()
    zip_mb = sum(p.stat().st_size for p in folder.glob("*.tif")) / 1e6
    print(
        f"\nASF: one RTC product holding a {args.dem} x {args.dem} px 12.5 m DEM ({zip_mb:.0f} MB)"
    )
    try:
        r = in_child(asf_fetch, host, cert, args.dem, tmp / "asf")
        print(
            f"  cold: {r['seconds']:.1f} s (search, download, extract, mosaic at 12.5 m "
            f"cropped to the region: {r['bytes'] / 1e6:.0f} MB); client peak RSS "
            f"{r['rss']:.0f} MB"
        )
        again = in_child(asf_fetch, host, cert, args.dem, tmp / "asf")
        print(f"  warm re-run: {again['seconds']:.2f} s (search only; DEM cached)")
    finally:
        s = service.close()
    print(f"  download host served {s['served']} zip(s)")


class _AsfUrl:
    """The ASF stand-in with ``url`` = "host cert" and a count of zips served."""

    def __init__(self, fake):
        self.fake, self.latency = fake, 0.0

    @property
    def served(self) -> int:
        return len(self.fake.downloads)

    @contextlib.contextmanager
    def running(self):
        self.fake.latency = self.latency
        with self.fake.running():
            self.url = f"{self.fake.host} {self.fake.cert}"
            yield self


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--size", type=int, default=5490, help="Earth Engine export, px a side")
    p.add_argument("--small", type=int, default=512, help="block side of the latency-bound run")
    p.add_argument("--region", type=int, default=1500, help="STAC region, px a side")
    p.add_argument("--scenes", type=int, default=4)
    p.add_argument("--dem", type=int, default=4000, help="ASF DEM, px a side")
    p.add_argument("--only", choices=("earthengine", "stac", "asf"))
    args = p.parse_args()
    print(
        f"download benchmark: {args.latency * 1000:.0f} ms latency per request, "
        f"{os.cpu_count()} cores"
    )
    tmp = Path(tempfile.mkdtemp(prefix="l4s-download-"))
    try:
        for name, bench in (
            ("earthengine", bench_earthengine),
            ("stac", bench_stac),
            ("asf", bench_asf),
        ):
            if args.only in (None, name):
                bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
