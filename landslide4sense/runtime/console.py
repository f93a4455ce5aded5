"""Progress of long loops: a rich bar on a terminal, plain log lines everywhere else.

Library code reports progress through :func:`progress` and never decides how it is shown.
The ``l4s`` command line calls :func:`use_terminal` when stderr is a terminal: bars are then
drawn there (a transfer rate and time left for bytes, items per second and time left for
anything else), and log records print above them through :class:`ConsoleHandler`. Without
it (tests, Prefect workers, output sent to a file), a loop logs one line at every tenth of
the way and one at the end.

Usage::

    with progress("downloading B04", total=size, unit="bytes") as advance:
        for chunk in chunks:
            advance(len(chunk))
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

log = logging.getLogger(__name__)

Advance = Callable[..., None]  # advance(n=1, note=None)

_lock = threading.Lock()
_console = None  # rich.console.Console once use_terminal() is on
_bars = None  # the one rich Progress shared by every bar on screen (rich allows one display)
_active = 0


def use_terminal(enabled: bool = True, console=None):
    """Draw bars on stderr from now on (``enabled``), or go back to log lines.

    Args:
        enabled: draw bars (True) or log lines (False).
        console: the rich console to draw on (default: a new one on stderr).

    Returns:
        The rich console the bars draw on (log records must print through it, see
        :class:`ConsoleHandler`), or None when disabled.
    """
    global _console
    if not enabled:
        _console = None
        return None
    from rich.console import Console

    _console = console or Console(stderr=True)
    return _console


class ConsoleHandler(logging.Handler):
    """A logging handler that prints through the bars' console, so lines appear above them."""

    def __init__(self, console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:
            self.handleError(record)


def terminal_console():
    """The console bars and log lines share on a terminal (None: plain log lines)."""
    return _console


def _amounts(
    done: float, total: float | None, elapsed: float, unit: str, start: float = 0.0
) -> dict[str, str]:
    """``done/total unit`` and ``rate unit/s`` (of what was done since ``start``), in MB for
    bytes."""
    scale, shown = (1e6, "MB") if unit == "bytes" else (1.0, unit)
    of = f"/{total / scale:.{1 if scale > 1 else 0}f}" if total else ""
    digits = 1 if scale > 1 else 0
    return {
        "amount": f"{done / scale:.{digits}f}{of} {shown}",
        "speed": f"{(done - start) / scale / max(elapsed, 1e-9):.1f} {shown}/s",
    }


def _add_bar(description: str, total: float | None, unit: str, done: float = 0.0):
    """A task on the one shared rich display (started with the first bar)."""
    global _bars, _active
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with _lock:
        if _bars is None:
            _bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[amount]}"),
                TextColumn("{task.fields[speed]}", style="progress.data.speed"),
                TimeRemainingColumn(),
                console=_console,
            )
            _bars.start()
        _active += 1
        amounts = _amounts(done, total, 1, unit, done)
        return _bars, _bars.add_task(description, total=total, completed=done, **amounts)


def _end_bar() -> None:
    global _bars, _active
    with _lock:
        _active -= 1
        if _active == 0 and _bars is not None:
            _bars.stop()
            _bars = None


@contextmanager
def progress(
    description: str,
    total: float | None,
    unit: str = "items",
    logger: logging.Logger = log,
    done: float = 0.0,
) -> Iterator[Advance]:
    """Report the progress of a loop; yields ``advance(n, note=None)``, to call as work gets
    done (``note``, e.g. a loss, shows after the description on the bar).

    Args:
        description: what is being done, e.g. ``"cutting demo-hills"``.
        total: how much there is to do (None when unknown).
        unit: ``"bytes"`` (shown in MB and MB/s), or a plural noun such as ``"patches"`` or
            ``"it"`` (shown as done/total and per second); both with the time left.
        logger: where the plain log lines go when no terminal bar is drawn.
        done: how much was done before (a resumed loop); rates count from here.
    """
    started = time.perf_counter()
    start = done

    def amounts() -> dict[str, str]:
        return _amounts(done, total, time.perf_counter() - started, unit, start)

    if _console is not None:
        bars, task = _add_bar(description, total, unit, done)

        def advance(n: float = 1, note: str | None = None) -> None:
            nonlocal done
            done += n
            shown = f"{description}  {note}" if note else description
            bars.update(task, advance=n, description=shown, **amounts())

        try:
            yield advance
        finally:
            _end_bar()
        return

    next_tenth = 1

    def advance(n: float = 1, note: str | None = None) -> None:
        nonlocal done, next_tenth
        done += n
        if total and total * next_tenth / 10 <= done < total:
            next_tenth = int(10 * done / total) + 1
            a = amounts()
            logger.info(
                "%s: %s (%d%%), %s", description, a["amount"], 100 * done / total, a["speed"]
            )

    yield advance
    a = amounts()
    logger.info(
        "%s: %s in %.1f s, %s", description, a["amount"], time.perf_counter() - started, a["speed"]
    )


@contextmanager
def steps(
    description: str, unit: str = "items", logger: logging.Logger = log
) -> Iterator[Callable[[int, int], None]]:
    """:func:`progress` of a loop that reports ``(done, total)`` after each step, its total
    known only at its first; yields that callback."""
    with ExitStack() as stack:
        advance: Advance | None = None
        shown = 0

        def step(done: int, total: int) -> None:
            nonlocal advance, shown
            if advance is None:
                advance = stack.enter_context(progress(description, total, unit, logger))
            advance(done - shown)
            shown = done

        yield step
