"""The STAC source: Earth Search's L1C items, the requester-pays bucket, s2cloudless, median."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling

from landslide4sense.acquisition import stac
from landslide4sense.acquisition.retry import RetryPolicy
from landslide4sense.errors import SourceError
from landslide4sense.geo import Grid, read_on_grid
from landslide4sense.regions import load_region, region_grid
from tests.acquisition.fakes import FakeS3, FakeStac, band_assets, l1c_item
from tests.acquisition.fakes.stac import KEYS, UDP_REGION, archive
from tests.helpers import CONTRACTS, RIOTILER, needs

pytestmark = [needs(CONTRACTS), needs(RIOTILER)]

FAST = RetryPolicy(base=0.01, cap=0.05, seed=0)


@pytest.fixture
def services(tmp_path, monkeypatch):
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    items, files = archive(tmp_path / "bucket")
    with FakeStac(items).running() as api, FakeS3(files).running() as s3:
        yield api, s3


def source(api, s3, **kw) -> stac.StacSource:
    return stac.StacSource(url=api.url, s3_endpoint=s3.url, max_items=2, policy=FAST, **kw)


def test_median_of_least_cloudy_harmonized_masked_scenes(services, tmp_path):
    api, s3 = services
    grid = region_grid(UDP_REGION)
    layers = source(api, s3).fetch(UDP_REGION, grid, tmp_path / "work")
    # The search asked for the least cloudy first, and the stand-in honoured every filter.
    assert [s.id for s in layers.scenes] == ["S2B_19UDP_20170729_0_L1C", "S2A_19UDP_20170808_0_L1C"]
    asked = api.searches[0]
    assert asked["sortby"] == [{"field": "properties.eo:cloud_cover", "direction": "asc"}]
    assert asked["query"] == {"eo:cloud_cover": {"lte": 60}}
    assert asked["collections"] == ["sentinel-2-l1c"] and asked["limit"] == 2
    assert s3.bytes > 0 and s3.refused == []
    assert set(layers.bands) == set(band_assets()) and layers.source == "stac"
    # s2cloudless found B's cloud over part of the region, and none in A.
    assert layers.scenes[0].cloud_cover < 5 < 20 < layers.scenes[1].cloud_cover < 60
    for band in ("B02", "B05", "B08", "B8A", "B10"):
        with rasterio.open(layers.bands[band]) as src:
            composite = src.read(1)
            g = Grid(src.crs.to_string(), src.transform, src.width, src.height)
        assert src.res[0] == {"B02": 10, "B05": 20, "B08": 10, "B8A": 20, "B10": 60}[band]
        # B's +1000 DN (baseline 05.10) is removed and its cloud masked by s2cloudless: the
        # median is A's value everywhere (without the offset removal it would be A + 500,
        # without the mask 9000 under the cloud).
        expected = read_on_grid(RIOTILER / f"{band}.jp2", g, sentinel2=True)
        ok = np.isfinite(expected) & (composite > 0)
        assert ok.mean() > 0.95, band
        same = np.abs(composite[ok] - np.rint(expected[ok])) <= 1
        assert same.mean() > 0.85, band  # (the cloud's blurred rim may escape the mask)
        east = np.zeros_like(ok)
        east[:, -east.shape[1] // 3 :] = True  # far from the cloud: B is clear and counts
        assert (np.abs(composite - np.rint(np.nan_to_num(expected)))[ok & east] <= 1).all()
        assert composite.max() < 9000


def test_an_unchanged_region_downloads_nothing_a_changed_window_refetches(services, tmp_path):
    api, s3 = services
    grid = region_grid(UDP_REGION)
    first = source(api, s3).fetch(UDP_REGION, grid, tmp_path / "work")
    written = {b: p.stat().st_mtime_ns for b, p in first.bands.items()}
    before = s3.requests
    again = source(api, s3).fetch(UDP_REGION, grid, tmp_path / "work")
    assert again.bands == first.bands and s3.requests == before
    assert {b: p.stat().st_mtime_ns for b, p in again.bands.items()} == written  # not redone
    later = UDP_REGION.model_copy(
        update={
            "imagery": UDP_REGION.imagery.model_copy(
                update={"start": UDP_REGION.imagery.start.replace(day=30)}
            )
        }
    )
    other = source(api, s3).fetch(later, grid, tmp_path / "work")
    assert other.details["cache_key"] != first.details["cache_key"]
    assert [s.id for s in other.scenes] == ["S2A_19UDP_20170808_0_L1C"]
    with rasterio.open(other.bands["B02"]) as src, rasterio.open(first.bands["B02"]) as old:
        b, a = src.read(1).astype(int), old.read(1).astype(int)
        assert (b == 0).sum() > (a == 0).sum()  # B alone: its cloud is a hole now


def test_transient_bucket_errors_are_retried(services, tmp_path):
    api, s3 = services
    s3.fail_every = 5  # 503 SlowDown
    sleeps = []
    policy = RetryPolicy(base=0.01, seed=0, sleep=sleeps.append)
    layers = stac.StacSource(url=api.url, s3_endpoint=s3.url, max_items=1, policy=policy).fetch(
        UDP_REGION, region_grid(UDP_REGION), tmp_path / "work"
    )
    assert sleeps and len(layers.bands) == 13


def test_the_bucket_refuses_reads_without_payer_or_valid_keys(services, tmp_path, monkeypatch):
    api, s3 = services
    grid = region_grid(UDP_REGION)
    src = source(api, s3)
    item = src.search(UDP_REGION)[0]
    window = rasterio.windows.Window(0, 0, 4, 4)

    def read(band: str):
        href = item.assets[stac.ASSETS[band]].href
        return stac.read_band(href, grid, window, Resampling.bilinear, FAST)

    # (one band each: GDAL remembers a refused file for the rest of the process)
    refused = pytest.raises(SourceError, match=r"access denied.*requester-pays")
    with stac.s3_env(KEYS, s3.url, AWS_REQUEST_PAYER=""), refused:
        read("B03")
    assert set(s3.refused) == {"AccessDenied"}
    wrong = {**KEYS, "AWS_SECRET_ACCESS_KEY": "wrong"}
    with stac.s3_env(wrong, s3.url), pytest.raises(SourceError, match="access denied"):
        read("B04")
    assert s3.refused[-1] == "SignatureDoesNotMatch"
    with stac.s3_env(KEYS, s3.url):  # the same read, signed and paid: served
        assert read("B02").shape == (4, 4)
    for k in KEYS:
        monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with pytest.raises(SourceError, match=r"requester-pays.*AWS_ACCESS_KEY_ID"):
        src.fetch(UDP_REGION, grid, tmp_path / "work")


def test_search_parameters_and_an_empty_search(services):
    api, s3 = services
    params = stac.search_parameters(UDP_REGION)
    assert params["collections"] == ["sentinel-2-l1c"]
    assert params["datetime"] == "2017-07-20/2017-08-31"
    assert params["intersects"]["type"] == "Polygon"
    nowhere = UDP_REGION.model_copy(
        update={"imagery": UDP_REGION.imagery.model_copy(update={"max_scene_cloud": 0.5})}
    )
    with pytest.raises(SourceError, match="widen the window or the cloud limit"):
        source(api, s3).search(nowhere)


def test_the_item_is_shaped_like_earth_searchs():
    item = l1c_item(
        "S2B_19UDP_20170729_0_L1C",
        "2017-07-29T15:26:00Z",
        5.0,
        [0, 0, 1, 1],
        32619,
        "19UDP",
        {},
        "05.10",
    )
    assert item["assets"]["blue"]["href"] == (
        "s3://sentinel-s2-l1c/tiles/19/U/DP/2017/7/29/0/B02.jp2"  # month/day not padded
    )
    assert item["assets"]["blue"]["raster:bands"][0]["offset"] == -0.1
    assert not {"qa60", "scl", "QA60"} & set(item["assets"])  # no per-pixel cloud mask


@pytest.mark.network
@pytest.mark.skipif(
    not stac.aws_credentials(),
    reason="no AWS keys (set AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE): Earth Search's L1C bucket is "
    "requester-pays",
)
def test_live_fetch_of_a_tiny_area(tmp_path):
    """The user's path: search, s2cloudless, every band read from S3, the median."""
    region = load_region(Path(__file__).resolve().parents[2] / "regions" / "iburi-2018.yaml")
    tiny = region.model_copy(
        update={"aoi": region.aoi.model_copy(update={"bbox": (141.95, 42.75, 141.96, 42.757)})}
    )
    layers = stac.StacSource(max_items=1).fetch(tiny, region_grid(tiny), tmp_path)
    assert len(layers.bands) == 13 and layers.scenes
    with rasterio.open(layers.bands["B04"]) as src:
        assert src.read(1).mean() > 0
