"""The l4s commands that need no flow run (plan, models), the --dask wiring and missing extras."""

import json
import sys
from pathlib import Path

import pytest

from landslide4sense.flows.cli import _on_runner, main
from landslide4sense.geo import Grid
from tests.helpers import CONTRACTS

ROOT = Path(__file__).resolve().parents[2]


def band_selectors(expression: dict) -> set[str]:
    """Every band name an expression selects (``Image.select``'s ``bandSelectors``)."""
    values = expression["values"]

    def strings(node) -> list[str]:
        if "valueReference" in node:
            return strings(values[node["valueReference"]])
        if "arrayValue" in node:
            return [s for v in node["arrayValue"]["values"] for s in strings(v)]
        c = node.get("constantValue")
        return c if isinstance(c, list) else [c] if isinstance(c, str) else []

    def walk(node) -> set[str]:
        if isinstance(node, list):
            return set().union(*map(walk, node))
        if not isinstance(node, dict):
            return set()
        call = node.get("functionInvocationValue", {})
        here = (
            set(strings(call["arguments"]["bandSelectors"]))
            if call.get("functionName") == "Image.select"
            else set()
        )
        return here.union(*map(walk, node.values()))

    return walk(values)


@pytest.mark.parametrize("name", ["iburi-2018", "kodagu-2018", "rasuwa-2015", "taitung-2009"])
def test_plan_json_for_each_paper_region(name, capsys):
    assert main(["plan", str(ROOT / "regions" / f"{name}.yaml"), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert set(plan) >= {"grid", "requests", "expression"}
    assert {"bands", "x_offset", "y_offset", "width", "height", "bytes"} <= set(plan["requests"][0])
    for res in (10, 20, 60):
        reqs = [r for r in plan["requests"] if r["resolution"] == res]
        g = Grid.from_dict(reqs[0]["grid"])
        assert sum(r["width"] * r["height"] for r in reqs) == g.width * g.height
    if CONTRACTS.is_dir():  # every band the expressions select exists in the catalog entries
        assets = json.loads((CONTRACTS / "earthengine-assets.json").read_text())["assets"]
        catalog = {b["name"] for a in plan["collections"] for b in assets[a]["bands"]}
        selected = band_selectors(plan["expression"]) | band_selectors(plan["scene_summary"])
        assert (
            selected
            == {
                "B1",
                "B2",
                "B3",
                "B4",
                "B5",
                "B6",
                "B7",
                "B8",
                "B8A",
                "B9",
                "B10",
                "B11",
                "B12",
                "cs_cdf",
            }
            and selected <= catalog
        )


def test_plan_stac_and_bad_input(capsys, tmp_path):
    assert (
        main(["plan", str(ROOT / "regions" / "iburi-2018.yaml"), "--source", "stac", "--json"]) == 0
    )
    plan = json.loads(capsys.readouterr().out)
    assert plan["search"]["collections"] == ["sentinel-2-l1c"] and "20m" in plan["band_grids"]
    assert main(["plan", str(tmp_path / "missing.yaml")]) == 2
    assert "region file not found" in capsys.readouterr().err


def test_models_lists_the_eleven(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 12 and "ResU-Net" in out and "FRRN-B" in out


def test_version(capsys):
    from landslide4sense import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"l4s {__version__}"


def _commands(parser):
    """Every (sub)command parser, depth first."""
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _commands(sub)


def test_every_option_has_help_and_shows_its_default_and_choices(capsys):
    from landslide4sense.flows.cli import _parser

    for command in _commands(_parser()):
        for action in command._actions:
            assert action.help, f"{command.prog} {action.option_strings or action.dest}: no help"
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert "--source {local,earthengine,stac,cdse}" in out and "(default: local)" in out
    assert "--valid, --no-valid" in out and "--split-files, --no-split-files" in out
    assert "--layout {release,release+split-files,with-valid,with-valid+split-files}" in out
    assert "(default: None)" not in out and "(default: False)" not in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 5000)", "(default: 32)", "(default: 500)", "(default: 2022)"):
        assert default in out


def test_every_command_shows_examples_in_its_help(capsys):
    from landslide4sense.flows.cli import _parser

    leaves = [c for c in _commands(_parser()) if not any(a.nargs == "A..." for a in c._actions)]
    assert len(leaves) == 15  # every command and step that does something
    for command in leaves:
        text = command.format_help()
        assert "\nexamples:\n  " in text, f"{command.prog}: no examples"
        assert all(
            line.strip().startswith(("l4s ", "eval ", "qgis "))
            for line in text.split("\nexamples:\n")[1].splitlines()
        ), command.prog


def completions(script: str, line: str) -> list[str]:
    """What bash completes for ``line`` (the word being typed is its last) with ``script``."""
    import subprocess

    run = (
        'source /dev/stdin; read -ra COMP_WORDS <<< "$1"; [[ $1 == *" " ]] && COMP_WORDS+=("");'
        ' COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _l4s; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(
        ["bash", "-c", run, "_", line], input=script, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_completion_script_completes_commands_options_and_choices(capsys, tmp_path):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert script.endswith("complete -o filenames -F _l4s l4s\n")
    assert completions(script, "l4s ver") == ["versions"]
    assert completions(script, "l4s versions --") == ["--help", "--json"]
    assert completions(script, "l4s annotate c") == ["candidates"]
    assert completions(script, "l4s annotate candidates --f") == ["--from-model", "--force"]
    assert completions(script, "l4s build --source ") == ["local", "earthengine", "stac", "cdse"]
    assert completions(script, "l4s plan x.yaml --source e") == ["earthengine"]
    (tmp_path / "bench").mkdir()
    assert completions(script, f"l4s versions {tmp_path}/be") == [f"{tmp_path}/bench"]


def test_quiet_keeps_only_warnings_and_no_bars(monkeypatch):
    import logging

    from landslide4sense.flows import cli
    from landslide4sense.runtime import console

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    root = logging.getLogger()
    before = root.handlers[:], root.level
    try:
        root.handlers = []
        cli._log_to_terminal(verbose=False, quiet=True)
        assert root.level == logging.WARNING and console._console is None
    finally:
        root.handlers, root.level = before
        console.use_terminal(False)
    with pytest.raises(SystemExit):
        main(["-q", "-v", "models"])  # one or the other


def test_browse_prints_the_page_or_says_there_is_none(tmp_path, capsys):
    from landslide4sense.patching import assemble
    from landslide4sense.store.output import claim_output
    from tests.patching.test_assemble import two_regions

    out = tmp_path / "bench"
    claim_output(out)
    assemble(out, two_regions(tmp_path), "raw", figures=False)
    assert main(["browse", str(out)]) == 0
    url = capsys.readouterr().out.strip()
    assert url == (out / "browse" / "index.html").resolve().as_uri()
    assert url.startswith("file:///") and "/versions/" in url  # the current version's own
    assert main(["browse", str(tmp_path)]) == 2  # not a benchmark
    assert "not a landslide4sense benchmark folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected", "deprecated"),
    [
        (["build"], (False, False), False),
        (["build", "--valid", "--split-files"], (True, True), False),
        (["add-region", "r.yaml"], (None, None), False),  # the benchmark's
        (["add-region", "r.yaml", "--no-valid"], (False, None), False),
        (["build", "--layout", "with-valid"], (True, False), True),
        (["add-region", "r.yaml", "--layout", "release+split-files"], (False, True), True),
    ],
)
def test_the_layout_is_two_options_and_layout_a_deprecated_name(argv, expected, deprecated, capsys):
    from landslide4sense.flows.cli import _layout, _parser

    args = _parser().parse_args([*argv, "--out", "o"])
    assert tuple(_layout(args).values()) == expected
    assert ("--layout is deprecated" in capsys.readouterr().err) is deprecated


def test_help_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys; from landslide4sense.flows.cli import _parser; _parser().format_help(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'torch', "
        "'rasterio', 'geopandas', 'numpy', 'rich'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hints_name_a_command_that_runs(tmp_path, monkeypatch):
    from landslide4sense.flows import cli

    script = tmp_path / "venv" / "bin" / "l4s"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [str(script)])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert cli.runnable() == "venv/bin/l4s"  # not on PATH: its path, relative to here
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin")
    assert cli.runnable() == "l4s"


def test_libraries_chatter_stays_off_the_terminal():
    import logging

    from landslide4sense.flows.cli import _Chatty

    def record(name, level, msg):
        return logging.LogRecord(name, level, __file__, 1, msg, None, None)

    chatty = _Chatty()
    assert not chatty.filter(record("pyogrio._io", logging.INFO, "Created 355 records"))
    assert not chatty.filter(record("httpx", logging.INFO, "HTTP Request: GET ..."))
    assert chatty.filter(record("pyogrio._io", logging.WARNING, "field truncated"))
    assert chatty.filter(record("pyogrion", logging.INFO, "another package"))
    assert chatty.filter(record("landslide4sense.annotation.labels", logging.INFO, "labels"))


def test_task_lines_stay_off_the_terminal_unless_failed():
    import logging

    from landslide4sense.flows.cli import _QuietTasks

    def record(name, level, msg):
        return logging.LogRecord(name, level, __file__, 1, msg, None, None)

    quiet = _QuietTasks()
    assert not quiet.filter(
        record("prefect.task_runs", logging.INFO, "Finished in state Completed()")
    )
    assert not quiet.filter(
        record(
            "prefect.task_runs",
            logging.INFO,
            "Finished in state Cached('inputs unchanged', type=COMPLETED)",
        )
    )
    assert quiet.filter(record("prefect.task_runs", logging.ERROR, "Finished in state Failed()"))
    assert quiet.filter(record("prefect.flow_runs", logging.INFO, "Finished in state Completed()"))
    assert quiet.filter(record("landslide4sense.patching", logging.INFO, "cut 12 patches"))


def test_dask_option_runs_the_flow_on_a_dask_task_runner():
    from prefect_dask import DaskTaskRunner

    from landslide4sense.flows.build import build_benchmark

    assert _on_runner(build_benchmark, None) is build_benchmark
    flow = _on_runner(build_benchmark, "tcp://127.0.0.1:8786")
    assert isinstance(flow.task_runner, DaskTaskRunner) and flow.name == "build-benchmark"
    assert flow.task_runner.address == "tcp://127.0.0.1:8786"
    local = _on_runner(build_benchmark, "local")
    assert local.task_runner.address is None  # a cluster of its own: 2 worker processes
    assert local.task_runner.cluster_kwargs == {
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": True,
    }
    # The workers report to the API the command runs on (tests/flows/test_api.py): it is
    # exported in PREFECT_API_URL before the cluster starts.


@pytest.mark.parametrize(
    ("module", "argv", "extra"),
    [
        ("prefect_dask", ["build", "--dask", "local"], "dask"),
        ("torch", ["models"], "train"),
        ("torch", ["train", "--dataset", "."], "train"),
        ("ee", ["plan", str(ROOT / "regions" / "iburi-2018.yaml")], "earthengine"),
    ],
)
def test_a_missing_extra_names_the_pip_command(module, argv, extra, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # what `import module` meets when absent
    for loaded in [m for m in sys.modules if m.startswith("landslide4sense.acquisition.earth")]:
        monkeypatch.delitem(sys.modules, loaded)  # imported again, without ee
    if argv[0] == "build":
        argv = [*argv, "--out", str(tmp_path / "out"), "--raw", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"pip install 'landslide4sense[{extra}]'" in err and f"'{module}'" in err
    assert not (tmp_path / "out").exists()
