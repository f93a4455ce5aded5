import logging
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from landslide4sense.errors import InputDataError
from landslide4sense.layout import STACK_BANDS
from landslide4sense.training import checkpoint
from landslide4sense.training.data import load_benchmark
from landslide4sense.training.feed import patch_counts
from landslide4sense.training.progress import TrainingProgress
from landslide4sense.training.synthetic import write_release
from landslide4sense.training.train import TrainConfig, Trainer, batch_indices, train_model

QUICK = TrainConfig(iterations=6, batch_size=2, eval_every=3, device="cpu", seed=5)


@pytest.fixture(scope="module")
def separable(tmp_path_factory):
    root = write_release(tmp_path_factory.mktemp("release"), 40, 16, size=64, seed=7)
    return load_benchmark(root)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = write_release(tmp_path_factory.mktemp("small"), 12, 4, size=32, seed=8)
    return load_benchmark(root)


@pytest.mark.slow  # about 140 s on 2 cores
def test_unet_learns_separable_landslides(separable, tmp_path):
    cfg = TrainConfig(iterations=200, batch_size=4, eval_every=50, device="cpu", seed=0)
    metrics = train_model("U-Net", separable, cfg, tmp_path)
    assert metrics["scores"]["test"]["all"]["f1"] >= 90.0, metrics["history"]
    assert [h["iteration"] for h in metrics["history"]] == [50, 100, 150, 200]
    assert (tmp_path / "best.pt").exists() and (tmp_path / "metrics.json").exists()


def test_same_seed_same_numbers(small, tmp_path):
    a = train_model("ContextNet", small, QUICK, tmp_path / "a")
    b = train_model("ContextNet", small, QUICK, tmp_path / "b")
    assert a["scores"] == b["scores"] and a["history"][-1]["loss"] == b["history"][-1]["loss"]
    wa = checkpoint.load(tmp_path / "a" / "best.pt")["weights"]
    wb = checkpoint.load(tmp_path / "b" / "best.pt")["weights"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_checkpoints_carry_what_inference_needs(small, tmp_path):
    metrics = train_model("ContextNet", small, QUICK, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "metrics.json"]
    state = checkpoint.load(tmp_path / "best.pt")
    assert set(state) == {"info", "weights"}  # weights only: no Adam state in best.pt
    info = state["info"]
    assert info.model == "ContextNet" and info.model_args == {"in_channels": 14, "num_classes": 2}
    assert info.bands == list(STACK_BANDS) and info.scaling == "l4s"
    assert np.allclose(info.mean, small.mean) and np.allclose(info.std, small.std)
    assert info.dataset_version == small.version and info.code_version
    assert info.config == QUICK.model_dump()
    assert info.val_f1 == metrics["best_val_f1"]
    model, _ = checkpoint.load_model(tmp_path / "best.pt")
    trainer = Trainer("ContextNet", small, QUICK, tmp_path / "other")
    trainer.model.load_state_dict(model.state_dict())
    images = small.test.read([0, 1])
    with torch.no_grad():
        ours = model(torch.from_numpy(images)).argmax(1).numpy()
    assert np.array_equal(ours, trainer.predict(images))


def test_keep_optimizer_keeps_the_resume_state(small, tmp_path):
    train_model("ContextNet", small, QUICK, tmp_path, keep_optimizer=True)
    state = checkpoint.load(tmp_path / "last.pt")
    assert {"optimizer", "rng", "history", "best_f1"} <= set(state)
    assert state["info"].iteration == 6


def test_force_starts_from_scratch(small, tmp_path):
    first = train_model("ContextNet", small, QUICK, tmp_path, keep_optimizer=True)
    seen = []
    again = train_model("ContextNet", small, QUICK, tmp_path, lambda i, n, loss: seen.append(i))
    assert seen == []  # a finished run with the same settings is only re-scored
    forced = train_model(
        "ContextNet", small, QUICK, tmp_path, lambda i, n, loss: seen.append(i), resume=False
    )
    assert seen == [1, 2, 3, 4, 5, 6]  # every iteration again, from the first
    assert (
        forced["history"][-1]["loss"]
        == first["history"][-1]["loss"]
        == again["history"][-1]["loss"]
    )
    assert not (tmp_path / "last.pt").exists()


def test_the_best_checkpoint_is_the_peak_of_validation_f1(tmp_path, monkeypatch):
    """Validation F1 rises, then falls: best.pt is the checkpoint of the peak, not the last."""
    data = load_benchmark(write_release(tmp_path / "with-valid", 12, 4, size=32, seed=8, n_val=4))
    scripted = iter([50.0, 80.0, 30.0])
    evaluate = Trainer.evaluate

    def rising_then_falling(self, patches):
        scores = evaluate(self, patches)
        if patches is self.val_set:
            scores["all"]["f1"] = next(scripted)
        return scores

    monkeypatch.setattr(Trainer, "evaluate", rising_then_falling)
    cfg = QUICK.model_copy(update={"iterations": 9})  # checkpoints at 3, 6 and 9
    metrics = train_model("ContextNet", data, cfg, tmp_path / "run")
    history = metrics["history"]
    assert [(h["iteration"], h["val_f1"]) for h in history] == [(3, 50.0), (6, 80.0), (9, 30.0)]
    peak = max(history, key=lambda h: h["val_f1"])["iteration"]
    info = checkpoint.load(tmp_path / "run" / "best.pt", "cpu")["info"]
    assert info.iteration == peak == 6 and info.val_f1 == metrics["best_val_f1"] == 80.0


def test_overall_scores_sum_the_regions_counts(small, tmp_path, monkeypatch):
    """Region a (1 patch) predicted perfectly, region b (3 patches) not at all: overall F1 is
    40 from the summed counts (tp 4, fn 12), not 50, the mean of the regions' 100 and 0."""
    masks = torch.zeros((4, 4, 4), dtype=torch.uint8)
    masks[:, :2, :2] = 1  # 4 landslide pixels in each patch
    predicted = torch.stack([masks[0], *torch.zeros((3, 4, 4), dtype=torch.uint8)])
    split = SimpleNamespace(patches=SimpleNamespace(regions=["a", "b", "b", "b"]))
    trainer = Trainer("ContextNet", small, QUICK, tmp_path)
    monkeypatch.setattr(trainer, "counts", lambda _: patch_counts(predicted, masks).numpy())
    scores = trainer.evaluate(split)
    assert scores["a"]["f1"] == 100.0 and scores["b"]["f1"] == 0.0
    assert (scores["all"]["tp"], scores["all"]["fn"]) == (4, 12)
    assert scores["all"]["f1"] == pytest.approx(40.0)


class Payload:
    """Unpickling this would write a file: a checkpoint must never run code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_checkpoint_that_holds_code_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    with evil.open("wb") as f:
        pickle.dump({"info": {}, "weights": Payload(tmp_path / "pwned")}, f, protocol=2)
    torch.save({"info": Payload(tmp_path / "pwned")}, tmp_path / "evil2.pt")
    for path in (evil, tmp_path / "evil2.pt"):
        with pytest.raises(InputDataError, match="only checkpoints written by `l4s train`"):
            checkpoint.load(path)
    assert not (tmp_path / "pwned").exists()
    torch.save({"info": {"model": "U-Net"}, "weights": {}}, tmp_path / "foreign.pt")
    with pytest.raises(InputDataError, match="not a landslide4sense checkpoint"):
        checkpoint.load(tmp_path / "foreign.pt")


def test_progress_lines_name_iteration_loss_rate_and_eta(caplog):
    updates = []
    with (
        caplog.at_level(logging.INFO, "landslide4sense.training.progress"),
        TrainingProgress("U-Net", live=False, every_s=0, on_update=updates.append) as progress,
    ):
        for i, loss in enumerate([1.0, 0.5, 0.25, 0.125], 1):
            progress(i, 4, torch.tensor(loss))
    assert [u.iteration for u in updates] == [1, 2, 3, 4]
    assert [u.loss for u in updates] == [1.0, 0.5, 0.25, 0.125]
    assert updates[0].rate is None and updates[-1].rate > 0 and updates[-1].eta_s == 0
    assert caplog.messages[0] == "U-Net: iteration 1/4, loss 1.0000, - it/s, ETA -"
    assert caplog.messages[-1].startswith("U-Net: iteration 4/4, loss 0.1250, ")
    assert caplog.messages[-1].endswith(" it/s, ETA 0:00")


def test_progress_averages_the_loss_between_updates():
    updates = []
    progress = TrainingProgress("LinkNet", live=False, every_s=3600, on_update=updates.append)
    for i, loss in enumerate([4.0, 2.0, 3.0], 1):
        progress(i, 3, torch.tensor(loss))
    assert [(u.iteration, u.loss) for u in updates] == [(1, 4.0), (3, 2.5)]


def test_live_progress_bar_shares_the_terminal_with_log_lines():
    import io

    from rich.console import Console

    from landslide4sense.runtime import console as terminal

    buf = io.StringIO()
    shared = terminal.use_terminal(console=Console(file=buf, force_terminal=True, width=120))
    logger = logging.getLogger("test.training.progress")
    logger.addHandler(terminal.ConsoleHandler(shared))
    try:
        with TrainingProgress("SQNet") as progress:  # a bar: the command line drew bars
            for i in range(1, 4):
                progress(i, 3, torch.tensor(0.5))
                logger.warning("a line of its own %d", i)
    finally:
        logger.handlers.clear()
        terminal.use_terminal(False)
    out = buf.getvalue()
    assert "SQNet  loss 0.5000" in out and "3/3 it" in out and "it/s" in out
    # each log line replaces the bar's line (erased) and ends its own; the bar redraws below
    for i in range(1, 4):
        assert f"\r\x1b[2Ka line of its own {i}\nSQNet " in out


def test_batches_cover_each_epoch_once():
    seen = np.concatenate([batch_indices(10, 3, seed=1, iteration=i) for i in range(3)])
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 9  # 3 batches of 3 from 10
    assert not np.array_equal(batch_indices(10, 3, 1, 3), batch_indices(10, 3, 1, 0))
