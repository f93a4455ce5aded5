"""A live progress line for training: iteration, loss, iterations/s and time left.

On a terminal it is a bar on the command line's one display (log lines print above it);
elsewhere (a log file, CI, a Prefect
worker) it is a plain log line every ``every_s`` seconds. Each update also goes to
``on_update`` (the Prefect flow turns it into a progress artifact).

The loss shown is the mean over the iterations since the previous update. Reading a loss
waits for the device, so losses are summed on the device and read once per update.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from landslide4sense.runtime import console as terminal

log = logging.getLogger(__name__)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


@dataclass(frozen=True)
class Snapshot:
    """Where a model's training stands."""

    name: str
    iteration: int
    total: int
    loss: float
    rate: float | None  # iterations per second in this session (None after its first)
    eta_s: float | None

    @property
    def percent(self) -> float:
        return 100.0 * self.iteration / self.total

    @property
    def rate_text(self) -> str:
        return "-" if self.rate is None else f"{self.rate:.2f}"

    @property
    def eta_text(self) -> str:
        return "-" if self.eta_s is None else _duration(self.eta_s)

    def line(self) -> str:
        return (
            f"{self.name}: iteration {self.iteration}/{self.total}, loss {self.loss:.4f}, "
            f"{self.rate_text} it/s, ETA {self.eta_text}"
        )


class TrainingProgress:
    """The ``progress`` callback of :func:`training.train.train_model`, shown to people.

    On a terminal its bar joins the one display of :mod:`landslide4sense.runtime.console`, so
    log lines print above it rather than into it.

    Args:
        name: the model's name.
        live: a bar (True) or plain log lines (False); None: a bar when the command line drew
            bars on a terminal (:func:`~landslide4sense.runtime.console.use_terminal`).
        every_s: seconds between plain lines and ``on_update`` calls (the bar redraws at most
            four times a second).
        on_update: called with a :class:`Snapshot` at the same pace as plain lines, and at the
            last iteration.
    """

    def __init__(
        self,
        name: str,
        live: bool | None = None,
        every_s: float = 10.0,
        on_update: Callable[[Snapshot], None] | None = None,
    ):
        self.name, self.every_s, self.on_update = name, every_s, on_update
        self.live = terminal.terminal_console() is not None if live is None else live
        self._bar = None  # the context of the shared bar, once the first iteration is known
        self._advance = None
        self._shown = 0  # the iteration the bar shows
        self._start = self._first = None
        self._loss_sum, self._loss_n = None, 0
        self._last_draw = self._last_update = -math.inf  # the first iteration shows at once

    def __enter__(self) -> TrainingProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __call__(self, iteration: int, total: int, loss: torch.Tensor) -> None:
        now = time.perf_counter()
        if self._start is None:
            self._start, self._first = now, iteration  # rates count from here
            self._loss_sum = torch.zeros((), device=loss.device)
            if self.live:
                self._shown = iteration - 1
                self._bar = terminal.progress(self.name, total, unit="it", done=self._shown)
                self._advance = self._bar.__enter__()
        self._loss_sum += loss.detach().float()
        self._loss_n += 1
        last = iteration == total
        draw = self._bar is not None and (now - self._last_draw >= 0.25 or last)
        update = now - self._last_update >= self.every_s or last
        if not (draw or update):
            return
        snap = self._snapshot(iteration, total, now)
        if draw:
            self._last_draw = now
            self._advance(iteration - self._shown, note=f"loss {snap.loss:.4f}")
            self._shown = iteration
        if update:
            self._last_update = now
            if self._bar is None:
                log.info("%s", snap.line())
            if self.on_update is not None:
                self.on_update(snap)

    def _snapshot(self, iteration: int, total: int, now: float) -> Snapshot:
        loss = float(self._loss_sum) / self._loss_n  # waits for the device, once per update
        self._loss_sum.zero_()
        self._loss_n = 0
        done, elapsed = iteration - self._first, now - self._start
        if done == 0 or elapsed <= 0:
            return Snapshot(self.name, iteration, total, loss, None, None)
        rate = done / elapsed
        return Snapshot(self.name, iteration, total, loss, rate, (total - iteration) / rate)
