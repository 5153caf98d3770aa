"""Case 1: discovery latency, whole process, cold, beside avahi and python-zeroconf.

Servers on hosts 2..N+1 each run ``lanmsg announce 5000`` and, for the
comparison, avahi-daemon with ``avahi-publish -s lanmsg-bench-hI _lanbench._tcp
5000``; host 1 runs avahi-daemon too (avahi-browse needs its local daemon).  On
host 1, interleaved in random order each round, each command is timed as a
whole process until it exits with the answer:

* ``python3 -c pass``: the floor (the same interpreter starting and exiting);
* ``lanmsg discover``: the active query, answered in one round trip;
* the seed's way: create ``@_MSClient_@`` and wait for the next periodic broadcast
  (every 1 s per server), after an untimed random 0-1 s pause so every phase is sampled;
* ``avahi-browse -rtp _lanbench._tcp``: browse, resolve, exit (-t) at avahi's ALL_FOR_NOW;
* a python-zeroconf one-shot browse (inhost/zc_browse.py) in the bench venv, and
  that venv's ``python -c pass``.
"""

from __future__ import annotations

import os

from common import INHOST, fmt, fmt_spread, summary
from labkit import SERVICE_TYPE, run_timer

ANNOUNCE_PORT = 5000
TARGET_VS_FLOOR = 2.0  # discover within 2x the bare interpreter
TARGET_VS_AVAHI = 10.0  # and at least 10x faster than avahi-browse

PASSIVE = (
    "import mailslot, lanmsg.protocol as P\n"
    "with mailslot.Mailslot(P.MS_SLOT) as s:\n"
    "    m = s.read(5.0)\n"
    "    print(P.decode_ms_message(m.data, m.source_ip).endpoint)\n"
)

LABELS = {
    "floor": "`python3 -c pass` (the floor)",
    "discover": "`lanmsg discover` (active query)",
    "passive": "seed's way: open `@_MSClient_@`, wait for the next 1 s broadcast",
    "avahi": "`avahi-browse -rtp _lanbench._tcp` (avahi-publish on the server)",
    "zeroconf": "python-zeroconf one-shot `AsyncServiceBrowser` + resolve",
}


def _cases(ctx) -> list[dict]:
    py, net = ctx.py, ctx.lab.net.replace(".", r"\.")
    endpoint = rf"^{net}\.\d+:{ANNOUNCE_PORT}$"
    cases = [
        {"name": "floor", "argv": [py, "-c", "pass"]},
        {"name": "discover", "argv": ctx.lanmsg("discover"), "expect": endpoint},
        {"name": "passive", "argv": [py, "-c", PASSIVE], "expect": endpoint, "phase": True},
    ]
    if ctx.avahi is not None:
        cases.append(
            {
                "name": "avahi",
                "argv": ["avahi-browse", "-rtp", SERVICE_TYPE],
                "env": ctx.avahi.env(1),
                "expect": rf"^=;eth0;IPv4;lanmsg-bench-h\d+;{SERVICE_TYPE};local;.*;{net}\.\d+;",
            }
        )
    if ctx.venv is not None:
        cases.append(
            {
                "name": "zeroconf",
                "argv": [ctx.venv, os.path.join(INHOST, "zc_browse.py"), SERVICE_TYPE],
                "expect": rf"^=;lanmsg-bench-h\d+;.*;{net}\.\d+;{ANNOUNCE_PORT}$",
            }
        )
    return cases


def _measure(ctx, rounds: int) -> dict:
    raw = run_timer(
        ctx.lab,
        1,
        {"rounds": rounds, "cases": _cases(ctx), "settle_s": 0.05, "timeout_s": 20},
        timeout=120 + rounds * 60,
    )
    return {k: {"ms": summary(v["ms"]), "failures": v["failures"]} for k, v in raw.items()}


def _serve(ctx, servers: int, announcers: dict) -> None:
    hosts = list(range(2, servers + 2))
    for i in hosts:
        if i not in announcers:
            announcers[i] = ctx.lab.popen(i, ctx.lanmsg("announce", ANNOUNCE_PORT))
    for i in hosts:
        announcers[i].wait_for_line("announcing", 60)
    if ctx.avahi is not None:
        ctx.avahi.serve(hosts, browser_hosts=[1])


def run(ctx) -> dict:
    announcers = {}
    try:
        _serve(ctx, 1, announcers)
        main = _measure(ctx, ctx.p.discovery_runs)
        sweep = []
        for n in ctx.p.sweep:
            _serve(ctx, n, announcers)
            sweep.append({"servers": n, "cases": _measure(ctx, ctx.p.sweep_runs)})
    finally:
        for p in announcers.values():
            p.stop()
    res = {"main": main, "sweep": sweep, "runs": ctx.p.discovery_runs, "sweep_runs": ctx.p.sweep_runs}
    med = lambda k: (main.get(k) or {}).get("ms") and main[k]["ms"]["median"]  # noqa: E731  (a one-line helper)
    res["vs_floor"] = med("discover") / med("floor")
    res["avahi_vs_discover"] = med("avahi") / med("discover") if med("avahi") else None
    res["zeroconf_vs_discover"] = med("zeroconf") / med("discover") if med("zeroconf") else None
    return res


def render_main(res: dict) -> list[str]:
    main = res["main"]
    floor = main["floor"]["ms"]["median"]
    lines = [
        "| command | median ms | IQR ms | min-max ms | vs the floor | failed runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, label in LABELS.items():
        if k not in main:
            continue
        s = main[k]["ms"]
        med, iqr, rng = fmt_spread(s)
        ratio = f"{s['median'] / floor:.2f}x" if s else "—"
        lines.append(f"| {label} | {med} | {iqr} | {rng} | {ratio} | {len(main[k]['failures'])} of {res['runs']} |")
    return lines


def render_sweep(res: dict) -> list[str]:
    names = [k for k in ("discover", "passive", "avahi", "zeroconf") if res["sweep"] and k in res["sweep"][0]["cases"]]
    lines = [
        "| servers | " + " | ".join(f"{LABELS[k].split(' (')[0]} ms, median (min-max)" for k in names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    rows = [{"servers": 1, "cases": res["main"]}] + res["sweep"]
    for row in rows:
        cells = []
        for k in names:
            s = row["cases"][k]["ms"]
            fails = len(row["cases"][k]["failures"])
            cells.append(
                (f"{fmt(s['median'], 0)} ({fmt(s['min'], 0)}-{fmt(s['max'], 0)})" if s else "—")
                + (f", {fails} failed" if fails else "")
            )
        lines.append(f"| {row['servers']} | " + " | ".join(cells) + " |")
    return lines
