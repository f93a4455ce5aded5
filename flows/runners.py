"""Where tasks run: two threads by default, a Dask cluster on request (``--dask``)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from landslide4sense.extras import require_extra

log = logging.getLogger(__name__)

# Offline-friendly Prefect defaults: no telemetry, our library loggers forwarded to Prefect.
PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "landslide4sense",
}


def prefect_defaults() -> None:
    """Set :data:`PREFECT_DEFAULTS` where the environment says nothing; call before Prefect
    is imported (the ``l4s`` entry point and the tests do)."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def dask_runner(address: str):
    """A Dask task runner: ``local`` starts a 2-worker cluster of processes on this machine;
    anything else is the address of a running scheduler (``tcp://host:8786``)."""
    DaskTaskRunner = require_extra("prefect_dask", "dask").DaskTaskRunner

    if address == "local":
        return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1,
                                              "processes": True})  # fmt: skip
    return DaskTaskRunner(address=address)


@contextlib.contextmanager
def shared_api() -> Iterator[None]:
    """A Prefect API that Dask worker processes can reach.

    With ``PREFECT_API_URL`` set (a Prefect server), nothing to do. Otherwise a temporary
    server is started here and its address exported, so that every worker reports to it
    (instead of each starting a temporary API of its own).
    """
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    log.info("temporary Prefect API for the Dask workers at %s", server.api_url)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield
            # Deliver pending logs and events while the API still answers.
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=30)
            EventsWorker.drain_all(timeout=30)
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()
