"""The STAC source on a synthetic scene: a fixture-free twin of the riotiler tests (a user's
clone has no ../shared/fixtures): every band of the composite comes from its own asset."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds

from landslide4sense.acquisition import stac
from landslide4sense.acquisition.retry import RetryPolicy
from landslide4sense.errors import SourceError
from landslide4sense.regions import parse_region, region_grid
from tests.acquisition.fakes import FakeS3, FakeStac, band_assets, l1c_item
from tests.helpers import CONTRACTS, needs, write_raster

pytestmark = needs(CONTRACTS)
UDP_REGION = parse_region(
    {
        "name": "udp",
        "event": {"trigger": "rainfall", "date": "2017-07-01"},
        "aoi": {"bbox": [-69.36, 48.19, -69.31, 48.225]},
        "imagery": {"start": "2017-07-20", "end": "2017-08-31", "max_scene_cloud": 60},
    }
)
KEYS = {"AWS_ACCESS_KEY_ID": "AKIASTANDIN", "AWS_SECRET_ACCESS_KEY": "stand-in-secret"}
FAST = RetryPolicy(base=0.01, cap=0.05, seed=0)
RES = {"B02": 10, "B03": 10, "B04": 10, "B08": 10, "B01": 60, "B09": 60, "B10": 60}


def synthetic_archive(folder):
    """One clear scene over the region: band i is a constant 1000 + 50 i DN (clear land: low
    blue, high near infrared), each at its native resolution on a 60 m-aligned tile."""
    grid = region_grid(UDP_REGION)
    left, bottom, right, top = grid.bounds
    x0, y0 = (left // 60 - 10) * 60, (top // 60 + 10) * 60  # 600 m or more beyond the region
    width = int((right // 60 + 10) * 60 - x0)
    height = int(y0 - (bottom // 60 - 10) * 60)  # in metres, multiples of 60
    bands, files = {}, {}
    values = {band: 1000 + 50 * i for i, band in enumerate(sorted(band_assets()))}
    for band, key in band_assets().items():
        res = RES.get(band, 20)
        t = Affine(res, 0, x0, 0, -res, y0)
        data = np.full((height // res, width // res), values[band], np.uint16)
        files[key] = write_raster(folder / f"{band}.tif", data, grid.crs, t)
        bands[key] = (res, list(data.shape), list(t)[:6])
    lonlat = list(transform_bounds(grid.crs, "EPSG:4326", x0, y0 - height, x0 + width, y0))
    item = l1c_item(
        "S2B_19UDP_20170729_0_L1C", "2017-07-29T15:26:00Z", 5.0, lonlat, 32619, "19UDP", bands
    )
    served = {
        item["assets"][k]["href"].removeprefix("s3://sentinel-s2-l1c/"): p for k, p in files.items()
    }
    return [item], served, values


@pytest.fixture
def services(tmp_path, monkeypatch):
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    items, files, values = synthetic_archive(tmp_path / "bucket")
    with FakeStac(items).running() as api, FakeS3(files).running() as s3:
        yield api, s3, values


def source(api, s3, policy: RetryPolicy = FAST) -> stac.StacSource:
    return stac.StacSource(url=api.url, s3_endpoint=s3.url, max_items=1, policy=policy)


def test_every_band_of_the_composite_comes_from_its_own_asset(services, tmp_path):
    api, s3, values = services
    layers = source(api, s3).fetch(UDP_REGION, region_grid(UDP_REGION), tmp_path / "work")
    assert set(layers.bands) == set(band_assets())
    for band, path in layers.bands.items():
        with rasterio.open(path) as src:
            composite = src.read(1)
        assert src.res[0] == RES.get(band, 20), band
        assert (composite == values[band]).mean() > 0.99, band
    # Fetched again unchanged: nothing is downloaded again.
    before = s3.requests
    again = source(api, s3).fetch(UDP_REGION, region_grid(UDP_REGION), tmp_path / "work")
    assert again.bands == layers.bands and s3.requests == before


def test_transient_bucket_errors_are_retried(services, tmp_path):
    api, s3, _ = services
    s3.fail_every = 5  # 503 SlowDown
    sleeps = []
    policy = RetryPolicy(base=0.01, seed=0, sleep=sleeps.append)
    layers = source(api, s3, policy).fetch(UDP_REGION, region_grid(UDP_REGION), tmp_path / "w")
    assert sleeps and len(layers.bands) == 13


def test_the_bucket_refuses_reads_without_payer_or_valid_keys(services):
    api, s3, _ = services
    item = source(api, s3).search(UDP_REGION)[0]

    def read(band: str):
        href = item.assets[stac.ASSETS[band]].href
        window = rasterio.windows.Window(0, 0, 4, 4)
        return stac.read_band(href, region_grid(UDP_REGION), window, Resampling.bilinear, FAST)

    # (one band each: GDAL remembers a refused file for the rest of the process)
    with (
        stac.s3_env(KEYS, s3.url, AWS_REQUEST_PAYER=""),
        pytest.raises(SourceError, match=r"access denied.*requester-pays"),
    ):
        read("B03")
    assert set(s3.refused) == {"AccessDenied"}
    wrong = {**KEYS, "AWS_SECRET_ACCESS_KEY": "wrong"}
    with stac.s3_env(wrong, s3.url), pytest.raises(SourceError, match="access denied"):
        read("B04")
    assert s3.refused[-1] == "SignatureDoesNotMatch"
    with stac.s3_env(KEYS, s3.url):  # the same read, signed and paid: served
        assert read("B02").shape == (4, 4)


def test_search_parameters_and_an_empty_search(services):
    api, s3, _ = services
    params = stac.search_parameters(UDP_REGION)
    assert params["collections"] == ["sentinel-2-l1c"]
    assert params["datetime"] == "2017-07-20/2017-08-31"
    assert params["intersects"]["type"] == "Polygon"
    assert source(api, s3).search(UDP_REGION)[0].id == "S2B_19UDP_20170729_0_L1C"
    asked = api.searches[-1]
    assert asked["query"] == {"eo:cloud_cover": {"lte": 60}}
    assert asked["limit"] == stac.CANDIDATES  # candidates for max_items=1
    nowhere = UDP_REGION.model_copy(
        update={"imagery": UDP_REGION.imagery.model_copy(update={"max_scene_cloud": 0.5})}
    )
    with pytest.raises(SourceError, match="widen the window or the cloud limit"):
        source(api, s3).search(nowhere)
