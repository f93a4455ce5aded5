"""The CDSE source: CDSE's STAC API (CQL2 filter), the eodata bucket, s2cloudless, median."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landslide4sense.acquisition import cdse, get_source, plan_source, stac
from landslide4sense.acquisition.retry import RetryPolicy
from landslide4sense.errors import SourceError
from landslide4sense.geo import Grid, read_on_grid
from landslide4sense.regions import load_region, region_grid
from tests.acquisition.fakes import FakeS3
from tests.acquisition.fakes.cdse import CDSE_KEYS, FakeCdse, cdse_archive
from tests.acquisition.fakes.stac import UDP_REGION
from tests.helpers import CONTRACTS, RIOTILER, needs

pytestmark = [needs(CONTRACTS), needs(RIOTILER)]
FAST = RetryPolicy(base=0.01, cap=0.05, seed=0)


@pytest.fixture
def services(tmp_path, monkeypatch):
    monkeypatch.setenv("CDSE_S3_ACCESS_KEY", "cdse-access-key")
    monkeypatch.setenv("CDSE_S3_SECRET_KEY", "cdse-secret-key")
    items, files = cdse_archive(tmp_path / "eodata")
    s3 = FakeS3(files, keys=CDSE_KEYS, region="default", bucket="eodata", payer=False)
    with FakeCdse(items).running() as api, s3.running():
        yield api, s3


def source(api, s3) -> cdse.CdseSource:
    return cdse.CdseSource(url=api.url, s3_endpoint=s3.url, max_items=2, policy=FAST)


def test_the_demo_sized_region_end_to_end(services, tmp_path):
    api, s3 = services
    grid = region_grid(UDP_REGION)
    layers = source(api, s3).fetch(UDP_REGION, grid, tmp_path / "work")
    assert layers.source == "cdse" and set(layers.bands) == set(stac.ASSETS)
    assert [s.date for s in layers.scenes] == ["2017-07-29", "2017-08-08"]  # least cloudy first
    asked = api.searches[0]
    assert "query" not in asked and asked["filter-lang"] == "cql2-json"
    assert asked["filter"] == {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 60]}
    assert s3.bytes > 0 and s3.refused == []
    for band in ("B02", "B05", "B10"):
        with rasterio.open(layers.bands[band]) as src:
            composite = src.read(1)
            g = Grid(src.crs.to_string(), src.transform, src.width, src.height)
        # A's +1000 DN (its name's N0500) is removed, B's cloud masked: the riotiler values.
        expected = read_on_grid(RIOTILER / f"{band}.jp2", g, sentinel2=True)
        ok = np.isfinite(expected) & (composite > 0)
        assert ok.mean() > 0.95, band
        assert (np.abs(composite[ok] - np.rint(expected[ok])) <= 1).mean() > 0.85, band
        assert composite.max() < 9000


@pytest.mark.slow  # a whole build in its own process
def test_l4s_build_with_source_cdse(services, tmp_path, monkeypatch):
    """The whole build: preflight (CDSE keys), the CDSE composite, a local DEM and labels,
    patches."""
    import geopandas as gpd
    import yaml
    from shapely.geometry import box

    api, s3 = services
    monkeypatch.setenv("L4S_CDSE_STAC_URL", api.url)
    monkeypatch.setenv("L4S_CDSE_S3_ENDPOINT", s3.url)
    grid = region_grid(UDP_REGION).buffered(300)
    raw = tmp_path / "raw" / UDP_REGION.name
    raw.mkdir(parents=True)
    hills = np.add.outer(np.arange(grid.height), np.arange(grid.width)).astype("float32")
    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": 1}
    profile |= {"dtype": "float32", "crs": grid.crs, "transform": grid.transform}
    with rasterio.open(raw / "dem.tif", "w", **profile) as dst:
        dst.write(hills, 1)
    west, south = UDP_REGION.aoi.bbox[:2]
    scar = box(west + 0.01, south + 0.01, west + 0.02, south + 0.015)
    gpd.GeoDataFrame(geometry=[scar], crs="EPSG:4326").to_file(raw / "labels.gpkg", layer="labels")
    region_file = tmp_path / "regions" / f"{UDP_REGION.name}.yaml"
    region_file.parent.mkdir()
    data = json_safe(UDP_REGION.model_dump(mode="json", exclude={"path"}, exclude_none=True))
    region_file.write_text(yaml.safe_dump({**data, "dem": "local"}))
    out = tmp_path / "benchmark"
    argv = ["build", "--regions", str(region_file), "--raw", str(tmp_path / "raw")]
    # A process of its own: a build in this one would leave Prefect's settings and clients
    # pointing at the CLI's local API for the tests that follow.
    cmd = [sys.executable, "-m", "landslide4sense.flows.cli", *argv, "--out", str(out)]
    done = subprocess.run([*cmd, "--source", "cdse"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "version " in done.stdout
    assert list((out / "TrainData" / "img").glob("image_*.h5"))
    assert s3.bytes > 0 and s3.refused == []


def json_safe(d):
    """A region's model dump as its YAML would hold it (tuples as lists)."""
    import json

    return json.loads(json.dumps(d))


def test_reads_stay_within_the_free_tiers_connections():
    assert cdse.CdseSource().readers == 4  # CDSE's free tier: 4 concurrent connections
    assert isinstance(get_source("cdse"), cdse.CdseSource)


def test_the_stand_in_refuses_query_and_wrong_keys(services, tmp_path, monkeypatch):
    api, s3 = services
    earth_search = stac.StacSource(url=api.url, s3_endpoint=s3.url, policy=FAST)
    with pytest.raises(SourceError, match=r"HTTP 400.*unknown search parameter.*query"):
        earth_search.search(UDP_REGION)  # Earth Search's query extension: not CDSE's
    monkeypatch.setenv("CDSE_S3_SECRET_KEY", "wrong")
    with pytest.raises(SourceError, match="access denied"):
        source(api, s3).fetch(UDP_REGION, region_grid(UDP_REGION), tmp_path / "work")
    assert set(s3.refused) == {"SignatureDoesNotMatch"}
    monkeypatch.delenv("CDSE_S3_ACCESS_KEY")
    with pytest.raises(SourceError, match=r"CDSE_S3_ACCESS_KEY and CDSE_S3_SECRET_KEY"):
        source(api, s3).fetch(UDP_REGION, region_grid(UDP_REGION), tmp_path / "work")


def test_plan_names_cdse_and_its_filter():
    plan = plan_source("cdse", UDP_REGION, region_grid(UDP_REGION))
    assert plan["source"] == "cdse" and plan["stac_api"] == cdse.CDSE_STAC
    assert plan["search"]["filter"]["op"] == "<=" and "query" not in plan["search"]


@pytest.mark.network
@pytest.mark.skipif(
    not cdse.cdse_keys(),
    reason="no CDSE S3 keys (set CDSE_S3_ACCESS_KEY and CDSE_S3_SECRET_KEY of a free "
    "Copernicus Data Space account)",
)
def test_live_fetch_of_a_tiny_area(tmp_path):
    """The user's path against CDSE itself: search, s2cloudless, every band from eodata."""
    region = load_region(Path(__file__).resolve().parents[2] / "regions" / "iburi-2018.yaml")
    tiny = region.model_copy(
        update={"aoi": region.aoi.model_copy(update={"bbox": (141.95, 42.75, 141.96, 42.757)})}
    )
    layers = cdse.CdseSource(max_items=1).fetch(tiny, region_grid(tiny), tmp_path)
    assert len(layers.bands) == 13 and layers.scenes
