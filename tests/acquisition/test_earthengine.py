"""Earth Engine: expressions offline, the download engine against a local stand-in, and live."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from google.auth.credentials import AnonymousCredentials

from landslide4sense.acquisition import earthengine as eem
from landslide4sense.acquisition.download import (
    MAX_CONCURRENCY,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_SIDE,
    RetryPolicy,
    download_blocks,
    mosaic,
    plan_blocks,
    request_key,
)
from landslide4sense.acquisition.synthetic import synthesize_scene
from landslide4sense.errors import ConfigError, SourceError
from landslide4sense.regions import Grid, load_regions, parse_region, region_grid
from tests.acquisition.fakes import FakeEarthEngine

ROOT = Path(__file__).resolve().parents[2]
PAPER = load_regions(ROOT / "regions")


def covers_exactly(windows: list[dict], grid: Grid) -> bool:
    """Do (x_offset, y_offset, width, height) windows tile ``grid`` without gap or overlap?"""
    count = np.zeros((grid.height, grid.width), np.int32)
    for w in windows:
        rows = slice(w["y_offset"], w["y_offset"] + w["height"])
        count[rows, w["x_offset"] : w["x_offset"] + w["width"]] += 1
    return bool((count == 1).all())


@pytest.mark.parametrize("region", PAPER, ids=[r.name for r in PAPER])
def test_plan_of_each_paper_region_offline(region):
    grid = region_grid(region)
    plan = eem.plan(region, grid)
    text = json.dumps(plan["expression"])
    assert '"COPERNICUS/S2_HARMONIZED"' in text
    assert '"GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"' in text
    assert '"Image.linkCollection"' in text and '"linkedBands": {"valueReference"' in text
    assert '["cs_cdf"]' in text and '"Image.gte"' in text
    assert f'"constantValue": {region.imagery.cloud_threshold}' in text
    assert f'"start": {{"constantValue": "{region.imagery.start}"}}' in text
    assert '"reduce.median"' in text
    west, south, east, north = region.aoi.bbox
    assert f"[{east}, {south}]" in text and f"[{west}, {north}]" in text
    assert json.dumps(list(eem.S2_NATIVE_RESOLUTION)) in text  # all 13 bands, B8A too
    assert plan["grid"] == grid.to_dict()
    for res, bands in eem.band_groups().items():
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


BANDS = ("B02", "B03", "B04", "B08")
GRID = Grid("EPSG:32654", Affine(10, 0, 500000, 0, -10, 4700000), 700, 500)
REGION = parse_region({
    "name": "demo-hills", "event": {"trigger": "rainfall", "date": "2020-07-08"},
    "aoi": {"bbox": [138.10, 36.20, 138.24, 36.32]},
    "imagery": {"start": "2020-09-01", "end": "2020-11-15", "cloud_threshold": 0.6},
})  # fmt: skip


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setenv("L4S_EE_PROJECT", "fake-project")
    data = np.random.default_rng(0).integers(1, 10000, (4, 500, 700)).astype(np.uint16)
    fake = FakeEarthEngine({BANDS: (GRID, data)})
    with fake.running():
        eem.initialize(fake.url, AnonymousCredentials())
        yield fake, data


def test_engine_retries_caps_concurrency_and_mosaics_exactly(stand_in, tmp_path):
    fake, data = stand_in
    fake.rate_limit_first, fake.fail_every, fake.drop_every = True, 5, 7
    fake.latency = 0.02
    reqs = plan_blocks("s2-10m", BANDS, GRID, side=128)  # 6 x 4 blocks
    body = eem.request_bodies(eem.s2_composite(REGION))
    report = download_blocks(reqs, body, eem.send, tmp_path / "cache", concurrency=4,
                             policy=RetryPolicy(base=0.01, seed=0))  # fmt: skip
    assert len(reqs) == 24 and report.cache_hits == 0
    assert {429, 503, 0} <= set(fake.statuses)  # 0: a connection dropped mid-body
    assert report.retries == len([s for s in fake.statuses if s != 200])
    assert not list((tmp_path / "cache").rglob("*.tmp*"))  # no partial block is kept
    assert report.requests == len(fake.statuses) == 24 + report.retries
    assert 2 <= fake.max_in_flight <= 4 and report.max_in_flight <= 4
    out = mosaic(reqs, report.paths, tmp_path / "mosaic", nodata=0)
    for i, band in enumerate(BANDS):
        with rasterio.open(out[band]) as src:
            assert src.transform == GRID.transform and src.crs.to_string() == GRID.crs
            assert np.array_equal(src.read(1), data[i])
    before = fake.pixel_requests
    again = download_blocks(reqs, body, eem.send, tmp_path / "cache", concurrency=4)
    assert again.requests == 0 and again.cache_hits == 24 and fake.pixel_requests == before


def test_an_interrupted_export_resumes(stand_in, tmp_path):
    fake, _ = stand_in
    reqs = plan_blocks("s2-10m", BANDS, GRID, side=256)
    body = eem.request_bodies(eem.s2_composite(REGION))
    lost = body(reqs[3])
    fake.forbidden = {json.dumps(lost, sort_keys=True)}
    with pytest.raises(SourceError, match="HTTP 403"):
        download_blocks(reqs, body, eem.send, tmp_path / "cache", concurrency=2)
    cached = list((tmp_path / "cache").rglob("*.tif"))
    assert len(cached) == len(reqs) - 1
    assert not (tmp_path / "cache" / request_key(lost)[:2] / f"{request_key(lost)}.tif").exists()
    fake.forbidden = set()
    resumed = download_blocks(reqs, body, eem.send, tmp_path / "cache", concurrency=2)
    assert resumed.requests == 1 and resumed.cache_hits == len(reqs) - 1


def test_earthengine_source_against_the_stand_in(monkeypatch, tmp_path):
    monkeypatch.setenv("L4S_EE_PROJECT", "fake-project")
    grid = region_grid(REGION)
    rng = np.random.default_rng(1)
    sources = {}
    for res, bands in eem.band_groups().items():
        g = eem.nested_grid(grid, res)
        sources[bands] = (
            g,
            rng.integers(1, 10000, (len(bands), g.height, g.width)).astype("uint16"),
        )
    synthesize_scene(tmp_path / "raw", "demo-hills", grid, seed=3)  # its DEM and labels
    fake = FakeEarthEngine(sources, scenes=[
        {"id": "20200903T013659_T54SUE", "date": "2020-09-03", "cloud_share": 0.1},
        {"id": "20200913T013659_T54SUE", "date": "2020-09-13", "cloud_share": 0.3}])  # fmt: skip
    with fake.running():
        source = eem.EarthEngineSource(tmp_path / "raw", concurrency=8, url=fake.url,
                                       creds=AnonymousCredentials())  # fmt: skip
        layers = source.fetch(REGION, grid, tmp_path / "work")
    assert len(layers.bands) == 13 and layers.source == "earthengine"
    for bands, (g, data) in sources.items():
        for i, band in enumerate(bands):
            with rasterio.open(layers.bands[band]) as src:
                assert src.res == (g.resolution, g.resolution)
                assert np.array_equal(src.read(1), data[i])
    assert [s.id for s in layers.scenes] == ["20200903T013659_T54SUE", "20200913T013659_T54SUE"]
    assert layers.scenes[1].cloud_cover == 30.0 and layers.details["cloud_masked_share"] == 20.0
    assert layers.details["cloud_threshold"] == 0.6
    assert "COPERNICUS/S2_HARMONIZED" in layers.details["collections"]
    assert layers.dem == tmp_path / "raw" / "demo-hills" / "dem.tif"
    assert layers.labels.name == "labels.gpkg"


def test_missing_project_or_credentials_explains_the_set_up(monkeypatch):
    for var in ("L4S_EE_PROJECT", "EARTHENGINE_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SourceError, match="earthengine authenticate"):
        eem.initialize("http://127.0.0.1:9", AnonymousCredentials())
    monkeypatch.setenv("L4S_EE_SERVICE_ACCOUNT_KEY", "/nonexistent/key.json")
    with pytest.raises(ConfigError, match="not a file"):
        eem.credentials()


def live_credentials() -> bool:
    stored = Path.home() / ".config" / "earthengine" / "credentials"
    return bool(os.environ.get("L4S_EE_SERVICE_ACCOUNT_KEY") or stored.exists()) and bool(
        eem.project()
    )


@pytest.mark.network
@pytest.mark.skipif(not live_credentials(), reason="no Earth Engine credentials and project "
                    "(run `earthengine authenticate` or set L4S_EE_SERVICE_ACCOUNT_KEY, and set "
                    "L4S_EE_PROJECT)")  # fmt: skip
def test_live_export_of_a_small_area(tmp_path):
    region = parse_region({
        "name": "live", "event": {"trigger": "earthquake", "date": "2018-09-06"},
        "aoi": {"bbox": [141.95, 42.75, 141.975, 42.77]}, "dem": "srtm",
        "imagery": {"start": "2018-09-10", "end": "2018-10-31"},
    })  # fmt: skip
    (tmp_path / "raw" / "live").mkdir(parents=True)
    (tmp_path / "raw" / "live" / "labels.geojson").write_text(
        '{"type": "FeatureCollection", "features": []}'
    )
    layers = eem.EarthEngineSource(tmp_path / "raw").fetch(region, region_grid(region), tmp_path)
    assert len(layers.bands) == 13 and layers.scenes
    with rasterio.open(layers.bands["B04"]) as src:
        assert src.read(1).mean() > 0
