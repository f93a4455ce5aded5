import io
import logging

import pytest
from rich.console import Console

from landslide4sense.runtime import console as prog


@pytest.fixture
def terminal():
    buf = io.StringIO()
    console = prog.use_terminal(console=Console(file=buf, force_terminal=True, width=120))
    yield console, buf
    prog.use_terminal(False)


def test_without_a_terminal_a_line_at_every_tenth_and_at_the_end(caplog):
    caplog.set_level(logging.INFO, logger="landslide4sense.runtime.console")
    with prog.progress("cutting demo", total=40, unit="patches") as advance:
        for _ in range(40):
            advance(1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10  # 10%, 20%, ..., 90%, then the end
    assert lines[0].startswith("cutting demo: 4/40 patches (10%), ")
    assert lines[4].startswith("cutting demo: 20/40 patches (50%), ")
    assert lines[-1].startswith("cutting demo: 40/40 patches in ")
    assert lines[-1].endswith(" patches/s")


def test_big_steps_log_once_per_step_and_bytes_show_megabytes(caplog):
    caplog.set_level(logging.INFO, logger="landslide4sense.runtime.console")
    with prog.progress("downloading B04", total=10e6, unit="bytes") as advance:
        advance(3.5e6)  # crosses 10, 20 and 30 %: one line
        advance(6.5e6)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("downloading B04: 3.5/10.0 MB (35%), ")
    assert lines[1].startswith("downloading B04: 10.0/10.0 MB in ") and lines[1].endswith("MB/s")


def test_a_failed_loop_does_not_report_an_end(caplog):
    caplog.set_level(logging.INFO, logger="landslide4sense.runtime.console")
    with pytest.raises(RuntimeError), prog.progress("training", total=4, unit="it") as advance:
        advance(1)
        raise RuntimeError("boom")
    assert not any(" in " in r.getMessage() for r in caplog.records)


def test_on_a_terminal_bars_show_rate_and_logs_print_above(terminal, caplog):
    console, buf = terminal
    logger = logging.getLogger("test.progress.terminal")
    handler = prog.ConsoleHandler(console)
    logger.addHandler(handler)
    try:
        with (
            prog.progress("cutting demo-hills", total=8, unit="patches") as cut,
            prog.progress("downloading B04", total=2e6, unit="bytes") as download,
        ):
            cut(8)
            download(2e6)
            logger.warning("a line above the bars")
    finally:
        logger.removeHandler(handler)
    out = buf.getvalue()
    assert "cutting demo-hills" in out and "8/8 patches" in out and "patches/s" in out
    assert "2.0/2.0 MB" in out and "MB/s" in out
    assert "a line above the bars" in out
    assert prog._bars is None  # the display stops with its last bar
    assert not caplog.records or all("cutting" not in r.getMessage() for r in caplog.records)


def test_steps_learn_the_total_at_the_first_step(caplog):
    caplog.set_level(logging.INFO, logger="landslide4sense.runtime.console")
    with prog.steps("mapping demo-hills", "strips") as step:
        for done in (1, 2, 5, 10):  # strips done so far, of 10
            step(done, 10)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" (")[0] for line in lines[:-1]] == [
        "mapping demo-hills: 1/10 strips",
        "mapping demo-hills: 2/10 strips",
        "mapping demo-hills: 5/10 strips",
    ]
    assert lines[-1].startswith("mapping demo-hills: 10/10 strips in ")
