"""Peak resident memory of this process, for the benchmarks."""

from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak RSS so far, in MiB (``VmHWM``, Linux).

    Not ``getrusage``'s ``ru_maxrss``: Linux carries that across ``exec``, so a child started by
    a large parent would report the parent's peak as its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")
