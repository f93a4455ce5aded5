"""Precision, recall and F1 of the landslide class from confusion counts summed over pixels."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Mask value of pixels without a label in some releases: left out of the loss and the scores.
NODATA = 255


@dataclass
class Confusion:
    """Pixel counts of the landslide class (1) against everything else (0)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, pred: np.ndarray, truth: np.ndarray) -> Confusion:
        """Accumulate one batch of predicted and true labels (any shape, values 0/1; truth 255
        is no data and is left out)."""
        p, t = pred.ravel(), truth.ravel()
        labelled = t != NODATA
        p, t = p[labelled].astype(bool), t[labelled].astype(bool)
        tp = int(np.count_nonzero(p & t))
        pos, true = int(np.count_nonzero(p)), int(np.count_nonzero(t))
        self.tp += tp
        self.fp += pos - tp
        self.fn += true - tp
        self.tn += p.size - pos - true + tp
        return self

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else 0.0

    def scores(self) -> dict[str, float | int]:
        """Counts, and precision / recall / F1 in percent (as in Table I)."""
        return {
            **asdict(self),
            "precision": 100 * self.precision,
            "recall": 100 * self.recall,
            "f1": 100 * self.f1,
        }
