import json

import pytest

from landslide4sense.choices import Scaling, Split
from landslide4sense.errors import InputDataError, MissingInputError
from landslide4sense.records import (
    SCHEMA_VERSION,
    read_dataset_meta,
    read_manifest,
    write_dataset_meta,
    write_manifest,
)
from tests.helpers import META_GRID
from tests.helpers import dataset_meta_record as meta
from tests.helpers import manifest_row as row


def test_dataset_meta_round_trips_with_its_schema_version(tmp_path):
    m = meta()
    path = write_dataset_meta(tmp_path / "dataset.json", m)
    on_disk = json.loads(path.read_text())
    assert on_disk["schema_version"] == SCHEMA_VERSION == 1
    assert on_disk["regions"][0]["grid"]["transform"] == [10, 0, 500000, 0, -10, 4000000]
    back = read_dataset_meta(path)
    assert back == m
    assert back.scaling is Scaling.L4S and back.regions[0].grid.model_dump() == META_GRID.to_dict()
    assert back.regions[0].dropped.nodata == 3 and back.regions[0].dropped.outside_aoi == 0


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda d: d.pop("schema_version"), "no schema_version"),
        (lambda d: d.update(schema_version=0), "schema_version 0 is older"),
        (lambda d: d.update(schema_version=2), "pip install -U landslide4sense"),
        (lambda d: d.update(scaling="log"), "scaling: Input should be 'l4s' or 'raw'"),
        (lambda d: d.update(colour="red"), "colour: Extra inputs are not permitted"),
        (lambda d: d["counts"].pop("train"), "counts.train: Field required"),
    ],
)
def test_an_old_new_or_invalid_file_is_one_clear_error(tmp_path, edit, says):
    data = meta().model_dump(mode="json")
    edit(data)
    path = tmp_path / "bench" / "dataset.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    with pytest.raises(InputDataError, match=str(path)) as err:
        read_dataset_meta(path)
    assert says in str(err.value)
    if "newer" not in str(err.value):
        assert f"l4s build --out {path.parent}" in str(err.value)


def test_a_corrupt_or_missing_file(tmp_path):
    path = tmp_path / "dataset.json"
    with pytest.raises(MissingInputError, match="not found"):
        read_dataset_meta(path)
    path.write_text('{"version": ')
    with pytest.raises(InputDataError, match="not valid JSON"):
        read_dataset_meta(path)


def test_manifest_round_trips_as_csv(tmp_path):
    rows = [row(), row(id="test_1", split="test", tile_col=3, landslide_fraction=0.0)]
    path = write_manifest(tmp_path / "manifest.csv", rows)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("id,split,index,image,mask,region,tile_row,tile_col,xmin")
    assert lines[1].split(",")[8:10] == ["500000.0", "3998720.0"]
    back = read_manifest(path)
    assert back == rows and back[1].split is Split.TEST and back[0].index == 1


def test_a_manifest_with_a_bad_value_names_the_line(tmp_path):
    path = write_manifest(tmp_path / "manifest.csv", [row(), row()])
    path.write_text(path.read_text().replace(",train,1,", ",train,one,", 1))
    with pytest.raises(InputDataError, match=r"manifest.csv: line 2: index: Input should be"):
        read_manifest(path)
