"""The Earth Engine request expression, read back from its serialized form: offline, without
the real-data fixtures or the contracts (a user's clone has neither), so every clone tests the
band names and the cloud mask."""

import pytest

from landslide4sense.acquisition import earthengine as eem
from landslide4sense.geo import Grid
from landslide4sense.regions import parse_region, region_grid

REGION = parse_region(
    {
        "name": "tiny",
        "event": {"trigger": "rainfall", "date": "2018-09-06"},
        "aoi": {"bbox": [141.95, 42.75, 141.96, 42.757]},
        "imagery": {"start": "2018-09-10", "end": "2018-12-01", "cloud_threshold": 0.6},
    }
)
# The catalog's names in COPERNICUS/S2_HARMONIZED (B1..B12, B8A: no zero padding), as DESIGN.md
# states them, and the names we give them.
CATALOG = {
    "B01": "B1",
    "B02": "B2",
    "B03": "B3",
    "B04": "B4",
    "B05": "B5",
    "B06": "B6",
    "B07": "B7",
    "B08": "B8",
    "B8A": "B8A",
    "B09": "B9",
    "B10": "B10",
    "B11": "B11",
    "B12": "B12",
}


def resolved(node, values: dict):
    """The expression tree with every ``valueReference`` (and mapped function's ``body``)
    replaced by what it names."""
    if isinstance(node, dict):
        if set(node) == {"valueReference"}:
            return resolved(values[node["valueReference"]], values)
        if "argumentNames" in node:  # a function definition: its body is a value's name
            return {**node, "body": resolved(values[node["body"]], values)}
        return {k: resolved(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [resolved(v, values) for v in node]
    return node


def calls(node, name: str) -> list[dict]:
    """The arguments of every call of algorithm ``name`` in the tree."""
    found = []
    if isinstance(node, dict):
        call = node.get("functionInvocationValue")
        if call and call["functionName"] == name:
            found.append(call["arguments"])
        for v in node.values():
            found += calls(v, name)
    elif isinstance(node, list):
        for v in node:
            found += calls(v, name)
    return found


def constants(node) -> list:
    """The constants of an ``arrayValue`` or a constant list."""
    if "arrayValue" in node:
        return [v["constantValue"] for v in node["arrayValue"]["values"]]
    return node["constantValue"]


@pytest.fixture(scope="module")
def expression():
    grid = region_grid(REGION)
    expr = eem.plan(REGION, Grid(grid.crs, grid.transform, 6, 6), dem=False)["expression"]
    return resolved(expr["values"][expr["result"]], expr["values"])


def test_the_catalogs_band_names_are_selected_and_renamed_to_ours(expression):
    renames = [a for a in calls(expression, "Image.select") if "newNames" in a]
    assert len(renames) == 1
    selected, named = constants(renames[0]["bandSelectors"]), constants(renames[0]["newNames"])
    assert dict(zip(named, selected, strict=True)) == CATALOG


def test_pixels_are_kept_where_cloud_score_plus_is_at_least_the_threshold(expression):
    (mask,) = [a["mask"] for a in calls(expression, "Image.updateMask")]
    (kept,) = calls(mask, "Image.gte")  # cs_cdf >= threshold: a clear pixel scores high
    assert calls(kept["image1"], "Image.select")[0]["bandSelectors"] == {
        "constantValue": ["cs_cdf"]
    }
    assert calls(kept["image2"], "Image.constant")[0]["value"] == {"constantValue": 0.6}
    (link,) = calls(expression, "Image.linkCollection")
    (loaded,) = calls(link["imageCollection"], "ImageCollection.load")
    assert loaded["id"] == {"constantValue": "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"}


def test_the_composite_is_the_median_of_the_masked_scenes(expression):
    (median,) = calls(expression, "reduce.median")
    assert calls(median["collection"], "Image.updateMask")  # of the clear pixels
    assert not calls(expression, "reduce.mean")
