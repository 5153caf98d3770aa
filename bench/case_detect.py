"""Case 3: ``detect`` with many listeners: all found, none lost, when the last answer comes.

Listeners (``lanmsg listen``) run on hosts 2..N+1; host 1 runs detect through
lanmsg.client.Messenger (inhost/detect_times.py), which records when each
answer arrives.  Every listener waits a random 5-1028 ms before it answers
(IPMsg's spread, so that one DETECT does not make every peer answer in the same
instant), so the last of N answers comes near the top of that range: for N
uniform delays the expected latest is min + (max - min) * N / (N + 1).
"""

from __future__ import annotations

import os

from common import INHOST, fmt, fmt_spread, summary
from labkit import run_json, start_listener

import lanmsg.protocol as P

DETECT_WINDOW_S = 1.5  # lanmsg detect's default window


def expected_last_ms(n: int) -> float:
    lo, hi = P.DETECT_REPLY_MIN_S * 1000, P.DETECT_REPLY_MAX_S * 1000
    return lo + (hi - lo) * n / (n + 1)


def run(ctx) -> dict:
    lab, py = ctx.lab, ctx.py
    listeners = {}
    steps = []
    try:
        for n in ctx.p.sweep:
            for i in range(2, n + 2):
                if i not in listeners:
                    listeners[i] = start_listener(ctx, i, os.path.join(ctx.tmp, f"detect-h{i}.out"))
            raw = run_json(
                lab,
                1,
                [
                    py,
                    os.path.join(INHOST, "detect_times.py"),
                    "--runs",
                    ctx.p.detect_runs,
                    "--timeout",
                    DETECT_WINDOW_S,
                ],
                timeout=120 + ctx.p.detect_runs * 10,
            )
            runs = raw["runs"]
            found = [len(r["answers_ms"]) for r in runs]
            steps.append(
                {
                    "listeners": n,
                    "runs": len(runs),
                    "found_min": min(found),
                    "found_all_runs": sum(1 for f in found if f == n),
                    "lost": sum(n - f for f in found),
                    "rcvbuf_drops": sum(r["rcvbuf_drops"] for r in runs),
                    "first_ms": summary([min(r["answers_ms"]) for r in runs if r["answers_ms"]]),
                    "last_ms": summary([max(r["answers_ms"]) for r in runs if r["answers_ms"]]),
                    "expected_last_ms": expected_last_ms(n),
                }
            )
    finally:
        for p in listeners.values():
            p.stop()
    return {"steps": steps}


def render(res: dict) -> list[str]:
    lines = [
        (
            "| listeners | runs | every listener found | answers lost | kernel drops at host 1 "
            "| first answer ms, median | last answer ms, median (min-max) | expected last (uniform 5-1028 ms) |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in res["steps"]:
        med, _, rng = fmt_spread(s["last_ms"], 0)
        lines.append(
            f"| {s['listeners']} | {s['runs']} | {s['found_all_runs']} of {s['runs']} runs | {s['lost']} "
            f"| {s['rcvbuf_drops']} | {fmt(s['first_ms']['median'], 0)} | {med} ({rng}) "
            f"| {fmt(s['expected_last_ms'], 0)} |"
        )
    return lines
