"""Work on spawned processes, with their log records handled by this process.

The heavy stages (terrain, labels, cutting) hold the GIL most of the time: on threads they
would take turns. On spawned processes they run side by side, their memory goes back to the
system when they end, and they import only what their work needs. Their log records are sent
back and handled by this process's loggers (and so reach Prefect's log, as on a thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def _init(queue, level: int, env: dict[str, str]) -> None:
    if sys.platform == "linux":  # die with the parent (a killed build leaves no worker behind)
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.environ.update(env)
    root = logging.getLogger()
    root.handlers = [logging.handlers.QueueHandler(queue)]
    root.setLevel(level)


class _Reemit(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


@contextlib.contextmanager
def process_pool(workers: int, env: dict[str, str] | None = None) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes (``env`` added to their environment); their log
    records are handled here.

    Callers submit module-level functions; the main module must be import-safe (an
    ``if __name__ == "__main__"`` guard), as for any spawned process.
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    listener = logging.handlers.QueueListener(queue, _Reemit())
    listener.start()
    level = logging.getLogger().getEffectiveLevel()
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init,
                                 initargs=(queue, level, env or {})) as pool:  # fmt: skip
            yield pool
    finally:
        listener.stop()
        queue.close()


@contextlib.contextmanager
def alongside(fn: Callable[..., object], /, *args) -> Iterator[None]:
    """``fn(*args)`` on a spawned process while the ``with`` block runs; the block's end waits
    for it and raises its error. Run after the block instead when this process may not start
    children (a daemonic worker), or when the child died (killed, out of memory)."""
    if multiprocessing.current_process().daemon:
        yield
        fn(*args)
        return
    with process_pool(1) as pool:
        future = pool.submit(fn, *args)
        yield
        try:
            future.result()
        except BrokenProcessPool:
            fn(*args)


def in_child_process(fn: Callable[..., T], /, *args) -> T:
    """``fn(*args)`` on a fresh spawned process (see the module's docstring); here instead when
    this process may not start children (a daemonic worker, as Dask's are)."""
    if multiprocessing.current_process().daemon:
        return fn(*args)
    with process_pool(1) as pool:
        return pool.submit(fn, *args).result()
