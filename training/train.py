"""Training one baseline by the paper's protocol, and evaluating it.

Adam (lr 1e-3, weight decay 5e-4 as in the original code), batch 32, 5000 iterations,
cross-entropy, from scratch, on every training patch; every ``eval_every`` iterations the model
is scored on the validation set (when there is one) and the best checkpoint by landslide F1 is
kept, otherwise the last; the final precision, recall and F1 of the landslide class come from
confusion counts summed over every pixel of each scored split, overall and per region.
Everything is seeded: batches are a function of (seed, iteration), and a resumed run restores
the generators' states, so in ``deterministic`` mode it ends with the same weights and scores
as an uninterrupted one.

The loop never waits for the device: batches come from the splits held on it (or streamed to
it, :mod:`training.feed`), losses are summed there and read at each validation, evaluation
counts pixels there and reads them once per split. On CUDA: bf16 autocast, channels-last
memory, fused Adam, cuDNN autotuning (off with ``deterministic``), optional ``torch.compile``.

Files in a model's folder: ``best.pt`` (weights and what inference needs, see
:mod:`training.checkpoint`), ``last.pt`` (the resume state, Adam's included, written every
``resume_every`` iterations; deleted when the run finishes unless ``keep_optimizer``),
``metrics.json``, ``sample_predictions.npy``.
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
from landslide4sense.training.data import Splits
from landslide4sense.training.feed import DeviceSplit, batch_indices, on_device, patch_counts
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
    resume_every: int = Field(
        2500, ge=1, description="iterations between resume states (last.pt, Adam's included)"
    )
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


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy's global generator and Python's."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def flip(x: torch.Tensor, y: torch.Tensor, seed: int, iteration: int):
    """Random horizontal and vertical flips of each image of a batch and its mask, drawn on the
    device from a generator seeded by (seed, iteration)."""
    g = torch.Generator(x.device)
    g.manual_seed(int(np.random.SeedSequence([seed, iteration, 1]).generate_state(1)[0]))
    fh, fv = (torch.rand((len(x), 2), generator=g, device=x.device) < 0.5).unbind(1)
    x = torch.where(fh[:, None, None, None], x.flip(3), x)
    x = torch.where(fv[:, None, None, None], x.flip(2), x)
    y = torch.where(fh[:, None, None], y.flip(2), y)
    return x, torch.where(fv[:, None, None], y.flip(1), y)


def confusions(counts: np.ndarray, regions: list[str]) -> dict[str, Confusion]:
    """Each region's confusion counts from :func:`training.feed.patch_counts` rows."""
    names = np.array(regions)
    out = {}
    for region in dict.fromkeys(regions):
        tp, pos, true, labelled = (int(v) for v in counts[names == region].sum(axis=0))
        out[region] = Confusion(tp, pos - tp, true - tp, labelled - pos - true + tp)
    return out


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
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=self.cuda
        )
        self.train_set = on_device(data, "train", self.device)
        self.val_set = on_device(data, "val", self.device) if len(data.val) else None
        self.iteration, self.history = 0, []
        self.best_f1: float | None = -1.0 if self.val_set is not None else None

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of a batch's labelled pixels: per-pixel losses, then their mean
        (deterministic on CUDA, where the fused mean accumulates with atomics). Pixels marked
        255 (no data in some releases) are left out."""
        with self._autocast():
            logits = self.step_model(x)
        per_pixel = nn.functional.cross_entropy(
            logits.float(), y.long(), reduction="none", ignore_index=NODATA
        )
        return per_pixel.sum() / (y != NODATA).sum().clamp(min=1)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class of every pixel of (N, C, H, W) standardised images (uint8 (N, H, W))."""
        self.model.eval()
        out = np.empty((len(images), *images.shape[2:]), np.uint8)
        with torch.no_grad(), self._autocast():
            for a in range(0, len(images), self.cfg.eval_batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[a : a + self.cfg.eval_batch_size]))
                x = x.to(self.device)
                if self.cuda:
                    x = x.contiguous(memory_format=torch.channels_last)
                out[a : a + len(x)] = self.step_model(x).argmax(1).cpu().numpy()
        self.model.train()
        return out

    def counts(self, split: DeviceSplit) -> np.ndarray:
        """(N, 4) pixel counts of every patch (:func:`training.feed.patch_counts`), counted on
        the device and read once."""
        self.model.eval()
        out = torch.empty((len(split), 4), dtype=torch.int64, device=self.device)
        with torch.no_grad(), self._autocast():
            for a, x in split.eval_batches(self.cfg.eval_batch_size):
                pred = self.step_model(x).argmax(1)
                out[a : a + len(x)] = patch_counts(pred, split.masks[a : a + len(x)])
                if self.scored is not None:
                    self.scored(len(x))
        self.model.train()
        return out.cpu().numpy()

    def evaluate(self, split: DeviceSplit) -> dict[str, dict]:
        """Confusion counts and scores, over all patches and per region."""
        per_region = confusions(self.counts(split), split.patches.regions)
        total = sum(per_region.values(), Confusion())
        return {"all": total.scores(), **{r: c.scores() for r, c in per_region.items()}}

    def checkpoint_info(self, val_f1: float | None) -> checkpoint.CheckpointInfo:
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
            state = checkpoint.load(last, self.device)
        except L4SError as err:  # an older format, or damaged: the run starts over
            log.warning("%s: %s cannot be resumed (%s); starting afresh", self.name, last, err)
            return
        if state["info"].config != self.cfg.model_dump(mode="json") or "optimizer" not in state:
            log.info("%s: %s was made with other settings; starting afresh", self.name, last)
            return
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
        cfg = self.cfg
        self.model.train()
        started, loss_sum = time.perf_counter(), torch.zeros((), device=self.device)
        first = self.iteration + 1
        batches = self.train_set.train_batches(
            cfg.batch_size, cfg.seed, self.iteration, cfg.iterations
        )
        for x, y in batches:
            if cfg.augment:
                x, y = flip(x, y, cfg.seed, self.iteration)
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

    def _resume_due(self, first: int) -> bool:
        """Whether ``last.pt`` is written now: a multiple of ``resume_every`` was reached since
        the previous validation, or training ends."""
        every = self.cfg.resume_every
        return (
            self.iteration == self.cfg.iterations or self.iteration // every > (first - 1) // every
        )

    def _checkpoint(self, first: int, mean_loss: float, elapsed: float) -> None:
        val_f1 = self.evaluate(self.val_set)["all"]["f1"] if self.val_set is not None else None
        self.history.append(
            {"iteration": self.iteration, "loss": mean_loss, "val_f1": val_f1, "seconds": elapsed}
        )
        last = self.iteration == self.cfg.iterations
        if val_f1 is not None and val_f1 > self.best_f1:
            self.best_f1 = val_f1
            checkpoint.save(
                self.out / "best.pt", self.checkpoint_info(val_f1), self.model.state_dict()
            )
        elif val_f1 is None and last:  # no validation set: the last iteration's checkpoint
            checkpoint.save(
                self.out / "best.pt", self.checkpoint_info(None), self.model.state_dict()
            )
        if self._resume_due(first):
            checkpoint.save(
                self.out / "last.pt",
                self.checkpoint_info(val_f1),
                self.model.state_dict(),
                optimizer=self.opt.state_dict(),
                best_f1=self.best_f1,
                history=self.history,
                rng=checkpoint.rng_state(self.cuda),
            )
        log.info(
            "%s: iteration %d, mean loss of iterations %d-%d %.4f, validation F1 %s (best %s)",
            self.name,
            self.iteration,
            first,
            self.iteration,
            mean_loss,
            "-" if val_f1 is None else f"{val_f1:.2f}",
            "-" if self.best_f1 is None else f"{self.best_f1:.2f}",
        )

    def test(self) -> dict[str, dict]:
        """Scores of the best checkpoint on every split with masks (overall and per region);
        the checkpoint is loaded straight onto the device."""
        self.model.load_state_dict(checkpoint.load(self.out / "best.pt", self.device)["weights"])
        scores = {}
        for key, patches in self.data.scored.items():  # a minute on a full test split
            with show_progress(f"{self.name}: scoring {key}", len(patches), "patches") as step:
                self.scored = step
                try:
                    scores[key] = self.evaluate(on_device(self.data, key, self.device))
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
        "selection": data.selection,
        "patches": {
            "train": len(data.train),
            "val": len(data.val),
            **{k: len(v) for k, v in data.scored.items()},
        },
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


__all__ = ["TrainConfig", "Trainer", "batch_indices", "read_metrics", "train_model"]
