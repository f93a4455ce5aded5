"""The Prefect API that ``l4s`` runs its flows on: one local server, kept alive between commands.

Prefect 3 runs a flow only against an API. With no ``PREFECT_API_URL`` it starts a temporary
server in a subprocess of every Python process and stops it at exit (Prefect 2's in-process
API is gone: events travel over WebSockets); that costs 5-10 s on every command here. ``l4s``
starts the same server (Prefect's app with no UI and no background services, SQLite under
``PREFECT_HOME``) once, detached, notes its address in ``PREFECT_HOME/l4s-api.json``, and later
commands connect to it at once. It exits by itself after ``L4S_API_IDLE_S`` seconds (default
900) with no request and no open connection. A configured ``PREFECT_API_URL`` (environment or
Prefect profile) is always used instead.

    api = local_api()        # finds the server, or starts one in the background
    from ... import a_flow   # heavy imports meanwhile
    with api:                # waits until it answers; Prefect and child processes use it
        a_flow()

``python -m landslide4sense.flows.api --port N --idle S`` is the server process itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger(__name__)

IDLE_S = 900
STARTUP_TIMEOUT_S = 120


def _home() -> Path:
    return Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as reply:
            return reply.status == 200
    except OSError:
        return False


def server_alive(pid: int) -> bool:
    """Whether ``pid`` is a local API server still (on Linux: not a process that reuses its
    number)."""
    if Path("/proc/self/cmdline").exists():
        try:
            return __name__.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configured_api_url() -> str | None:
    """The API Prefect is configured to use (environment, profile, ``prefect.toml``), if any."""
    if url := os.environ.get("PREFECT_API_URL"):
        return url
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


class LocalApi:
    """The configured Prefect API, or the local server (found running, or started now)."""

    def __init__(self) -> None:
        self.url = configured_api_url()
        self.owned = self.url is None
        if self.owned:
            self.url, self._pid = self._find_or_start()
        self._settings = contextlib.ExitStack()

    def _find_or_start(self) -> tuple[str, int]:
        home = _home()
        home.mkdir(parents=True, exist_ok=True)
        key = {"python": sys.executable, "prefect": version("prefect")}
        with open(home / "l4s-api.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one start at a time, across commands
            try:
                state = json.loads((home / "l4s-api.json").read_text())
            except (OSError, ValueError):
                state = {}
            if {k: state.get(k) for k in key} == key and server_alive(state.get("pid", -1)):
                return state["url"], state["pid"]
            port = _free_port()
            with open(home / "l4s-api.log", "ab") as out:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        __name__,
                        "--port",
                        str(port),
                        "--idle",
                        os.environ.get("L4S_API_IDLE_S", str(IDLE_S)),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            url = f"http://127.0.0.1:{port}/api"
            state = {**key, "url": url, "pid": proc.pid}
            (home / "l4s-api.json").write_text(json.dumps(state))
            log.info("started a local Prefect API at %s (exits after %s s idle)", url, IDLE_S)
            return url, proc.pid

    def wait(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Return once the local server answers.

        Raises:
            RuntimeError: it exited, or did not answer within ``timeout`` seconds.
        """
        started = time.monotonic()
        deadline = started + timeout
        if _answers(self.url, timeout=1.0):
            return
        # a first start imports Prefect and creates its database: seconds of silence otherwise
        log.info("waiting for the local Prefect API to answer (10-25 s when it starts)")
        while not _answers(self.url, timeout=1.0):
            if not server_alive(self._pid) or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the local Prefect API at {self.url} did not start; see "
                    f"{_home() / 'l4s-api.log'}, or set PREFECT_API_URL to a running server"
                )
            time.sleep(0.05)
        log.info("the local Prefect API answered after %.1f s", time.monotonic() - started)

    def __enter__(self) -> LocalApi:
        if not self.owned:
            return self
        self.wait()
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
            temporary_settings,
        )

        # This process's settings were read when Prefect was imported; child processes (Dask
        # workers) read the environment. No flow-run heartbeats: they let a server's
        # automations find crashed runs, the local server runs none, and a flow's end waits
        # up to 1 s for the heartbeat thread.
        updates = {PREFECT_API_URL: self.url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
        self._settings.enter_context(temporary_settings(updates=updates))
        os.environ["PREFECT_API_URL"] = self.url
        self._settings.callback(os.environ.pop, "PREFECT_API_URL", None)
        return self

    def __exit__(self, *exc) -> None:
        self._settings.close()


def local_api() -> LocalApi:
    """The API to run flows on: see the module's docstring."""
    return LocalApi()


class _Activity:
    """ASGI middleware that notes when the last request ended and how many are open."""

    def __init__(self, app) -> None:
        self.app, self.open, self.last = app, 0, time.monotonic()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        self.open += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.open -= 1
            self.last = time.monotonic()


def serve(port: int, idle: float) -> None:
    """Run Prefect's API on 127.0.0.1:``port`` until ``idle`` seconds pass without a request."""
    from landslide4sense.flows.runners import prefect_defaults

    prefect_defaults()  # no telemetry
    # As Prefect's own temporary server: no UI, no background services.
    os.environ.update(
        {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    )
    import uvicorn
    from prefect.server.api.server import create_app

    app = _Activity(create_app(ephemeral=True, final=True))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )

    async def watch() -> None:
        while not server.started:  # the idle clock starts once the API answers
            await asyncio.sleep(0.1)
        app.last = time.monotonic()
        while not server.should_exit:
            await asyncio.sleep(min(5.0, idle / 4))
            if app.open == 0 and time.monotonic() - app.last > idle:
                server.should_exit = True

    async def main() -> None:
        watcher = asyncio.create_task(watch())
        await server.serve()
        watcher.cancel()

    asyncio.run(main())


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="l4s's local Prefect API (started by l4s itself)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle", type=float, default=IDLE_S)
    a = p.parse_args()
    serve(a.port, a.idle)
