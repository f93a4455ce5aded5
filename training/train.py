"""Training one baseline by the paper's protocol, and evaluating it.

Adam (lr 1e-3, weight decay 5e-4), batch 32, 5000 iterations, cross-entropy, from scratch;
every ``eval_every`` iterations the model is scored on the validation subset and the best
checkpoint by landslide F1 is kept; the final precision, recall and F1 of the landslide class
come from confusion counts summed over every test pixel, overall and per region. Everything is
seeded: batches are a function of (seed, iteration), so a resumed run sees the same batches.
On CUDA: bf16 autocast, channels-last memory, cuDNN autotuning, optional ``torch.compile``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from landslide4sense.choices import Device
from landslide4sense.errors import ConfigError
from landslide4sense.files import atomic_path, write_json
from landslide4sense.training.data import PatchSet, Splits
from landslide4sense.training.metrics import Confusion
from landslide4sense.training.models import get_model, parameter_count

log = logging.getLogger(__name__)

Progress = Callable[[int, int, torch.Tensor], None]


class TrainConfig(BaseModel):
    """The training protocol (the paper's values by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(5000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    eval_every: int = Field(500, ge=1)
    seed: int = 2022
    augment: bool = False
    device: Device = Device.AUTO
    compile: bool = False
    eval_batch_size: int = Field(64, ge=1)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def batch_indices(n: int, batch_size: int, seed: int, iteration: int) -> np.ndarray:
    """The training batch of ``iteration``: consecutive slices of a per-epoch permutation."""
    per_epoch = max(1, n // batch_size)
    epoch, step = divmod(iteration, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[step * batch_size : (step + 1) * batch_size] if n >= batch_size else order


class Trainer:
    """Trains and evaluates one model on one benchmark."""

    def __init__(self, name: str, data: Splits, cfg: TrainConfig, out: Path):
        self.name, self.data, self.cfg, self.out = name, data, cfg, Path(out)
        self.device = pick_device(cfg.device)
        self.cuda = self.device.type == "cuda"
        torch.manual_seed(cfg.seed)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        self.model = get_model(name, data.train.images.shape[1]).to(self.device)
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.step_model = torch.compile(self.model) if cfg.compile else self.model
        self.opt = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.loss = nn.CrossEntropyLoss()
        self.iteration, self.best_f1, self.history = 0, -1.0, []

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if self.cuda and t.ndim == 4 else t

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class of every pixel of (N, C, H, W) images (uint8 (N, H, W))."""
        self.model.eval()
        out = np.empty((len(images), *images.shape[2:]), np.uint8)
        with torch.no_grad(), self._autocast():
            for a in range(0, len(images), self.cfg.eval_batch_size):
                x = self._tensor(images[a : a + self.cfg.eval_batch_size])
                out[a : a + len(x)] = self.step_model(x).argmax(1).cpu().numpy()
        self.model.train()
        return out

    def evaluate(self, patches: PatchSet) -> dict[str, dict]:
        """Confusion counts and scores, over all patches and per region."""
        pred = self.predict(patches.images)
        per_region: dict[str, Confusion] = {}
        for i, region in enumerate(patches.regions):
            per_region.setdefault(region, Confusion()).add(pred[i], patches.masks[i])
        total = sum(per_region.values(), Confusion())
        return {"all": total.scores(), **{r: c.scores() for r, c in per_region.items()}}

    def _state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "iteration": self.iteration,
            "best_f1": self.best_f1,
            "history": self.history,
            "config": self.cfg.model_dump(),
            "torch_rng": torch.get_rng_state(),
        }

    def _save(self, name: str) -> None:
        with atomic_path(self.out / name) as tmp:
            torch.save(self._state(), tmp)

    def _resume(self) -> None:
        last = self.out / "last.pt"
        if not last.exists():
            return
        state = torch.load(last, map_location=self.device, weights_only=False)
        if state["config"] != self.cfg.model_dump():
            log.info("%s: %s was made with other settings; starting afresh", self.name, last)
            return
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.iteration, self.best_f1 = state["iteration"], state["best_f1"]
        self.history = state["history"]
        torch.set_rng_state(state["torch_rng"])
        log.info("%s: resuming at iteration %d", self.name, self.iteration)

    def fit(self, progress: Progress | None = None) -> None:
        """Train to ``cfg.iterations``, resuming from ``last.pt`` if there is one.

        ``progress(iteration, iterations, loss)`` is called after every iteration with the loss
        as a tensor (converting it waits for the device: do it only now and then).
        """
        self._resume()
        cfg, train = self.cfg, self.data.train
        self.model.train()
        started, loss_sum = time.perf_counter(), torch.zeros((), device=self.device)
        while self.iteration < cfg.iterations:
            idx = batch_indices(len(train), cfg.batch_size, cfg.seed, self.iteration)
            x = train.images[idx]
            y = train.masks[idx].astype(np.int64)
            if cfg.augment:
                flips = np.random.default_rng([cfg.seed, self.iteration, 1]).random((len(idx), 2))
                x, y = x.copy(), y.copy()
                for i, (fh, fv) in enumerate(flips < 0.5):
                    if fh:
                        x[i], y[i] = x[i][..., ::-1], y[i][..., ::-1]
                    if fv:
                        x[i], y[i] = x[i][..., ::-1, :], y[i][..., ::-1, :]
            with self._autocast():
                loss = self.loss(self.step_model(self._tensor(x)), self._tensor(y))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.iteration += 1
            loss_sum += loss.detach()  # no device sync per iteration
            if self.iteration % cfg.eval_every == 0 or self.iteration == cfg.iterations:
                n = (self.iteration - 1) % cfg.eval_every + 1
                self._checkpoint(float(loss_sum) / n, time.perf_counter() - started)
                loss_sum.zero_()
            if progress is not None:
                progress(self.iteration, cfg.iterations, loss.detach())

    def _checkpoint(self, mean_loss: float, elapsed: float) -> None:
        val = self.evaluate(self.data.val)["all"] if len(self.data.val) else {"f1": 0.0}
        self.history.append(
            {
                "iteration": self.iteration,
                "loss": mean_loss,
                "val_f1": val["f1"],
                "seconds": elapsed,
            }
        )
        if val["f1"] > self.best_f1 or not len(self.data.val):  # no validation: keep the last
            self.best_f1 = val["f1"]
            self._save("best.pt")
        self._save("last.pt")
        log.info(
            "%s: iteration %d, loss %.4f, validation F1 %.2f (best %.2f)",
            self.name,
            self.iteration,
            mean_loss,
            val["f1"],
            self.best_f1,
        )

    def test(self) -> dict:
        """Scores of the best checkpoint on the test split (overall and per region)."""
        state = torch.load(self.out / "best.pt", map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        return self.evaluate(self.data.test) if self.data.test.masks is not None else {}


def train_model(
    name: str,
    data: Splits,
    cfg: TrainConfig,
    out: str | Path,
    progress: Progress | None = None,
    sample: np.ndarray | None = None,
) -> dict:
    """Train ``name`` on ``data``, keep the best checkpoint, score it; write ``metrics.json``.

    Args:
        name: a model of :data:`training.models.MODELS`.
        data: the benchmark (see :func:`training.data.load_benchmark`).
        cfg: the protocol.
        out: this model's folder (checkpoints, metrics, sample predictions).
        progress: called as (iteration, iterations, loss tensor) after every iteration.
        sample: indices of test patches whose predictions are kept for the detection maps.

    Returns:
        The content of ``metrics.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = Trainer(name, data, cfg, out)
    started = time.perf_counter()
    t.fit(progress)
    scores = t.test()
    if sample is not None and len(sample):
        with atomic_path(out / "sample_predictions.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, t.predict(data.test.images[sample]))
    metrics = {
        "model": name,
        "parameters": parameter_count(t.model),
        "dataset": str(data.root),
        "version": data.version,
        "device": str(t.device),
        "config": cfg.model_dump(),
        "best_val_f1": t.best_f1,
        "history": t.history,
        "test": scores,
        "train_seconds": time.perf_counter() - started,
        "validation": "held out from the training regions (last 10% of each region's training "
        "patches); the original code evaluated on its training list",
    }
    write_json(out / "metrics.json", metrics)
    return metrics


def read_metrics(out: str | Path) -> dict | None:
    path = Path(out) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None
