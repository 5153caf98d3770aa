"""Case 2: confirmed messages per second between two hosts, beside a bare UDP ping-pong.

On lab host 1, alternating trials: sequential round trips of a bare UDP datagram
to an echo server on host 2 (the limit for one Python process waiting for each
answer), and sequential confirmed messages through one lanmsg.client.Messenger
to ``lanmsg listen`` on host 2.  The command-line rate (one ``lanmsg send``
process per message) comes from case_startup.
"""

from __future__ import annotations

import json
import os
import time

from common import INHOST, fmt, summary
from labkit import proc_figures, run_json, start_listener

# The many-senders case with --log before group commit (one fsync per message, before its CONF):
# measured with bench/inhost/senders.py at that commit on the machine of docs/performance.md (the
# higher of two runs; one durable record then took 0.18 ms).
LOG_SENDERS_BEFORE = {"rate": 2523, "commit": "a1c0b02", "append_ms": 0.18}
TARGET_LOG_GAIN = 5.0  # issue 19: at least 5x that
SENDERS_START_S = 2.0  # the many senders start together this long after they are launched
SENDERS_GRACE_S = 30.0  # a sender process still running this long after its window is stuck

ECHO_PORT = 5139  # the ping-pong's echo server (not 138: the listener owns that)
FLOOR_PORT = 5140  # echo.py --confirm: the codec-only exchange of the same datagrams
TARGET_SHARE = 0.5  # the library path should reach half the ping-pong rate
LISTENER_CPU_MIN_S = 0.1  # /proc counts CPU in clock ticks (10 ms): below 10 of them, no per-message figure


def run(ctx, profile_path: str | None = None, listener_pid: int | None = None) -> dict:
    """``listener_pid``: the ``lanmsg listen`` on host 2, whose CPU per confirmed message is counted
    too (it is idle during the ping-pong and codec-only trials)."""
    lab, py = ctx.lab, ctx.py
    echo = lab.popen(2, [py, os.path.join(INHOST, "echo.py"), ECHO_PORT])
    echo.wait_for_line("^ready")
    floor = lab.popen(2, [py, os.path.join(INHOST, "echo.py"), FLOOR_PORT, "--confirm"])
    floor.wait_for_line("^ready")
    argv = [
        py,
        os.path.join(INHOST, "rates.py"),
        lab.addr(2),
        "--echo-port",
        ECHO_PORT,
        "--floor-port",
        FLOOR_PORT,
        "--pings",
        ctx.p.pings,
        "--messages",
        ctx.p.messages,
        "--trials",
        ctx.p.rate_trials,
    ]
    if profile_path:
        argv += ["--profile", profile_path]
    listener_before = proc_figures(listener_pid)["cpu_s"] if listener_pid else 0.0
    try:
        raw = run_json(lab, 1, argv, timeout=120 + ctx.p.rate_trials * 60)
        listener_cpu_s = proc_figures(listener_pid)["cpu_s"] - listener_before if listener_pid else 0.0
    finally:
        echo.stop()
        floor.stop()
    res = {
        "ping": summary(raw["ping_rates"]),
        "library": summary(raw["message_rates"]),
        "floor": summary(raw["floor_rates"]),
        "floor_lost": raw["floor_lost"],
        "ping_lost": raw["ping_lost"],
        "unconfirmed": raw["unconfirmed"],
        "pings": ctx.p.pings,
        "messages": ctx.p.messages,
        "trials": ctx.p.rate_trials,
    }
    res["share"] = res["library"]["median"] / res["ping"]["median"]
    measured = ctx.p.messages * ctx.p.rate_trials
    res["sender_cpu_us"] = raw["message_cpu_s"] / measured * 1e6
    if listener_cpu_s >= LISTENER_CPU_MIN_S:
        confirmed = measured + 1 + (ctx.p.messages if profile_path else 0)  # with the warm-up and the profiled trial
        res["listener_cpu_us"] = listener_cpu_s / confirmed * 1e6
    return res


def budget_us(res: dict) -> float:
    """What one confirmed message may take, end to end, at the target share of the ping-pong."""
    return 1e6 / (TARGET_SHARE * res["ping"]["median"])


def cpu_text(res: dict) -> str:
    """The library trials' CPU per confirmed message at each end, beside the target's budget."""
    if "sender_cpu_us" not in res:
        return ""
    ends = f"the sender {res['sender_cpu_us']:.0f} µs"
    if "listener_cpu_us" in res:
        ends += f", the listener {res['listener_cpu_us']:.0f} µs"
    return (
        f"CPU per confirmed message in the library trials: {ends}; {TARGET_SHARE:.0%} of the ping-pong "
        f"leaves {budget_us(res):.0f} µs for the whole exchange"
    )


def run_senders(ctx) -> dict:
    """Many senders at once, one per lab host (hosts 3, 4, ...), each sending confirmed messages one
    after the other to ``lanmsg listen`` on host 2, without and with ``--log``: confirmed messages
    per second in all, and, with the log, whether every confirmed message is in it."""
    lab, p = ctx.lab, ctx.p
    hosts = list(range(3, 3 + min(p.senders, lab.hosts - 2)))
    out: dict = {"senders": len(hosts), "seconds": p.sender_seconds, "trials": p.sender_trials, "runs": []}
    for log in (False, True):
        log_path = os.path.join(ctx.disk_tmp, "senders-messages.log")
        if os.path.exists(log_path):
            os.unlink(log_path)
        listener = start_listener(
            ctx,
            2,
            os.path.join(ctx.tmp, f"senders-listener{'-log' if log else ''}.out"),
            "--json",
            *(["--log", log_path] if log else []),
        )
        rates, unconfirmed, confirmed_texts = [], 0, []
        sender_cpu = listener_cpu = 0.0
        try:
            for trial in range(p.sender_trials):
                before = proc_figures(listener.pid)["cpu_s"]
                start_at = time.time() + SENDERS_START_S
                procs = [
                    lab.popen(
                        h,
                        [
                            ctx.py,
                            os.path.join(INHOST, "senders.py"),
                            lab.addr(2),
                            "--start-at",
                            f"{start_at:.3f}",
                            "--seconds",
                            p.sender_seconds,
                            "--tag",
                            f"{'l' if log else 'n'}{trial}h{h}",
                        ],
                    )
                    for h in hosts
                ]
                results = []
                for proc in procs:
                    r = proc.finish(SENDERS_START_S + p.sender_seconds + SENDERS_GRACE_S)
                    if r.returncode != 0:
                        raise RuntimeError(f"senders.py on host {proc.host} failed: {r.stderr[-2000:]}")
                    results.append(json.loads(r.stdout.strip().splitlines()[-1]))
                listener_cpu += proc_figures(listener.pid)["cpu_s"] - before
                sender_cpu += sum(x["cpu_s"] for x in results)
                confirmed = sum(len(x["confirmed"]) for x in results)
                rates.append(confirmed / max(x["elapsed"] for x in results))
                unconfirmed += sum(x["unconfirmed"] for x in results)
                confirmed_texts += [t for x in results for t in x["confirmed"]]
        finally:
            listener.stop()
        n = max(1, len(confirmed_texts))
        run = {
            "log": log,
            "rate": summary(rates),
            "unconfirmed": unconfirmed,
            "confirmed": len(confirmed_texts),
            # CPU per confirmed message: all senders together, and the listener (its start-up excluded)
            "sender_cpu_us": sender_cpu / n * 1e6,
            "listener_cpu_us": listener_cpu / n * 1e6,
        }
        if log:
            from lanmsg.output import read_log

            logged = {r.get("text") for r in read_log(log_path) if r.get("dir") == "in"}
            run["confirmed_not_logged"] = sum(1 for t in confirmed_texts if t not in logged)
            os.unlink(log_path)
        out["runs"].append(run)
    return out


def senders_text(n: int, what: str = "sender") -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def log_gain(senders: dict) -> float:
    run = next(r for r in senders["runs"] if r["log"])
    return float(run["rate"]["median"]) / LOG_SENDERS_BEFORE["rate"]


def render_senders(res: dict, ping: float) -> list[str]:
    """Rows of case 2's table for the many senders (after the ping-pong rows)."""
    rows = []
    for run in res["runs"]:
        r = run["rate"]
        what = "`lanmsg listen --log FILE` (group commit)" if run["log"] else "`lanmsg listen`"
        rows.append(
            f"| {senders_text(res['senders'])} at once, one per host, each `Messenger.send()` in turn, to {what} "
            f"| {fmt(r['median'], 0)} | {fmt(r['min'], 0)}-{fmt(r['max'], 0)} | {fmt(r['median'] / ping, 2)}x "
            f"| {run['unconfirmed']} of {run['confirmed'] + run['unconfirmed']} |"
        )
    return rows


def render(res: dict, cli_rate: float | None, senders: dict | None = None) -> list[str]:
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
    fl = res.get("floor")
    if fl:
        lines.insert(
            3,
            f"| the same two datagrams with nothing but the codec: mailslot's datagram templates and decoder, "
            f"protocol's frames, at both ends (bench/inhost/echo.py --confirm) | {fmt(fl['median'], 0)} "
            f"| {fmt(fl['min'], 0)}-{fmt(fl['max'], 0)} | {fmt(fl['median'] / ping['median'], 2)}x "
            f"| {res['floor_lost']} of {res['messages'] * res['trials']} |",
        )
    if senders:
        lines += render_senders(senders, ping["median"])
    if cli_rate:
        lines.append(
            f"| command line: `lanmsg send` in a loop, one process per message | {fmt(cli_rate, 1)} "
            f"| (case 5) | {fmt(cli_rate / ping['median'], 4)}x | 0 |"
        )
    return lines
