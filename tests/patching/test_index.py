import datetime as dt
import json

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pystac
import pytest
from pyproj import Transformer

from landslide4sense.patching import assemble
from landslide4sense.patching.index import (
    patch_index,
    split_overlaps,
    stac_collection,
    write_patch_index,
    write_stac,
)
from tests.helpers import two_regions

SIZE = 1280.0  # a patch's side in metres


def tile(id_, split, crs, xmin, ymin, region="a"):
    return {
        "id": id_,
        "split": split,
        "region": region,
        "crs": crs,
        "xmin": xmin,
        "ymin": ymin,
        "xmax": xmin + SIZE,
        "ymax": ymin + SIZE,
    }


def test_footprints_are_in_wgs84_and_keep_the_manifest_columns():
    # UTM 33N: easting 500000 is the central meridian (15 E), northing 0 the equator.
    index = patch_index([tile("train_1", "train", "EPSG:32633", 500000.0, 0.0)])
    assert index.crs == "EPSG:4326"
    west, south, east, north = index.geometry.iloc[0].bounds
    assert west == pytest.approx(15.0, abs=1e-9) and south == pytest.approx(0.0, abs=1e-9)
    assert east - 15.0 == pytest.approx(SIZE / 111_320, rel=2e-3)  # ~0.0115 degrees
    assert north == pytest.approx(SIZE / 110_574, rel=2e-3)
    assert list(index.columns[:-1]) == [
        "id",
        "split",
        "region",
        "crs",
        "xmin",
        "ymin",
        "xmax",
        "ymax",
    ]


def test_neighbours_of_one_grid_touch_but_do_not_overlap():
    rows = [
        tile(f"t{i}", "train" if i < 2 else "test", "EPSG:32654", 239250.0 + SIZE * i, 4022070.0)
        for i in range(4)
    ]
    rows += [tile("t9", "test", "EPSG:32654", 239250.0, 4022070.0 - SIZE)]  # below train t0
    assert split_overlaps(patch_index(rows)) == []


def test_overlaps_across_splits_are_found_even_across_utm_zones():
    a = tile("train_1", "train", "EPSG:32653", 700000.0, 4000000.0)
    # The same ground in the neighbouring zone: its centre moved to EPSG:32654.
    x, y = Transformer.from_crs("EPSG:32653", "EPSG:32654", always_xy=True).transform(
        a["xmin"] + SIZE / 2, a["ymin"] + SIZE / 2
    )
    b = tile("test_1", "test", "EPSG:32654", x - SIZE / 2, y - SIZE / 2, region="b")
    c = tile("train_2", "train", "EPSG:32654", x - SIZE / 2 + 600, y - SIZE / 2, region="b")
    far = tile("test_2", "test", "EPSG:32654", x + 5 * SIZE, y, region="b")
    pairs = split_overlaps(patch_index([a, b, c, far]))
    assert sorted(pairs) == [("test_1", "train_2"), ("train_1", "test_1")]


@pytest.fixture
def published(tmp_path):
    out = tmp_path / "bench"
    assemble(out, two_regions(tmp_path), "raw", figures=False)
    return out, pd.read_csv(out / "manifest.csv")


def test_geoparquet_reads_back_with_every_manifest_row(published):
    out, manifest = published
    path = write_patch_index(out / "patches.parquet", patch_index(manifest.to_dict("records")))
    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    back = gpd.read_parquet(path)
    assert back.crs == "EPSG:4326" and len(back) == len(manifest) == 8
    pd.testing.assert_frame_equal(pd.DataFrame(back.drop(columns="geometry")), manifest)


def test_stac_collection_reads_back_and_points_at_the_patches(published):
    out, manifest = published
    index = patch_index(manifest.to_dict("records"))
    windows = {r: (dt.date(2020, 6, 1), dt.date(2020, 8, 31)) for r in ("alpha", "beta")}
    collection = stac_collection(
        index,
        collection_id="l4s-test",
        title="test",
        description="two regions",
        licence="CC-BY-4.0",
        windows=windows,
    )
    path = write_stac((out / "stac").resolve(), collection)  # in the published version
    back = pystac.Collection.from_file(str(path))
    items = {i.id: i for i in back.get_items()}
    assert sorted(items) == sorted(manifest["id"])
    assert back.license == "CC-BY-4.0" and back.summaries.get_list("ml-aoi:split") == [
        "test",
        "train",
    ]
    item = items["train_3"]  # beta's first tile
    assert item.properties["ml-aoi:split"] == "train"
    assert item.properties["label:type"] == "raster"
    assert item.properties["proj:code"] == "EPSG:32633"
    assert item.common_metadata.start_datetime == dt.datetime(2020, 6, 1, tzinfo=dt.UTC)
    image = item.assets["image"].get_absolute_href()
    assert image == str((out / "TrainData/img/image_3.h5").resolve())
    assert item.assets["mask"].extra_fields["ml-aoi:role"] == "label"
    # Nothing but relative links: the folder can move.
    for f in (out / "stac").rglob("*.json"):
        assert str(out) not in f.read_text()
