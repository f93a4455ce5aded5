"""The retraining flow: the eleven baselines on one dataset version, then Table I and figures.

``retrain_baselines`` trains each asked model (skipping those already trained on this version
with the same settings, unless ``force``), then writes ``table_i.csv``, ``table_i.md``,
``spider.png`` and ``detections.png`` into ``OUT/<version>/``. Publishing a new dataset version
emits the ``l4s.dataset.updated`` event (see :mod:`.build`); the deployment trigger in
``prefect.yaml`` turns that event into a run of this flow on the GPU work pool.
"""

from __future__ import annotations

import functools
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
from landslide4sense.layout import DATASET_JSON
from landslide4sense.records import read_dataset_meta

DATASET_UPDATED = "l4s.dataset.updated"


def model_names(models: str | list[str]) -> list[str]:
    """``all``, a comma-separated string or a list of names, checked against the registry."""
    from landslide4sense.training.models import MODELS

    names = list(MODELS) if models in ("all", ["all"]) else models
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(unknown)}; choose from: {', '.join(MODELS)}"
        )
    return names


def dataset_version(dataset: Path) -> str:
    """The version in the benchmark's ``dataset.json``; for a folder without one (the original
    release), a digest of its files."""
    if (dataset / DATASET_JSON).exists():
        return read_dataset_meta(dataset / DATASET_JSON).version
    from landslide4sense.training.data import folder_version

    return folder_version(dataset)


@functools.lru_cache(maxsize=1)
def _benchmark(dataset: str, version: str):
    """The benchmark in memory, read once per version for all the models of a run."""
    from landslide4sense.training.data import load_benchmark

    return load_benchmark(dataset)


@task
def train_one(dataset: Path, version: str, name: str, config: dict, out: Path) -> dict:
    """Train and score one model; returns its metrics."""
    from landslide4sense.training.report import sample_index
    from landslide4sense.training.train import TrainConfig, train_model

    logger = get_run_logger()
    data = _benchmark(str(dataset), version)
    artifact = create_progress_artifact(0.0, description=f"{name}: iterations done")

    def progress(i: int, n: int, loss) -> None:
        if i % 50 and i != n:
            return
        update_progress_artifact(artifact, 100.0 * i / n)
        if i % 500 == 0 or i == n:
            logger.info("%s: iteration %d/%d, loss %.4f", name, i, n, float(loss))

    return train_model(name, data, TrainConfig(**config), out / name, progress, sample_index(data))


@task
def write_report(dataset: Path, version: str, out: Path, names: list[str]) -> Path:
    """Table I, the spider plots and the detection maps of the trained models."""
    from landslide4sense.training.report import (
        plot_detections,
        plot_spider,
        sample_index,
        write_table,
    )
    from landslide4sense.training.train import read_metrics

    results = {n: m for n in names if (m := read_metrics(out / n)) is not None}
    _, md = write_table(out, results, version)
    plot_spider(out / "spider.png", results)
    data = _benchmark(str(dataset), version)
    preds = {n: np.load(out / n / "sample_predictions.npy") for n in results
             if (out / n / "sample_predictions.npy").exists()}  # fmt: skip
    plot_detections(out / "detections.png", data, sample_index(data), preds)
    create_markdown_artifact(md.read_text(), key="table-i", description=f"Table I of {version}")
    return md


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
) -> dict:
    """Train the baselines on the benchmark at ``dataset``; results in ``OUT/<version>/``.

    ``out`` defaults to ``<dataset>/training``. A model already trained on this version with
    the same settings is skipped unless ``force``. ``compile`` uses ``torch.compile`` (CUDA);
    ``augment`` flips training patches at random (off by default: the paper names none).
    """
    require_extra("torch", "train")
    from landslide4sense.training.train import TrainConfig, read_metrics

    logger = get_run_logger()
    dataset = Path(dataset)
    names = model_names(models)
    version = dataset_version(dataset)
    run_dir = Path(out or dataset / "training") / version
    cfg = TrainConfig(
        iterations=iterations, batch_size=batch_size, device=device, seed=seed,
        eval_every=min(eval_every, iterations), compile=compile, augment=augment,
    ).model_dump()  # fmt: skip
    trained, skipped = [], []
    for name in names:
        done = read_metrics(run_dir / name)
        if done is not None and done["config"] == cfg and not force:
            skipped.append(name)
            logger.info("%s already trained on version %s with these settings", name, version)
            continue
        train_one(dataset, version, name, cfg, run_dir)
        trained.append(name)
    table = write_report(dataset, version, run_dir, names)
    return {"version": version, "out": str(run_dir), "trained": trained, "skipped": skipped,
            "table": str(table)}  # fmt: skip
