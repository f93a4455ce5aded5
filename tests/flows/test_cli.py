"""The l4s commands that need no flow run: plan and models."""

import json
from pathlib import Path

import pytest

from landslide4sense.flows.cli import main
from landslide4sense.regions import Grid
from tests.helpers import CONTRACTS

ROOT = Path(__file__).resolve().parents[2]


def band_selectors(expression: dict) -> set[str]:
    """Every band name an expression selects (``Image.select``'s ``bandSelectors``)."""
    values = expression["values"]

    def strings(node) -> list[str]:
        if "valueReference" in node:
            return strings(values[node["valueReference"]])
        if "arrayValue" in node:
            return [s for v in node["arrayValue"]["values"] for s in strings(v)]
        c = node.get("constantValue")
        return c if isinstance(c, list) else [c] if isinstance(c, str) else []

    def walk(node) -> set[str]:
        if isinstance(node, list):
            return set().union(*map(walk, node))
        if not isinstance(node, dict):
            return set()
        call = node.get("functionInvocationValue", {})
        here = (set(strings(call["arguments"]["bandSelectors"]))
                if call.get("functionName") == "Image.select" else set())  # fmt: skip
        return here.union(*map(walk, node.values()))

    return walk(values)


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
    if CONTRACTS.is_dir():  # every band the expressions select exists in the catalog entries
        assets = json.loads((CONTRACTS / "earthengine-assets.json").read_text())["assets"]
        catalog = {b["name"] for a in plan["collections"] for b in assets[a]["bands"]}
        selected = band_selectors(plan["expression"]) | band_selectors(plan["scene_summary"])
        assert selected == {"B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10",
                            "B11", "B12", "cs_cdf"} and selected <= catalog  # fmt: skip


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
