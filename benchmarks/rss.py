"""Peak resident memory for the benchmarks (Linux ``/proc``): of this process, or of a command
and every process it starts."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def peak_rss_mb() -> float:
    """This process's peak RSS so far, in MiB (``VmHWM``, Linux).

    Not ``getrusage``'s ``ru_maxrss``: Linux carries that across ``exec``, so a child started by
    a large parent would report the parent's peak as its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            tree.setdefault(ppid, []).append(int(d))
    return tree


def tree_rss(pids: list[int]) -> int:
    """Bytes resident in ``pids`` and all their descendants, now."""
    tree, seen, todo, total = _children(), set(), list(pids), 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += tree.get(pid, [])
        with contextlib.suppress(OSError):  # it exited meanwhile
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


def run_measured(
    cmd: list[str],
    env: dict | None = None,
    marks: dict[str, str] | None = None,
    also: list[int] = (),
    interval: float = 0.05,
) -> dict:
    """Run ``cmd``; return its wall time, its CPU time (user + system, with the processes it
    started and waited for: contention by others slows the wall clock, not this), output, the
    peak of the summed RSS of its process tree (plus the trees of ``also``, e.g. a server it
    uses), sampled every ``interval`` s, and the seconds at which the first output line
    containing each of ``marks``' strings appeared.

    Raises:
        subprocess.CalledProcessError: the command failed.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    seen: dict[str, float] = {}

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            for name, text in (marks or {}).items():
                if name not in seen and text in line:
                    seen[name] = time.perf_counter() - start

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak = 0
    while True:  # wait4: the rusage of the command and every process it waited for
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        peak = max(peak, tree_rss([proc.pid, *also]))
        time.sleep(interval)
    wall = time.perf_counter() - start
    reader.join()
    output = "".join(lines)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, output)
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "peak_gb": peak / 2**30, "output": output, "marks": seen}
