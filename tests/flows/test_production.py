"""The production topology as processes on this machine, no Docker engine needed.

A real PostgreSQL server (Debian's binaries, in a temp folder on 127.0.0.1), the Prefect server
on it with API authentication on (as docker-compose.yml runs it), the work pools and queue
made by the compose file's own `deploy` commands, process workers for the ``etl`` and ``gpu``
pools, a deployment run of ``build_benchmark`` through the ETL worker, the retraining that its
dataset-update event triggers (the trigger of prefect.yaml) through the GPU-pool worker, and the
same build on a 2-worker local Dask cluster giving byte-identical patches.
"""

import csv
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AUTH = "l4s-admin:" + "e3b0c44298fc1c149afbf4c8996fb924"  # a test secret, as .env would hold


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


PG_BIN = _pg_bin()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PG_BIN is None,
        reason="PostgreSQL server binaries not installed "
        "(CI installs Debian's postgresql; apt-get install postgresql)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as the postgres system user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres():
    # Its own folder under the system temp dir: pytest's is private to us (0700), and the
    # server may run as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="l4s-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    data = root / "data"
    subprocess.run(
        as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", "l4s", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(root / "log"),
                "-o",
                f"-p {port} -k {root} -h 127.0.0.1",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            as_postgres(
                [
                    str(PG_BIN / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "l4s",
                    "prefect",
                ]
            ),
            check=True,
        )
        yield f"postgresql+asyncpg://l4s@127.0.0.1:{port}/prefect"
    finally:
        subprocess.run(
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    """The Prefect server (API, UI and services) on PostgreSQL; yields (API URL, client env)."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_DATABASE_CONNECTION_URL=postgres,
        PREFECT_SERVER_API_AUTH_STRING=AUTH,
    )
    # The compose file's preflight accepts these secrets (it refuses placeholders).
    check = subprocess.run(
        [sys.executable, "-m", "landslide4sense.compose"],
        capture_output=True,
        text=True,
        env={
            **env,
            "POSTGRES_PASSWORD": "9f2c41d87b0e63a5c7d1e4b2",
            "PREFECT_API_AUTH_STRING": AUTH,
        },
    )
    assert check.returncode == 0, check.stderr
    proc = start(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env,
        home / "server.log",
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (home / "server.log").read_text()[-3000:]
            time.sleep(1)
        else:
            pytest.fail("the Prefect server did not answer in 120 s")
        # Closed: no credentials, no API; the wrong ones neither.
        assert httpx.get(f"{url}/flow_runs/count", timeout=5).status_code == 401
        assert (
            httpx.post(f"{url}/flow_runs/count", timeout=5, auth=("l4s-admin", "guess")).status_code
            == 401
        )
        client = {
            **env,
            "PREFECT_API_URL": url,
            "PREFECT_API_AUTH_STRING": AUTH,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        }
        client.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL")
        client.pop("PREFECT_SERVER_API_AUTH_STRING")
        yield url, client
    finally:
        stop(proc)


def digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for split in ("TrainData", "TestData")
        for p in sorted((out / split).rglob("*.h5"))
    }


def deploy_commands() -> list[str]:
    """The compose file's `deploy` service commands that make the pools and queues."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    script = compose["services"]["deploy"]["command"][-1]
    return [line for line in script.splitlines() if line and "deploy --all" not in line]


def test_deployments_workers_trigger_and_dask(server, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.deployments import run_deployment
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from landslide4sense.acquisition.demo import write_demo_inputs
    from landslide4sense.flows.build import build_benchmark
    from landslide4sense.flows.cli import main
    from landslide4sense.flows.retraining import retrain_baselines
    from landslide4sense.records import read_dataset_meta

    url, env = server
    bin_dir = Path(sys.executable).parent
    for line in deploy_commands():  # as docker-compose.yml's deploy service runs them
        subprocess.run(
            ["sh", "-ec", line],
            env={**env, "PATH": f"{bin_dir}:{env['PATH']}"},
            check=True,
            capture_output=True,
        )
    regions, raw = write_demo_inputs(tmp_path / "demo")
    region = regions / "demo-hills.yaml"
    out = tmp_path / "bench"
    spec = {
        d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    }
    workers = [
        start(
            [
                sys.executable,
                "-m",
                "prefect",
                "worker",
                "start",
                "--pool",
                pool,
                "--type",
                "process",
            ],
            env,
            tmp_path / f"worker-{pool}.log",
        )
        for pool in ("etl", "gpu")
    ]
    try:
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_API_AUTH_STRING: AUTH}):
            with get_client(sync_client=True) as client:  # the limits of the compose file
                assert client.read_work_pool("gpu").concurrency_limit == 1
                queue = client.read_work_queue_by_name("benchmark", work_pool_name="etl")
                assert queue.concurrency_limit == 1
            # The deployments of prefect.yaml, with this checkout as their source.
            build = build_benchmark.from_source(str(ROOT), spec["build-benchmark"]["entrypoint"])
            build.deploy(
                name="build-benchmark",
                work_pool_name="etl",
                work_queue_name=spec["build-benchmark"]["work_pool"]["work_queue_name"],
                concurrency_limit=spec["build-benchmark"]["concurrency_limit"]["limit"],
                print_next_steps=False,
                parameters={"regions": str(region), "raw": str(raw), "out": str(out)},
            )
            retrain = retrain_baselines.from_source(
                str(ROOT), spec["retrain-baselines"]["entrypoint"]
            )
            retrain_id = retrain.deploy(
                name="retrain-baselines",
                work_pool_name="gpu",
                print_next_steps=False,
                triggers=[DeploymentEventTrigger(**spec["retrain-baselines"]["triggers"][0])],
                concurrency_limit=spec["retrain-baselines"]["concurrency_limit"]["limit"],
                parameters={
                    "models": "ContextNet",
                    "iterations": 4,
                    "batch_size": 2,
                    "device": "cpu",
                    "eval_every": 2,
                },
            )

            run = run_deployment("build-benchmark/build-benchmark", timeout=600)
            assert run.state.is_completed(), run.state
            meta = read_dataset_meta(out / "dataset.json")
            assert len(list((out / "TrainData" / "img").iterdir())) == meta.counts.train > 0

            # The new dataset version's event triggered the retraining on the GPU pool.
            with get_client(sync_client=True) as client:
                flt = DeploymentFilter(id=DeploymentFilterId(any_=[retrain_id]))
                deadline = time.monotonic() + 600
                state = None
                while time.monotonic() < deadline:
                    runs = client.read_flow_runs(deployment_filter=flt)
                    if runs and runs[0].state.is_final():
                        state = runs[0].state
                        break
                    time.sleep(2)
            assert state is not None and state.is_completed(), state
            assert runs[0].parameters["dataset"] == str(out.resolve())
            (row,) = csv.DictReader((out / "training" / meta.version / "table_i.csv").open())
            assert row["model"] == "ContextNet" and row["iterations"] == "4"

            # The same build fanned out on a 2-worker Dask cluster (`l4s build --dask local`,
            # in-process, against this server): the same bytes.
            monkeypatch.setenv("PREFECT_API_URL", url)
            monkeypatch.setenv("PREFECT_API_AUTH_STRING", AUTH)
            dask_out = tmp_path / "bench-dask"
            assert (
                main(
                    [
                        "build",
                        "--regions",
                        str(region),
                        "--raw",
                        str(raw),
                        "--out",
                        str(dask_out),
                        "--dask",
                        "local",
                    ]
                )
                == 0
            )
            assert digests(dask_out) == digests(out) and len(digests(out)) > 50
    finally:
        # The in-process flows' event and log workers talk to this server: deliver what they
        # hold and stop them, so that later tests get workers for their own API.
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        EventsWorker.drain_all(timeout=30)
        APILogWorker.drain_all(timeout=30)
        for w in workers:
            stop(w)
