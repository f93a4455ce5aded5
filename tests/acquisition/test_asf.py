"""The ASF ALOS PALSAR RTC DEM through asf_search, against a stand-in CMR and download host."""

import io
import os
import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds

from landslide4sense.acquisition.asf import AsfDemSource
from landslide4sense.errors import SourceError
from landslide4sense.regions import parse_region, snapped_grid
from tests.acquisition.fakes import FakeCmr
from tests.helpers import FIXTURES, KAGHAN, needs

NAME = "AP_26334_FBS_F0970_RT1.zip"


def kaghan_region():
    with rasterio.open(KAGHAN / "AW3D30.tif") as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        grid = snapped_grid(str(src.crs), tuple(src.bounds), 10.0)
    w, s, e, n = lonlat
    region = parse_region({
        "name": "kaghan", "event": {"trigger": "earthquake", "date": "2005-10-08"},
        "aoi": {"bbox": [w + 0.01, s + 0.01, e - 0.01, n - 0.01]}, "dem": "asf-palsar-rtc",
        "imagery": {"start": "2016-06-01", "end": "2016-09-30"},
    })  # fmt: skip
    poly = [(w, s), (e, s), (e, n), (w, n), (w, s)]
    return region, grid, poly


def rtc_zip() -> bytes:
    """An RTC product as ASF ships it, its DEM being the real Kaghan AW3D30 DEM."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        stem = NAME.removesuffix(".zip")
        z.write(KAGHAN / "AW3D30.tif", f"{stem}/{stem}.dem.tif")
        z.writestr(f"{stem}/{stem}.README.md.txt", "ALOS PALSAR RTC product")
    return buf.getvalue()


@needs(KAGHAN)
def test_dem_from_asf_via_asf_search(tmp_path, monkeypatch):
    import asf_search as asf

    region, grid, poly = kaghan_region()
    fake = FakeCmr([(NAME, poly, rtc_zip())], tmp_path)
    with fake.running():
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.cert))
        source = AsfDemSource(host=fake.host, session=asf.ASFSession())
        dem, details = source.fetch_dem(region, grid, tmp_path / "asf")
        again, _ = source.fetch_dem(region, grid, tmp_path / "asf")
    assert "shortName=ALOS_PSR_RTC_HIGH" in fake.searches[0]  # asf_search's CMR translation
    assert "provider=ASF" in fake.searches[0]
    assert fake.downloads == [NAME]  # the second call found everything on disk
    assert again == dem and details["dem_granules"] == NAME
    # The credit ASF asks for, with the granule's real years (processed 2015, acquired 2010).
    assert details["dem_citation"] == "ASF DAAC 2015; Includes Material \u00a9 JAXA/METI 2010"
    with rasterio.open(dem) as ours, rasterio.open(KAGHAN / "AW3D30.tif") as real:
        assert ours.crs == real.crs and ours.transform.almost_equals(real.transform)
        assert np.array_equal(ours.read(1), real.read(1))  # one granule: no resampling


def test_no_granule_is_a_clear_error(tmp_path, monkeypatch):
    import asf_search as asf

    region = parse_region({
        "name": "nowhere", "event": {"trigger": "earthquake", "date": "2005-10-08"},
        "aoi": {"bbox": [10.0, 10.0, 10.1, 10.1]}, "dem": "asf-palsar-rtc",
        "imagery": {"start": "2016-06-01", "end": "2016-09-30"},
    })  # fmt: skip
    fake = FakeCmr([], tmp_path)
    with fake.running():
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.cert))
        source = AsfDemSource(host=fake.host, session=asf.ASFSession())
        with pytest.raises(SourceError, match="no ALOS PALSAR RTC granule"):
            source.fetch_dem(region, None, tmp_path)


@pytest.mark.network
@pytest.mark.skipif(
    not (os.environ.get("EARTHDATA_USERNAME") or os.environ.get("EARTHDATA_TOKEN")),
    reason="no Earthdata login (set EARTHDATA_USERNAME and EARTHDATA_PASSWORD, or EARTHDATA_TOKEN)",
)
def test_live_asf_search_finds_rtc_granules_over_iburi():
    from landslide4sense.regions import load_region

    region = load_region(os.path.join(os.path.dirname(__file__), "../../regions/iburi-2018.yaml"))
    assert AsfDemSource(max_granules=2).search(region)


def test_attribution_years_of_a_real_search_result():
    import json
    from types import SimpleNamespace

    from landslide4sense.acquisition.asf import attribution

    result = FIXTURES.parent / "contracts" / "asf-alos-rtc-result.json"
    if not result.exists():
        pytest.skip(f"ASF contract {result} not present (see shared/contracts)")
    product = SimpleNamespace(properties=json.loads(result.read_text())["properties"])
    assert attribution([product]) == "ASF DAAC 2015; Includes Material \u00a9 JAXA/METI 2008"
    assert attribution([]) == ("ASF DAAC (year unknown); Includes Material \u00a9 JAXA/METI "
                               "(year unknown)")  # fmt: skip
