"""Training one baseline by the paper's protocol, and evaluating it.

Adam (lr 1e-3, weight decay 5e-4), batch 32, 5000 iterations, cross-entropy, from scratch;
every ``eval_every`` iterations the model is scored on the validation set and the best
checkpoint by landslide F1 is kept; the final precision, recall and F1 of the landslide class
come from confusion counts summed over every pixel of each scored split, overall and per
region. Everything is seeded: batches are a function of (seed, iteration), and a resumed run
restores the generators' states, so it ends with the same weights and scores as an
uninterrupted one. On CUDA: bf16 autocast, channels-last memory, cuDNN autotuning (off with
``deterministic``), optional ``torch.compile``.

Files in a model's folder: ``best.pt`` (weights and what inference needs, see
:mod:`training.checkpoint`), ``last.pt`` (the resume state, Adam's included; deleted when the
run finishes unless ``keep_optimizer``), ``metrics.json``, ``sample_predictions.npy``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from landslide4sense import __version__
from landslide4sense.choices import Device
from landslide4sense.errors import ConfigError, L4SError
from landslide4sense.files import atomic_path, write_json
from landslide4sense.runtime.console import Advance
from landslide4sense.runtime.console import progress as show_progress
from landslide4sense.training import checkpoint
from landslide4sense.training.data import PatchSet, Splits
from landslide4sense.training.metrics import NODATA, Confusion
from landslide4sense.training.models import get_model, parameter_count

log = logging.getLogger(__name__)

Progress = Callable[[int, int, torch.Tensor], None]
#: The files a run writes in its model folder (``--force`` removes them first).
RUN_FILES = ("last.pt", "best.pt", "metrics.json", "sample_predictions.npy")


class TrainConfig(BaseModel):
    """The training protocol (the paper's values by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(5000, ge=1)
    batch_size: int = Field(32, ge=2, description="at least 2: batch norm needs two samples")
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    eval_every: int = Field(500, ge=1)
    seed: int = 2022
    augment: bool = False
    device: Device = Device.AUTO
    compile: bool = False
    eval_batch_size: int = Field(32, ge=1)
    deterministic: bool = Field(
        False, description="CUDA: deterministic algorithms, no cuDNN autotuning (slower)"
    )


def train_config(**settings) -> TrainConfig:
    """A :class:`TrainConfig` from flow or command-line settings; ``eval_every`` is capped at
    ``iterations``.

    Raises:
        ConfigError: naming each invalid setting as its command-line option.
    """
    try:
        cfg = TrainConfig(**settings)
    except ValidationError as err:
        raise ConfigError(
            "invalid training settings: "
            + "; ".join(
                f"--{str(e['loc'][0]).replace('_', '-')} {e['msg'].lower()}, got {e['input']!r}"
                for e in err.errors()
            )
        ) from err
    return cfg.model_copy(update={"eval_every": min(cfg.eval_every, cfg.iterations)})


def pick_device(name: Device | str) -> torch.device:
    if name == Device.CUDA and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device")
    if name == Device.AUTO:
        name = Device.CUDA if torch.cuda.is_available() else Device.CPU
    return torch.device(str(name))


def batch_indices(n: int, batch_size: int, seed: int, iteration: int) -> np.ndarray:
    """The training batch of ``iteration``: consecutive slices of a per-epoch permutation."""
    per_epoch = max(1, n // batch_size)
    epoch, step = divmod(iteration, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[step * batch_size : (step + 1) * batch_size] if n >= batch_size else order


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy's global generator and Python's."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def flip(x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    """Random horizontal and vertical flips of each image of a batch and its mask."""
    x, y = x.copy(), y.copy()
    for i, (fh, fv) in enumerate(rng.random((len(x), 2)) < 0.5):
        if fh:
            x[i], y[i] = x[i][..., ::-1], y[i][..., ::-1]
        if fv:
            x[i], y[i] = x[i][..., ::-1, :], y[i][..., ::-1, :]
    return x, y


class Trainer:
    """Trains and evaluates one model on one benchmark."""

    def __init__(self, name: str, data: Splits, cfg: TrainConfig, out: Path):
        self.name, self.data, self.cfg, self.out = name, data, cfg, Path(out)
        #: Told the patches of each batch :meth:`evaluate` scores, during the test pass (its
        #: bar); None while training scores the validation subset (no bar of its own).
        self.scored: Advance | None = None
        self.device = pick_device(cfg.device)
        self.cuda = self.device.type == "cuda"
        seed_everything(cfg.seed)
        if self.cuda:
            torch.backends.cudnn.benchmark = not cfg.deterministic
            torch.backends.cudnn.deterministic = cfg.deterministic
            torch.use_deterministic_algorithms(cfg.deterministic, warn_only=True)
        self.model_args = {"in_channels": data.train.image_shape[0], "num_classes": 2}
        self.model = get_model(name, **self.model_args).to(self.device)
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.step_model = torch.compile(self.model) if cfg.compile else self.model
        self.opt = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.iteration, self.best_f1, self.history = 0, -1.0, []

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if self.cuda and t.ndim == 4 else t

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda)

    def loss(self, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
        """Mean cross-entropy of a batch's labelled pixels: per-pixel losses, then their mean
        (deterministic on CUDA, where the fused mean accumulates with atomics). Pixels marked
        255 (no data in some releases) are left out."""
        with self._autocast():
            logits = self.step_model(self._tensor(x))
        target = self._tensor(y)
        per_pixel = nn.functional.cross_entropy(
            logits.float(), target, reduction="none", ignore_index=NODATA
        )
        return per_pixel.sum() / (target != NODATA).sum().clamp(min=1)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class of every pixel of (N, C, H, W) standardised images (uint8 (N, H, W))."""
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
        per_region: dict[str, Confusion] = {}
        for a, images in patches.batches(self.cfg.eval_batch_size):
            pred = self.predict(images)
            for i in range(len(pred)):
                region = patches.regions[a + i]
                per_region.setdefault(region, Confusion()).add(pred[i], patches.masks[a + i])
            if self.scored is not None:
                self.scored(len(pred))
        total = sum(per_region.values(), Confusion())
        return {"all": total.scores(), **{r: c.scores() for r, c in per_region.items()}}

    def checkpoint_info(self, val_f1: float) -> checkpoint.CheckpointInfo:
        """What the checkpoints of this run say about themselves, now."""
        d = self.data
        return checkpoint.CheckpointInfo(
            model=self.name,
            model_args=self.model_args,
            bands=list(d.bands),
            scaling=d.scaling,
            mean=d.mean.tolist(),
            std=d.std.tolist(),
            dataset_version=d.version,
            code_version=__version__,
            iteration=self.iteration,
            val_f1=val_f1,
            config=self.cfg.model_dump(mode="json"),
        )

    def _resume(self) -> None:
        last = self.out / "last.pt"
        if not last.exists():
            return
        try:
            state = checkpoint.load(last)
        except L4SError as err:  # an older format, or damaged: the run starts over
            log.warning("%s: %s cannot be resumed (%s); starting afresh", self.name, last, err)
            return
        if state["info"].config != self.cfg.model_dump(mode="json") or "optimizer" not in state:
            log.info("%s: %s was made with other settings; starting afresh", self.name, last)
            return
        # Loaded on the CPU: weights and Adam's state move to the parameters' device here;
        # the RNG states stay on the CPU, where torch.set_rng_state expects them.
        self.model.load_state_dict(state["weights"])
        self.opt.load_state_dict(state["optimizer"])
        self.iteration, self.best_f1 = state["info"].iteration, state["best_f1"]
        self.history = state["history"]
        checkpoint.set_rng_state(state["rng"], self.cuda)
        log.info("%s: resuming at iteration %d", self.name, self.iteration)

    def fit(self, progress: Progress | None = None) -> None:
        """Train to ``cfg.iterations``, resuming from ``last.pt`` if there is one.

        ``progress(iteration, iterations, loss)`` is called after every iteration with the loss
        as a tensor (reading it waits for the device: do it only now and then).
        """
        self._resume()
        cfg, train = self.cfg, self.data.train
        self.model.train()
        started, loss_sum = time.perf_counter(), torch.zeros((), device=self.device)
        first = self.iteration + 1
        while self.iteration < cfg.iterations:
            idx = batch_indices(len(train), cfg.batch_size, cfg.seed, self.iteration)
            x, y = train.read(idx), train.masks[idx].astype(np.int64)
            if cfg.augment:
                x, y = flip(x, y, np.random.default_rng([cfg.seed, self.iteration, 1]))
            loss = self.loss(x, y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.iteration += 1
            loss_sum += loss.detach()  # no device sync per iteration
            if self.iteration % cfg.eval_every == 0 or self.iteration == cfg.iterations:
                mean_loss = float(loss_sum) / (self.iteration - first + 1)
                self._checkpoint(first, mean_loss, time.perf_counter() - started)
                loss_sum.zero_()
                first = self.iteration + 1
            if progress is not None:
                progress(self.iteration, cfg.iterations, loss.detach())

    def _checkpoint(self, first: int, mean_loss: float, elapsed: float) -> None:
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
            info = self.checkpoint_info(val["f1"])
            checkpoint.save(self.out / "best.pt", info, self.model.state_dict())
        checkpoint.save(
            self.out / "last.pt",
            self.checkpoint_info(val["f1"]),
            self.model.state_dict(),
            optimizer=self.opt.state_dict(),
            best_f1=self.best_f1,
            history=self.history,
            rng=checkpoint.rng_state(self.cuda),
        )
        log.info(
            "%s: iteration %d, mean loss of iterations %d-%d %.4f, validation F1 %.2f (best %.2f)",
            self.name,
            self.iteration,
            first,
            self.iteration,
            mean_loss,
            val["f1"],
            self.best_f1,
        )

    def test(self) -> dict[str, dict]:
        """Scores of the best checkpoint on every split with masks (overall and per region)."""
        self.model.load_state_dict(checkpoint.load(self.out / "best.pt")["weights"])
        scores = {}
        for split, patches in self.data.scored.items():  # a minute on a full test split
            with show_progress(f"{self.name}: scoring {split}", len(patches), "patches") as step:
                self.scored = step
                try:
                    scores[split] = self.evaluate(patches)
                finally:
                    self.scored = None
        return scores


def train_model(
    name: str,
    data: Splits,
    cfg: TrainConfig,
    out: str | Path,
    progress: Progress | None = None,
    sample: np.ndarray | None = None,
    resume: bool = True,
    keep_optimizer: bool = False,
) -> dict:
    """Train ``name`` on ``data``, keep the best checkpoint, score it; write ``metrics.json``.

    Args:
        name: a model of :data:`training.models.MODELS`.
        data: the benchmark (see :func:`training.data.load_benchmark`).
        cfg: the protocol.
        out: this model's folder (checkpoints, metrics, sample predictions).
        progress: called as (iteration, iterations, loss tensor) after every iteration.
        sample: indices of test patches whose predictions are kept for the detection maps.
        resume: continue from ``last.pt`` when it was made with the same settings; False
            (``--force``) removes this run's files first and starts from scratch.
        keep_optimizer: keep ``last.pt`` (Adam's state) when the run finishes.

    Returns:
        The content of ``metrics.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        for f in RUN_FILES:
            (out / f).unlink(missing_ok=True)
    t = Trainer(name, data, cfg, out)
    started = time.perf_counter()
    t.fit(progress)
    scores = t.test()
    if sample is not None and len(sample) and data.test is not None:
        with atomic_path(out / "sample_predictions.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, t.predict(data.test.read(sample)))
    metrics = {
        "model": name,
        "parameters": parameter_count(t.model),
        "dataset": str(data.root),
        "version": data.version,
        "device": str(t.device),
        "config": cfg.model_dump(mode="json"),
        "best_val_f1": t.best_f1,
        "history": t.history,
        "scores": scores,
        "splits": data.describe(),
        "validation": data.val.name,
        "unscored": data.unscored,
        "train_seconds": time.perf_counter() - started,
    }
    write_json(out / "metrics.json", metrics)
    if not keep_optimizer:
        (out / "last.pt").unlink(missing_ok=True)
    return metrics


def read_metrics(out: str | Path) -> dict | None:
    path = Path(out) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


__all__ = ["TrainConfig", "Trainer", "read_metrics", "train_model"]
