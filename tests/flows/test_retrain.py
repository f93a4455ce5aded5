"""Retraining: the flow on a demo benchmark, and its trigger on a new dataset version."""

import asyncio
import csv
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.runner import Runner

from landslide4sense.errors import ConfigError
from landslide4sense.files import read_json
from landslide4sense.flows.build import build_benchmark
from landslide4sense.flows.cli import main
from landslide4sense.flows.retraining import retrain_baselines
from landslide4sense.records import read_dataset_meta
from landslide4sense.training.data import load_benchmark
from landslide4sense.training.models import get_model
from landslide4sense.training.synthetic import write_release
from tests.helpers import hold, said_it_waits

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROOT = Path(__file__).resolve().parents[2]
QUICK = {"models": "ContextNet", "iterations": 4, "batch_size": 2, "device": "cpu", "eval_every": 2}


def rescore(bench: Path, checkpoint: Path, name: str) -> dict[str, int]:
    """Test-split confusion counts of a saved model, computed here (not by the trainer)."""
    data = load_benchmark(bench)
    model = get_model(name, data.test.image_shape[0])
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["weights"])
    model.eval()
    with torch.no_grad():
        pred = np.concatenate(
            [model(torch.from_numpy(images)).argmax(1) for _, images in data.test.batches(16)]
        ).astype(bool)
    truth = data.test.masks.astype(bool)
    return {
        "tp": int((pred & truth).sum()),
        "fp": int((pred & ~truth).sum()),
        "fn": int((~pred & truth).sum()),
        "tn": int((~pred & ~truth).sum()),
    }


def test_retrain_writes_table_i_and_skips_a_trained_version(demo_inputs, tmp_path, capsys):
    regions, raw = demo_inputs
    bench = tmp_path / "bench"
    build_benchmark(regions=regions / "demo-hills.yaml", out=bench, raw=raw)
    meta = read_dataset_meta(bench / "dataset.json")
    run = bench / "training" / meta.version
    args = [f"--{k.replace('_', '-')}={v}" for k, v in QUICK.items()]
    assert main(["train", "--dataset", str(bench), *args]) == 0  # `l4s train`, in-process
    printed = capsys.readouterr().out
    assert f"results: {run}/ (table_i.csv" in printed and "| ContextNet |" in printed
    for f in (
        "table_i.csv",
        "table_i.md",
        "spider.png",
        "detections.png",
        "ContextNet/best.pt",
        "ContextNet/metrics.json",
    ):
        assert (run / f).stat().st_size > 0, f
    scores = read_json(run / "ContextNet" / "metrics.json")["scores"]["test"]["all"]
    counts = {k: scores[k] for k in ("tp", "fp", "fn", "tn")}
    assert sum(counts.values()) == meta.counts.test * 128 * 128  # every test pixel, once
    assert counts == rescore(bench, run / "ContextNet" / "best.pt", "ContextNet")
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    assert scores["f1"] == pytest.approx(100 * 2 * tp / (2 * tp + fp + fn))
    (row,) = csv.DictReader((run / "table_i.csv").open())
    assert row["model"] == "ContextNet" and float(row["test_f1"]) == pytest.approx(scores["f1"])
    precision = 100 * tp / (tp + fp) if tp + fp else 0.0
    recall = 100 * tp / (tp + fn) if tp + fn else 0.0
    assert float(row["test_precision"]) == pytest.approx(precision)
    assert float(row["test_recall"]) == pytest.approx(recall)
    assert float(row["paper_f1"]) == 58.11  # the paper's Table I, beside ours
    again = retrain_baselines(dataset=bench, **QUICK)
    assert again["trained"] == [] and again["skipped"] == ["ContextNet"]
    assert retrain_baselines(dataset=bench, force=True, **QUICK)["trained"] == ["ContextNet"]
    with pytest.raises(ConfigError, match="unknown model"):
        retrain_baselines(dataset=bench, models="SegNet")


def table_row(table: str, model: str) -> list[str]:
    line = next(x for x in table.splitlines() if x.startswith(f"| {model} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_competition_layout_scores_every_split_with_masks(tmp_path):
    root = write_release(tmp_path / "release", 12, 6, size=32, seed=3, n_val=4)
    table = Path(retrain_baselines(dataset=root, **QUICK)["table"]).read_text()
    assert "- validation: 4 patches (ValidData) pick the checkpoint" in table
    assert "- TestData: 6 patches with masks, scored (test)" in table
    cells = table_row(table, "ContextNet")
    assert all(0 <= float(c) <= 100 for c in cells[1:5])  # test R/P/F1 and validation F1
    assert cells[5:8] == ["49.29", "70.77", "58.11"]  # the paper's, on its own split


def test_training_waits_while_another_run_holds_the_results_folder(tmp_path, caplog):
    root = write_release(tmp_path / "release", 8, 4, size=32, seed=3)
    results = root / "training"  # a folder not ours: its results folder is the one locked
    holder = hold(results, 120)
    with ThreadPoolExecutor(1) as pool:
        try:
            run = pool.submit(retrain_baselines, dataset=root, **QUICK)
            assert said_it_waits(run, caplog)
            assert not list(results.glob("*/ContextNet"))  # nothing trained meanwhile
        finally:
            os.kill(holder.pid, signal.SIGKILL)  # the kernel releases its lock
            holder.wait()
        assert run.result(timeout=300)["trained"] == ["ContextNet"]


def test_a_release_without_test_masks_says_so_in_table_i(tmp_path):
    root = write_release(tmp_path / "first", 12, 6, size=32, seed=3, n_val=4, masks=("train",))
    table = Path(retrain_baselines(dataset=root, **QUICK)["table"]).read_text()
    assert table_row(table, "ContextNet")[1:4] == ["no masks"] * 3
    assert "this release has no TestData masks, so there are no test scores" in table
    assert "- ValidData: 4 patches without masks in this release: not scored" in table
    assert "- TestData: 6 patches without masks in this release: not scored" in table
    assert "- validation: 2 patches (held out from TrainData: the last 10% of each" in table


def test_a_new_dataset_version_triggers_retraining(demo_inputs, tmp_path):
    """The trigger of prefect.yaml, applied as a deployment served by a local Runner."""
    spec = next(
        d
        for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
        if d["name"] == "retrain-baselines"
    )
    trigger = DeploymentEventTrigger(**spec["triggers"][0])
    deployment = retrain_baselines.to_deployment(
        name="retrain-on-update", triggers=[trigger], parameters=QUICK
    )
    deployment_id = deployment.apply()

    regions, raw = demo_inputs
    bench = tmp_path / "bench"
    build_benchmark(regions=regions / "demo-valley.yaml", out=bench, raw=raw)  # a new version
    version = read_dataset_meta(bench / "dataset.json").version

    with get_client(sync_client=True) as client:
        flt = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        runs = []
        deadline = time.monotonic() + 90
        while not runs and time.monotonic() < deadline:
            runs = client.read_flow_runs(deployment_filter=flt)
            time.sleep(0.5)
        assert len(runs) == 1, "no flow run was triggered by the l4s.dataset.updated event"
        assert runs[0].parameters["dataset"] == str(bench.resolve())
        assert runs[0].parameters["iterations"] == 4  # the deployment's own parameters stay

        async def serve_once():
            runner = Runner(query_seconds=1, limit=1)
            await runner.add_deployment(deployment)
            await runner.start(run_once=True)

        asyncio.run(serve_once())
        state = client.read_flow_run(runs[0].id).state
    assert state.is_completed(), state
    (row,) = csv.DictReader((bench / "training" / version / "table_i.csv").open())
    assert row["model"] == "ContextNet" and row["iterations"] == "4"
