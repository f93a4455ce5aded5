"""Where tasks run: this machine by default, a Dask cluster on request (``--dask``)."""

from __future__ import annotations

import logging
import os

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


def flow_run_name() -> str | None:
    """The Prefect flow run this code runs in, in words (for who waits on an output's lock)."""
    from prefect.runtime import flow_run

    return f"'{flow_run.name}' ({flow_run.id})" if flow_run.id else None


def dask_runner(address: str):
    """A Dask task runner: ``local`` starts a 2-worker cluster of processes on this machine;
    anything else is the address of a running scheduler (``tcp://host:8786``)."""
    DaskTaskRunner = require_extra("prefect_dask", "dask").DaskTaskRunner

    if address == "local":
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True}
        )
    return DaskTaskRunner(address=address)
