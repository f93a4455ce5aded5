"""The lock per output folder: held across processes, released by the OS on kill, waited on
with one message naming the holder, taken once (the holding thread taking it again is refused)."""

import os
import signal
import threading
import time

import pytest

from landslide4sense.store.lock import OutputLocked, holder, is_held, lock_path, output_lock
from tests.helpers import hold


def test_a_second_run_waits_and_is_told_who_holds_the_folder(tmp_path):
    out = tmp_path / "bench"
    proc = hold(out, 1.5)
    said = []
    started = time.monotonic()
    with output_lock(out, "l4s build", on_wait=said.append):
        waited = time.monotonic() - started
        assert holder(out)["command"] == "l4s build" and holder(out)["pid"] == os.getpid()
    assert proc.wait() == 0
    assert waited > 0.5
    assert len(said) == 1
    assert f"pid {proc.pid} on " in said[0] and "l4s add-region test" in said[0]
    assert "flow run brave-fox" in said[0] and "since 20" in said[0] and "waiting" in said[0]


def test_a_killed_holder_releases_the_folder_at_once(tmp_path):
    out = tmp_path / "bench"
    proc = hold(out, 60)
    with (
        pytest.raises(OutputLocked, match=rf"in use by pid {proc.pid} .*after 0 s"),
        output_lock(out, "l4s build", timeout=0.2, on_wait=lambda _: None),
    ):
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    started = time.monotonic()
    with output_lock(out, "l4s build", timeout=5):
        assert time.monotonic() - started < 1
    assert lock_path(out).exists()  # the file stays; only the kernel's lock comes and goes


def test_taken_once_in_the_holding_thread_exclusive_for_other_threads(tmp_path):
    out = tmp_path / "bench"
    order = []

    def other():
        with output_lock(out, "thread"):
            order.append("other")

    with output_lock(out, "outer"):
        with (
            pytest.raises(RuntimeError, match="holds its lock already"),  # not a deadlock
            output_lock(out, "publish"),
        ):
            pass
        assert is_held(out) and holder(out)["command"] == "outer"
        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        order.append("outer")
    t.join(5)
    assert order == ["outer", "other"]
    assert not is_held(out)


def test_a_folder_removed_while_waiting_is_locked_anew(tmp_path):
    """The waiter must not go on holding the lock of a removed file (a third run would lock
    the new one): it locks the file that is there now."""
    from landslide4sense.store import lock

    out = tmp_path / "bench"
    proc = hold(out, 0.5, then="remove")
    with output_lock(out, "l4s build", timeout=10, on_wait=lambda _: None):
        fd = lock._held[str(lock_path(out.resolve()))].fd
        assert os.stat(lock_path(out)).st_ino == os.fstat(fd).st_ino
    assert proc.wait() == 0
