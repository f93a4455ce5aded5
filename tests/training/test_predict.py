"""Overlapping windows cover the grid and blend without seams (exact answers, no model)."""

import numpy as np
import pytest

from landslide4sense.training.predict import Blender, blend_weights, window_starts


def test_window_starts_cover_the_length_and_end_at_it():
    assert window_starts(300, 128, 64) == [0, 64, 128, 172]
    assert window_starts(256, 128, 64) == [0, 64, 128]
    assert window_starts(128, 128, 64) == [0]
    assert window_starts(90, 128, 64) == [0]  # smaller than a window: one (padded) window


def test_blend_weights_peak_in_the_middle_and_never_vanish():
    w = blend_weights(128)
    assert w.min() > 0 and w[63, 63] == w[64, 64] == w.max() == pytest.approx(1.0)
    assert np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])
    assert w[0, 64] == pytest.approx(0.5 / 63.5)  # half a pixel from the edge, times 1


def blend_all(field: np.ndarray, valid: np.ndarray, size=128, stride=64, window=None):
    """Run the blender over a grid whose windows see ``field`` (or ``window(r, c)``)."""
    height, width = field.shape
    b = Blender(height, width, size, stride)
    out, next_row = np.full(field.shape, -1.0, np.float32), 0
    for k, r in enumerate(b.rows):
        probs = np.stack(
            [field[r : r + b.h, c : c + b.w] if window is None else window(r, c) for c in b.cols]
        )
        start, rows = b.add(k, probs, valid[r : r + b.h])
        assert start == next_row  # rows come out once each, in order
        out[start : start + len(rows)] = rows
        next_row = start + len(rows)
    assert next_row == height
    return out


@pytest.mark.parametrize("shape", [(300, 450), (256, 256), (100, 140), (129, 700)])
def test_windows_that_agree_blend_to_their_common_value_everywhere(shape):
    field = np.random.default_rng(1).random(shape).astype(np.float32)
    valid = np.ones(shape, bool)
    valid[5:9, 20:30] = False
    out = blend_all(field, valid)
    assert np.allclose(out[valid], field[valid], atol=1e-6)  # no seams, nothing uncovered
    assert np.isnan(out[~valid]).all()


def test_disagreeing_windows_are_weighted_by_distance_to_their_edges():
    # Two windows along a 192-px row strip: 0..127 says 0, 64..191 says 1.
    field = np.zeros((128, 192), np.float32)
    out = blend_all(
        field,
        np.ones(field.shape, bool),
        window=lambda r, c: np.full((128, 128), float(c > 0), np.float32),
    )
    w = blend_weights(128)[64]  # one row of weights (the row factor cancels)
    assert np.allclose(out[64, :64], 0) and np.allclose(out[64, 128:], 1)
    expected = w[:64] / (w[64:] + w[:64])  # column 64 + j: window 2's j-th, window 1's 64+j-th
    assert np.allclose(out[64, 64:128], expected, atol=1e-6)
    assert out[64, 64] < 0.05 and out[64, 127] > 0.95 and abs(out[64, 95] - 0.5) < 0.02
