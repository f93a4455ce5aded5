"""The keyless STAC source against a STAC API and COGs served on 127.0.0.1."""

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds

from landslide4sense.acquisition.stac import ASSETS, StacSource, search_parameters
from landslide4sense.errors import SourceError
from landslide4sense.patching import read_on_grid
from landslide4sense.regions import parse_region, region_grid
from tests.acquisition.fakes import FakeStac, stac_item
from tests.helpers import RIOTILER, needs

# A 4 km square inside the swath of the riotiler tile 19UDP (2017-07-29).
REGION = parse_region({
    "name": "udp", "event": {"trigger": "rainfall", "date": "2017-07-01"},
    "aoi": {"bbox": [-69.36, 48.19, -69.31, 48.225]},
    "imagery": {"start": "2017-07-20", "end": "2017-08-31", "max_scene_cloud": 60},
})  # fmt: skip
CLOUD = (slice(40, 80), slice(60, 100))  # a cloud in scene B, on the 900 m pixels


def make_cogs(folder):
    """COGs of the real bands: scene A as is; scene B with a bright cloud flagged in QA60."""
    folder.mkdir()
    assets = {"A": {}, "B": {}, "C": {}}
    for band, (common, _) in ASSETS.items():
        with rasterio.open(RIOTILER / f"{band}.jp2") as src:
            data, profile = src.read(1), src.profile
        profile.update(driver="COG", blocksize=64)
        for scene in "ABC":
            a = data.copy()
            if scene == "B":
                a[CLOUD] = 9000
            with rasterio.open(folder / f"{scene}_{band}.tif", "w", **profile) as dst:
                dst.write(a, 1)
            assets[scene][common] = f"{scene}_{band}.tif"
    qa = np.zeros(data.shape, np.uint16)
    qa[CLOUD] = 1 << 10  # opaque clouds
    with rasterio.open(folder / "B_QA60.tif", "w", **profile | {"dtype": "uint16"}) as dst:
        dst.write(qa, 1)
    assets["B"]["qa60"] = "B_QA60.tif"
    with rasterio.open(RIOTILER / "B01.jp2") as src:
        bbox = list(transform_bounds(src.crs, "EPSG:4326", *src.bounds))
    return [stac_item("A", "2017-07-29", 5.0, bbox, assets["A"], 32619),
            stac_item("B", "2017-08-08", 20.0, bbox, assets["B"], 32619),
            stac_item("C", "2017-08-18", 90.0, bbox, assets["C"], 32619)]  # fmt: skip


@needs(RIOTILER)
def test_median_composite_from_cogs_over_http(tmp_path):
    items = make_cogs(tmp_path / "files")
    grid = region_grid(REGION)
    with FakeStac(tmp_path / "files", items).running() as fake:
        layers = StacSource(url=fake.url).fetch(REGION, grid, tmp_path / "work")
    assert [s.id for s in layers.scenes] == ["A", "B"]  # C is over the 60% scene limit
    assert fake.searches[0]["query"] == {"eo:cloud_cover": {"lte": 60}}
    assert fake.range_requests > 0  # windowed reads, not whole files
    assert layers.details["pixel_cloud_mask"] == "1 of 2 scenes have one (scl/qa60)"
    for band in ("B02", "B05", "B10"):
        with rasterio.open(layers.bands[band]) as src:
            composite = src.read(1)
            g = type(grid)(src.crs.to_string(), src.transform, src.width, src.height)
        # The cloud of B is masked by its QA60, so the median is scene A's value everywhere.
        expected = read_on_grid(RIOTILER / f"{band}.jp2", g, sentinel2=True)
        ok = np.isfinite(expected)
        assert ok.mean() > 0.99
        assert np.abs(composite[ok] - np.rint(expected[ok])).max() <= 1
        assert composite.max() < 9000


def test_search_parameters_and_an_empty_search(tmp_path):
    params = search_parameters(REGION)
    assert params["collections"] == ["sentinel-2-l1c"]
    assert params["datetime"] == "2017-07-20/2017-08-31"
    assert params["bbox"] == [-69.36, 48.19, -69.31, 48.225]
    with FakeStac(tmp_path, []).running() as fake, pytest.raises(SourceError, match="widen"):
        StacSource(url=fake.url).search(REGION)


@pytest.mark.network
@pytest.mark.skipif(not os.environ.get("L4S_LIVE_STAC"), reason="live STAC test off: it needs "
                    "no account, only the network; set L4S_LIVE_STAC=1 where Earth Search is "
                    "reachable")  # fmt: skip
def test_live_earth_search_finds_l1c_scenes_over_iburi():
    from landslide4sense.regions import load_region

    region = load_region(Path(__file__).resolve().parents[2] / "regions" / "iburi-2018.yaml")
    items = StacSource().search(region)
    assert items and all(i.collection_id == "sentinel-2-l1c" for i in items)
