"""Regions without corrected labels: candidates, the stop for corrections, and the card."""

import re
import shutil

import geopandas as gpd
import pandas as pd
import pytest
import yaml

from landslide4sense.acquisition.demo import synthesize_scene
from landslide4sense.annotation import CorrectionsNeeded
from landslide4sense.annotation.corrections import write_layers
from landslide4sense.annotation.labels import read_labels
from landslide4sense.errors import MissingInputError
from landslide4sense.flows.build import build_benchmark
from landslide4sense.flows.cli import main
from landslide4sense.records import read_dataset_meta
from landslide4sense.regions import parse_region, region_grid

pytestmark = pytest.mark.usefixtures("prefect_harness")
REGION = {
    "name": "fresh",
    "event": {"trigger": "rainfall", "date": "2020-07-08"},
    "aoi": {"bbox": [138.10, 36.20, 138.15, 36.24]},
    "imagery": {"start": "2020-09-01", "end": "2020-11-15"},
}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """Post-event layers without labels, and pre-event bands in RAW/fresh/pre/s2."""
    root = tmp_path_factory.mktemp("fresh")
    grid = region_grid(parse_region(REGION))
    synthesize_scene(root / "raw", "fresh", grid, seed=4, margin=300.0)
    synthesize_scene(root / "pre", "fresh", grid, seed=4, variant="pre", margin=300.0)
    (root / "raw" / "fresh" / "labels.gpkg").unlink()
    shutil.copytree(root / "pre" / "fresh" / "s2", root / "raw" / "fresh" / "pre" / "s2")
    return root / "raw"


def region_file(tmp_path, **annotation):
    path = tmp_path / "fresh.yaml"
    path.write_text(yaml.safe_dump({**REGION, "annotation": annotation} if annotation else REGION))
    return path


def test_candidates_then_stop_for_corrections(raw, tmp_path, capsys):
    labels = raw / "fresh" / "labels.gpkg"
    labels.unlink(missing_ok=True)
    out = tmp_path / "bench"
    with pytest.raises(CorrectionsNeeded, match=re.escape(f"l4s annotate merge {labels}")):
        build_benchmark(regions=region_file(tmp_path), out=out, raw=raw)
    assert not out.exists()
    cands = read_labels(labels, "candidates")
    assert len(cands) > 5 and len(read_labels(labels, "corrections")) == 0

    # `l4s annotate candidates` on the same pre/post bands and DEM proposes the same polygons.
    mine = tmp_path / "cli" / "labels.gpkg"
    assert (
        main(
            [
                "annotate",
                "candidates",
                str(region_file(tmp_path)),
                "--pre",
                str(raw / "fresh" / "pre"),
                "--post",
                str(raw / "fresh"),
                "--dem",
                str(raw / "fresh" / "dem.tif"),
                "--out",
                str(mine),
            ]
        )
        == 0
    )
    assert f"{len(cands)} candidates (" in capsys.readouterr().out
    assert read_labels(mine, "candidates").geometry.geom_equals_exact(cands.geometry, 1e-6).all()

    # Accepting candidates as they are builds the benchmark from them.
    accepted = build_benchmark(
        regions=region_file(tmp_path, accept_candidates=True), out=out, raw=raw
    )
    meta = read_dataset_meta(out / "dataset.json")
    assert meta.regions[0].labels.layer == "candidates"
    assert accepted["counts"]["train"] > 0

    # An expert deletes two candidates and adds one; merged labels are then used.
    c = cands.geometry.iloc[0].centroid
    corr = gpd.GeoDataFrame(
        {
            "op": ["delete", "delete", "add"],
            "target": pd.array([1, 2, None], dtype="Int64"),
            "reason": ["road", "quarry", "missed"],
            "editor": ["ab", "ab", "cd"],
            "edited_at": ["2026-11-24T10:00:00", "2026-11-24T10:01:00", "2026-11-24T10:02:00"],
        },
        geometry=[None, None, c.buffer(60)],
        crs=cands.crs,
    )
    write_layers(labels, {"corrections": corr})
    assert main(["annotate", "merge", str(labels)]) == 0
    merged = read_labels(labels, "labels")
    assert (
        f"{len(cands)} candidates, +1 added, -2 deleted, 0 reshaped -> {len(merged)} labels"
        in capsys.readouterr().out
    )
    assert main(["annotate", "report", str(labels), "--out", str(tmp_path / "report")]) == 0
    assert f"| labels.gpkg | {len(cands)} | {len(merged)} | 1 | 2 | 0 |" in capsys.readouterr().out
    assert (tmp_path / "report" / "labels_agreement.png").stat().st_size > 0
    build_benchmark(regions=region_file(tmp_path), out=out, raw=raw)
    lab = read_dataset_meta(out / "dataset.json").regions[0].labels
    assert lab.layer == "labels" and lab.corrections.deleted == 2
    assert lab.corrections.added == 1 and lab.corrections.candidates == len(cands)
    assert lab.polygons == len(merged)
    assert "| fresh |" in (out / "card.md").read_text()
    assert f"| labels | {lab.features_read} |" in (out / "card.md").read_text()


def test_no_labels_and_no_pre_imagery(raw, tmp_path):
    bare = tmp_path / "raw"
    shutil.copytree(raw / "fresh", bare / "fresh", ignore=shutil.ignore_patterns("pre", "labels*"))
    with pytest.raises(MissingInputError, match="provide pre-event imagery"):
        build_benchmark(regions=region_file(tmp_path), out=tmp_path / "out", raw=bare)
    assert not (tmp_path / "out").exists()


def test_pre_imagery_must_end_before_the_event():
    from landslide4sense.errors import ConfigError

    with pytest.raises(ConfigError, match="pre-event window must end before"):
        parse_region(
            {**REGION, "annotation": {"pre_imagery": {"start": "2020-05-01", "end": "2020-08-01"}}}
        )
