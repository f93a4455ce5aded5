import numpy as np
import pytest

from landslide4sense.training.metrics import Confusion


def test_confusion_counts_by_hand():
    truth = np.array([[1, 1, 0, 0], [1, 0, 0, 0]])
    pred = np.array([[1, 0, 1, 0], [1, 0, 0, 1]])
    c = Confusion().add(pred, truth)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 2, 1, 3)
    assert c.precision == pytest.approx(2 / 4)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    s = c.scores()
    assert s["f1"] == pytest.approx(100 * 4 / 7) and s["tp"] == 2


def test_scores_name_precision_and_recall_by_hand():
    """2 true positives, 2 false positives, 1 false negative: precision 2/4, recall 2/3."""
    s = Confusion(tp=2, fp=2, fn=1, tn=3).scores()
    assert s["precision"] == pytest.approx(50.0)
    assert s["recall"] == pytest.approx(66.667, abs=1e-3)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 2, 1, 3)


def test_counts_sum_over_batches_not_averages_of_scores():
    a = Confusion().add(np.array([1, 1]), np.array([1, 1]))  # perfect on a small patch
    b = Confusion().add(np.array([0, 0, 0, 0]), np.array([1, 1, 1, 1]))  # misses a larger one
    total = a + b
    assert (total.tp, total.fn) == (2, 4)
    assert total.f1 == pytest.approx(2 * 2 / (2 * 2 + 4))  # not the mean of 1.0 and 0.0


def test_no_positives_anywhere():
    c = Confusion().add(np.zeros(5), np.zeros(5))
    assert (c.precision, c.recall, c.f1, c.tn) == (0.0, 0.0, 0.0, 5)
