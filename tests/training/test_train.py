import numpy as np
import pytest
import torch

from landslide4sense.training.data import load_benchmark
from landslide4sense.training.synthetic import write_release
from landslide4sense.training.train import TrainConfig, batch_indices, train_model


@pytest.fixture(scope="module")
def separable(tmp_path_factory):
    root = write_release(tmp_path_factory.mktemp("release"), 40, 16, size=64, seed=7)
    return load_benchmark(root)


def weights(path):
    return torch.load(path, weights_only=False)["model"]


@pytest.mark.slow  # about 140 s on 2 cores
def test_unet_learns_separable_landslides(separable, tmp_path):
    cfg = TrainConfig(iterations=200, batch_size=4, eval_every=50, device="cpu", seed=0)
    metrics = train_model("U-Net", separable, cfg, tmp_path)
    assert metrics["test"]["all"]["f1"] >= 90.0, metrics["history"]
    assert [h["iteration"] for h in metrics["history"]] == [50, 100, 150, 200]
    assert (tmp_path / "best.pt").exists() and (tmp_path / "metrics.json").exists()


def test_same_seed_same_numbers(separable, tmp_path):
    cfg = TrainConfig(iterations=6, batch_size=2, eval_every=3, device="cpu", seed=5)
    a = train_model("ContextNet", separable, cfg, tmp_path / "a")
    b = train_model("ContextNet", separable, cfg, tmp_path / "b")
    assert a["test"] == b["test"] and a["history"][-1]["loss"] == b["history"][-1]["loss"]
    wa, wb = weights(tmp_path / "a" / "last.pt"), weights(tmp_path / "b" / "last.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_an_interrupted_run_resumes_to_the_same_weights(separable, tmp_path):
    cfg = TrainConfig(iterations=8, batch_size=2, eval_every=2, device="cpu", seed=3,
                      augment=True)  # fmt: skip
    train_model("ContextNet", separable, cfg, tmp_path / "whole")

    def crash(i, n, loss):
        if i == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model("ContextNet", separable, cfg, tmp_path / "resumed", crash)
    assert torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)["iteration"] == 4
    train_model("ContextNet", separable, cfg, tmp_path / "resumed")
    wa, wb = weights(tmp_path / "whole" / "last.pt"), weights(tmp_path / "resumed" / "last.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_batches_cover_each_epoch_once():
    seen = np.concatenate([batch_indices(10, 3, seed=1, iteration=i) for i in range(3)])
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 9  # 3 batches of 3 from 10
    assert not np.array_equal(batch_indices(10, 3, 1, 3), batch_indices(10, 3, 1, 0))
