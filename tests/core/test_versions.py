"""Versioned publishing: the layout readers load, the last N versions kept and restorable,
only our versions named, files the tool did not write never deleted."""

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import h5py
import pytest

from landslide4sense.errors import ConfigError, MissingInputError
from landslide4sense.flows.cli import main
from landslide4sense.patching import assemble
from landslide4sense.store.output import claim_output
from landslide4sense.store.versions import (
    check_version,
    current_version,
    data_folder,
    list_versions,
    version_folder,
    version_jobs,
)
from tests.helpers import cut_regions, hold, restore, said_it_waits


@pytest.fixture
def jobs(tmp_path):
    return cut_regions(tmp_path / "bench" / ".l4s")  # where the flows cut them: in OUT


@pytest.fixture
def out(tmp_path):
    out = tmp_path / "bench"
    claim_output(out)
    return out


def test_the_layout_readers_load_follows_the_current_version(jobs, out):
    v1 = assemble(out, jobs[:1], "raw", figures=False).version
    v2 = assemble(out, jobs[:2], "raw", figures=False).version
    assert current_version(out) == v2 and os.readlink(out / "current") == f"versions/{v2}"
    for name in ("TrainData", "TestData", "manifest.csv", "card.md", "dataset.json"):
        assert os.readlink(out / name) == f"current/{name}"
    # The original loader joins a folder and a listed name; TorchGeo globs and pairs by name.
    with h5py.File(str(out) + "/" + "TrainData/img/image_3.h5") as f:
        assert f["img"][0, 0, 0] == 101  # beta's first tile
    images = sorted((out / "TrainData" / "img").glob("*.h5"))
    assert [p.name for p in images] == ["image_1.h5", "image_2.h5", "image_3.h5"]
    assert all(
        (out / "TrainData" / "mask" / p.name.replace("image_", "mask_")).exists() for p in images
    )
    assert json.loads((out / "dataset.json").read_text())["version"] == v2
    assert data_folder(out) == version_folder(out) == out / "versions" / v2
    assert [j.parent.name for j in version_jobs(out)] == ["work", "work"]
    assert [v.version for v in list_versions(out)] == [v2, v1]


def test_the_last_two_versions_stay_and_an_older_one_can_be_restored(jobs, out, capsys):
    versions = [assemble(out, jobs[: k + 1], "raw", figures=False).version for k in range(3)]
    kept = list_versions(out)
    assert [v.version for v in kept] == versions[:0:-1] and kept[0].current
    assert not (out / "versions" / versions[0]).exists()  # the oldest is gone
    assert main(["versions", str(out)]) == 0
    listing = capsys.readouterr().out
    assert f"* {versions[2]}" in listing and f"  {versions[1]}" in listing
    assert "alpha, beta, gamma" in listing and "3 train + 5 test  release" in listing
    assert main(["versions", str(out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listed] == versions[:0:-1]
    assert listed[1]["counts"] == {"train": 3, "test": 5} and listed[1]["layout"] == "release"
    assert listed[0]["current"] and listed[0]["regions"] == ["alpha", "beta", "gamma"]

    assert main(["restore", str(out), versions[1]]) == 0
    assert current_version(out) == versions[1]
    assert json.loads((out / "dataset.json").read_text())["counts"]["train"] == 3
    assert not (out / "TrainData" / "img" / "image_4.h5").exists()  # gamma is not in it
    # Publishing after a restore keeps the restored one (current) and the newest other.
    v4 = assemble(out, [jobs[2], jobs[0]], "raw", figures=False).version
    assert {v.version for v in list_versions(out)} == {v4, versions[1]}


def test_a_restore_waits_while_another_run_holds_the_folder(jobs, out, caplog):
    v1 = assemble(out, jobs[:1], "raw", figures=False).version
    v2 = assemble(out, jobs[:2], "raw", figures=False).version
    holder = hold(out, 120)
    with ThreadPoolExecutor(1) as pool:
        try:
            run = pool.submit(restore, out, v1)
            assert said_it_waits(run, caplog)
            assert current_version(out) == v2  # nothing switched while the other run holds it
        finally:
            os.kill(holder.pid, signal.SIGKILL)  # the kernel releases its lock
            holder.wait()
        run.result(timeout=60)
    assert current_version(out) == v1


@pytest.mark.parametrize("bad", ["/etc", "../versions", "", "86620BA3CD76", "86620ba3cd7"])
def test_only_our_version_strings_are_taken(bad, jobs, out, capsys):
    assemble(out, jobs[:1], "raw", figures=False)
    with pytest.raises(ConfigError, match="not a landslide4sense dataset version"):
        check_version(bad)
    assert main(["restore", str(out), bad]) == 2
    assert "not a landslide4sense dataset version" in capsys.readouterr().err


def test_a_current_link_that_is_not_ours_is_refused(jobs, out, capsys):
    assemble(out, jobs[:1], "raw", figures=False)
    (out / "current").unlink()
    (out / "current").symlink_to("/etc")
    with pytest.raises(ConfigError, match="points to /etc, not to versions/<version>"):
        current_version(out)
    assert main(["versions", str(out)]) == 2
    with pytest.raises(MissingInputError, match="no version 0123456789ab"):
        restore(out, "0123456789ab")


def test_pruning_deletes_only_what_the_tool_wrote(jobs, out):
    v1 = assemble(out, jobs[:1], "raw", figures=False).version
    (out / "TrainData" / "notes.txt").write_text("mine")  # lands inside version v1
    (out / "holiday.png").write_text("mine")
    for k in (2, 3):
        assemble(out, jobs[:k], "raw", figures=False)
    assert (out / "versions" / v1 / "TrainData" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (out / "versions" / v1).rglob("*")) == ["TrainData", "notes.txt"]
    assert (out / "holiday.png").read_text() == "mine"
    assert v1 not in [v.version for v in list_versions(out)]


def test_a_name_taken_by_a_user_file_is_left_alone(jobs, out, caplog):
    (out / "card.md").write_text("my own card")
    assemble(out, jobs[:1], "raw", figures=False)
    assert (out / "card.md").read_text() == "my own card"
    assert "card.md was not written by landslide4sense" in caplog.text
    assert (out / "current" / "card.md").exists() and (out / "dataset.json").is_symlink()


def test_versions_of_a_folder_that_is_not_a_benchmark(tmp_path, capsys):
    assert main(["versions", str(tmp_path)]) == 2
    assert "not a landslide4sense benchmark folder" in capsys.readouterr().err


def test_a_first_publish_failing_at_the_switch_can_be_taken_back(jobs, tmp_path, monkeypatch):
    """The disk fills up as `current` is made: the temporary link goes with the error, and
    what the publish wrote can be removed, leaving the folder as it was."""
    import errno

    from landslide4sense.store.versions import PublishError, discard_unpublished

    out = tmp_path / "bench"  # holds only .l4s/ (the jobs' work)
    replace = os.replace

    def full(src, dst):
        if os.path.basename(dst) == "current":
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(PublishError, match="No space left"):
        assemble(out, jobs, "raw", figures=False)
    monkeypatch.setattr(os, "replace", replace)
    assert current_version(out) is None and not (out / "dataset.json").exists()
    discard_unpublished(out)
    assert sorted(p.name for p in out.iterdir()) == [".l4s"]  # the lock file's folder
