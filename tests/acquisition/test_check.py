"""``l4s sources check`` against every stand-in, and without credentials."""

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds

from landslide4sense.acquisition.check import check_asf, check_sources
from landslide4sense.flows.cli import main
from landslide4sense.regions import region_grid
from tests.acquisition.fakes import FakeAsf, FakeEarthEngine, FakeS3, FakeStac, Granule
from tests.acquisition.fakes.cdse import CDSE_KEYS, FakeCdse, cdse_archive
from tests.acquisition.fakes.earthengine import TOKEN, s2_catalog, scene_grid, uniform_scene
from tests.acquisition.fakes.stac import KEYS, UDP_REGION, archive
from tests.helpers import CONTRACTS, RIOTILER, needs

pytestmark = [needs(CONTRACTS), needs(RIOTILER)]


def test_every_check_passes_against_the_stand_ins(tmp_path, monkeypatch):
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("L4S_EE_PROJECT", "fake-project")
    monkeypatch.setenv("EARTHDATA_TOKEN", "stand-in-token")
    grid = region_grid(UDP_REGION)
    scenes = [
        uniform_scene(grid, f"2017080{d}T000000_2017080{d}T000000_T19UDP", f"2017-08-0{d}", 1000)
        for d in (1, 6)
    ]
    ee_fake = FakeEarthEngine(s2_catalog(scene_grid(grid), scenes, UDP_REGION.aoi_geometry()))
    items, files = archive(tmp_path / "bucket")
    monkeypatch.setenv("CDSE_S3_ACCESS_KEY", "cdse-access-key")
    monkeypatch.setenv("CDSE_S3_SECRET_KEY", "cdse-secret-key")
    cdse_items, cdse_files = cdse_archive(tmp_path / "eodata")
    eodata = FakeS3(cdse_files, keys=CDSE_KEYS, region="default", bucket="eodata", payer=False)
    with rasterio.open(RIOTILER / "B01.jp2") as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    frame = Granule(8000, 900, 100, [(w, s), (e, s), (e, n), (w, n), (w, s)], b"PK")
    with (
        ee_fake.running(),
        FakeStac(items).running() as api,
        FakeS3(files).running() as s3,
        FakeCdse(cdse_items).running() as cdse_api,
        eodata.running(),
        FakeAsf([frame], tmp_path).running() as asf,
    ):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(asf.cert))
        endpoints = {
            "ee_url": ee_fake.url,
            "ee_creds": TOKEN,
            "stac_url": api.url,
            "s3_endpoint": s3.url,
            "cdse_url": cdse_api.url,
            "cdse_s3": eodata.url,
            "cmr_host": asf.host,
            "edl_host": asf.host,
        }
        checks = check_sources(UDP_REGION, **endpoints)
        asf.eula = set()  # the login works, the ALOS PALSAR EULA was never accepted
        (*_, eula) = check_asf(UDP_REGION, asf.host, asf.host)
    assert (eula.what, eula.ok) == ("download", False) and "/approve_app" in eula.detail
    lines = "\n".join(c.line() for c in checks)
    assert all(c.ok for c in checks), lines
    assert [(c.source, c.what) for c in checks] == [
        ("earthengine", "credentials"),
        ("earthengine", "endpoint"),
        ("earthengine", "scenes"),
        ("stac", "credentials"),
        ("stac", "endpoint"),
        ("stac", "scenes"),
        ("stac", "bucket"),
        ("cdse", "credentials"),
        ("cdse", "endpoint"),
        ("cdse", "scenes"),
        ("cdse", "bucket"),
        ("asf", "credentials"),
        ("asf", "login"),
        ("asf", "granules"),
        ("asf", "download"),
    ]
    assert "COPERNICUS/S2_HARMONIZED: 2 scene(s) in the window; Cloud Score+ for 2" in lines
    assert "3 scene(s) under 60.0% cloud in the window" in lines  # A, B and the 40% one
    assert "2 scene(s) under 60.0% cloud in the window" in lines  # CDSE's A and B
    assert "1 RTC granule(s) over the AOI; 1 cover it" in lines
    assert "ASF would send AP_08000_FBS_F0900_RT1.zip" in lines  # headers only
    assert s3.bytes < 100_000  # a header, not the bands


def test_without_credentials_each_source_says_what_to_set(tmp_path, monkeypatch, capsys):
    for var in (
        "L4S_EE_SERVICE_ACCOUNT_KEY",
        "L4S_EE_PROJECT",
        "EARTHENGINE_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "EARTHDATA_USERNAME",
        "EARTHDATA_PASSWORD",
        "EARTHDATA_TOKEN",
        "CDSE_S3_ACCESS_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no stored credentials, ~/.aws or ~/.netrc
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    assert main(["sources", "check"]) == 1
    out = capsys.readouterr().out
    for source, fix in (
        ("earthengine", "earthengine authenticate"),
        ("stac", "AWS_ACCESS_KEY_ID"),
        ("cdse", "CDSE_S3_ACCESS_KEY"),
        ("asf", "EARTHDATA_USERNAME"),
    ):
        line = next(x for x in out.splitlines() if x.startswith(f"FAIL {source:<12} credentials"))
        assert line and fix in out.split(line, 1)[1].splitlines()[1], source
    assert out.strip().endswith("checks passed")


@pytest.mark.parametrize("value", [np.nan])
def test_check_lines_are_one_per_finding(value):
    from landslide4sense.acquisition.check import Check

    ok = Check("stac", "scenes", True, "3 scene(s)")
    bad = Check("stac", "bucket", False, "access denied", "set AWS keys")
    assert ok.line() == "ok   stac         scenes       3 scene(s)"
    assert bad.line().splitlines()[1].strip() == "fix: set AWS keys"
    assert np.isnan(value)
