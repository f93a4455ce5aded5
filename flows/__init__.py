"""Prefect flows: thin orchestration of regions, acquisition, annotation, patching and training.

Importing this package sets Prefect's offline-friendly defaults (no telemetry, our library
loggers forwarded to Prefect) unless the environment already says otherwise. Prefect itself is
imported by the flow modules, not here, so ``l4s --help`` stays fast.
"""

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.setdefault(
    "PREFECT_LOGGING_EXTRA_LOGGERS", "regions,acquisition,annotation,patching,training"
)
