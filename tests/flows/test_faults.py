"""The build flows under faults and races: damaged cache files, two runs on one output folder,
rebuilds that keep every region's numbers."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from landslide4sense.files import read_json
from landslide4sense.flows.build import add_region, build_benchmark
from landslide4sense.flows.cli import main
from landslide4sense.store.versions import list_versions

pytestmark = pytest.mark.usefixtures("prefect_harness")


def digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for split in ("TrainData", "TestData")
        for p in sorted((out / split).rglob("*.h5"))
    }


@pytest.fixture(scope="module")
def hills(demo_inputs, tmp_path_factory):
    """demo-hills built once; tests work on copies."""
    regions, raw = demo_inputs
    out = tmp_path_factory.mktemp("hills") / "bench"
    build_benchmark(regions=regions / "demo-hills.yaml", out=out, raw=raw)
    return out, digests(out)


def damage(out: Path, case: str) -> Path:
    """Damage one cached file; returns the stage folder the message must name."""
    work = out / ".l4s" / "demo-hills"
    stage = next(work.glob({"terrain": "terrain-*", "labels": "labels-*"}.get(case, "patches-*")))
    if case == "terrain":  # slope.tif cut short
        f = stage / "slope.tif"
        f.write_bytes(f.read_bytes()[:1000])
    elif case == "labels":  # the mask deleted
        (stage / "mask.tif").unlink()
    elif case == "patch":  # one patch cut short (a copy: the published version keeps its own)
        f = next(stage.rglob("img/*.h5"))
        data = f.read_bytes()
        f.unlink()
        f.write_bytes(data[: len(data) // 2])
    elif case == "index":  # a block's tile list overwritten
        next(stage.rglob("index.json")).write_text("{garbage")
    elif case == "job":
        (stage / "job.json").write_text("[1, 2")
    return stage


@pytest.mark.parametrize(
    "case",
    [
        "terrain",
        "patch",
        *(pytest.param(c, marks=pytest.mark.slow) for c in ("labels", "index", "job")),
    ],
)
def test_a_damaged_cache_file_says_which_folder_to_delete(
    case, hills, demo_inputs, tmp_path, capsys
):
    """Build again (or, for a job file, which every build rewrites, add another region): one
    message naming the folder; deleting it and re-running gives the same patches."""
    regions, raw = demo_inputs
    out = tmp_path / "bench"
    shutil.copytree(hills[0], out, symlinks=True)
    stage = damage(out, case)
    build = [
        "build",
        "--regions",
        str(regions / "demo-hills.yaml"),
        "--raw",
        str(raw),
        "--out",
        str(out),
    ]
    first = (
        build
        if case != "job"
        else ["add-region", str(regions / "demo-valley.yaml"), "--raw", str(raw), "--out", str(out)]
    )
    assert main(first) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert f"delete {stage} and re-run" in err
    assert digests(out) == hills[1]  # the published version is untouched
    shutil.rmtree(stage)
    assert main(build) == 0
    assert digests(out) == hills[1]


def test_input_content_not_timestamps_decides_what_is_redone(hills, demo_inputs, tmp_path):
    regions, raw = demo_inputs
    out = tmp_path / "bench"
    shutil.copytree(hills[0], out, symlinks=True)
    mine = tmp_path / "raw"
    shutil.copytree(raw / "demo-hills", mine / "demo-hills")
    build_benchmark(regions=regions / "demo-hills.yaml", out=out, raw=mine)
    stages = sorted(p.name for p in (out / ".l4s" / "demo-hills").iterdir() if "-" in p.name)
    dem = mine / "demo-hills" / "dem.tif"
    os.utime(dem, ns=(1, 10**18))  # touched, same content: nothing is redone
    build_benchmark(regions=regions / "demo-hills.yaml", out=out, raw=mine)
    assert sorted(p.name for p in (out / ".l4s" / "demo-hills").iterdir() if "-" in p.name) == (
        stages
    )
    assert len(list_versions(out)) == 1


@pytest.mark.slow  # three builds
def test_a_full_rebuild_keeps_the_order_regions_joined_in(demo_inputs, tmp_path, capsys):
    """demo-valley joins after demo-hills: a full `build` (regions sorted by name would put
    valley second anyway) and a rebuild after valley joined first keep their numbers."""
    regions, raw = demo_inputs
    out = tmp_path / "bench"
    add_region(region=regions / "demo-valley.yaml", out=out, raw=raw)  # valley joins first
    valley = digests(out)
    result = add_region(region=regions / "demo-hills.yaml", out=out, raw=raw)
    both = digests(out)
    assert all(both[k] == v for k, v in valley.items())
    assert not result["rebuilt"]
    again = build_benchmark(regions=regions, out=out, raw=raw)  # by name: hills < valley
    assert again["version"] == result["version"] and digests(out) == both
    meta = read_json(out / "dataset.json")
    assert [r["name"] for r in meta["regions"]] == ["demo-valley", "demo-hills"]
    assert meta["renumbered"] == []
    # Adding a region that is already in: rebuilt in place, and the command says so.
    args = ["add-region", str(regions / "demo-valley.yaml"), "--raw", str(raw), "--out", str(out)]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "demo-valley was already in the benchmark: rebuilt in place, nothing changed" in said
    assert digests(out) == both


@pytest.mark.slow
def test_two_add_regions_started_together_both_land(demo_inputs, tmp_path):
    """The issue's race: two `l4s add-region` of different regions, a second apart, on one new
    folder. The second waits for the first (it says who holds the folder), then adds its region
    to the first's benchmark; both succeed and the benchmark holds both regions."""
    regions, raw = demo_inputs
    out = tmp_path / "bench"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"  # two start on a busy box
    procs = []
    for name in ("demo-hills", "demo-valley"):
        cmd = [
            sys.executable,
            "-m",
            "landslide4sense.flows.cli",
            "add-region",
            str(regions / f"{name}.yaml"),
            "--raw",
            str(raw),
            "--out",
            str(out),
        ]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert sum("is in use by pid" in log for log in logs) == 1
    meta = read_json(out / "dataset.json")
    assert sorted(r["name"] for r in meta["regions"]) == ["demo-hills", "demo-valley"]
    assert len(list_versions(out)) == 2  # the first's version, then both
    assert not list(out.glob("versions/.staging-*")) and "Traceback" not in "".join(logs)


def test_a_first_publish_that_fails_leaves_the_empty_folder_as_it_was(tmp_path):
    """A run that claimed an empty folder and failed while publishing (no valid tile, a full
    disk) takes back all it wrote, so the next run can use the folder."""
    from landslide4sense.errors import EmptyResultError
    from landslide4sense.store.benchmark import open_benchmark
    from landslide4sense.store.output import check_output

    out = tmp_path / "out"
    out.mkdir()
    with (
        pytest.raises(EmptyResultError),
        open_benchmark(out, "test") as bench,
        bench.staged() as stage,
    ):
        (stage / "TrainData").mkdir()
        raise EmptyResultError("region 'x': none of its tiles is valid")
    assert list(out.iterdir()) == []
    check_output(out)  # not refused


def test_work_files_resolve_whatever_the_working_folder(demo_inputs, tmp_path, monkeypatch):
    """Relative --out and --raw: the region's job names its own work relative to OUT/.l4s (so
    the benchmark can move) and its inputs by absolute path; read back, every path is absolute
    and exists, so a later run from another folder (or a worker) finds them."""
    from landslide4sense.patching import RegionJob

    regions, raw = demo_inputs
    monkeypatch.chdir(raw.parent)
    add_region(
        region=regions / "demo-valley.yaml",
        out=Path(os.path.relpath(tmp_path / "b")),
        raw=Path(raw.name),
    )
    (path,) = (tmp_path / "b" / ".l4s" / "demo-valley").glob("patches-*/job.json")
    record = read_json(path)
    assert record["work"] == str(path.parent.relative_to(tmp_path / "b" / ".l4s"))
    assert all(Path(p).is_absolute() for p in record["bands"].values())
    job = RegionJob.load(path)
    paths = [job.work, job.slope, job.dem, job.mask, *job.bands.values()]
    assert all(Path(p).is_absolute() and Path(p).exists() for p in paths), paths
