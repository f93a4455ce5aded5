"""One run at a time per output folder.

:func:`output_lock` holds an exclusive ``flock`` on ``OUT/.l4s/lock`` for the whole of a
``build``, ``add-region``, publish, restore or retraining. The kernel releases it when the
holding process ends in any way (``kill -9`` included), so a crashed run never leaves a stale
lock behind and nothing has to be cleaned up by hand.

A second run on the same folder **waits**: it says once who holds the folder (PID, host,
command, Prefect flow run, start time; the holder writes them into the lock file) and goes on
as soon as the folder is free, so two ``add-region`` runs started together both land, one
after the other. Waiting, rather than failing at once, is what the production stack needs:
the retraining that a new version triggers starts while its build is still finishing.

A run takes the lock once, when it opens the folder (:func:`landslide4sense.store.benchmark.
open_benchmark`), and everything it does to the folder happens under that one hold. Other
threads of the process wait like other processes do; the holding thread taking it a second
time is a mistake in the code, refused at once (it would wait for itself forever).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from landslide4sense.errors import L4SError
from landslide4sense.layout import LOCK_FILE, STATE_DIR

log = logging.getLogger(__name__)


class OutputLocked(L4SError, TimeoutError):
    """The output folder stayed locked by another run for longer than the caller would wait."""


@dataclass
class _Held:
    """This process's hold on one lock file."""

    thread: threading.Lock = field(default_factory=threading.Lock)
    fd: int | None = None
    owner: int | None = None  # the holding thread's ident


_registry = threading.Lock()
_held: dict[str, _Held] = {}


def lock_path(out: str | Path) -> Path:
    return Path(out) / STATE_DIR / LOCK_FILE


def holder(out: str | Path) -> dict | None:
    """What the current holder of ``out`` wrote about itself, or None (free, or not said)."""
    try:
        text = lock_path(out).read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def describe(info: dict | None) -> str:
    """A holder in words: ``pid 123 on host (l4s add-region, flow run 'x'), since 12:00:01``."""
    if not info:
        return "another run (it has not said which yet)"
    what = ", ".join(
        str(v)
        for v in (info.get("command"), info.get("flow_run") and f"flow run {info['flow_run']}")
        if v
    )
    return (
        f"pid {info.get('pid')} on {info.get('host')}"
        + (f" ({what})" if what else "")
        + f", since {info.get('started')}"
    )


def _wait(fd: int, out: Path, timeout: float | None) -> None:
    """Block until ``fd`` holds the exclusive lock, or ``timeout`` seconds have passed."""
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise OutputLocked(
                    f"{out} is still in use by {describe(holder(out))} after {timeout:.0f} s; "
                    "run again when it has finished"
                ) from None
            time.sleep(0.1)


def _flock(out: Path, timeout: float | None, on_wait: Callable[[str], None]) -> int:
    """An open descriptor of ``out``'s lock file that holds its exclusive lock."""
    path = lock_path(out)
    told = False
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not told:
                    on_wait(
                        f"{out} is in use by {describe(holder(out))}; waiting for it to "
                        "finish (Ctrl-C stops waiting)"
                    )
                    told = True
                _wait(fd, out, timeout)
            # The folder may have been removed and made again while we waited (a failed first
            # build removes the folder it created): then this lock guards nothing; retry.
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _announce(fd: int, command: str, flow_run: str | None) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "flow_run": flow_run,
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    data = json.dumps(info).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


@contextmanager
def output_lock(
    out: str | Path,
    command: str,
    flow_run: str | None = None,
    timeout: float | None = None,
    on_wait: Callable[[str], None] = log.warning,
) -> Iterator[None]:
    """Hold the lock of output folder ``out`` for the block (creating ``OUT/.l4s/lock``).

    Args:
        out: the output folder.
        command: what the run is, in words (``l4s add-region iburi-2018``).
        flow_run: the Prefect flow run, when the run is one.
        timeout: seconds to wait at most (None: as long as it takes).
        on_wait: told once, in words, who holds the folder when we have to wait.

    Raises:
        OutputLocked: still held by another run after ``timeout`` seconds.
        RuntimeError: this thread holds it already (a run takes it once).
    """
    out = Path(out).resolve()
    with _registry:
        held = _held.setdefault(str(lock_path(out)), _Held())
    if held.owner == threading.get_ident():
        raise RuntimeError(f"{out}: this thread holds its lock already; take it once")
    if not held.thread.acquire(timeout=-1 if timeout is None else timeout):
        raise OutputLocked(f"{out} is in use by another run of this process; try again later")
    try:
        held.fd = _flock(out, timeout, on_wait)
        held.owner = threading.get_ident()
        try:
            _announce(held.fd, command, flow_run)
            yield
        finally:
            held.owner = None
            os.ftruncate(held.fd, 0)
            os.close(held.fd)  # closing the descriptor releases the lock
            held.fd = None
    finally:
        held.thread.release()


def is_held(out: str | Path) -> bool:
    """Whether this process holds the lock of ``out``."""
    with _registry:
        held = _held.get(str(lock_path(Path(out).resolve())))
    return held is not None and held.fd is not None
