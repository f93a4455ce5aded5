import datetime as dt
from pathlib import Path

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


def test_citation_names_the_tool_and_dataset_versions_beside_the_paper():
    import yaml

    from landslide4sense import __version__
    from landslide4sense.store.cache import code_version

    text = card()
    cite = text.split("```bibtex\n")[1].split("```")[0]
    assert cite.startswith("@article{ghorbanzadeh2022landslide4sense,")
    assert f"version = {{{code_version()}}}" in cite
    assert "{Dataset version abc123 (Landslide4Sense (rebuilt)), built 2026-01-02}" in cite
    cff = yaml.safe_load((Path(__file__).parents[2] / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["version"] == __version__
    assert cff["preferred-citation"]["doi"] == "10.1109/TGRS.2022.3215209"


def test_card_text_comes_from_its_template_with_every_field_filled():
    import string

    from landslide4sense.patching.card import card_template

    text = card()
    fields = {f for _, f, _, _ in string.Formatter().parse(card_template()) if f}
    assert {"name", "counts", "bands", "labels", "citation"} <= fields
    assert not [f for f in fields if "{" + f + "}" in text]  # every field filled
