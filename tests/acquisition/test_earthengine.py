"""Earth Engine: expressions offline, the strict stand-in, the download engine, and live."""

import json
import os
from pathlib import Path

import ee
import numpy as np
import pytest
import rasterio
import requests
from affine import Affine
from google.auth.credentials import AnonymousCredentials

from landslide4sense.acquisition import band_groups
from landslide4sense.acquisition import earthengine as eem
from landslide4sense.acquisition.download import (
    MAX_CONCURRENCY,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_SIDE,
    download_blocks,
    mosaic,
    plan_blocks,
    request_key,
)
from landslide4sense.acquisition.retry import RetryPolicy
from landslide4sense.errors import ConfigError, SourceError
from landslide4sense.geo import Grid
from landslide4sense.regions import load_regions, parse_region, region_grid
from tests.acquisition.fakes import FakeEarthEngine
from tests.acquisition.fakes.earthengine import (
    S2,
    TOKEN,
    Evaluator,
    contract,
    s2_catalog,
    scene_grid,
    uniform_scene,
)
from tests.helpers import CONTRACTS, needs

ROOT = Path(__file__).resolve().parents[2]
PAPER = load_regions(ROOT / "regions")
pytestmark = needs(CONTRACTS)


def covers_exactly(windows: list[dict], grid: Grid) -> bool:
    """Do (x_offset, y_offset, width, height) windows tile ``grid`` without gap or overlap?"""
    count = np.zeros((grid.height, grid.width), np.int32)
    for w in windows:
        rows = slice(w["y_offset"], w["y_offset"] + w["height"])
        count[rows, w["x_offset"] : w["x_offset"] + w["width"]] += 1
    return bool((count == 1).all())


def catalog_names(asset: str) -> list[str]:
    return [b["name"] for b in contract()[asset]["bands"]]


@pytest.mark.parametrize("region", PAPER, ids=[r.name for r in PAPER])
def test_plan_of_each_paper_region_uses_only_catalog_band_names(region):
    grid = region_grid(region)
    plan = eem.plan(region, grid)
    text = json.dumps(plan["expression"])
    assert '"COPERNICUS/S2_HARMONIZED"' in text and '"Image.linkCollection"' in text
    assert '["cs_cdf"]' in text and '"reduce.median"' in text
    assert f'"constantValue": {region.imagery.cloud_threshold}' in text
    assert f'"start": {{"constantValue": "{region.imagery.start}"}}' in text
    west, south, east, north = region.aoi.bbox
    assert f"[{east}, {south}]" in text and f"[{west}, {north}]" in text
    # Every band selected exists in the catalog entry: the stand-in, built from the catalog,
    # evaluates both expressions over one scene in the AOI and refuses any unknown band.
    tiny = Grid(grid.crs, grid.transform, 6, 6)
    scene = uniform_scene(
        tiny, "20180920T000000_20180920T000000_T54TWN", f"{region.imagery.start}", 1000
    )
    catalog = s2_catalog(scene_grid(tiny), [scene], footprint=region.aoi_geometry())
    evaluator = Evaluator(catalog, contract())
    image = evaluator.run(plan["expression"])
    assert image.bands == list(eem.S2_NATIVE_RESOLUTION)  # renamed to ours: B01 ... B12, B8A
    assert image.band("B01", tiny).filled(0).tolist() == [[1000.0] * 6] * 6
    summary = evaluator.run(plan["scene_summary"])
    assert [f["properties"]["id"] for f in summary] == [catalog[S2][0].index]
    assert set(eem.EE_BAND_NAMES.values()) <= set(catalog_names(S2))
    assert plan["grid"] == grid.to_dict()
    for res, bands in band_groups().items():
        reqs = [r for r in plan["requests"] if r["resolution"] == res]
        assert {tuple(r["bands"]) for r in reqs} == {bands}
        g = Grid.from_dict(reqs[0]["grid"])
        gl, gb, gr, gt = g.bounds
        left, bottom, right, top = grid.bounds
        assert gl <= left and gb <= bottom and gr >= right and gt >= top  # covers the grid
        assert g.transform.c % res == 0 and g.transform.f % res == 0  # nested in the 10 m grid
        assert covers_exactly(reqs, g)
        for r in reqs:
            assert r["bytes"] == r["width"] * r["height"] * len(bands) * 2
            assert r["bytes"] <= MAX_REQUEST_BYTES
            assert max(r["width"], r["height"]) <= MAX_REQUEST_SIDE
    assert region.dem == "asf-palsar-rtc" and "dem_requests" not in plan  # ASF, not EE


def test_plan_with_an_earth_engine_dem():
    region = parse_region({**json.loads(PAPER[0].model_dump_json()), "dem": "aw3d30"})
    plan = eem.plan(region, region_grid(region))
    assert '"JAXA/ALOS/AW3D30/V4_1"' in json.dumps(plan["dem_expression"])
    assert all(r["resolution"] == 30 and r["bands"] == ["elevation"] for r in plan["dem_requests"])


def test_request_limits():
    grid = Grid("EPSG:32633", Affine(10, 0, 0, 0, -10, 0), 40000, 100)
    with pytest.raises(ConfigError, match="48 MB"):
        plan_blocks("g", ("B02",), grid, side=40000)
    reqs = plan_blocks("g", ("B02", "B03", "B04", "B08"), grid)
    assert all(r.bytes <= MAX_REQUEST_BYTES for r in reqs)
    assert covers_exactly([r.to_dict() for r in reqs], grid)
    with pytest.raises(ConfigError, match="concurrency"):
        download_blocks(reqs, lambda r: {}, lambda b, f: 0, "/nonexistent", MAX_CONCURRENCY + 1)


# A small AOI (about 250 x 280 px at 10 m) and its grid.
REGION = parse_region(
    {
        "name": "demo-hills",
        "event": {"trigger": "rainfall", "date": "2020-07-08"},
        "aoi": {"bbox": [138.10, 36.20, 138.13, 36.225]},
        "imagery": {"start": "2020-09-01", "end": "2020-11-15", "cloud_threshold": 0.6},
    }
)
GRID = region_grid(REGION)
FAST = RetryPolicy(base=0.01, cap=0.05, seed=0)
CLOUD = (slice(0, 100), slice(0, 120))  # on the 10 m grid


def scenes_with_a_cloud():
    """Three scenes in the window (b has a cloud that Cloud Score+ flags), one before it."""
    a = uniform_scene(GRID, "20200903T012345_20200903T030000_T54SUE", "2020-09-03", 1000)
    b = uniform_scene(GRID, "20200913T012345_20200913T030000_T54SUE", "2020-09-13", 2000)
    c = uniform_scene(GRID, "20201003T012345_20201003T030000_T54SUE", "2020-10-03", 4000)
    early = uniform_scene(GRID, "20200801T012345_20200801T030000_T54SUE", "2020-08-01", 30000)
    b[3][CLOUD] = 0.2
    for name, band in b[2].items():
        k = 10 / contract_size(name)
        rows, cols = (slice(int(s.start * k), int(np.ceil(s.stop * k))) for s in CLOUD)
        band[rows, cols] = 9000
    return [a, b, c, early]


def contract_size(name: str) -> int:
    return next(b["pixel_size_m"] for b in contract()[S2]["bands"] if b["name"] == name)


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setenv("L4S_EE_PROJECT", "fake-project")
    fake = FakeEarthEngine(s2_catalog(scene_grid(GRID), scenes_with_a_cloud()))
    with fake.running():
        yield fake


def test_composite_is_the_median_of_cloud_masked_scenes(stand_in, tmp_path):
    source = eem.EarthEngineSource(concurrency=4, url=stand_in.url, creds=TOKEN, policy=FAST)
    layers = source.fetch(REGION, GRID, tmp_path / "work")
    assert layers.source == "earthengine" and set(layers.bands) == set(eem.S2_NATIVE_RESOLUTION)
    assert [s.date for s in layers.scenes] == ["2020-09-03", "2020-09-13", "2020-10-03"]
    # Scene b is cloudy where cs_cdf is 0.2: its share of the AOI, evaluated by the stand-in
    # from the Cloud Score+ band at 200 m, is about 100 x 120 px of 250 x 280.
    assert layers.scenes[0].cloud_cover == layers.scenes[2].cloud_cover == 0.0
    assert 10 < layers.scenes[1].cloud_cover < 25
    for k, band in enumerate(eem.S2_NATIVE_RESOLUTION):
        with rasterio.open(layers.bands[band]) as src:
            data = src.read(1)
            assert src.res == (contract_size(eem.EE_BAND_NAMES[band]),) * 2
        # Clear: median(1000, 2000, 4000) = 2000; under b's cloud (masked, not 9000):
        # median(1000, 4000) = 2500. The August scene is outside the window.
        assert data[-1, -1] == 2000 + k and data[0, 0] == 2500 + k, band
        assert data.max() == 2500 + k
    # Another window: other scenes, other blocks (the request bodies differ).
    before = stand_in.pixel_requests
    again = source.fetch(REGION, GRID, tmp_path / "work")
    assert stand_in.pixel_requests == before and again.bands == layers.bands  # all cached
    later = REGION.model_copy(
        update={
            "imagery": REGION.imagery.model_copy(
                update={"start": REGION.imagery.start.replace(day=20)}
            )
        }
    )
    with rasterio.open(source.fetch(later, GRID, tmp_path / "work").bands["B02"]) as src:
        assert stand_in.pixel_requests > before
        assert src.read(1)[-1, -1] == 4000 + 1  # only scene c is left


def test_no_scene_in_the_window_fails_at_once(stand_in, tmp_path):
    empty = REGION.model_copy(
        update={"imagery": REGION.imagery.model_copy(update={"start": REGION.imagery.end})}
    )
    source = eem.EarthEngineSource(url=stand_in.url, creds=TOKEN, policy=FAST)
    with pytest.raises(SourceError, match=r"no Sentinel-2 L1C scene .* widen the imagery window"):
        source.fetch(empty, GRID, tmp_path)
    assert stand_in.computes == 1 and stand_in.pixel_requests == 0


def computepixels(fake, body: dict, token: str = "stand-in-token", path: str | None = None):
    url = fake.url + (path or "/v1/projects/fake-project/image:computePixels")
    return requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def a_body(**changes) -> dict:
    with eem.offline():
        body = eem.request_bodies(eem.s2_composite(REGION))(eem.s2_requests(GRID)[0])
    return {**body, **changes}


def test_stand_in_answers_a_valid_request(stand_in):
    r = computepixels(stand_in, a_body())
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/tiff"


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"bandIds": ["B1"]}, 400, "Pattern 'B1' did not match any bands"),  # renamed
        ({"fileFormat": "ZIPPED_GEO_TIFF"}, 400, "not supported by computePixels"),
        ({"fileFormat": "TIFF"}, 400, "Invalid value at 'file_format'"),
        ({"origin": [0, 0]}, 400, 'Invalid JSON payload received. Unknown name "origin"'),
    ],
)
def test_stand_in_refuses_what_the_service_refuses(stand_in, change, status, message):
    r = computepixels(stand_in, a_body(**change))
    assert r.status_code == status and message in r.json()["error"]["message"]
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_stand_in_refuses_bad_grids_and_sizes(stand_in):
    body = a_body()
    grid = dict(body["grid"], origin={"x": 0})
    r = computepixels(stand_in, {**body, "grid": grid})
    assert r.json()["error"]["message"].startswith(
        "Invalid JSON payload received. Unknown name \"origin\" at 'grid': Cannot find field."
    )
    grid = dict(body["grid"], dimensions={"width": 40000, "height": 1})
    r = computepixels(stand_in, {**body, "grid": grid})
    assert r.json()["error"]["message"] == (
        "Pixel grid dimensions (40000x1) must be less than or equal to 32768."
    )
    grid = dict(body["grid"], dimensions={"width": 4000, "height": 4000})  # 4 x 2 x 16e6 B
    r = computepixels(stand_in, {**body, "grid": grid})
    assert r.json()["error"]["message"] == (
        "Total request size (128000000 bytes) must be less than or equal to 50331648 bytes."
    )


def test_stand_in_refuses_unknown_assets_algorithms_and_credentials(stand_in):
    expr = json.dumps(a_body()["expression"])
    r = computepixels(
        stand_in,
        a_body(expression=json.loads(expr.replace("COPERNICUS/S2_HARMONIZED", "NO/SUCH/ASSET"))),
    )
    assert r.status_code == 400 and "asset 'NO/SUCH/ASSET' not found" in r.text
    r = computepixels(
        stand_in, a_body(expression=json.loads(expr.replace('"reduce.median"', '"reduce.middle"')))
    )
    assert r.status_code == 400 and "Unknown algorithm: reduce.middle" in r.text
    r = computepixels(
        stand_in, a_body(expression=json.loads(expr.replace('"bandSelectors"', '"bands"')))
    )
    assert r.status_code == 400 and "unknown argument(s) ['bands']" in r.text
    assert computepixels(stand_in, a_body(), token="").status_code == 401
    path = "/v1/projects/someone-else/image:computePixels"
    assert computepixels(stand_in, a_body(), path=path).status_code == 403
    assert computepixels(stand_in, a_body(), path=path.replace("v1", "v2")).status_code == 404


def test_old_zero_padded_band_names_fail_at_once(stand_in, tmp_path):
    """The catalog names bands B1..B12: selecting B01 is a 400, not retried."""
    eem.initialize(stand_in.url, TOKEN, FAST)
    with eem.offline():
        old = ee.ImageCollection(S2).select(["B01", "B02"]).median()
        body = eem.request_bodies(old)(plan_blocks("x", ("B01",), GRID)[0])
    eem.initialize(stand_in.url, TOKEN, FAST)
    with pytest.raises(SourceError, match=r"Pattern 'B01' did not match any bands.*report it"):
        download_blocks(
            plan_blocks("x", ("B01",), GRID), lambda r: body, eem.send, tmp_path, policy=FAST
        )
    assert stand_in.statuses == [400]  # one request: a permanent failure is not retried


def test_credentials_and_project_errors_say_how_to_set_them_up(stand_in, monkeypatch):
    with pytest.raises(SourceError, match=r"credentials refused.*earthengine authenticate"):
        eem.initialize(stand_in.url, AnonymousCredentials(), FAST)
        eem.compute_value(ee.Number(1), FAST)
    monkeypatch.setenv("L4S_EE_PROJECT", "not-registered")
    with pytest.raises(SourceError, match=r"HTTP 403.*registered for Earth Engine"):
        eem.initialize(stand_in.url, TOKEN, FAST)
        eem.compute_value(ee.Number(1), FAST)
    for var in ("L4S_EE_PROJECT", "EARTHENGINE_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SourceError, match=r"no Earth Engine project.*L4S_EE_PROJECT"):
        eem.initialize(stand_in.url, TOKEN, FAST)
    monkeypatch.setenv("L4S_EE_SERVICE_ACCOUNT_KEY", "/nonexistent/key.json")
    with pytest.raises(ConfigError, match="not a file"):
        eem.credentials()


def one_scene_catalog(rng):
    """One clear scene of random values: the composite is that scene, exactly."""
    scene = uniform_scene(GRID, "20200903T012345_20200903T030000_T54SUE", "2020-09-03", 0)
    for band in scene[2].values():
        band[:] = rng.integers(1, 10000, band.shape)
    return s2_catalog(scene_grid(GRID), [scene]), scene[2]


def test_engine_retries_caps_concurrency_and_mosaics_exactly(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("L4S_EE_PROJECT", "fake-project")
    caplog.set_level("INFO", logger="landslide4sense.acquisition.download")
    catalog, truth = one_scene_catalog(np.random.default_rng(0))
    fake = FakeEarthEngine(catalog, concurrency=3)
    fake.fail_every, fake.drop_every, fake.latency = 5, 7, 0.02
    reqs = plan_blocks("s2-10m", ("B02", "B03", "B04", "B08"), GRID, side=64)  # 5 x 5 blocks
    sleeps = []
    # Sleeps are recorded, not slept: on a loaded machine one block can meet the quota many
    # times in a row, so allow more tries than the default six.
    policy = RetryPolicy(attempts=50, base=0.01, cap=0.05, seed=0, sleep=sleeps.append)
    with fake.running():
        eem.initialize(fake.url, TOKEN, policy)
        body = eem.request_bodies(eem.s2_composite(REGION))
        report = download_blocks(
            reqs, body, eem.send, tmp_path / "cache", concurrency=4, policy=policy
        )
    assert len(reqs) == 25 and report.cache_hits == 0
    statuses = fake.statuses
    assert {503, 0} <= set(statuses) and 429 in set(statuses)  # 4 in flight, quota 3
    assert report.retries == len([s for s in statuses if s != 200]) == len(sleeps)
    assert report.requests == len(statuses) == 25 + report.retries
    assert not list((tmp_path / "cache").rglob("*.tmp*"))  # no partial block is kept
    assert fake.max_in_flight <= 4 and report.max_in_flight <= 4
    # Progress in MB with the transfer rate: a line per tenth (no terminal here), and the end.
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("downloading")]
    assert len(lines) == 10 and lines[-1].startswith("downloading 25 blocks: ")
    assert " MB in " in lines[-1] and lines[-1].endswith(" MB/s")
    out = mosaic(reqs, report.paths, tmp_path / "mosaic", nodata=0)
    col, row = (int(v) for v in ~scene_grid(GRID).transform @ (GRID.transform.c, GRID.transform.f))
    for band in ("B02", "B03", "B04", "B08"):
        with rasterio.open(out[band]) as src:
            assert src.transform == GRID.transform and src.crs.to_string() == GRID.crs
            expected = truth[eem.EE_BAND_NAMES[band]][
                row : row + GRID.height, col : col + GRID.width
            ]
            assert np.array_equal(src.read(1), expected)


def test_retry_after_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("L4S_EE_PROJECT", "fake-project")
    catalog, _ = one_scene_catalog(np.random.default_rng(1))
    fake = FakeEarthEngine(catalog)
    fake.fail_every, fake.retry_after = 2, "7"
    sleeps = []
    policy = RetryPolicy(base=0.01, seed=0, sleep=sleeps.append)
    reqs = plan_blocks("s2-10m", ("B02",), GRID, side=128)
    with fake.running():
        eem.initialize(fake.url, TOKEN, policy)
        report = download_blocks(
            reqs,
            eem.request_bodies(eem.s2_composite(REGION)),
            eem.send,
            tmp_path,
            concurrency=1,
            policy=policy,
        )
    assert report.retries >= 1 and sleeps == [7.0] * report.retries


def test_an_interrupted_export_resumes(stand_in, tmp_path):
    eem.initialize(stand_in.url, TOKEN, FAST)
    reqs = plan_blocks("s2-10m", ("B02", "B03", "B04", "B08"), GRID, side=128)
    body = eem.request_bodies(eem.s2_composite(REGION))
    lost = body(reqs[3])
    stand_in.forbidden = {json.dumps(lost, sort_keys=True)}
    with pytest.raises(SourceError, match="HTTP 403"):
        download_blocks(reqs, body, eem.send, tmp_path / "cache", concurrency=2, policy=FAST)
    cached = list((tmp_path / "cache").rglob("*.tif"))  # a permanent failure stops the rest
    assert 0 < len(cached) < len(reqs)
    assert not (tmp_path / "cache" / request_key(lost)[:2] / f"{request_key(lost)}.tif").exists()
    stand_in.forbidden = set()
    resumed = download_blocks(reqs, body, eem.send, tmp_path / "cache", concurrency=2)
    assert resumed.cache_hits == len(cached) and resumed.requests == len(reqs) - len(cached)


def test_a_block_too_big_to_compute_is_split_and_stitched_exactly(stand_in, tmp_path):
    """Earth Engine answers a median it cannot hold in memory with HTTP 400: the block is
    fetched as quadrants, and the composite is byte-identical to an unsplit one."""
    source = eem.EarthEngineSource(concurrency=2, url=stand_in.url, creds=TOKEN, policy=FAST)
    whole = source.fetch(REGION, GRID, tmp_path / "whole")
    assert set(stand_in.statuses) == {200} and whole.details["split_blocks"] == 0
    stand_in.statuses.clear()
    # The 10 m group's one block (279 x 286 px) is too big; its quadrants (at most 140 x 143
    # px) and the coarser groups' blocks (at most 140 x 144 px) are not.
    stand_in.max_pixels = 21_000
    split = source.fetch(REGION, GRID, tmp_path / "split")
    assert split.details["split_blocks"] == 1
    assert sorted(stand_in.statuses) == [200] * 6 + [400]  # 4 quadrants, the 20 and 60 m blocks
    for band in eem.S2_NATIVE_RESOLUTION:
        assert split.bands[band].read_bytes() == whole.bands[band].read_bytes(), band


def test_too_big_even_when_split_says_what_to_narrow(stand_in, tmp_path):
    eem.initialize(stand_in.url, TOKEN, FAST)
    stand_in.max_pixels, stand_in.too_big = 1000, "Computation timed out."
    reqs = plan_blocks("s2-10m", ("B02",), GRID)
    body = eem.request_bodies(eem.s2_composite(REGION))
    with pytest.raises(SourceError, match=r"timed out.*even after splitting.*narrow the imagery"):
        download_blocks(reqs, body, eem.send, tmp_path, policy=FAST, min_side=128)
    assert stand_in.statuses == [400] * 3  # the block, its first quadrant, and that one's (70 px)


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.pop("expression"),
        lambda b: b["grid"].pop("dimensions"),
        lambda b: b["grid"].update(crsCode="EPSG:999999"),
    ],
    ids=["no expression", "no dimensions", "unknown EPSG"],
)
def test_a_malformed_body_is_a_400_reported_as_a_bug(stand_in, tmp_path, change):
    body = a_body()  # (built offline: initialize after)
    change(body)
    eem.initialize(stand_in.url, TOKEN, FAST)
    r = computepixels(stand_in, body)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    with pytest.raises(SourceError, match="the request is malformed, a bug in l4s") as err:
        eem.send(body, tmp_path / "block.tif")
    assert "too big" not in str(err.value)


def test_plan_shows_block_sides_and_smaller_blocks_mean_more_requests(capsys):
    from landslide4sense.flows.cli import main

    kodagu = ROOT / "regions" / "kodagu-2018.yaml"
    assert main(["plan", str(kodagu)]) in (0, None)
    default = capsys.readouterr().out
    assert main(["plan", str(kodagu), "--source", "earthengine", "--block-px", "1024"]) in (0, None)
    small = capsys.readouterr().out

    def count(out: str) -> int:
        return int(out.split(" computePixels requests")[0].split()[-1])

    assert "(blocks: 10m 2304 px, 20m 1792 px" in default and "10m 1024 px" in small
    assert count(default) == 9 and count(small) == 35
    region = next(r for r in PAPER if r.name == "kodagu-2018")
    assert len(eem.plan(region, region_grid(region), side=1024)["requests"]) == 35
    # The region file's imagery.block_px does the same (the CLI's --block-px wins).
    data = json.loads(region.model_dump_json())
    small = parse_region({**data, "imagery": {**data["imagery"], "block_px": 1024}})
    assert len(eem.plan(small, region_grid(small))["requests"]) == 35
    assert len(eem.plan(small, region_grid(small), side=1536)["requests"]) == 14
    with pytest.raises(ValueError, match="block_px"):
        parse_region({**data, "imagery": {**data["imagery"], "block_px": 64}})


def test_dem_from_earth_engine(monkeypatch, tmp_path):
    from landslide4sense.acquisition import fetch_dem
    from tests.acquisition.fakes import Scene

    monkeypatch.setenv("L4S_EE_PROJECT", "fake-project")
    region = REGION.model_copy(update={"dem": "srtm"})
    wide = GRID.buffered(resolution=30)
    wide = Grid(
        wide.crs, wide.transform @ Affine.translation(-20, -20), wide.width + 40, wide.height + 40
    )
    z = np.arange(wide.width * wide.height, dtype=np.float64).reshape(wide.height, wide.width)
    fake = FakeEarthEngine(
        {"USGS/SRTMGL1_003": [Scene("SRTMGL1_003", "2000-02-11", {"elevation": (wide, z)})]}
    )
    with fake.running():
        dem = fetch_dem(region, GRID, tmp_path, url=fake.url, creds=TOKEN, policy=FAST)
    assert dem.details["dem_heights"].startswith("orthometric")
    with rasterio.open(dem.path) as src:
        assert src.res == (30, 30) and src.dtypes[0] == "float32"
        col, row = ~wide.transform @ (src.transform.c, src.transform.f)
        assert np.array_equal(
            src.read(1), z[int(row) : int(row) + src.height, int(col) : int(col) + src.width]
        )


def live_credentials() -> bool:
    stored = Path.home() / ".config" / "earthengine" / "credentials"
    return bool(os.environ.get("L4S_EE_SERVICE_ACCOUNT_KEY") or stored.exists()) and bool(
        eem.project()
    )


@pytest.mark.network
@pytest.mark.skipif(
    not live_credentials(),
    reason="no Earth Engine credentials and project "
    "(run `earthengine authenticate` or set L4S_EE_SERVICE_ACCOUNT_KEY, and set "
    "L4S_EE_PROJECT)",
)
def test_live_fetch_of_a_tiny_area(tmp_path):
    """The user's path: the whole fetch (scene summary, one block per band group, mosaic)."""
    region = parse_region(
        {
            "name": "live",
            "event": {"trigger": "earthquake", "date": "2018-09-06"},
            "aoi": {"bbox": [141.95, 42.75, 141.96, 42.757]},
            "imagery": {"start": "2018-09-10", "end": "2018-10-31"},
        }
    )
    grid = region_grid(region)
    layers = eem.EarthEngineSource().fetch(region, grid, tmp_path)
    assert set(layers.bands) == set(eem.S2_NATIVE_RESOLUTION) and layers.scenes
    assert layers.details["requests"] == len(band_groups())  # one block per band group
    with rasterio.open(layers.bands["B04"]) as src:
        assert src.read(1).mean() > 0
