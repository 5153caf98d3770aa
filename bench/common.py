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


def summary(values: list[float], *, keep_values: bool = False) -> dict | None:
    """Median, quartiles, extremes and count of ``values`` (None when empty); with ``keep_values``
    the values themselves too, in the order measured."""
    vals = sorted(values)
    if not vals:
        return None
    q = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else [vals[0]] * 3
    s = {"median": statistics.median(vals), "q1": q[0], "q3": q[2], "min": vals[0], "max": vals[-1], "n": len(vals)}
    return {**s, "values": values} if keep_values else s


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


def fmt_rate(s: dict) -> str:
    """A rate's median with its extremes: "12,345 (11,000–13,000)"."""
    return f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}×" if x >= 0.1 else f"{x:.3f}× (1/{1 / x:.0f})"


def machine_info(watch=("mailslot.py", "lanmsg"), dirty_note=" + uncommitted changes") -> dict:
    """The machine, the interpreter and the commit measured (``dirty_note`` added to it when the
    files in ``watch`` have uncommitted changes)."""
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
            ["git", "-C", ROOT, "status", "--porcelain", "--", *watch],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        commit += dirty_note if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
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


def profile_text(fn, n: int, top: int = 14) -> str:
    """cProfile of ``n`` calls of ``fn``: the ``top`` functions by own time, then mailslot.py's by
    cumulative time."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    prof.disable()
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    total = st.total_tt
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # by own time
    out.write(f"{n} calls, {total * 1e6 / n:.1f} us per call under cProfile\n")
    out.write(f"{'own%':>6} {'cum%':>6} {'ncalls':>9}  function\n")
    for (path, line, func), (_cc, nc, tt, ct, _) in rows:
        where = f"{os.path.basename(path)}:{line}" if line else path
        out.write(f"{100 * tt / total:6.1f} {100 * ct / total:6.1f} {nc:9d}  {func} ({where})\n")
    out.write("mailslot.py functions by cumulative share:\n")
    own = sorted(
        ((k, v) for k, v in st.stats.items() if os.path.basename(k[0]) == "mailslot.py"),
        key=lambda kv: kv[1][3],
        reverse=True,
    )[:top]
    for (_path, line, func), (_cc, nc, tt, ct, _) in own:
        out.write(f"{100 * tt / total:6.1f} {100 * ct / total:6.1f} {nc:9d}  {func} (mailslot.py:{line})\n")
    return out.getvalue()
