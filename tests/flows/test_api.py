"""The local Prefect API kept alive between commands, and the CLI's fast checks."""

import json
import os
import subprocess
import sys
import time

import pytest

PROBE = """
import json, os, urllib.request
from prefect.settings import PREFECT_API_URL
from landslide4sense.flows.api import local_api

first = local_api()
with first:
    settings_url = PREFECT_API_URL.value()
    env_url = os.environ["PREFECT_API_URL"]
    health = urllib.request.urlopen(env_url + "/health").status
second = local_api()  # another command: finds the same server
print(json.dumps({"urls": [first.url, second.url, settings_url, env_url], "health": health,
                  "pids": [first._pid, second._pid], "after": os.environ.get("PREFECT_API_URL")}))
"""


def clean_env(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return {**env, "PREFECT_HOME": str(home), **extra}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow  # waits for the idle exit
def test_one_local_server_serves_later_commands_and_exits_when_idle(tmp_path):
    env = clean_env(tmp_path / "home", L4S_API_IDLE_S="5")  # a loaded machine answers late
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(set(r["urls"])) == 1 and r["urls"][0].startswith("http://127.0.0.1:")
    assert r["health"] == 200 and r["after"] is None  # the environment is restored
    pid = r["pids"][0]
    assert r["pids"] == [pid, pid]
    state = json.loads((tmp_path / "home" / "l4s-api.json").read_text())
    assert state["pid"] == pid and state["url"] == r["urls"][0]
    deadline = time.monotonic() + 60
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid), "the local API did not exit after 5 s idle"


def test_a_configured_api_is_used_and_nothing_is_started(tmp_path):
    env = clean_env(tmp_path / "home", PREFECT_API_URL="http://127.0.0.1:9/api")
    code = (
        "from landslide4sense.flows.api import local_api\n"
        "api = local_api(); print(api.url, api.owned)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["http://127.0.0.1:9/api", "False"]
    assert not (tmp_path / "home" / "l4s-api.json").exists()


def test_bad_input_is_rejected_before_prefect_is_imported(tmp_path):
    region = tmp_path / "r.yaml"
    region.write_text("name: Bad Name\n")
    code = (
        "import sys\n"
        "from landslide4sense.flows.cli import main\n"
        f"code = main(['add-region', {str(region)!r}, '--raw', {str(tmp_path)!r}, "
        f"'--out', {str(tmp_path / 'out')!r}])\n"
        "print(code, 'prefect' in sys.modules, 'geopandas' in sys.modules)"
    )
    env = clean_env(tmp_path / "home")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["2", "False", "False"], done.stderr[-2000:]
    assert str(region) in done.stderr and "name" in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "home").exists()
