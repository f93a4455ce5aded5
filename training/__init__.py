"""Training the paper's eleven baselines on a benchmark version, and reporting Table I.

``load_benchmark(folder)`` reads a benchmark (ours or the original competition release);
``train_model(name, data, TrainConfig(), out)`` trains one model by the paper's protocol;
:mod:`training.report` writes Table I and the figures; :mod:`training.predict` applies a
checkpoint to a region. Imports torch (install the ``train`` extra, see the README), but
neither rasterio nor Prefect: a GPU host trains with torch, numpy, h5py and pydantic.
"""

from landslide4sense.training.checkpoint import CheckpointInfo, load_model
from landslide4sense.training.data import PatchSet, Splits, load_benchmark
from landslide4sense.training.metrics import Confusion
from landslide4sense.training.models import MODELS, get_model, parameter_count
from landslide4sense.training.train import TrainConfig, read_metrics, train_model

__all__ = [
    "MODELS",
    "CheckpointInfo",
    "Confusion",
    "PatchSet",
    "Splits",
    "TrainConfig",
    "get_model",
    "load_benchmark",
    "load_model",
    "parameter_count",
    "read_metrics",
    "train_model",
]
