"""Worker processes: they die with the process that started them, and a dead one's work is done
here instead."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from landslide4sense.runtime.processes import alongside

PARENT = """
import os, sys, time
from landslide4sense.runtime.processes import process_pool

def work(path):
    open(path, "w").write(str(os.getpid()))
    time.sleep(60)

if __name__ == "__main__":
    with process_pool(1) as pool:
        pool.submit(work, sys.argv[1])
        time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has died; only its parent's reaping is left


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal: Linux only")
def test_a_killed_parent_takes_its_workers_with_it(tmp_path):
    script, marker = tmp_path / "parent.py", tmp_path / "child.pid"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(marker)], cwd=tmp_path)
    try:
        for _ in range(300):
            if marker.exists() and marker.read_text():
                break
            time.sleep(0.1)
        child = int(marker.read_text())
        assert alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        for _ in range(50):
            if not alive(child):
                break
            time.sleep(0.1)
        assert not alive(child)
    finally:
        parent.kill()


def _only_here(pid: int, path: str) -> None:
    if os.getpid() != pid:
        os._exit(1)  # the worker dies, as if the OOM killer took it
    Path(path).write_text("done here")


def test_work_whose_process_died_is_done_here(tmp_path):
    done = tmp_path / "done"
    with alongside("json") as run:
        run(_only_here, os.getpid(), str(done))
        assert not done.exists()
    assert done.read_text() == "done here"


def test_work_is_done_here_when_the_child_dies_while_preloading(tmp_path, monkeypatch):
    (tmp_path / "dies_on_import.py").write_text("import os\nos._exit(1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned children get this process's sys.path
    done = tmp_path / "done"
    with alongside("dies_on_import") as run:
        time.sleep(3)  # the child has died by now, most likely: submitting finds a broken pool
        run(_only_here, os.getpid(), str(done))
    assert done.read_text() == "done here"
