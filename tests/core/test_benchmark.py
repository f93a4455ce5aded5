"""The store's one entry: a folder opened once (claimed, locked for the block), a handle that
publishes and restores under that one lock, refuses to write without it, and reads typed."""

from pathlib import Path

import pytest

from landslide4sense.errors import ConfigError, MissingInputError
from landslide4sense.patching import assemble
from landslide4sense.records import DatasetMeta
from landslide4sense.store.benchmark import Benchmark, open_benchmark
from landslide4sense.store.lock import holder, is_held
from landslide4sense.store.output import claim_output, is_benchmark
from tests.helpers import cut_regions


def test_a_run_opens_the_folder_once_and_publishes_under_that_lock(tmp_path):
    out = tmp_path / "bench"
    jobs = cut_regions(out / ".l4s")  # where the flows cut them: jobs outside OUT are refused
    with open_benchmark(out, "l4s build regions") as bench:
        assert is_benchmark(out) and is_held(out)
        assert bench.meta() is None and bench.version() is None and bench.jobs() == []
        first = assemble(bench, jobs[:1], "raw", figures=False)  # no second take of the lock
        second = assemble(bench, jobs[:2], "raw", figures=False)
        assert holder(out)["command"] == "l4s build regions"
        bench.restore(first.version)
        meta = bench.meta()
        assert isinstance(meta, DatasetMeta) and meta.version == first.version
        assert [v.version for v in bench.versions()] == [first.version, second.version]
        assert [j.parent.resolve() for j in bench.jobs()] == [Path(jobs[0].work)]
    assert not is_held(out)


def test_writing_without_the_lock_is_refused(tmp_path):
    jobs = cut_regions(tmp_path)
    out = tmp_path / "bench"
    claim_output(out)
    version = assemble(out, jobs[:1], "raw", figures=False).version  # a folder: opened for it
    bench = Benchmark.at(out)
    assert bench.meta().version == version  # reading needs no lock
    with pytest.raises(RuntimeError, match="write through open_benchmark"):
        bench.restore(version)
    with pytest.raises(RuntimeError, match="write through open_benchmark"), bench.staged():
        pass
    with pytest.raises(MissingInputError, match="not a landslide4sense benchmark folder"):
        Benchmark.at(tmp_path)


def test_a_run_refused_on_bad_input_leaves_a_new_folder_as_it_was(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(ConfigError), open_benchmark(out, "l4s build") as bench:
        assert (bench.work / "benchmark.json").is_file()
        raise ConfigError("bad region")
    assert not out.exists()
