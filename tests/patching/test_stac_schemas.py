"""The published STAC records against JSON schemas, offline: STAC 1.1.0 core (the copies pystac
ships), the eo extension v2.0.0 (vendored in data/stac with its licence) and our own schema of
the ``l4s:*`` fields (published beside the collection). The benchmark is the assemble tests'
two regions, published without Prefect."""

from __future__ import annotations

import json
from pathlib import Path

import pystac
import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from landslide4sense.patching import assemble
from tests.patching.test_assemble import two_regions

DATA = Path(__file__).parent / "data" / "stac"
PYSTAC_SCHEMAS = Path(pystac.__file__).parent / "validation" / "jsonschemas"
CORE = "https://schemas.stacspec.org/v1.1.0/"


def core_registry() -> Registry:
    """pystac's STAC 1.1.0 and GeoJSON schemas, each under the URL that ``$ref`` names."""
    resources = []
    for path in PYSTAC_SCHEMAS.rglob("*.json"):
        schema = json.loads(path.read_text())
        if "stac-spec" in path.parts:
            spec = "collection-spec" if path.name == "collection.json" else "item-spec"
            spec = "catalog-spec" if path.name == "catalog.json" else spec
            uri = f"{CORE}{spec}/json-schema/{path.name}"
        else:
            uri = f"https://geojson.org/schema/{path.name}"
        resources.append((uri, Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def validator(uri: str) -> Draft7Validator:
    registry = core_registry()
    return Draft7Validator(registry.contents(uri), registry=registry)


@pytest.fixture(scope="module")
def stac(tmp_path_factory):
    root = tmp_path_factory.mktemp("stac")
    out = root / "bench"
    assemble(out, two_regions(root), "raw", figures=False)
    items = [json.loads(p.read_text()) for p in sorted((out / "stac" / "items").iterdir())]
    collection = json.loads((out / "stac" / "collection.json").read_text())
    return out, collection, items


def errors(schema: Draft7Validator, record: dict) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in schema.iter_errors(record)]


def test_items_and_collection_are_stac_1_1(stac):
    _, collection, items = stac
    assert len(items) == 8
    item_schema = validator(f"{CORE}item-spec/json-schema/item.json")
    for item in items:
        assert errors(item_schema, item) == []
    collection_schema = validator(f"{CORE}collection-spec/json-schema/collection.json")
    assert errors(collection_schema, collection) == []


def test_bands_follow_the_eo_extension(stac):
    _, collection, items = stac
    eo = Draft7Validator(json.loads((DATA / "eo-v2.0.0.json").read_text()))
    for record in (*items, collection):
        assert errors(eo, record) == []
    bands = items[0]["assets"]["image"]["bands"]
    assert [b["name"] for b in bands] == [*(f"B{i:02d}" for i in range(1, 13)), "slope", "dem"]
    assert bands[3] == {
        "name": "B04",
        "description": "Sentinel-2 B04",
        "eo:common_name": "red",
        "eo:center_wavelength": 0.665,
    }
    assert collection["item_assets"]["image"]["bands"] == bands
    broken = json.loads(json.dumps(items[0]))
    broken["assets"]["image"]["bands"][0]["eo:common_name"] = "ultraviolet"
    assert errors(eo, broken)  # the schema does check


def test_l4s_fields_follow_their_published_schema(stac):
    out, _, items = stac
    schema = Draft7Validator(json.loads((out / "stac" / "l4s-schema.json").read_text()))
    for item in items:
        assert errors(schema, item) == []
    broken = json.loads(json.dumps(items[0]))
    broken["properties"]["l4s:landslide_fraction"] = 1.5
    broken["properties"]["l4s:typo"] = 1
    assert len(errors(schema, broken)) == 2


def test_each_item_has_a_thumbnail_and_no_scene_links_for_local_files(stac):
    _, _, items = stac
    for item in items:
        thumb = item["assets"]["thumbnail"]
        assert thumb["roles"] == ["thumbnail"] and thumb["type"] == "image/jpeg"
        assert thumb["href"].startswith("data:image/jpeg;base64,")
        assert not [link for link in item["links"] if link["rel"] == "derived_from"]  # local


def test_derived_from_links_name_the_source_scenes():
    from landslide4sense.patching.index import scene_links

    links = scene_links("stac", "S2B_27VWK_20240206_0_L1C;S2A_27VWK_20240209_0_L1C")
    assert [link["href"] for link in links] == [
        "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l1c/items/"
        "S2B_27VWK_20240206_0_L1C",
        "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l1c/items/"
        "S2A_27VWK_20240209_0_L1C",
    ]
    assert {link["rel"] for link in links} == {"derived_from"}
    assert scene_links("local", "a;b") == []
