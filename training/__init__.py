"""Training the paper's eleven baselines on a benchmark version, and reporting Table I.

``load_benchmark(folder)`` reads and standardises patches once; ``train_model(name, data,
TrainConfig(), out)`` trains one model by the paper's protocol; :mod:`training.report` writes
Table I and the figures. Imports torch: install the ``train`` extra (see the README).
"""

from landslide4sense.training.data import Splits, load_benchmark
from landslide4sense.training.metrics import Confusion
from landslide4sense.training.models import MODELS, get_model, parameter_count
from landslide4sense.training.train import TrainConfig, read_metrics, train_model

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
