"""Corrections: merge semantics, validation, the agreement report, label-layer choice."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from landslide4sense.annotation import (
    CorrectionsNeeded,
    agreement,
    label_layer,
    merge,
    write_report,
)
from landslide4sense.annotation.corrections import empty_corrections, history, write_layers
from landslide4sense.annotation.labels import read_labels
from landslide4sense.errors import InputDataError, MissingInputError
from tests.helpers import (
    KAGHAN,
    LABELS_CRS,
    label_candidates,
    labels_gpkg,
    needs,
)


def test_add_delete_reshape(tmp_path):
    path = labels_gpkg(
        tmp_path,
        [
            ("delete", 2, "a road cut, not a landslide", "ab", "2026-11-24T10:00:00", None),
            (
                "reshape",
                3,
                "boundary drawn on the VHR image",
                "ab",
                "2026-11-24T10:05:00",
                box(400, 0, 550, 100),
            ),
            (
                "add",
                None,
                "missed: under thin cloud",
                "cd",
                "2026-11-24T11:00:00",
                box(0, 300, 50, 350),
            ),
        ],
    )
    rep = merge(path)
    assert (rep.candidates, rep.added, rep.deleted, rep.reshaped, rep.labels) == (3, 1, 1, 1, 3)
    labels = read_labels(path, "labels")
    assert sorted(labels.geometry.area.round()) == [2500, 10000, 15000]
    assert set(labels["sources"]) == {"cand:1", "cand:3", "add:3"}
    assert list(labels["label_id"]) == [1, 2, 3]
    # candidates and corrections are left as they were: merging again gives the same labels
    assert len(read_labels(path, "candidates")) == 3 and len(read_labels(path, "corrections")) == 3
    again = merge(path)
    same = again.model_dump(exclude={"merged_at"}) == rep.model_dump(exclude={"merged_at"})
    assert same and read_labels(path, "labels").geometry.equals(labels.geometry)
    assert history(path).deleted == 1


def test_edits_apply_in_edited_at_order_and_overlaps_dissolve(tmp_path):
    path = labels_gpkg(
        tmp_path,
        [
            ("delete", 1, "wrong", "ab", "2026-11-25T09:00:00", None),  # later: wins
            ("reshape", 1, "grow it", "ab", "2026-11-24T09:00:00", box(0, 0, 250, 100)),
            (
                "add",
                None,
                "overlaps candidate 2",
                "cd",
                "2026-11-24T12:00:00",
                box(250, 50, 350, 150),
            ),
            ("add", None, "a sliver", "cd", "2026-11-24T12:30:00", box(600, 0, 605, 5)),
        ],
    )
    rep = merge(path, min_area_m2=100)
    assert rep.deleted == 1 and rep.slivers_dropped == 1 and rep.overlaps_dissolved == 1
    labels = read_labels(path, "labels")
    assert len(labels) == 2  # candidate 2 + the overlapping add dissolved; candidate 3
    assert labels.geometry.area.sum() == pytest.approx(10000 + 10000 + 10000 - 2500)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("remove", 1, "x", "ab", "2026-11-24T10:00:00", None), "op is 'remove'"),
        (("delete", 9, "x", "ab", "2026-11-24T10:00:00", None), "cand_id of an existing"),
        (("reshape", 1, "x", "ab", "2026-11-24T10:00:00", None), "needs a geometry"),
        (("delete", 1, "", "ab", "2026-11-24T10:00:00", None), "field reason is empty"),
        (("delete", 1, "x", "ab", "yesterday", None), "not an ISO date-time"),
    ],
)
def test_bad_corrections_name_the_row_and_field(tmp_path, row, message):
    path = labels_gpkg(tmp_path, [row])
    with pytest.raises(InputDataError, match=message) as err:
        merge(path)
    assert "corrections row 1" in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("target", ["abc", "2.5"])
def test_a_target_that_is_not_a_candidate_number_is_named(tmp_path, target):
    """A corrections layer drawn by hand, its target a text field holding a non-number."""
    path = tmp_path / "labels.gpkg"
    rows = gpd.GeoDataFrame(
        {
            "op": ["delete"],
            "target": [target],
            "reason": ["x"],
            "editor": ["ab"],
            "edited_at": ["2026-11-24T10:00:00"],
        },
        geometry=[None],
        crs=LABELS_CRS,
    )
    write_layers(path, {"candidates": label_candidates(), "corrections": rows})
    with pytest.raises(InputDataError, match=f"needs target = the cand_id .*found '{target}'"):
        merge(path)


def test_corrupt_empty_and_missing_geopackages(tmp_path):
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"not a geopackage at all")
    with pytest.raises(InputDataError, match="not a readable GeoPackage"):
        merge(bad)
    empty = tmp_path / "empty.gpkg"
    write_layers(empty, {"other": gpd.GeoDataFrame(geometry=[], crs=LABELS_CRS)})
    with pytest.raises(InputDataError, match="no candidates layer"):
        merge(empty)
    with pytest.raises(MissingInputError, match="not found"):
        merge(tmp_path / "missing.gpkg")


def test_label_layer_choice(tmp_path):
    path = labels_gpkg(tmp_path, [])
    with pytest.raises(CorrectionsNeeded, match="l4s annotate merge"):
        label_layer(path)
    assert label_layer(path, accept_candidates=True) == "candidates"
    merge(path)
    assert label_layer(path) == "labels"
    assert label_layer(tmp_path / "x.shp") is None


def test_agreement_report(tmp_path):
    path = labels_gpkg(tmp_path, [("delete", 2, "x", "ab", "2026-11-24T10:00:00", None)])
    merge(path)
    a = agreement(path)
    assert a["iou"] == pytest.approx(2 / 3) and a["f1"] == pytest.approx(0.8)
    assert (a["deleted"], a["added"]) == (1, 0)
    md = write_report([path], tmp_path / "report")
    text = md.read_text()
    assert "| labels.gpkg | 3 | 2 | 0 | 1 | 0 | 0.667 | 0.800 |" in text
    assert (tmp_path / "report" / "labels_agreement.png").stat().st_size > 0


def test_seeded_inventory_passes_validation(tmp_path):
    """Fixture-free twin of the Kaghan test below: 200 seeded overlapping squares and one
    self-intersecting polygon as accepted candidates, merged."""
    rng = np.random.default_rng(3)
    geoms = [
        box(x, y, x + s, y + s) for x, y, s in rng.uniform((0, 0, 20), (2000, 2000, 90), (200, 3))
    ]
    geoms.append(shapely.Polygon([(3000, 0), (3100, 100), (3100, 0), (3000, 100)]))  # bow-tie
    cands = gpd.GeoDataFrame({"cand_id": np.arange(1, 202)}, geometry=geoms, crs=LABELS_CRS)
    path = tmp_path / "seeded.gpkg"
    write_layers(path, {"candidates": cands, "corrections": empty_corrections(LABELS_CRS)})
    rep = merge(path, min_area_m2=0)
    assert rep.candidates == 201 and rep.invalid_repaired == 1
    # Independently of the code: the union of the repaired polygons, in disjoint parts.
    repaired = shapely.get_parts(shapely.make_valid(np.array(geoms)))
    union = shapely.union_all([p for p in repaired if p.geom_type == "Polygon"])
    assert rep.labels == len(shapely.get_parts(union)) and rep.overlaps_dissolved > 0
    labels = read_labels(path, "labels")
    assert labels.area.sum() == pytest.approx(union.area, rel=1e-9)
    assert labels.geometry.is_valid.all()
    assert labels.sindex.query(labels.geometry, predicate="overlaps").shape[1] == 0


@needs(KAGHAN)
def test_kaghan_inventory_passes_validation(tmp_path):
    """The real inventory (3,820 polygons, one invalid) as accepted candidates, merged."""
    raw = gpd.read_file(KAGHAN / "landslides.shp")
    cands = gpd.GeoDataFrame(
        {"cand_id": np.arange(1, len(raw) + 1)}, geometry=raw.geometry, crs=raw.crs
    )
    path = tmp_path / "kaghan.gpkg"
    write_layers(path, {"candidates": cands, "corrections": empty_corrections(raw.crs)})
    rep = merge(path, min_area_m2=0)
    assert rep.candidates == 3820 and rep.invalid_repaired == 1
    # Independently of the code: the union of the repaired polygons, in disjoint parts.
    repaired = shapely.get_parts(shapely.make_valid(raw.geometry.values))
    union = shapely.union_all([p for p in repaired if p.geom_type == "Polygon"])
    assert rep.labels == len(shapely.get_parts(union)) and rep.overlaps_dissolved > 0
    labels = read_labels(path, "labels")
    assert labels.area.sum() == pytest.approx(union.area, rel=1e-9)
    assert labels.geometry.is_valid.all()
    pairs = labels.sindex.query(labels.geometry, predicate="overlaps")
    assert pairs.shape[1] == 0  # overlaps dissolved
    assert rep.area_m2 == pytest.approx(8.12e6, rel=0.02)
