from pathlib import Path

import pytest
import yaml

from landslide4sense.errors import ConfigError, MissingInputError
from landslide4sense.regions import load_region, load_regions, parse_region, region_grid

REGIONS = Path(__file__).resolve().parents[2] / "regions"
GOOD = {
    "name": "iburi-2018",
    "event": {"trigger": "earthquake", "date": "2018-09-06"},
    "aoi": {"bbox": [141.80, 42.65, 142.10, 42.85]},
    "imagery": {"start": "2018-09-10", "end": "2018-11-30", "cloud_threshold": 0.6},
    "dem": "local",
    "labels": "labels.gpkg",
    "notes": "free text",
}


def write(tmp_path: Path, data: dict, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_issue_example_loads(tmp_path):
    r = load_region(write(tmp_path, GOOD))
    assert r.name == "iburi-2018"
    assert r.imagery.cloud_threshold == 0.6
    assert r.path == (tmp_path / "r.yaml").resolve()


def test_the_four_paper_regions_give_about_3799_patches():
    regions = load_regions(REGIONS)
    assert [r.name for r in regions] == ["iburi-2018", "kodagu-2018", "rasuwa-2015", "taitung-2009"]
    total = 0
    for r in regions:
        rows, cols = region_grid(r).tile_shape()
        total += rows * cols
        assert "approximat" in r.notes.lower()  # each file says its AOI is approximated
    assert abs(total - 3799) / 3799 < 0.03


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "red"}, "colour: unknown key"),
        (
            {"imagery": {"start": "2018-09-10", "end": "2018-11-30", "cloud_treshold": 0.5}},
            "imagery.cloud_treshold: unknown key",
        ),
        ({"imagery": {"start": "2014-01-01", "end": "2018-11-30"}}, "2015-06-23"),
        ({"aoi": {"bbox": [200.0, 42.6, 201.0, 42.9]}}, "-180 <= west < east <= 180"),
        ({"aoi": {"bbox": [141.8, 95.0, 142.1, 96.0]}}, "-90 <= south < north <= 90"),
        ({"aoi": {"bbox": [142.1, 42.6, 141.8, 42.9]}}, "west < east"),
        ({"aoi": {}}, "exactly one of 'bbox' or 'geojson'"),
        ({"name": "Iburi 2018"}, "name: String should match pattern '^[a-z0-9][a-z0-9-]*$'"),
        (
            {
                "imagery": {"start": "2016-01-01", "end": "2016-02-01"},
                "event": {"trigger": "earthquake", "date": "2018-09-06"},
            },
            "before the event",
        ),
        ({"dem": "lidar"}, "dem: Input should be 'local', 'asf-palsar-rtc', 'srtm' or 'aw3d30'"),
        ({"licence": "CC BY 4.0"}, "licence"),  # an SPDX id has no spaces
    ],
)
def test_bad_region_names_file_and_field(tmp_path, change, expected):
    path = write(tmp_path, {**GOOD, **change}, "bad.yaml")
    with pytest.raises(ConfigError) as err:
        load_region(path)
    message = str(err.value)
    assert message.startswith(f"{path}: invalid region file:")
    assert expected in message.removeprefix(str(path))  # not in the temporary folder's name


def test_missing_key_is_named(tmp_path):
    data = {k: v for k, v in GOOD.items() if k != "imagery"}
    with pytest.raises(ConfigError, match=r"imagery: missing required key"):
        load_region(write(tmp_path, data))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(MissingInputError, match="region file not found"):
        load_region(tmp_path / "nope.yaml")
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_region(tmp_path / "broken.yaml")


def test_duplicate_names_in_a_folder(tmp_path):
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(ConfigError, match="also used by"):
        load_regions(tmp_path)


def test_geojson_aoi_relative_to_yaml(tmp_path):
    (tmp_path / "aoi.geojson").write_text(
        '{"type": "Polygon", "coordinates": [[[141.8, 42.6], [142.0, 42.6], [142.0, 42.8], '
        "[141.8, 42.6]]]}"
    )
    r = load_region(write(tmp_path, {**GOOD, "aoi": {"geojson": "aoi.geojson"}}))
    assert r.aoi_geometry().geom_type == "Polygon"
    assert r.aoi_geometry().area == pytest.approx(0.2 * 0.2 / 2)


def test_geojson_aoi_in_metres_is_rejected(tmp_path):
    (tmp_path / "aoi.geojson").write_text(
        '{"type": "Polygon", "coordinates": [[[500000, 4700000], [510000, 4700000], '
        "[510000, 4710000], [500000, 4700000]]]}"
    )
    with pytest.raises(ConfigError, match="EPSG:4326"):
        load_region(write(tmp_path, {**GOOD, "aoi": {"geojson": "aoi.geojson"}}))


def test_to_yaml_round_trips():
    r = parse_region(GOOD)
    assert parse_region(yaml.safe_load(r.to_yaml())) == r


def test_licence_defaults_and_is_taken_from_the_file():
    assert parse_region(GOOD).licence == "CC-BY-4.0"
    assert parse_region({**GOOD, "licence": "CC-BY-NC-4.0"}).licence == "CC-BY-NC-4.0"
