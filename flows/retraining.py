"""The retraining flow: the eleven baselines on one dataset version, then Table I and figures.

``retrain_baselines`` trains each asked model once per seed (skipping runs already made on this
version with the same settings, unless ``force``), then writes ``table_i.csv``, ``table_i.md``,
``spider.png`` and ``detections.png`` into ``OUT/<version>/``. The first seed's run is in
``OUT/<version>/<model>/``, each further seed's in ``<model>/seed-<seed>/``. The benchmark is
read once and its splits put on the device once, for every model and seed of the run.
Publishing a new dataset version emits the ``l4s.dataset.updated`` event (see :mod:`.build`);
the deployment trigger in ``prefect.yaml`` turns that event into a run of this flow on the
GPU work pool.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)

from landslide4sense.choices import Device
from landslide4sense.errors import ConfigError
from landslide4sense.extras import require_extra
from landslide4sense.flows.runners import flow_run_name
from landslide4sense.store.benchmark import open_benchmark

DATASET_UPDATED = "l4s.dataset.updated"


@task
def train_one(
    dataset: Path,
    version: str,
    name: str,
    config: dict,
    out: Path,
    resume: bool = True,
    keep_optimizer: bool = False,
) -> dict:
    """Train and score one model (one seed) into ``out``; returns its metrics. Progress shows
    live in the terminal (or as log lines) and in the Prefect UI (a progress artifact)."""
    from landslide4sense.training.data import load_benchmark_once
    from landslide4sense.training.progress import TrainingProgress
    from landslide4sense.training.report import sample_index
    from landslide4sense.training.train import TrainConfig, train_model

    data = load_benchmark_once(dataset)
    artifact = create_progress_artifact(0.0, description=f"{name}: starting")

    def to_prefect(snapshot) -> None:
        update_progress_artifact(artifact, snapshot.percent, description=snapshot.line())

    with TrainingProgress(name, on_update=to_prefect) as progress:
        return train_model(
            name,
            data,
            TrainConfig(**config),
            out,
            progress,
            sample_index(data),
            resume=resume,
            keep_optimizer=keep_optimizer,
        )


def seed_folder(run_dir: Path, name: str, seed: int, first: int) -> Path:
    """Where the run of ``name`` with ``seed`` lives (the first seed's: the model's folder)."""
    return run_dir / name if seed == first else run_dir / name / f"seed-{seed}"


@task
def write_report(
    dataset: Path, version: str, out: Path, names: list[str], seeds: list[int]
) -> Path:
    """Table I (mean and standard deviation over ``seeds``), the spider plots and the
    detection maps of the trained models."""
    from landslide4sense.training.data import load_benchmark_once
    from landslide4sense.training.report import (
        plot_detections,
        plot_spider,
        sample_index,
        write_table,
    )
    from landslide4sense.training.train import read_metrics

    runs = {n: [read_metrics(seed_folder(out, n, s, seeds[0])) for s in seeds] for n in names}
    results = {n: [m for m in ms if m is not None] for n, ms in runs.items()}
    results = {n: ms for n, ms in results.items() if ms}
    _, md = write_table(out, results, version)
    plot_spider(out / "spider.png", results)
    data = load_benchmark_once(dataset)
    preds = {
        n: np.load(out / n / "sample_predictions.npy")
        for n in results
        if (out / n / "sample_predictions.npy").exists()
    }
    plot_detections(out / "detections.png", data, sample_index(data), preds)
    create_markdown_artifact(md.read_text(), key="table-i", description=f"Table I of {version}")
    _show_in_browser(dataset, out)
    return md


def _show_in_browser(dataset: Path, out: Path) -> None:
    """Give the version's benchmark browser its Table I and spider plot (a version of ours
    published with a browser; the original release has none)."""
    from landslide4sense.layout import BROWSE_DIR
    from landslide4sense.patching.browser import TRAINING_JS, write_training

    browse = Path(dataset) / BROWSE_DIR
    if (browse / TRAINING_JS).is_file():
        write_training(browse, out / "table_i.csv", out / "spider.png")


@flow(name="retrain-baselines")
def retrain_baselines(
    dataset: Path,
    models: str = "all",
    iterations: int = 5000,
    batch_size: int = 32,
    device: Device = Device.AUTO,
    out: Path | None = None,
    force: bool = False,
    seed: int = 2022,
    eval_every: int = 500,
    compile: bool = False,
    augment: bool = False,
    keep_optimizer: bool = False,
    seeds: int = 1,
    deterministic: bool = False,
) -> dict:
    """Train the baselines on the benchmark at ``dataset``; results in ``OUT/<version>/``.

    ``out`` defaults to ``<dataset>/training``. Each model trains ``seeds`` times, with seeds
    ``seed``, ``seed + 1``, ... (three for a Table I run: it reports their mean and standard
    deviation). A run already made on this version with the same settings is skipped;
    ``force`` retrains it from scratch. ``compile`` uses ``torch.compile`` (CUDA); ``augment``
    flips training patches at random (off by default: the paper names none);
    ``keep_optimizer`` keeps each model's ``last.pt`` (Adam's state); ``deterministic`` uses
    deterministic algorithms on CUDA (slower; a resumed run then ends exactly as an
    uninterrupted one).
    """
    require_extra("torch", "train")
    from landslide4sense.store.output import claim_output, is_benchmark, own_results, writable
    from landslide4sense.store.versions import data_folder
    from landslide4sense.training.data import dataset_version
    from landslide4sense.training.models import model_names
    from landslide4sense.training.train import read_metrics, train_config

    logger = get_run_logger()
    dataset = Path(dataset)
    names = model_names(models)
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    settings = {
        "iterations": iterations,
        "batch_size": batch_size,
        "device": device,
        "eval_every": eval_every,
        "compile": compile,
        "augment": augment,
        "deterministic": deterministic,
    }
    all_seeds = [seed + k for k in range(seeds)]
    configs = {s: train_config(seed=s, **settings).model_dump(mode="json") for s in all_seeds}
    results = Path(out or dataset / "training")
    if own_results(dataset, out) is not None:  # a folder of results of ours, or a new one
        claim_output(results, "training")
    # One run at a time per benchmark (or, for a folder not ours or one that cannot be written,
    # per results folder), on one version throughout: the current one's own folder.
    ours = is_benchmark(dataset) and (out is None or writable(dataset))
    held = dataset if ours else results
    with open_benchmark(held, f"l4s train {dataset}", flow_run_name(), claim=False):
        data = data_folder(dataset)
        version = dataset_version(data)  # checked: it names the results folder
        run_dir = results / version
        trained, skipped = [], []
        for name in names:
            for s, cfg in configs.items():
                folder = seed_folder(run_dir, name, s, seed)
                label = name if s == seed else f"{name} (seed {s})"
                done = read_metrics(folder)
                if done is not None and done["config"] == cfg and "scores" in done and not force:
                    skipped.append(label)
                    logger.info("%s already trained on %s with these settings", label, version)
                    continue
                train_one(
                    data,
                    version,
                    name,
                    cfg,
                    folder,
                    resume=not force,
                    keep_optimizer=keep_optimizer,
                )
                trained.append(label)
        table = write_report(data, version, run_dir, names, all_seeds)
    return {
        "version": version,
        "out": str(run_dir),
        "trained": trained,
        "skipped": skipped,
        "table": str(table),
    }
