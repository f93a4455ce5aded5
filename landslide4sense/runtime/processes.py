"""Work on spawned processes, with their log records handled by this process.

The heavy stages (terrain, labels, cutting) hold the GIL most of the time: on threads they
would take turns. On spawned processes they run side by side, their memory goes back to the
system when they end, and they import only what their work needs. Their log records are sent
back and handled by this process's loggers (and so reach Prefect's log, as on a thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import logging.handlers
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")
#: Set in every worker unless the environment sets it: GDAL's block cache, MB. Its default,
#: 5% of RAM, is per process: a worker that writes a raster (terrain) held its blocks up to
#: that; more did not make cutting faster.
WORKER_ENV = {"GDAL_CACHEMAX": "64"}
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def _init(queue, level: int, env: dict[str, str]) -> None:
    if sys.platform == "linux":  # die with the parent (a killed build leaves no worker behind)
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    for key, value in env.items():  # the user's own settings win
        os.environ.setdefault(key, value)
    root = logging.getLogger()
    root.handlers = [logging.handlers.QueueHandler(queue)]
    root.setLevel(level)


class _Reemit(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes, GDAL's block cache capped in each; their log
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
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init, initargs=(queue, level, WORKER_ENV)
        ) as pool:
            yield pool
    finally:
        listener.stop()
        queue.close()


def _import(module: str) -> None:
    importlib.import_module(module)


@contextlib.contextmanager
def alongside(*preload: str) -> Iterator[Callable[..., None]]:
    """A spawned process that runs calls while the ``with`` block goes on: it starts, and
    imports the ``preload`` modules, at once; ``run(fn, *args)`` hands it a call. The block's
    end waits for the calls and raises their error. A call is run here, after the block,
    instead when this process may not start children (a daemonic worker), or when the child
    died (killed, out of memory).

        with alongside("matplotlib.pyplot") as run:
            ...                 # meanwhile the child starts and imports matplotlib
            run(draw, data)     # drawn there, while this process goes on
    """
    calls: list[tuple[Callable[..., object], tuple]] = []
    if multiprocessing.current_process().daemon:
        yield lambda fn, *args: calls.append((fn, args))
        for fn, args in calls:
            fn(*args)
        return
    with process_pool(1) as pool:
        for module in preload:
            pool.submit(_import, module)
        futures: list[Future | None] = []

        def run(fn: Callable[..., object], *args) -> None:
            calls.append((fn, args))
            try:
                futures.append(pool.submit(fn, *args))
            except BrokenProcessPool:  # the child died already: done here after the block
                futures.append(None)

        yield run
        for (fn, args), future in zip(calls, futures, strict=True):
            try:
                if future is None:
                    raise BrokenProcessPool
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
