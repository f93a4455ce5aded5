import argparse

import pytest

from landslide4sense.choices import (
    LAYOUTS,
    DemKind,
    Device,
    OutputLayout,
    Scaling,
    SourceKind,
    names,
)
from landslide4sense.records import DatasetMeta


def test_values_are_the_strings_files_and_commands_already_use():
    assert names(Scaling) == ["l4s", "raw"]
    assert names(SourceKind) == ["local", "earthengine", "stac", "cdse"]
    assert names(DemKind) == ["local", "asf-palsar-rtc", "srtm", "aw3d30"]
    assert names(Device) == ["auto", "cpu", "cuda"]
    assert Scaling("raw") is Scaling.RAW and f"{Scaling.L4S}" == "l4s"


def test_argparse_turns_a_string_into_the_member_and_rejects_others(capsys):
    p = argparse.ArgumentParser()
    p.add_argument("--scaling", type=Scaling, choices=list(Scaling), default=Scaling.L4S)
    assert p.parse_args(["--scaling", "raw"]).scaling is Scaling.RAW
    with pytest.raises(SystemExit):
        p.parse_args(["--scaling", "l4"])
    assert "invalid Scaling value: 'l4'" in capsys.readouterr().err


def test_the_layout_is_two_options_named_as_dataset_json_always_named_it():
    assert [(x.valid, x.split_files, x.name) for x in LAYOUTS] == [
        (False, False, "release"),
        (False, True, "release+split-files"),
        (True, False, "with-valid"),
        (True, True, "with-valid+split-files"),
    ]
    assert all(OutputLayout.named(x.name) == x for x in LAYOUTS)
    with pytest.raises(ValueError, match="'with_valid' is not a layout; expected one of release,"):
        OutputLayout.named("with_valid")


def test_dataset_json_reads_and_writes_the_layout_by_its_name():
    from tests.helpers import dataset_meta_record

    meta = dataset_meta_record(layout="with-valid+split-files")
    assert meta.layout == OutputLayout(valid=True, split_files=True)
    assert meta.model_dump(mode="json")["layout"] == "with-valid+split-files"
    again = DatasetMeta.model_validate(meta.model_dump(mode="json"))
    assert again.layout == meta.layout
    assert dataset_meta_record().model_dump(mode="json")["layout"] == "release"
