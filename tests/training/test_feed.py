"""Splits on the training device: held or streamed, the same batches either way."""

import numpy as np
import pytest
import torch

from landslide4sense.training import checkpoint, feed
from landslide4sense.training.data import load_benchmark
from landslide4sense.training.feed import DeviceSplit, batch_indices, patch_counts
from landslide4sense.training.synthetic import write_release
from landslide4sense.training.train import TrainConfig, flip, train_model

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = write_release(tmp_path_factory.mktemp("small"), 10, 5, size=16, seed=8)
    return load_benchmark(root)


def test_held_and_streamed_splits_give_the_same_batches(small):
    held = DeviceSplit(small.train, CPU, resident=True)
    streamed = DeviceSplit(small.train, CPU, resident=False)
    assert held.images is not None and streamed.images is None
    # 10 patches, batch 4: two batches an epoch, so iterations 0-4 cross two epoch boundaries.
    for i, ((xa, ya), (xb, yb)) in enumerate(
        zip(held.train_batches(4, 7, 0, 5), streamed.train_batches(4, 7, 0, 5), strict=True)
    ):
        idx = batch_indices(10, 4, 7, i)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert np.array_equal(xa.numpy(), small.train.read(idx))  # standardised, as read
        assert np.array_equal(ya.numpy(), small.train.masks[idx])
    starts = [(a, x) for a, x in held.eval_batches(4)]
    assert [a for a, _ in starts] == [0, 4, 8]
    for (a, x), (b, y) in zip(starts, streamed.eval_batches(4), strict=True):
        assert a == b and torch.equal(x, y)


def test_a_resumed_stream_continues_where_it_stopped(small):
    held = DeviceSplit(small.train, CPU, resident=True)
    whole = [x for x, _ in held.train_batches(4, 7, 0, 6)]
    later = [x for x, _ in held.train_batches(4, 7, 3, 6)]
    assert all(torch.equal(a, b) for a, b in zip(whole[3:], later, strict=True))


def test_a_split_larger_than_the_host_budget_is_streamed(small, monkeypatch):
    assert DeviceSplit(small.test, CPU).resident  # 5 x 14 x 16 x 16 float32: 72 KB
    monkeypatch.setattr(feed, "HOST_BUDGET", 5 * 14 * 16 * 16 * 4 - 1)
    assert not DeviceSplit(small.test, CPU).resident


def test_pixel_counts_per_patch_leave_no_data_out():
    truth = torch.tensor([[[1, 1], [0, 255]], [[0, 0], [255, 255]]], dtype=torch.uint8)
    pred = torch.tensor([[[1, 0], [1, 1]], [[1, 0], [1, 1]]])
    # per patch: true positives, predicted positives, true positives + false negatives, labelled
    assert patch_counts(pred, truth).tolist() == [[1, 2, 2, 3], [0, 1, 0, 2]]


def test_flips_move_images_and_masks_together():
    y = torch.arange(2 * 3 * 4).reshape(2, 3, 4).to(torch.uint8)
    x = y[:, None].float().repeat(1, 2, 1, 1)
    variants = {"none": y, "h": y.flip(2), "v": y.flip(1), "hv": y.flip(1).flip(2)}
    seen = set()
    for iteration in range(8):
        fx, fy = flip(x, y, seed=1, iteration=iteration)
        assert torch.equal(fx[:, 0], fy.float()) and torch.equal(fx[:, 1], fy.float())
        for i in range(2):
            (kind,) = [k for k, v in variants.items() if torch.equal(fy[i], v[i])]
            seen.add(kind)
        assert torch.equal(flip(x, y, 1, iteration)[1], fy)  # a function of (seed, iteration)
    assert seen == set(variants)


def test_training_on_a_streamed_split_ends_as_on_a_held_one(small, tmp_path, monkeypatch):
    cfg = TrainConfig(iterations=4, batch_size=2, eval_every=2, device="cpu", seed=5)
    held = train_model("ContextNet", small, cfg, tmp_path / "held")
    monkeypatch.setattr(feed, "HOST_BUDGET", 0)
    small.on_device.clear()
    try:
        streamed = train_model("ContextNet", small, cfg, tmp_path / "streamed")
    finally:
        small.on_device.clear()
    assert (
        streamed["scores"] == held["scores"]
        and streamed["history"][-1]["loss"] == (held["history"][-1]["loss"])
    )
    wa = checkpoint.load(tmp_path / "held" / "best.pt")["weights"]
    wb = checkpoint.load(tmp_path / "streamed" / "best.pt")["weights"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
