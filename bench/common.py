"""What every benchmark case shares: statistics, the machine, how busy it was, page sections."""

from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
INHOST = os.path.join(BENCH, "inhost")  # scripts that run inside a lab host
BUSY_WARNING_CORES = 0.2  # other load above this: figures are flagged as disturbed


def summary(values: list[float]) -> dict | None:
    """Median, quartiles, extremes and count of ``values`` (None when empty)."""
    vals = sorted(values)
    if not vals:
        return None
    q = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else [vals[0]] * 3
    return {"median": statistics.median(vals), "q1": q[0], "q3": q[2], "min": vals[0], "max": vals[-1], "n": len(vals)}


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def fmt_spread(s: dict | None, digits: int = 1) -> tuple[str, str, str]:
    """(median, "q1-q3", "min-max") as table cells."""
    if not s:
        return "—", "—", "—"
    return (
        fmt(s["median"], digits),
        f"{fmt(s['q1'], digits)}-{fmt(s['q3'], digits)}",
        f"{fmt(s['min'], digits)}-{fmt(s['max'], digits)}",
    )


def machine_info() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal:")))
            mem_gb = kb / 1024 / 1024
    except (OSError, StopIteration, ValueError):
        pass
    try:
        commit = (
            subprocess.run(
                ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or "unknown"
        )
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "mailslot.py", "lanmsg"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        commit += " + uncommitted changes" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kernel": f"{platform.system()} {platform.release()}",
        "commit": commit,
        "loadavg_at_start": " ".join(open("/proc/loadavg").read().split()[:3]),
    }


class LoadMeter:
    """How many cores *other* processes kept busy while a block ran.

    Whole-machine busy time from /proc/stat minus the CPU time of this process
    and its reaped children (the lab processes it started are its children).
    """

    def __init__(self):
        self.other_cores: float | None = None

    @staticmethod
    def _snapshot() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                vals = [int(x) for x in f.readline().split()[1:9]]
            tick = os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            return None
        ours = sum(
            r.ru_utime + r.ru_stime
            for r in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
        )
        return (sum(vals) - vals[3] - vals[4]) / tick, ours, time.monotonic()

    def __enter__(self) -> LoadMeter:
        self._start = self._snapshot()
        return self

    def __exit__(self, *exc) -> None:
        end = self._snapshot()
        if self._start and end and end[2] > self._start[2]:
            others = (end[0] - self._start[0]) - (end[1] - self._start[1])
            self.other_cores = max(0.0, others / (end[2] - self._start[2]))


def load_note(cores: float | None) -> str:
    if cores is None:
        return "not measured"
    text = f"{cores:.2f} cores on average"
    return text + (" (the machine was not idle: figures are disturbed)" if cores > BUSY_WARNING_CORES else "")


def replace_section(page: str, start: str, end: str, text: str) -> str:
    """``page`` with the part between ``start`` and ``end`` (markers included) replaced by ``text``."""
    if start in page and end in page:
        return re.sub(re.escape(start) + ".*?" + re.escape(end), lambda m: text, page, count=1, flags=re.S)
    return page.rstrip("\n") + "\n\n" + text + "\n"
