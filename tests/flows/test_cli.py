"""The l4s commands that need no flow run: plan and models."""

import json
from pathlib import Path

import pytest

from landslide4sense.flows.cli import main
from landslide4sense.regions import Grid

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["iburi-2018", "kodagu-2018", "rasuwa-2015", "taitung-2009"])
def test_plan_json_for_each_paper_region(name, capsys):
    assert main(["plan", str(ROOT / "regions" / f"{name}.yaml"), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert set(plan) >= {"grid", "requests", "expression"}
    assert {"bands", "x_offset", "y_offset", "width", "height", "bytes"} <= set(plan["requests"][0])
    for res in (10, 20, 60):
        reqs = [r for r in plan["requests"] if r["resolution"] == res]
        g = Grid.from_dict(reqs[0]["grid"])
        assert sum(r["width"] * r["height"] for r in reqs) == g.width * g.height


def test_plan_stac_and_bad_input(capsys, tmp_path):
    assert main(["plan", str(ROOT / "regions" / "iburi-2018.yaml"), "--source", "stac",
                 "--json"]) == 0  # fmt: skip
    plan = json.loads(capsys.readouterr().out)
    assert plan["search"]["collections"] == ["sentinel-2-l1c"] and "20m" in plan["band_grids"]
    assert main(["plan", str(tmp_path / "missing.yaml")]) == 2
    assert "region file not found" in capsys.readouterr().err


def test_models_lists_the_eleven(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 12 and "ResU-Net" in out and "FRRN-B" in out
