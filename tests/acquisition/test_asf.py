"""The ASF ALOS PALSAR RTC DEM through asf_search, against stand-in CMR, Earthdata and ASF."""

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject, transform_bounds

from landslide4sense.acquisition.asf import NODATA, AsfDemSource, mosaic_dems, session
from landslide4sense.acquisition.retry import RetryPolicy
from landslide4sense.errors import SourceError
from landslide4sense.geo import Grid, snapped_grid
from landslide4sense.regions import load_region, parse_region, region_grid
from tests.acquisition.fakes.asf import FakeAsf, Granule, contract_feature
from tests.helpers import CONTRACTS, KAGHAN, needs

pytestmark = [needs(CONTRACTS), needs(KAGHAN)]
FAST = RetryPolicy(base=0.01, cap=0.05, seed=0)


def rtc_dem(folder: Path, crs: str = "EPSG:32643") -> Path:
    """An RTC-like DEM: the real Kaghan AW3D30 DEM at 12.5 m (origin on multiples of 12.5),
    float32, with its own nodata value and a strip without data."""
    with rasterio.open(KAGHAN / "AW3D30.tif") as src:
        grid = snapped_grid(crs, transform_bounds(src.crs, crs, *src.bounds), 12.5)
        z = np.full((grid.height, grid.width), np.nan, np.float32)
        reproject(
            rasterio.band(src, 1),
            z,
            dst_transform=grid.transform,
            dst_crs=crs,
            resampling=Resampling.bilinear,
            dst_nodata=np.nan,
        )
    z[np.isnan(z)] = -32768
    z[100:110, :] = -32768  # a strip without data
    path = folder / f"dem-{crs[-5:]}.tif"
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype="float32",
        crs=crs,
        transform=grid.transform,
        nodata=-32768,
    ) as dst:
        dst.write(z, 1)
    return path


def rtc_zip(name: str, dem: Path) -> bytes:
    """An RTC product as ASF ships it: ``<base>/<base>.dem.tif`` beside the image."""
    buf = io.BytesIO()
    stem = name.removesuffix(".zip")
    with zipfile.ZipFile(buf, "w") as z:
        z.write(dem, f"{stem}/{stem}.dem.tif")
        z.writestr(f"{stem}/{stem}_HH.tif", b"not read")
    return buf.getvalue()


def kaghan():
    """The region (an AOI inside the DEM), its grid, and the DEM's lon/lat box."""
    with rasterio.open(KAGHAN / "AW3D30.tif") as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    region = parse_region(
        {
            "name": "kaghan",
            "event": {"trigger": "earthquake", "date": "2005-10-08"},
            "aoi": {"bbox": [w + 0.05, s + 0.05, w + 0.12, s + 0.1]},
            "dem": "asf-palsar-rtc",
            "imagery": {"start": "2016-06-01", "end": "2016-09-30"},
        }
    )
    return region, region_grid(region), (w, s, e, n)


def ring(w, s, e, n):
    return [(w, s), (e, s), (e, n), (w, n), (w, s)]


@pytest.fixture
def asf_services(tmp_path, monkeypatch):
    region, grid, (w, s, e, n) = kaghan()
    data = rtc_zip("AP_26334_FBS_F0970_RT1.zip", rtc_dem(tmp_path / "src"))
    granules = [
        Granule(26334, 970, 500, ring(w, s, e, n), data, "2015-10-19T00:00:00Z"),
        Granule(26334, 970, 500, ring(w, s, e, n), data, "2015-03-01T00:00:00Z"),  # older
        Granule(26500, 980, 500, ring(w, s + 0.07, e, n), data),  # covers part of the AOI
        Granule(27000, 990, 501, ring(w + 1, s, e + 1, n), data),  # elsewhere
    ]
    fake = FakeAsf(granules, tmp_path)
    with fake.running():
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.cert))
        monkeypatch.setenv("EARTHDATA_TOKEN", "stand-in-token")
        yield fake, region, grid


def test_fewest_granules_mosaicked_at_exactly_12_5_m(asf_services, tmp_path):
    fake, region, grid = asf_services
    source = AsfDemSource(host=fake.host, session=session(edl_host=fake.host), policy=FAST)
    dem = source.fetch_dem(region, grid, tmp_path / "asf")
    assert fake.searches[0]["shortName"] == "ALOS_PSR_RTC_HIGH"  # asf_search's CMR query
    assert fake.searches[0]["provider"] == "ASF" and "bounding_box" in fake.searches[0]
    # Three granules touch the AOI; the newest processing of frame 970 covers it alone.
    assert fake.downloads == ["AP_26334_FBS_F0970_RT1.zip"]
    assert dem.details["dem_granules"] == "AP_26334_FBS_F0970_RT1.zip"
    assert dem.details["dem_heights"].startswith("ellipsoidal")
    # The credit ASF asks for, with the chosen granule's years (processed 2015, acquired 2008).
    assert dem.details["dem_citation"] == "ASF DAAC 2015; Includes Material \u00a9 JAXA/METI 2008"
    with rasterio.open(dem.path) as ours, rasterio.open(tmp_path / "src" / "dem-32643.tif") as rtc:
        assert ours.res == (12.5, 12.5) and ours.crs == rtc.crs and ours.nodata == NODATA
        left, bottom, right, top = transform_bounds(grid.crs, ours.crs, *grid.bounds)
        assert ours.bounds.left <= left and ours.bounds.bottom <= bottom
        assert ours.bounds.right >= right and ours.bounds.top >= top  # covers the grid...
        assert ours.width < rtc.width / 2  # ...cropped to it, not the whole frame
        window = rasterio.windows.from_bounds(*ours.bounds, rtc.transform)
        src = rtc.read(1, window=window.round_offsets().round_lengths())
        out = ours.read(1)
        assert np.array_equal(out[src != -32768], src[src != -32768])  # no resampling
        assert (out[src == -32768] == NODATA).all()  # the source's nodata is ours
    again = source.fetch_dem(region, grid, tmp_path / "asf")
    assert again.path == dem.path and fake.downloads == ["AP_26334_FBS_F0970_RT1.zip"]
    other = source.fetch_dem(region, grid.buffered(resolution=20), tmp_path / "asf")
    assert other.path != dem.path and len(fake.downloads) == 1  # new mosaic, zip kept


def test_the_stand_in_describes_granules_as_asf_does(asf_services):
    import asf_search as asf

    fake, region, _ = asf_services
    product = AsfDemSource(host=fake.host, session=asf.ASFSession(), policy=FAST).search(region)[0]
    props, real = product.properties, contract_feature()["properties"]
    assert set(real) - {"pointingAngle"} <= set(props)
    assert props["fileName"] == f"AP_{props['orbit']:05d}_FBS_F{props['frameNumber']:04d}_RT1.zip"
    assert props["fileID"] == f"{props['sceneName']}-RTC_HI_RES" and props["platform"] == "ALOS"
    assert props["url"].endswith(props["fileName"])


def test_a_download_without_a_login_fails_at_once_with_the_fix(asf_services, tmp_path, monkeypatch):
    import asf_search as asf

    fake, region, grid = asf_services
    source = AsfDemSource(host=fake.host, session=asf.ASFSession(), policy=FAST)
    with pytest.raises(SourceError, match=r"a web page \(https://.*/oauth/authorize.*not the zip"):
        source.fetch_dem(region, grid, tmp_path)
    assert fake.refused == ["login"]  # not retried
    assert not list(tmp_path.rglob("*.zip*"))  # nothing half-written
    monkeypatch.setenv("EARTHDATA_TOKEN", "expired")
    with pytest.raises(SourceError, match="Earthdata login failed"):
        session(edl_host=fake.host)


def test_transient_download_errors_are_retried(asf_services, tmp_path):
    fake, region, grid = asf_services
    sleeps = []
    policy = RetryPolicy(base=0.01, seed=0, sleep=sleeps.append)
    source = AsfDemSource(host=fake.host, session=session(edl_host=fake.host), policy=policy)
    fake.fail_first = 2  # 503 twice, then the zip
    assert source.fetch_dem(region, grid, tmp_path / "a").path.exists()
    assert len(sleeps) == 2 and len(fake.downloads) == 3
    fake.fail_first = 100
    with pytest.raises(SourceError, match=r"failed 6 time\(s\).*re-run later"):
        source.fetch_dem(region, grid, tmp_path / "b")


def test_a_login_without_the_eula_gets_the_link_to_accept_it(asf_services, tmp_path):
    fake, region, grid = asf_services
    fake.eula = set()
    source = AsfDemSource(host=fake.host, session=session(edl_host=fake.host), policy=FAST)
    with pytest.raises(SourceError, match=r"EULA is not accepted yet; open https://.*/approve_app"):
        source.fetch_dem(region, grid, tmp_path)
    assert fake.refused == ["eula"] and not list(tmp_path.rglob("*.zip*"))


def test_404_is_final_429_waits_what_asf_asks(asf_services, tmp_path):
    fake, region, grid = asf_services
    sleeps = []
    policy = RetryPolicy(base=0.01, seed=0, sleep=sleeps.append)
    source = AsfDemSource(host=fake.host, session=session(edl_host=fake.host), policy=policy)
    fake.fail_first, fake.fail_status, fake.retry_after = 1, 429, "3"
    assert source.fetch_dem(region, grid, tmp_path / "a").path.exists()
    assert sleeps == [3.0] and len(fake.downloads) == 2
    fake.fail_first, fake.fail_status = 100, 404
    with pytest.raises(SourceError, match=r"HTTP 404.*no longer serves"):
        source.fetch_dem(region, grid, tmp_path / "b")
    assert sleeps == [3.0] and len(fake.downloads) == 3  # not retried


def test_a_cmr_read_timeout_is_retried(asf_services, monkeypatch):
    import asf_search.constants.INTERNAL as internal

    fake, region, _ = asf_services
    monkeypatch.setattr(internal, "CMR_TIMEOUT", 3)
    fake.slow_searches, fake.search_delay = 1, 5.0
    sleeps = []
    policy = RetryPolicy(base=0.01, seed=0, sleep=sleeps.append)
    found = AsfDemSource(host=fake.host, session=session(edl_host=fake.host), policy=policy).search(
        region
    )
    assert found and len(sleeps) == 1 and len(fake.searches) == 2


def test_partial_cover_and_no_granule_are_clear_errors(asf_services, tmp_path):
    fake, region, grid = asf_services
    source = AsfDemSource(host=fake.host, session=session(edl_host=fake.host), policy=FAST)
    fake.granules = fake.granules[2:3]  # only the granule over part of the AOI
    with pytest.raises(SourceError, match=r"cover only \d+\.\d% of the AOI.*dem: srtm"):
        source.fetch_dem(region, grid, tmp_path)
    fake.granules = []
    with pytest.raises(SourceError, match="no ALOS PALSAR RTC granule"):
        source.fetch_dem(region, grid, tmp_path)


def test_dems_in_two_utm_zones_mosaic_at_exactly_12_5_m(tmp_path):
    a, b = rtc_dem(tmp_path, "EPSG:32643"), rtc_dem(tmp_path, "EPSG:32642")
    with rasterio.open(a) as src:
        grid = Grid(
            src.crs.to_string(),
            Affine(10, 0, src.bounds.left + 2000, 0, -10, src.bounds.top - 2000),
            300,
            300,
        )
    out = mosaic_dems([b, a], tmp_path / "dem.tif", grid)
    with rasterio.open(out) as dem, rasterio.open(b) as first:
        assert dem.crs == first.crs and dem.res == (12.5, 12.5)
        assert dem.transform.c % 12.5 == 0 and dem.transform.f % 12.5 == 0
        z = dem.read(1)
        assert (z[z != NODATA] > 900).all() and (z != NODATA).mean() > 0.9


@pytest.mark.network
@pytest.mark.skipif(
    not (os.environ.get("EARTHDATA_USERNAME") or os.environ.get("EARTHDATA_TOKEN")),
    reason="no Earthdata login (set EARTHDATA_USERNAME and EARTHDATA_PASSWORD, or EARTHDATA_TOKEN)",
)
def test_live_dem_of_a_tiny_area(tmp_path):
    """The user's path: search, the fewest granules, download (~1 GB each), mosaic."""
    region = load_region(Path(__file__).resolve().parents[2] / "regions" / "iburi-2018.yaml")
    tiny = region.model_copy(
        update={"aoi": region.aoi.model_copy(update={"bbox": (141.95, 42.75, 141.96, 42.757)})}
    )
    dem = AsfDemSource().fetch_dem(tiny, region_grid(tiny), tmp_path)
    with rasterio.open(dem.path) as src:
        assert src.res == (12.5, 12.5) and (src.read(1) != NODATA).mean() > 0.9


def test_attribution_years_of_a_real_search_result():
    from types import SimpleNamespace

    from landslide4sense.acquisition.asf import attribution

    product = SimpleNamespace(properties=contract_feature()["properties"])
    assert attribution([product]) == "ASF DAAC 2015; Includes Material \u00a9 JAXA/METI 2008"
    assert attribution([]) == (
        "ASF DAAC (year unknown); Includes Material \u00a9 JAXA/METI (year unknown)"
    )
