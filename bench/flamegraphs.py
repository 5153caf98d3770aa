#!/usr/bin/env python3
"""Flame graphs of lanmsg's message path, sampled with py-spy in a small lab (root).

    sudo python3 bench/flamegraphs.py [--out-dir docs/img] [--name-suffix -after] [--seconds 5]

Three profiles, each written as folded stacks (bench/out/flame-*.folded) and as an SVG
(bench/flame.py):

* ``flame-listener-flood``: ``lanmsg listen --json`` on host 2 while host 1 floods it with
  10,000 messages/s that ask for confirmation (bench/inhost/flood.py);
* ``flame-listener-messages`` and ``flame-sender``: both ends while host 1 sends confirmed
  messages one after the other through ``lanmsg.client.Messenger`` (bench/inhost/senders.py).

py-spy (the bench venv: scripts/install-bench-tools.sh) samples each process 1,000 times a
second without stopping it; samples of a thread waiting in poll() are left out, so the graphs
show where the CPU goes.  A system call such as sendto() counts in full, the kernel's work
included.  Run it on an idle machine: another process on the same core shows up inside the
system calls that wake it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flame
from common import INHOST, ROOT
from labkit import netlab

PY_SPY = os.path.join(os.path.expanduser("~"), ".cache", "lanmsg", "bench-venv", "bin", "py-spy")
CONSOLE = "import sys; from lanmsg.cli import main; sys.argv[0] = 'lanmsg'; sys.exit(main())"
RATE_HZ = 1000
# py-spy counts a thread blocked in poll() as running here: samples that end there are waiting
WAITING = ("wait_readable (mailslot.py)",)


def _spy(pid: int, out: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PY_SPY, "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--format", "raw", "-o", out, "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGINT)
    p.wait(60)


def _listener(lab, out_path: str):
    with open(out_path, "w") as out:
        p = lab.popen(2, [sys.executable, "-c", CONSOLE, "listen", "--json"], stdout=out, stderr=subprocess.STDOUT)
    for _ in range(200):
        with open(out_path) as f:
            if "listening" in f.read(4096):
                return p
        time.sleep(0.05)
    raise RuntimeError("lanmsg listen did not start")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "docs", "img"))
    ap.add_argument("--name-suffix", default="", help="appended to each file name (e.g. -before)")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each sampled run")
    ap.add_argument("--label", default="", help="what was measured (a commit), for the titles")
    args = ap.parse_args(argv)
    reason = netlab.unavailable_reason()
    if reason or not os.path.exists(PY_SPY):
        print(f"bench/flamegraphs.py: {reason or 'no py-spy: run scripts/install-bench-tools.sh'}", file=sys.stderr)
        return 2
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "mailslot.py"), os.path.join(ROOT, "lanmsg")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    work = os.path.join(ROOT, "bench", "out")
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.out_dir, exist_ok=True)
    folded = {}
    with netlab.Lab(2, empty_resolv_conf=True) as lab:
        # the listener under a flood
        listener = _listener(lab, os.path.join(work, "flame-listener.out"))
        try:
            folded["flame-listener-flood"] = path = os.path.join(work, "flame-listener-flood.folded")
            spy = _spy(listener.pid, path)
            time.sleep(1.0)
            lab.run(
                1,
                [
                    sys.executable,
                    os.path.join(INHOST, "flood.py"),
                    lab.addr(2),
                    lab.hostname(2).upper(),
                    "--rate",
                    "10000",
                    "--seconds",
                    str(args.seconds),
                ],
                timeout=120 + args.seconds,
            )
            _stop(spy)
        finally:
            listener.stop()
        # confirmed messages one after the other: both ends
        listener = _listener(lab, os.path.join(work, "flame-listener.out"))
        try:
            folded["flame-listener-messages"] = lpath = os.path.join(work, "flame-listener-messages.folded")
            folded["flame-sender"] = spath = os.path.join(work, "flame-sender.folded")
            lspy = _spy(listener.pid, lpath)
            sender = lab.popen(
                1,
                [
                    PY_SPY,
                    "record",
                    "--rate",
                    str(RATE_HZ),
                    "--format",
                    "raw",
                    "-o",
                    spath,
                    "--nonblocking",
                    "--",
                    sys.executable,
                    os.path.join(INHOST, "senders.py"),
                    lab.addr(2),
                    "--start-at",
                    f"{time.time() + 1.0:.3f}",
                    "--seconds",
                    str(args.seconds),
                ],
            )
            sender.finish(120 + args.seconds)
            _stop(lspy)
        finally:
            listener.stop()
    titles = {
        "flame-listener-flood": "lanmsg listen --json under a flood of 10,000 messages/s",
        "flame-listener-messages": "lanmsg listen --json, confirmed messages one after the other",
        "flame-sender": "Messenger.send() in a loop, each waiting for its CONF",
    }
    for name, path in folded.items():
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        every = sum(flame.read_folded(lines).values()) or 1
        stacks = flame.read_folded(lines, drop_leaves=WAITING)
        waiting = 1 - sum(stacks.values()) / every
        note = f"{args.label}; waiting in poll() left out: {waiting:.0%} of the samples"
        svg = os.path.join(args.out_dir, name + args.name_suffix + ".svg")
        with open(svg, "w", encoding="utf-8") as f:
            f.write(flame.render(stacks, titles[name], note.lstrip("; ")))
        print(f"{svg}:")
        for frame, share in flame.self_shares(stacks, 8):
            print(f"  {100 * share:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
