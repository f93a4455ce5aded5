"""Publishing under faults: a SIGKILL at every file-system step of a publish, the disk filling
up at every step, and concurrent publishes and restores. After each, the benchmark shows the
previous version or the new one, whole; a re-run publishes the new one and leaves nothing
behind. The counts are printed (pytest -s) for the record."""

import errno
import hashlib
import json
import os
import shutil
import signal
import threading

import pytest

from landslide4sense.choices import OutputLayout
from landslide4sense.errors import MissingInputError
from landslide4sense.patching import assemble
from landslide4sense.store.output import claim_output
from landslide4sense.store.versions import (
    STAGING_PREFIX,
    TMP_PREFIX,
    PublishError,
    current_version,
    list_versions,
)
from tests.helpers import cut_regions, restore

#: The file-system calls a publish makes (pathlib and shutil go through them too): a step each.
STEPS = ("link", "rename", "replace", "symlink", "unlink", "rmdir", "mkdir")


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    return cut_regions(tmp_path_factory.mktemp("jobs"), (5, 1, 1))  # alpha: 2 to train


def view(out) -> tuple:
    """What a reader sees: the version dataset.json names, and every patch and the manifest
    through the layout links (file name -> sha256)."""
    files = {}
    for name in ("TrainData", "ValidData", "TestData", "manifest.csv"):
        path = out / name
        found = sorted(path.rglob("*")) if path.is_dir() else [path] if path.exists() else []
        files |= {
            str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in found
            if p.is_file()
        }
    meta = out / "dataset.json"
    version = json.loads(meta.read_text())["version"] if meta.exists() else None
    if version is not None:  # the metadata agrees with what is there
        counts = json.loads(meta.read_text())["counts"]
        assert len([f for f in files if f.startswith("TrainData/img/")]) == counts["train"]
        assert len([f for f in files if f.startswith("TestData/mask/")]) == counts["test"]
        assert len([f for f in files if f.startswith("ValidData/img/")]) == counts.get("val", 0)
    return version, files


def before_state(out, jobs):
    """Two versions published: [alpha], then [alpha, beta]. The next publish prunes one."""
    claim_output(out)
    assemble(out, jobs[:1], "raw", figures=False)
    assemble(out, jobs[:2], "raw", figures=False)
    return view(out)


def leftovers(out) -> list[str]:
    return [
        p.name
        for p in (*out.glob(f"{TMP_PREFIX}*"), *(out / "versions").glob(f"{STAGING_PREFIX}*"))
    ]


def in_child(
    out, jobs, fault_at: int | None, fault: str = "kill", layout: str = "release"
) -> tuple[int, int]:
    """Publish [alpha, beta, gamma] in ``layout`` in a forked process whose ``fault_at``-th
    file-system step is a SIGKILL (or a full disk); returns (its wait status, the steps it
    made)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count steps, die at the chosen one
        os.close(read)
        code = 0
        try:
            done = [0]

            def step(fn):
                def counted(*args, **kwargs):
                    done[0] += 1
                    if done[0] == fault_at:
                        if fault == "kill":
                            os.kill(os.getpid(), signal.SIGKILL)
                        raise OSError(errno.ENOSPC, "No space left on device (simulated)")
                    return fn(*args, **kwargs)

                return counted

            for name in STEPS:
                setattr(os, name, step(getattr(os, name)))
            try:
                assemble(out, jobs, "raw", figures=False, layout=OutputLayout.named(layout))
            except PublishError:
                code = 4
            os.write(write, str(done[0]).encode())
        except BaseException:
            code = 3
        os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    steps = os.read(read, 64).decode()
    os.close(read)
    return status, int(steps or 0)


@pytest.fixture(scope="module")
def references(jobs, tmp_path_factory):
    """The states a reader may see when the new version has a given layout: before the
    publish, and after it (and the publish's count of steps)."""
    found = {}

    def reference(layout: str = "release") -> tuple:
        if layout not in found:
            out = tmp_path_factory.mktemp("reference") / "bench"
            before = before_state(out, jobs)
            status, steps = in_child(out, jobs, None, layout=layout)
            assert status == 0 and steps > 20
            found[layout] = before, view(out), steps
        return found[layout]

    return reference


@pytest.fixture(scope="module")
def expected(references):
    return references()


# with-valid: the new version adds ValidData/ to a release-layout benchmark (a layout change).
@pytest.mark.parametrize(
    "fault, layout",
    [
        pytest.param("kill", "release", marks=pytest.mark.slow),  # a minute each
        pytest.param("kill", "with-valid", marks=pytest.mark.slow),
        pytest.param("full-disk", "release", marks=pytest.mark.slow),
    ],
)
def test_a_fault_at_every_step_leaves_the_old_or_the_new_version(
    fault, layout, jobs, references, tmp_path, capsys
):
    before, after, steps = references(layout)
    if layout != "release":
        assert after[1].keys() - before[1].keys() >= {"ValidData/img/image_1.h5"}
    seen = {"previous": 0, "new": 0}
    for k in range(1, steps + 1):
        out = tmp_path / f"{fault}-{k}" / "bench"
        assert before_state(out, jobs) == before
        status, _ = in_child(out, jobs, k, "kill" if fault == "kill" else "enospc", layout)
        if fault == "kill":
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, k
        else:  # one PublishError; or a failure the step shrugs off (mkdir -p), published
            assert os.WEXITSTATUS(status) in (0, 4), k
        state = view(out)
        assert state in (before, after), f"a mix after a {fault} at step {k}"
        if fault != "kill" and os.WEXITSTATUS(status) == 0:
            assert state == after, k
        seen["previous" if state == before else "new"] += 1
        assert all(
            (out / "versions" / v.version / "dataset.json").exists() for v in list_versions(out)
        )
        # The re-run publishes the new version and removes what the faulty one left.
        assemble(out, jobs, "raw", figures=False, layout=OutputLayout.named(layout))
        assert view(out) == after and not leftovers(out), k
        assert len(list_versions(out)) == 2
        shutil.rmtree(out.parent)
    with capsys.disabled():
        print(
            f"\n{fault} at each of {steps} publish steps ({layout}): {seen['previous']} left the "
            f"previous version, {seen['new']} the new one, none a mix; every re-run completed"
        )
    assert seen["previous"] and seen["new"]


def test_concurrent_publishes_and_a_restore_never_mix(jobs, expected, tmp_path, capsys):
    """Three scenarios at once on one folder: two threads of this process publishing different
    benchmarks, two processes publishing the same one, and a restore of the version that was
    current. Each waits for the folder's lock; the result is always one whole version."""
    _, after, _ = expected
    out = tmp_path / "bench"
    before_state(out, jobs)
    old = current_version(out)
    errors = []

    def run(call):
        try:
            call()
        except Exception as err:  # reported below
            errors.append(err)

    threads = [
        threading.Thread(target=run, args=(lambda: assemble(out, jobs, "raw", figures=False),)),
        threading.Thread(target=run, args=(lambda: assemble(out, jobs[:1], "raw", figures=False),)),
        threading.Thread(target=run, args=(lambda: restore(out, old),)),
    ]
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                assemble(out, jobs, "raw", figures=False)
                os._exit(0)
            except BaseException:
                os._exit(3)
        children.append(pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in children)
    # The restore may come after publishes pruned the version: then it says so, cleanly.
    assert all(isinstance(e, MissingInputError) and old in str(e) for e in errors), errors
    state = view(out)
    assert state[0] in {v.version for v in list_versions(out)} and not leftovers(out)
    assert len(list_versions(out)) == 2
    assemble(out, jobs, "raw", figures=False)
    assert view(out) == after
    with capsys.disabled():
        print(
            "\n3 concurrent scenarios on one folder (2 threads publishing different versions, "
            "2 processes publishing the same, a restore among them): one whole version"
        )
