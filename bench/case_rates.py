"""Case 2: confirmed messages per second between two hosts, beside a bare UDP ping-pong.

On lab host 1, alternating trials: sequential round trips of a bare UDP datagram
to an echo server on host 2 (the limit for one Python process waiting for each
answer), and sequential confirmed messages through one lanmsg.client.Messenger
to ``lanmsg listen`` on host 2.  The command-line rate (one ``lanmsg send``
process per message) comes from case_startup.
"""

from __future__ import annotations

import os

from common import INHOST, fmt, summary
from labkit import run_json

ECHO_PORT = 5139  # the ping-pong's echo server (not 138: the listener owns that)
TARGET_SHARE = 0.5  # the library path should reach half the ping-pong rate


def run(ctx, profile_path: str | None = None) -> dict:
    lab, py = ctx.lab, ctx.py
    echo = lab.popen(2, [py, os.path.join(INHOST, "echo.py"), ECHO_PORT])
    echo.wait_for_line("^ready")
    argv = [
        py,
        os.path.join(INHOST, "rates.py"),
        lab.addr(2),
        "--echo-port",
        ECHO_PORT,
        "--pings",
        ctx.p.pings,
        "--messages",
        ctx.p.messages,
        "--trials",
        ctx.p.rate_trials,
    ]
    if profile_path:
        argv += ["--profile", profile_path]
    try:
        raw = run_json(lab, 1, argv, timeout=120 + ctx.p.rate_trials * 60)
    finally:
        echo.stop()
    res = {
        "ping": summary(raw["ping_rates"]),
        "library": summary(raw["message_rates"]),
        "ping_lost": raw["ping_lost"],
        "unconfirmed": raw["unconfirmed"],
        "pings": ctx.p.pings,
        "messages": ctx.p.messages,
        "trials": ctx.p.rate_trials,
    }
    res["share"] = res["library"]["median"] / res["ping"]["median"]
    return res


def render(res: dict, cli_rate: float | None) -> list[str]:
    ping, lib = res["ping"], res["library"]
    lines = [
        "| path | per second, median | min-max | vs ping-pong | not answered |",
        "|---|---:|---:|---:|---:|",
        (
            f"| bare UDP ping-pong in Python (210-byte datagram, echo server on host 2) | {fmt(ping['median'], 0)} "
            f"| {fmt(ping['min'], 0)}-{fmt(ping['max'], 0)} | 1x | {res['ping_lost']} of "
            f"{res['pings'] * res['trials']} |"
        ),
        (
            f"| library: `Messenger.send()` in one process, each waits for its CONF | {fmt(lib['median'], 0)} "
            f"| {fmt(lib['min'], 0)}-{fmt(lib['max'], 0)} | {fmt(res['share'], 2)}x | {res['unconfirmed']} of "
            f"{res['messages'] * res['trials']} |"
        ),
    ]
    if cli_rate:
        lines.append(
            f"| command line: `lanmsg send` in a loop, one process per message | {fmt(cli_rate, 1)} "
            f"| (case 5) | {fmt(cli_rate / ping['median'], 4)}x | 0 |"
        )
    return lines
