"""Case 5 (and the CLI half of case 2): whole-process start-up of lanmsg beside the bare interpreter.

On lab host 1, interleaved: ``python -c pass``, ``lanmsg --help``,
``lanmsg send --no-wait`` and ``lanmsg send`` (waits for the CONF of the
listener on host 2; its rate is the command-line messages per second).
"""

from __future__ import annotations

from common import fmt, fmt_spread, summary
from labkit import run_timer

LABELS = {
    "floor": "`python3 -c pass` (the floor)",
    "stdlib": "`python3 -c 'import socket, argparse'` (two standard-library modules any networked CLI of "
    "this kind imports)",
    "with_mailslot": "`python3 -c 'import socket, argparse, mailslot'` (what any command that writes through "
    "mailslot.py imports before its own modules and work)",
    "help": "`lanmsg --help`",
    "nowait": "`lanmsg send --no-wait 10.213.0.2 TEXT`",
    "send": "`lanmsg send 10.213.0.2 TEXT` (waits for the confirmation)",
    "module": "`python3 -m lanmsg --help` (through runpy instead of the console script)",
    "system_floor": "`python3 -c pass` of this machine's interpreter outside the venv (its site-packages)",
}


def run(ctx) -> dict:
    py, peer = ctx.py, ctx.lab.addr(2)
    cases = [
        {"name": "floor", "argv": [py, "-c", "pass"]},
        {"name": "stdlib", "argv": [py, "-c", "import socket, argparse"]},
        {"name": "with_mailslot", "argv": [py, "-c", "import socket, argparse, mailslot"]},
        {"name": "help", "argv": ctx.lanmsg("--help"), "expect": r"^usage: lanmsg"},
        {"name": "nowait", "argv": ctx.lanmsg("send", "--no-wait", peer, "start-up bench")},
        {"name": "send", "argv": ctx.lanmsg("send", peer, "start-up bench"), "expect": r"^confirmed by LAB-H2"},
        {"name": "module", "argv": [py, "-m", "lanmsg", "--help"], "expect": r"^usage: lanmsg"},
    ]
    if ctx.system_py != py:
        cases.append({"name": "system_floor", "argv": [ctx.system_py, "-c", "pass"]})
    raw = run_timer(
        ctx.lab,
        1,
        {"rounds": ctx.p.startup_runs, "cases": cases, "settle_s": 0.05, "timeout_s": 30},
        timeout=60 + ctx.p.startup_runs * 20,
    )
    res = {k: {"ms": summary(v["ms"]), "failures": v["failures"]} for k, v in raw.items()}
    floor = res["floor"]["ms"]["median"]
    for k in res:
        s = res[k]["ms"]
        res[k]["vs_floor"] = s["median"] / floor if s else None
    send = res["send"]["ms"]
    res["cli_messages_per_s"] = 1000 / send["median"] if send else None
    return res


def render(res: dict, runs: int) -> list[str]:
    lines = [
        "| command | median ms | IQR ms | min-max ms | vs the floor | failed runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, label in LABELS.items():
        if k not in res:
            continue
        med, iqr, rng = fmt_spread(res[k]["ms"])
        ratio = res[k].get("vs_floor")
        lines.append(
            f"| {label} | {med} | {iqr} | {rng} | {fmt(ratio, 2) + 'x' if ratio else '1x'} "
            f"| {len(res[k]['failures'])} of {runs} |"
        )
    return lines
