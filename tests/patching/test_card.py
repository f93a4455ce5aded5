import datetime as dt

from landslide4sense.choices import Scaling
from landslide4sense.patching.assemble import dataset_meta, number_patches
from landslide4sense.patching.card import render_card
from landslide4sense.records import HistoryEntry, LabelReport, MergeReport
from tests.helpers import region_tiles, tile_record

CREATED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def card(scaling=Scaling.L4S, labels=None, history=()) -> str:
    reg = region_tiles(
        "alpha",
        [
            tile_record(0, 0, 1.0, landslide_px=164, ls_value=1.0),
            tile_record(0, 1),
            tile_record(0, 2),
        ],
    )
    if labels is not None:
        reg.job.provenance.labels = labels
    meta = dataset_meta([reg], number_patches([reg]), scaling, version="abc123", created=CREATED)
    meta.history = list(history)
    return render_card(meta)


def test_counts_bands_and_provenance():
    text = card()
    assert text.startswith("---\npretty_name: Landslide4Sense (rebuilt)\n")  # the Hub's header
    assert "\n---\n# Landslide4Sense (rebuilt), version `abc123`" in text
    assert "Built 2026-01-02T03:04:05+00:00" in text
    # 3 tiles: 1 train (164 of 16384 px landslide = 1.00 %), 2 test; 2 dropped for missing data
    assert "| alpha | 1 | 2 | 1.00 | 0.00 | 2 | 0 |" in text
    assert "| **all** | 1 | 2 |" in text
    assert "| 1 | B01 | DN (TOA reflectance x 10000) | 1111.81 | 1.0000 | 0.0000 |" in text
    assert "| 14 | dem | metres | 772.831 |" in text
    assert "Scaling: **l4s**. Each band is divided by the original release's" in text
    assert "source `stac`; DEM `srtm`; grid EPSG:32633 384 x 128 px" in text
    assert "Scenes: S2A_1 (2020-01-01), S2B_2 (date unknown)." in text
    assert "- NASA SRTM GL1 v3 (USGS/SRTMGL1_003): public domain." in text
    assert "## Previous versions\n- none" in text


def test_raw_scaling_labels_and_history():
    edits = MergeReport(candidates=20, added=2, deleted=9, reshaped=3)
    labels = LabelReport(
        source="RAW/alpha/labels.gpkg",
        crs="EPSG:4326",
        features_read=12,
        invalid_repaired=1,
        polygons=11,
        area_m2=2_500_000,
        layer="labels",
        corrections=edits,
    )
    old = HistoryEntry(
        version="0ld", created=CREATED, counts={"train": 1, "test": 1, "regions": {}}
    )
    text = card(Scaling.RAW, labels, [old])
    assert "Scaling: **raw**. Values are in source units" in text
    assert "| 1 | B01 | DN (TOA reflectance x 10000) | 1 |" in text
    assert (
        "| alpha | RAW/alpha/labels.gpkg | labels | 12 | 1 | 0 | 0 | 11 | 2.500 | 20 | 2 | 9 | 3 |"
        in text
    )
    assert "- 0ld (2026-01-02T03:04:05+00:00)" in text
