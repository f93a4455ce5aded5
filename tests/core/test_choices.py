import argparse

import pytest

from landslide4sense.choices import DemKind, Device, OutputLayout, Scaling, SourceKind, names


def test_values_are_the_strings_files_and_commands_already_use():
    assert names(Scaling) == ["l4s", "raw"]
    assert names(SourceKind) == ["local", "earthengine", "stac", "cdse"]
    assert names(DemKind) == ["local", "asf-palsar-rtc", "srtm", "aw3d30"]
    assert names(OutputLayout) == [
        "release",
        "release+split-files",
        "with-valid",
        "with-valid+split-files",
    ]
    assert [(x.valid, x.split_files) for x in OutputLayout] == [
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    ]
    assert names(Device) == ["auto", "cpu", "cuda"]
    assert Scaling("raw") is Scaling.RAW and f"{Scaling.L4S}" == "l4s"


def test_argparse_turns_a_string_into_the_member_and_rejects_others(capsys):
    p = argparse.ArgumentParser()
    p.add_argument("--scaling", type=Scaling, choices=list(Scaling), default=Scaling.L4S)
    assert p.parse_args(["--scaling", "raw"]).scaling is Scaling.RAW
    with pytest.raises(SystemExit):
        p.parse_args(["--scaling", "l4"])
    assert "invalid Scaling value: 'l4'" in capsys.readouterr().err
