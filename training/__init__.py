"""Training the paper's eleven baselines on a benchmark version, and reporting Table I.

``load_benchmark(folder)`` reads and standardises patches once; ``train_model(name, data,
TrainConfig(), out)`` trains one model by the paper's protocol; :mod:`training.report` writes
Table I and the figures. Imports torch: install the ``train`` extra (see the README).
"""

from training.data import Splits, load_benchmark
from training.metrics import Confusion
from training.models import MODELS, get_model, parameter_count
from training.train import TrainConfig, read_metrics, train_model

__all__ = [
    "MODELS",
    "Confusion",
    "Splits",
    "TrainConfig",
    "get_model",
    "load_benchmark",
    "parameter_count",
    "read_metrics",
    "train_model",
]
