"""Stage keys and sealed stage folders: content hashes, the code version, damage found."""

import os
import time

import pytest

from landslide4sense.files import file_hash
from landslide4sense.store.cache import (
    PIPELINE,
    CacheError,
    building,
    code_version,
    read_cached,
    reusable,
    seal,
    source_digest,
    stage_key,
)


def test_the_code_version_names_the_package_and_its_source():
    from landslide4sense import __version__

    version, _, source = code_version().partition("+")
    assert version == __version__ and len(source) == 12 and int(source, 16) >= 0


def test_a_change_to_the_pipeline_code_changes_every_stage_key(tmp_path, monkeypatch):
    package = tmp_path / "pipeline_like"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cut.py").write_text("SIZE = 128\n")
    monkeypatch.syspath_prepend(tmp_path)
    before = source_digest(("pipeline_like",))
    (package / "cut.py").write_text("SIZE = 256\n")
    assert source_digest(("pipeline_like",)) != before
    # ... and the pipeline's own digest is part of the code version every key covers.
    assert code_version().endswith("+" + source_digest(PIPELINE))


def test_content_not_timestamps_makes_the_key(tmp_path):
    memo = tmp_path / "memo"
    f = tmp_path / "band.tif"
    f.write_bytes(b"\x01" * 1000)
    first = file_hash(f, memo)
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched: same content
    assert file_hash(f, memo) == first
    f.write_bytes(b"\x02" * 1000)  # same size, new content (and mtime)
    assert file_hash(f, memo) != first
    assert stage_key(file_hash(f, memo), 10) != stage_key(first, 10)
    assert stage_key(first, 10) != stage_key(first, 20)  # every parameter counts
    (memo / os.listdir(memo)[0]).write_text("{garbage")  # a damaged memo is hashed anew
    assert file_hash(f, memo) == file_hash(f)


def test_a_stage_is_done_only_when_whole(tmp_path):
    folder = tmp_path / "terrain-abc"
    with pytest.raises(RuntimeError), building(folder) as tmp:
        (tmp / "dem.tif").write_bytes(b"dem")
        raise RuntimeError("killed before slope.tif")
    assert not folder.exists() and not reusable(folder)
    with building(folder) as tmp:
        (tmp / "dem.tif").write_bytes(b"dem")
        (tmp / "slope.tif").write_bytes(b"slope")
    assert reusable(folder)


@pytest.mark.parametrize("damage", ["missing", "cut-short", "rewritten", "bad-seal"])
def test_damage_to_a_sealed_stage_names_the_folder_to_delete(damage, tmp_path):
    folder = tmp_path / "patches-abc"
    (folder / "img").mkdir(parents=True)
    (folder / "img" / "0000_0000.h5").write_bytes(b"x" * 100)
    (folder / "job.json").write_text("{}")
    seal(folder, exclude=("job.json",))
    (folder / "job.json").write_text('{"rewritten": true}')  # excluded: rewritten every run
    assert reusable(folder)
    patch = folder / "img" / "0000_0000.h5"
    if damage == "missing":
        patch.unlink()
    elif damage == "cut-short":
        patch.write_bytes(b"x" * 50)
    elif damage == "rewritten":
        patch.write_bytes(b"y" * 100)
        os.utime(patch, ns=(1, 1))
    else:
        (folder / ".sealed.json").write_text("{not json")
    with pytest.raises(CacheError, match=f"delete {folder} and re-run"):
        reusable(folder)


def test_a_cached_json_that_is_not_json(tmp_path):
    (tmp_path / "labels.json").write_text('{"polygons": 3')
    with pytest.raises(CacheError, match=f"labels.json: .*delete {tmp_path} and re-run"):
        read_cached(tmp_path / "labels.json", tmp_path)
