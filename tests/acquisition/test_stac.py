"""The STAC source: Earth Search's L1C items, the requester-pays bucket, s2cloudless, median."""

import contextlib
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from shapely.geometry import box

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


def isolate_aws(monkeypatch, folder: Path) -> None:
    """botocore's chain sees only what a test sets: no user files, no instance role."""
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def services(tmp_path, monkeypatch):
    isolate_aws(monkeypatch, tmp_path)
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
    assert asked["collections"] == ["sentinel-2-l1c"] and asked["limit"] == 2 * stac.CANDIDATES
    assert layers.details["scenes_per_part"] == {"MGRS-19UDP": {"scenes": 2, "fewest_per_point": 2}}
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
        # without the mask 9000 under the cloud). A (baseline 02.05) carries the catalogue's
        # misleading offset -0.1, as real items do: it is not shifted.
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
    with pytest.raises(SourceError, match=r"requester-pays.*AWS_ACCESS_KEY_ID"):
        src.fetch(UDP_REGION, grid, tmp_path / "work")


TEMPORARY = {"ASIASTANDIN": "temporary-secret"}
TOKEN = "stand-in-session-token"


def test_a_profile_with_a_session_token_reads_the_bucket(services, tmp_path, monkeypatch):
    api, _ = services
    for k in KEYS:
        monkeypatch.delenv(k)
    (tmp_path / "credentials").write_text(
        "[temporary]\naws_access_key_id = ASIASTANDIN\n"
        f"aws_secret_access_key = temporary-secret\naws_session_token = {TOKEN}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "temporary")
    keys = stac.aws_credentials()
    assert keys == {
        "AWS_ACCESS_KEY_ID": "ASIASTANDIN",
        "AWS_SECRET_ACCESS_KEY": "temporary-secret",
        "AWS_SESSION_TOKEN": TOKEN,
    }
    _, files = archive(tmp_path / "temporary-bucket")
    with FakeS3(files, keys=TEMPORARY, tokens={"ASIASTANDIN": TOKEN}).running() as s3:
        src = source(api, s3)
        item = src.search(UDP_REGION)[0]
        href = item.assets[stac.ASSETS["B02"]].href
        window = rasterio.windows.Window(0, 0, 4, 4)
        with stac.s3_env(keys, s3.url):  # the token travels: served
            assert stac.read_band(
                href, region_grid(UDP_REGION), window, Resampling.nearest, FAST
            ).shape == (4, 4)
        without = {k: v for k, v in keys.items() if k != "AWS_SESSION_TOKEN"}
        href = item.assets[stac.ASSETS["B03"]].href  # (GDAL remembers a refused file)
        with stac.s3_env(without, s3.url), pytest.raises(SourceError, match="access denied"):
            stac.read_band(href, region_grid(UDP_REGION), window, Resampling.nearest, FAST)
        assert set(s3.refused) == {"InvalidAccessKeyId"}


def test_credential_process_and_unknown_profiles(tmp_path, monkeypatch):
    isolate_aws(monkeypatch, tmp_path)
    assert stac.aws_credentials() is None
    script = tmp_path / "creds.py"
    script.write_text(
        "import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'ASIAPROC', "
        "'SecretAccessKey': 'proc-secret', 'SessionToken': 'proc-token'}))\n"
    )
    (tmp_path / "config").write_text(
        f"[profile proc]\ncredential_process = {sys.executable} {script}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    assert stac.aws_credentials("proc") == {
        "AWS_ACCESS_KEY_ID": "ASIAPROC",
        "AWS_SECRET_ACCESS_KEY": "proc-secret",
        "AWS_SESSION_TOKEN": "proc-token",
    }
    with pytest.raises(SourceError, match=r"AWS credentials: .*nosuch.*AWS_PROFILE"):
        stac.aws_credentials("nosuch")


def test_a_refused_search_is_retried_by_our_policy_once_per_attempt(services):
    """Nothing listens at first (connection refused, no HTTP status): our policy waits and
    tries again, pystac-client does not retry by itself; the stand-in then answers."""
    api, _ = services
    with socket.socket() as sock:  # a free port, closed again: connecting is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    later = contextlib.ExitStack()
    waits = []

    def start_the_service(seconds: float) -> None:
        waits.append(seconds)
        later.enter_context(FakeStac(api.items).running(port))

    policy = RetryPolicy(base=0.01, seed=0, sleep=start_the_service)
    url = f"http://127.0.0.1:{port}"
    with later:
        items = stac.StacSource(url=url, max_items=2, policy=policy).search(UDP_REGION)
    assert len(waits) == 1 and items[0].id == "S2B_19UDP_20170729_0_L1C"
    refused = RetryPolicy(attempts=2, base=0.01, seed=0, sleep=waits.append)
    with pytest.raises(SourceError, match=r"STAC search failed 2 time\(s\).*did not answer"):
        stac.StacSource(url=url, policy=refused).search(UDP_REGION)


def test_a_stac_refusal_is_not_retried(services):
    api, _ = services
    waits = []
    policy = RetryPolicy(base=0.01, seed=0, sleep=waits.append)
    with pytest.raises(SourceError, match=r"HTTP 404"):
        stac.StacSource(url=api.url + "/nowhere", policy=policy).search(UDP_REGION)
    assert waits == []


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


def test_scenes_are_chosen_until_every_part_of_the_aoi_has_enough():
    """Tile A is clear and covers the AOI's south; tile B alone covers its northern strip
    (Kodagu's northern edge) and is cloudier: the least cloudy five would all be A's."""
    import pystac

    def item(n: int, tile: str, cloud: float, footprint: list[float]) -> pystac.Item:
        d = l1c_item(
            f"S2B_{tile}_2017072{n}_0_L1C",
            f"2017-07-2{n}T15:26:00Z",
            cloud,
            footprint,
            32619,
            tile,
            {},
        )
        return pystac.Item.from_dict(d)

    aoi = box(0, 0, 1, 1)
    a = [item(n, "19UDP", n, [0, 0, 1, 0.8]) for n in range(1, 6)]
    b = item(9, "19UEP", 30, [0, 0.7, 1, 1])
    chosen, counts = stac.choose_scenes([*a, b], aoi, max_items=5)
    assert [i.id for i in chosen] == [i.id for i in (*a[:3], b)]  # A4, A5 add nothing
    assert stac.scenes_per_part(chosen, aoi, counts) == {
        "MGRS-19UDP": {"scenes": 3, "fewest_per_point": 3},
        "MGRS-19UEP": {"scenes": 1, "fewest_per_point": 1},  # reported (and warned)
    }
    assert [i.id for i in stac.choose_scenes([*a, b], aoi, max_items=2)[0]] == [a[0].id, a[1].id]
    assert stac.choose_scenes([item(1, "19UDP", 1, [2, 2, 3, 3])], aoi)[0] == []  # elsewhere


def test_offsets_follow_the_processing_baseline_not_the_catalogue(caplog):
    """Earth Search states offset -0.1 on every item; only baseline 04.00+ pixels carry it."""
    import pystac

    def item(baseline: str, **drop) -> pystac.Item:
        d = l1c_item(
            "S2B_19UDP_20170729_0_L1C",
            "2017-07-29T15:26:00Z",
            5,
            [0, 0, 1, 1],
            32619,
            "19UDP",
            {},
            baseline,
        )
        for key in drop:
            d["properties"].pop(key)
        return pystac.Item.from_dict(d)

    old, new = item("02.05"), item("05.10")
    assert stac.catalogue_offset(old, "B02") == stac.catalogue_offset(new, "B02") == -1000
    assert stac.dn_offset(old, "B02") == 0 and stac.dn_offset(new, "B12") == -1000
    # Without s2:processing_baseline, the product name's _N0205_ decides.
    assert stac.processing_baseline(item("02.05", **{"s2:processing_baseline": 1})) == "02.05"
    assert stac.dn_offset(item("04.00", **{"s2:processing_baseline": 1}), "B02") == -1000
    assert stac.offset_disagreements([old, new]) == [
        "S2B_19UDP_20170729_0_L1C: the catalogue states a DN offset of -1000, its processing "
        "baseline 02.05 implies +0; using +0"
    ]


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
