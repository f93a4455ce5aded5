"""Work on spawned processes, with their log records handled by this process.

The heavy stages (terrain, labels, cutting) hold the GIL most of the time: on threads they
would take turns. On spawned processes they run side by side, their memory goes back to the
system when they end, and they import only what their work needs. Their log records are sent
back and handled by this process's loggers (and so reach Prefect's log, as on a thread).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def _init(queue, level: int, env: dict[str, str]) -> None:
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
    children (a daemonic worker)."""
    if multiprocessing.current_process().daemon:
        yield
        fn(*args)
        return
    with process_pool(1) as pool:
        future = pool.submit(fn, *args)
        yield
        future.result()


def in_child_process(fn: Callable[..., T], /, *args) -> T:
    """``fn(*args)`` on a fresh spawned process (see the module's docstring); here instead when
    this process may not start children (a daemonic worker, as Dask's are)."""
    if multiprocessing.current_process().daemon:
        return fn(*args)
    with process_pool(1) as pool:
        return pool.submit(fn, *args).result()
