"""The mutation list stays current: every snippet is in its file once and every test it names
exists (checked here in seconds; ``make mutants`` applies them)."""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("mutants_run", HERE / "run.py")
run = sys.modules["mutants_run"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)
MUTATIONS = run.read_mutations()


def test_names_are_unique_and_the_list_covers_the_issues_areas():
    names = [m.name for m in MUTATIONS]
    assert len(set(names)) == len(names) >= 30


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_each_mutation_matches_its_file_once_and_names_existing_tests(m):
    assert run.matches(m, run.ROOT), f"{m.file}: the snippet of {m.name} is not there once"
    assert m.replacement != m.original and m.why
    for node in m.tests:
        file, _, test = node.split("[")[0].partition("::")
        source = (run.ROOT / file).read_text()
        assert not test or f"def {test}(" in source, node


def test_the_copy_maps_every_installed_package_to_its_folder(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"landslide4sense" = "landslide4sense"\n'
        '"landslide4sense.acquisition" = "acquisition"\n'
    )
    assert run.package_folders(tmp_path) == {
        "landslide4sense": str(tmp_path / "landslide4sense"),
        "landslide4sense.acquisition": str(tmp_path / "acquisition"),
    }
