import subprocess

import pytest

from landslide4sense.store.provenance import environment, git_commit, portable, portable_values


def test_paths_under_a_root_are_named_from_it(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    (raw / "demo-hills").mkdir(parents=True)
    (raw / "demo-hills" / "labels.gpkg").write_bytes(b"polygons")
    roots = {"RAW": raw}
    assert portable(raw / "demo-hills" / "labels.gpkg", roots) == "RAW/demo-hills/labels.gpkg"
    assert portable(str(raw / "demo-hills"), roots) == "RAW/demo-hills"
    monkeypatch.chdir(tmp_path)  # relative paths are taken from the working directory
    assert portable("raw/demo-hills/labels.gpkg", roots) == "RAW/demo-hills/labels.gpkg"


def test_paths_outside_every_root_are_named_by_content(tmp_path):
    f = tmp_path / "elsewhere" / "labels.gpkg"
    f.parent.mkdir()
    f.write_bytes(b"polygons")
    # sha256(b"polygons"), first 16 hex digits: the same file gets the same name anywhere
    assert portable(f, {"RAW": tmp_path / "raw"}) == "labels.gpkg (sha256 810da493c0fa873c)"
    assert portable(tmp_path / "missing.tif", {}) == "missing.tif"
    values = {"raw": str(f), "dem_product": "local file", "requests": 3}
    assert portable_values(values, {"RAW": tmp_path}) == {
        "raw": "RAW/elsewhere/labels.gpkg",
        "dem_product": "local file",
        "requests": 3,
    }


def test_git_commit_of_a_repository_and_outside_one(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()

    def run(*a: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *a], check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    run("init", "-q")
    (repo / "a.txt").write_text("a")
    run("add", "a.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    head = run("rev-parse", "HEAD")
    assert git_commit(repo) == head
    (repo / "a.txt").write_text("b")
    assert git_commit(repo) == f"{head}+dirty"
    assert git_commit(tmp_path / "nowhere") is None


def test_environment_names_the_libraries_that_decide_the_numbers():
    import numpy
    import rasterio

    env = environment()
    assert env["gdal"] == rasterio.__gdal_version__ and env["numpy"] == numpy.__version__
    for key in ("landslide4sense", "python", "proj", "proj_pyproj", "rasterio", "h5py", "hdf5"):
        assert env[key], key
    torch = pytest.importorskip("torch")
    assert env["torch"] == torch.__version__.split("+")[0] or env["torch"] == torch.__version__
