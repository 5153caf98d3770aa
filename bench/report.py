"""The suite's section of docs/performance.md, written from one run's results."""

from __future__ import annotations

import os

import case_detect
import case_discovery
import case_flood
import case_names
import case_rates
import case_startup
from common import BUSY_WARNING_CORES, fmt, replace_section

MAILSLOT_START, MAILSLOT_END = "<!-- bench/run.py:mailslot:start -->", "<!-- bench/run.py:mailslot:end -->"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def summary_rows(res: dict) -> list[str]:
    d, r, s, fl, dt = res["discovery"], res["rates"], res["startup"], res["flood"], res["detect"]
    main = d["main"]
    rows = ["| case | lanmsg's figure (median) | beside | target | |", "|---|---|---|---|---|"]
    rows.append(
        f"| 1. discovery, whole process | `lanmsg discover` {fmt(main['discover']['ms']['median'])} ms "
        f"| floor `python3 -c pass` {fmt(main['floor']['ms']['median'])} ms: **{d['vs_floor']:.2f}x** "
        f"| at most 2x the floor | {_met(d['vs_floor'] <= case_discovery.TARGET_VS_FLOOR)} |"
    )
    if d.get("avahi_vs_discover"):
        rows.append(
            f"| 1. discovery vs avahi | `lanmsg discover` {fmt(main['discover']['ms']['median'])} ms "
            f"| `avahi-browse -rtp` {fmt(main['avahi']['ms']['median'])} ms: "
            f"**{d['avahi_vs_discover']:.1f}x** slower | at least 10x faster than avahi-browse "
            f"| {_met(d['avahi_vs_discover'] >= case_discovery.TARGET_VS_AVAHI)} |"
        )
    else:
        rows.append(
            "| 1. discovery vs avahi | — | avahi not installed in this run | at least 10x faster | not measured |"
        )
    if d.get("zeroconf_vs_discover"):
        rows.append(
            f"| 1. discovery vs python-zeroconf | `lanmsg discover` {fmt(main['discover']['ms']['median'])} ms "
            f"| one-shot zeroconf browse {fmt(main['zeroconf']['ms']['median'])} ms: "
            f"**{d['zeroconf_vs_discover']:.1f}x** slower | (no target) | |"
        )
    floor, cpu = r.get("floor"), case_rates.cpu_text(r)
    rows.append(
        f"| 2. confirmed messages per second | library {fmt(r['library']['median'], 0)}/s, "
        f"command line {fmt(s['cli_messages_per_s'], 1)}/s | bare UDP ping-pong "
        f"{fmt(r['ping']['median'], 0)}/s: library at **{r['share']:.0%}**"
        + (
            f"; the same datagrams with nothing but the codec {fmt(floor['median'], 0)}/s "
            f"({floor['median'] / r['ping']['median']:.0%} of the ping-pong)"
            if floor
            else ""
        )
        + (f"; {cpu}" if cpu else "")
        + f" | library at 50 % of the ping-pong or better | {_met(r['share'] >= case_rates.TARGET_SHARE)} |"
    )
    if "senders" in res:
        sd = res["senders"]
        logged = next(x for x in sd["runs"] if x["log"])
        gain = case_rates.log_gain(sd)
        before = case_rates.LOG_SENDERS_BEFORE
        rows.append(
            f"| 2. confirmed messages per second from {case_rates.senders_text(sd['senders'])}, `listen --log` "
            f"| {fmt(logged['rate']['median'], 0)}/s, every confirmed message in the log "
            f"({logged['confirmed_not_logged']} missing) | {before['rate']:,}/s before group commit "
            f"(commit {before['commit']}): **{gain:.1f}x** | at least {case_rates.TARGET_LOG_GAIN:g}x "
            f"| {_met(gain >= case_rates.TARGET_LOG_GAIN)} |"
        )
    lost = sum(x["lost"] for x in dt["steps"])
    last = dt["steps"][-1]
    rows.append(
        f"| 3. detect | {last['listeners']} listeners: every one found in {last['found_all_runs']} of "
        f"{last['runs']} runs, last answer after {fmt(last['last_ms']['median'], 0)} ms "
        f"| expected last answer {fmt(last['expected_last_ms'], 0)} ms (reply jitter) "
        f"| 0 answers lost | {_met(lost == 0)} ({lost} lost) |"
    )
    for run in fl["runs"]:
        what = "4. flood, with `--log`" if run["log"] else "4. flood"
        ok = case_flood.shown_ok(run) and run["peak_rss_mb"] <= case_flood.TARGET_PEAK_RSS_MB
        rows.append(
            f"| {what} | {run['shown']:,} of {run['sent']:,} shown ({run['shown'] / run['sent']:.0%}), "
            f"{run['kernel_drops']:,} dropped by the kernel, peak RSS {fmt(run['peak_rss_mb'], 1)} MB "
            f"| {fl['rate']:,} messages/s for {fl['seconds']} s "
            f"| at least {case_flood.target_shown(run['log']):.0%} shown, peak RSS at most "
            f"{case_flood.TARGET_PEAK_RSS_MB} MB | {_met(ok)} |"
        )
    rows += startup_rows(s, main)
    if "names" in res:
        rows += names_summary_rows(res["names"])
    return rows


STARTUP_VS_STDLIB = 1.25  # issue 19: at most 1.25x `python3 -c "import socket, argparse"`
STARTUP_VS_FLOOR = 3.0  # and at most 3x `python3 -c pass`


def startup_rows(s: dict, discovery: dict) -> list[str]:
    """Start-up against issue 19's targets: each command beside the two floors of case 5."""
    floor, stdlib = s["floor"]["ms"]["median"], s.get("stdlib", {}).get("ms")
    with_mailslot = s.get("with_mailslot", {}).get("ms")
    rows = []
    for what, ms, through_mailslot in (
        ("`lanmsg --help`", s["help"]["ms"], False),
        ("`lanmsg send --no-wait`", s["nowait"]["ms"], True),
        ("`lanmsg discover` (one server answers)", discovery["discover"]["ms"], True),
    ):
        med = ms["median"]
        if stdlib:
            vs_stdlib = med / stdlib["median"]
            beside = (
                f"`python3 -c 'import socket, argparse'` {fmt(stdlib['median'])} ms: **{vs_stdlib:.2f}x**; "
                f"floor `python3 -c pass` {fmt(floor)} ms: **{med / floor:.2f}x**"
            )
            if through_mailslot and with_mailslot:
                beside += (
                    f"; `import socket, argparse, mailslot` alone {fmt(with_mailslot['median'])} ms = "
                    f"{with_mailslot['median'] / stdlib['median']:.2f}x the first"
                )
            ok = vs_stdlib <= STARTUP_VS_STDLIB and med / floor <= STARTUP_VS_FLOOR
        else:
            beside, ok = f"floor `python3 -c pass` {fmt(floor)} ms: **{med / floor:.2f}x**", False
        rows.append(
            f"| 5. start-up | {what} {fmt(med)} ms | {beside} | at most {STARTUP_VS_STDLIB:g}x the first "
            f"and {STARTUP_VS_FLOOR:g}x the floor | {_met(ok)} |"
        )
    return rows


def import_floors_text(pr: dict) -> str:
    """The interpreter importing socket, then mailslot, and nothing else, beside nmblookup's whole
    run (case 6's whole-process timings ``pr``); empty for a run without those rows."""
    if not (pr.get("socket_import", {}).get("ms") and pr.get("mailslot_import", {}).get("ms")):
        return ""
    sock, slot = pr["socket_import"]["ms"]["median"], pr["mailslot_import"]["ms"]["median"]
    text = (
        f" The interpreter with `import socket` alone takes {fmt(sock)} ms and with `import mailslot` alone "
        f"{fmt(slot)} ms, before any parser or query"
    )
    if "nmblookup" not in pr:
        return text + "."
    peer = pr["nmblookup"]["ms"]["median"]
    return text + f": {sock / peer:.2f}x and {slot / peer:.2f}x nmblookup's whole run."


def names_summary_rows(nm: dict) -> list[str]:
    pr, idle, busy = nm["process"], nm["idle"]["lanmsg"], nm["busy"]
    beside = f"floor {fmt(pr['floor']['ms']['median'])} ms"
    verdict = "not measured (no nmblookup)"
    if "nmblookup" in pr:
        peer = pr["nmblookup"]["ms"]["median"]
        beside = f"`nmblookup -B` {fmt(peer)} ms, " + beside
        verdict = _met(pr["resolve"]["ms"]["median"] <= peer)
    if pr.get("socket_import", {}).get("ms"):
        beside += f"; `python3 -c 'import socket'` alone {fmt(pr['socket_import']['ms']['median'])} ms"
    worst = max(x[k]["median"] for x in (idle, busy) for k in ("unicast", "broadcast"))
    rows = [
        (
            f"| 6. name resolution, whole process | `python3 -m mailslot resolve` "
            f"{fmt(pr['resolve']['ms']['median'])} ms | {beside} | no slower than `nmblookup -B` | {verdict} |"
        ),
        (
            f"| 6. responder answer time | `lanmsg listen` idle: unicast {fmt(idle['unicast']['median'], 2)} ms, "
            f"broadcast {fmt(idle['broadcast']['median'], 2)} ms; flooded: {fmt(busy['unicast']['median'], 2)} and "
            f"{fmt(busy['broadcast']['median'], 2)} ms | `nmblookup -B` waits {case_names.TARGET_ANSWER_MS:.0f} ms "
            f"| well under {case_names.TARGET_ANSWER_MS:.0f} ms | {_met(case_names.answer_ok(nm))} "
            f"(slowest median {fmt(worst, 2)} ms, slowest answer {fmt(case_names.slowest_answer_ms(nm), 1)} ms) |"
        ),
        (
            f"| 6. a name nobody owns | `query_name` gives up after {fmt(nm['nobody_query_name']['median'], 0)} ms "
            f"| 3 broadcast tries 750 ms apart: {fmt(case_names.EXPECTED_FAILURE_MS, 0)} ms | (no target: measured) | |"
        ),
    ]
    two = nm.get("two")
    if two:
        first, second = two["two"], two["two_second"]
        rows.append(
            f"| 6. two lanmsg processes on one host | the first's name: unicast {fmt(first['unicast']['median'], 2)} ms, "
            f"broadcast {fmt(first['broadcast']['median'], 2)} ms; the second's: {fmt(second['unicast']['median'], 2)} "
            f"and {fmt(second['broadcast']['median'], 2)} ms (the second bound last: every unicast reaches it) "
            f"| `nmblookup -B` waits {case_names.TARGET_ANSWER_MS:.0f} ms "
            f"| well under {case_names.TARGET_ANSWER_MS:.0f} ms | {_met(case_names.answer_ok(nm))} |"
        )
    return rows


def machine_rows(res: dict) -> list[str]:
    m = res["machine"]
    rows = [
        "| machine | |",
        "|---|---|",
        f"| CPU | {m['cpu']}, {m['cores']} cores |",
        f"| memory | {fmt(m['memory_gb'], 0)} GB |",
        f"| Python | {m['python']} (the real interpreter, byte-compiled code, as installed) |",
        f"| kernel | {m['kernel']} |",
        f"| lanmsg commit | {m['commit']} |",
    ]
    tools = res.get("tools", {})
    if tools.get("avahi"):
        rows.append(f"| avahi | {tools['avahi']} (Debian), avahi-daemon with a private D-Bus per lab host |")
    if tools.get("samba"):
        version = tools["samba"].removeprefix("Version ")
        rows.append(f"| Samba | {version} (Debian): nmblookup with a private client conf, nmbd; lab hosts only |")
    if tools.get("zeroconf"):
        z = tools["zeroconf"].split()
        rows.append(f"| python-zeroconf | {z[0]} (PyPI, pinned) under Python {z[1] if len(z) > 1 else '?'} |")
    if res.get("missing"):
        rows.append(f"| comparisons | {res['missing']} |")
    loads = ", ".join(f"{k} {fmt(v, 2)}" for k, v in res["load"].items() if v is not None)
    busy = max((v for v in res["load"].values() if v is not None), default=None)
    rows.append(
        f"| CPU used by other processes during the run | {loads} cores on average"
        + (" — the machine was not idle: treat the figures as disturbed" if busy and busy > BUSY_WARNING_CORES else "")
        + " |"
    )
    return rows


def section(res: dict, plots: dict, start: str, end: str) -> str:
    p = res["params"]
    d, r, s, fl, dt = res["discovery"], res["rates"], res["startup"], res["flood"], res["detect"]
    sweep = ", ".join(map(str, p["sweep"]))
    L = [
        start,
        "## lanmsg beside the tools users would otherwise pick",
        "",
        (
            f"Measured {res['date']} with `{res['command']}` in {res['elapsed_s'] / 60:.1f} minutes "
            f"(`sudo python3 bench/suite.py` takes about 5 minutes on an idle machine like this one, plus 15 s to "
            f"install the compared tools the first time; see bench/README.md). Every case runs in one lab of "
            f"{1 + max(p['sweep'])} network-namespace hosts on one bridge (tests/netlab.py): host 1 asks, the others "
            "serve or listen. Each command is timed as a whole process inside host 1 (the lab's own `ip netns exec` "
            "is not in any figure), cases interleaved in random order, repeated; tables give the median, the "
            "interquartile range (IQR) and the extremes."
        ),
        "",
    ]
    L += [*machine_rows(res), ""]
    L += ["### Summary: figures against the targets", "", *summary_rows(res), ""]

    # 1 ---------------------------------------------------------------------
    L += [
        "### 1. Discovery latency, whole process, cold",
        "",
        (
            f"One server (host 2: `lanmsg announce 5000`, avahi-daemon with `avahi-publish -s lanmsg-bench-h2 "
            f"_lanbench._tcp 5000`); host 1 (its own avahi-daemon for avahi-browse) runs each command {d['runs']} "
            "times. The zeroconf browser is a one-shot script (bench/inhost/zc_browse.py): `AsyncServiceBrowser` "
            "for `_lanbench._tcp.local.`, resolve the first instance with `AsyncServiceInfo.async_request`, print, "
            "close. It runs in the bench venv, whose `python -c pass` is listed too."
        ),
        "",
    ]
    L += [*case_discovery.render_main(d), ""]
    L += [
        (
            f"With more servers ({sweep}; every server runs both `lanmsg announce` and avahi-publish; "
            f"{d['sweep_runs']} rounds each):"
        ),
        "",
    ]
    L += [*case_discovery.render_sweep(d), ""]
    if plots.get("discovery"):
        L += [f"![Discovery latency against servers in the lab]({plots['discovery']})", ""]
    L += [
        "Reading the figures:",
        "",
        (
            f"* `lanmsg discover` is the interpreter's start-up plus lanmsg's imports plus one query-answer round "
            f"trip (the announcer answers after a random 0-2 ms so that several announcers do not answer in the "
            f"same instant): **{d['vs_floor']:.2f}x** the floor. The number of servers does not change it: the "
            f"first answer ends the command."
        ),
        (
            "* `avahi-browse -rtp` measures a timer more than the network: `-t` exits on avahi's ALL_FOR_NOW "
            "event, which avahi-core emits one second after the browse starts (avahi-core/multicast-lookup.c), "
            "whether the answer came after 5 ms or never; an answer later than that second is missed. That is the "
            "~1015 ms floor of that row, warm cache or cold."
        ),
        (
            "* The zeroconf browse is the interpreter, `import zeroconf` (about 90 ms of it), the browser's random "
            "20-120 ms delay before its first query, the responder's 20-120 ms delay for shared PTR answers, then "
            "the resolution: hence its wide spread."
        ),
        (
            "* The seed's passive wait is bounded by the 1 s announce interval: half a second on average plus "
            "start-up, a whole second at worst; with many servers broadcasting at independent phases the next "
            "broadcast comes sooner."
        ),
        (
            f"* The floor is `{'python3'} -c pass` with the real interpreter; through a version manager's shim "
            "(pyenv) every Python command here would take about 95 ms more."
        ),
        "",
    ]

    # 2 ---------------------------------------------------------------------
    L += [
        "### 2. Confirmed messages per second between two hosts",
        "",
        (
            f"Host 1 to `lanmsg listen` on host 2. Alternating trials ({r['trials']} of each): {r['pings']:,} "
            f"sequential round trips of a bare 210-byte UDP datagram to an echo server on host 2 (the most one "
            f"Python process that waits for each answer can do), then {r['messages']:,} sequential "
            "`lanmsg.client.Messenger.send()` calls, each waiting for its confirmation (docs/library.md). The "
            "command-line row is `lanmsg send` as a whole process, timed in case 5."
        ),
        "",
    ]
    L += [*case_rates.render(r, s["cli_messages_per_s"], res.get("senders")), ""]
    cpu = case_rates.cpu_text(r)
    L += [
        (
            f"The library reaches **{r['share']:.0%}** of the ping-pong rate (target: 50 % or better, "
            f"{'met' if r['share'] >= case_rates.TARGET_SHARE else 'missed'}). A confirmed message costs more than "
            "a bare round trip on both ends: the sender builds a messenger frame and a NetBIOS datagram, the "
            "listener parses both, checks for duplicates, prints the message and builds the CONF datagram, and the "
            "sender parses that. The codec-only row does exactly that much and nothing else (no operation, no "
            "peer state, no duplicate table, no output): it is the floor of this wire format in Python. "
            + (f"{cpu}. " if cpu else "")
            + 'See "Where the time goes" below.'
        ),
        "",
    ]
    if "senders" in res:
        sd = res["senders"]
        logged = next(x for x in sd["runs"] if x["log"])
        before = case_rates.LOG_SENDERS_BEFORE
        L += [
            (
                f"The many-senders rows: {case_rates.senders_text(sd['senders'], 'lab host')} (3 and up) each run one "
                "Messenger "
                f"(bench/inhost/senders.py) that sends confirmed messages one after the other to host 2, all "
                f"starting together, {sd['trials']} trials of {sd['seconds']:g} s; the rate is every confirmed "
                f"message of a trial over its length. With `--log` the listener writes a batch of messages and "
                f"fsyncs once on its own thread, then sends the batch's CONFs (group commit); every message whose "
                f"send was confirmed was found in the log afterwards ({logged['confirmed_not_logged']} missing of "
                f"{logged['confirmed']:,}). Before group commit (commit {before['commit']}, one fsync per message "
                f"before its CONF, {before['append_ms']:g} ms per durable record on that day's disk) the same "
                f"senders got {before['rate']:,} messages/s: now **{case_rates.log_gain(sd):.1f}x** that (target: "
                f"{case_rates.TARGET_LOG_GAIN:g}x). The disk's fsync time in this run is in case 4. CPU per "
                "confirmed message, "
                + ", ".join(
                    f"{'with' if x['log'] else 'without'} `--log`: the senders {fmt(x.get('sender_cpu_us'), 0)} µs, "
                    f"the listener {fmt(x.get('listener_cpu_us'), 0)} µs"
                    for x in sd["runs"]
                )
                + f"; the senders, the listener and the kernel share the machine's {res['machine']['cores']} cores."
            ),
            "",
        ]

    # 3 ---------------------------------------------------------------------
    L += [
        "### 3. detect with many listeners",
        "",
        (
            f"`lanmsg listen` on hosts 2..N+1; host 1 broadcasts DETECT through `Messenger.detect()` "
            f"({dt['steps'][0]['runs']} runs per step, 1.5 s window, the CLI's default) and records when each "
            'answer arrives. "Kernel drops" are datagrams host 1\'s kernel discarded because the socket buffer '
            "was full (`RcvbufErrors`)."
        ),
        "",
    ]
    L += [*case_detect.render(dt), ""]
    if plots.get("detect"):
        L += [f"![detect: first and last answer against listeners]({plots['detect']})", ""]
    L += [
        (
            "Every listener delays its ONLINE answer by a random 5-1028 ms (IPMsg's spread), so one DETECT to "
            "many peers does not make them all answer in the same instant. The cost is the time to the last "
            "answer: with N listeners it approaches the top of the range (expected: 5 + 1023 x N/(N+1) ms), which "
            "is why `detect` collects for 1.5 s. The spread keeps the burst at the asker small: no answer was "
            "lost to a full socket buffer."
        ),
        "",
    ]

    # 4 ---------------------------------------------------------------------
    L += [
        f"### 4. A listener under a flood of {fl['rate']:,} messages/s for {fl['seconds']} s",
        "",
        (
            "Host 1 sends distinct messenger messages that ask for confirmation, paced every millisecond, from UDP "
            "port 138 (bench/inhost/flood.py, which counts the CONFs that come back); `lanmsg listen --json` on "
            "host 2 writes to a file as to a terminal. CPU and peak RSS are the listener's own (/proc). Then the "
            "same with `--log FILE` on the repository's disk (ext4 here): every received message is written and "
            "fsynced before its CONF goes out, a batch at a time with one fsync on the log's own thread (group "
            'commit). "Dropped by the kernel" is the lab host\'s `RcvbufErrors` (/proc/net/snmp) beside the '
            "listener's own count of its socket's drops (`dropped_by_kernel` in its stopped event)."
        ),
        "",
    ]
    L += [*case_flood.render(fl), ""]
    a = fl["append_us"]
    L += [
        (
            f"One durable log record (`MessageLog.append`: write + fsync) measured alone on the same disk: "
            f"median **{fmt(a['median'] / 1000, 2)} ms** (IQR {fmt(a['q1'] / 1000, 2)}-{fmt(a['q3'] / 1000, 2)} ms, "
            f"{a['n']} records): one fsync per message would hold a listener with `--log` to about "
            f"{fmt(1e6 / a['median'], 0)} messages/s on this disk. With group commit one fsync covers every "
            "message that arrived while the one before was written, and the listener goes on reading and showing "
            'meanwhile: "a confirmed message is on disk" still holds (tests/test_lab_crash.py kills a flooded '
            "listener with SIGKILL and finds every confirmed message in the log)."
        ),
        "",
    ]
    L += flood_notes(fl)

    # 5 ---------------------------------------------------------------------
    L += [
        "### 5. Start-up",
        "",
        f"On host 1, interleaved, {p['startup_runs']} rounds; `send` goes to the listener on host 2.",
        "",
    ]
    L += [*case_startup.render(s, p["startup_runs"]), ""]
    if "names" in res:
        L += names_section(res["names"], p)
    L += where_the_time_goes(res)
    L.append(end)
    return "\n".join(L)


def names_section(nm: dict, p: dict) -> list[str]:
    pr, idle, busy = nm["process"], nm["idle"]["lanmsg"], nm["busy"]
    floor = pr["floor"]["ms"]["median"]
    nmbd = "nmbd" in nm["idle"]
    L = [
        "### 6. Name resolution (NetBIOS name service, UDP 137)",
        "",
        "Host 2 runs `lanmsg listen`; while it owns its mailslot it answers NAME QUERY for its computer name "
        "LAB-H2 on UDP 137. "
        + (
            "Host 3 runs Samba's nmbd as LAB-H3 (private smb.conf, no elections: tests/samba.py), a second "
            "responder to compare with. "
            if nmbd
            else f"(Samba's nmbd as a second responder: not in this run, {nm.get('nmbd_missing')}.) "
        )
        + f"On host 1, interleaved in random order, {nm['runs']} rounds; `nmblookup` runs with a private "
        "minimal client conf (`-s`), so /etc/samba/smb.conf is never read. `resolve` races the NetBIOS "
        "broadcast against hosts/DNS (an empty resolv.conf here: DNS fails at once), as `lanmsg send NAME` does.",
        "",
    ]
    L += [*case_names.render_process(nm), ""]
    L += [
        f"**Responder answer time.** From a raw UDP socket on host 1 (bench/inhost/names.py): NAME QUERYs "
        f"built with `mailslot.ns_name_query`, unicast to the responder's address and broadcast to "
        f"10.213.0.255, alternating ({nm['queries']} of each per responder), each timed from `sendto()` to "
        f"its answer (lost after 1 s). Then the same ({busy['unicast']['n'] if busy['unicast'] else 0} of "
        f"each) while host 3 floods the listener with {busy['rate']:,} messenger datagrams/s "
        f"(bench/inhost/flood.py; {busy['sent']:,} sent in {busy['send_s']:.1f} s, "
        + (
            f"{busy['kernel_drops']:,} of them dropped by host 2's kernel because the listener could not keep up"
            if busy["kernel_drops"]
            else "none dropped by host 2's kernel"
        )
        + ("; nmbd stopped" if nmbd else "")
        + "). Target (issue 12): well under 250 ms, since `nmblookup -B` waits only that long.",
        "",
    ]
    L += [*case_names.render_answers(nm), ""]
    L += [
        (
            "**The resolver in one process.** `mailslot.query_name(NAME, config)` with the name cache cleared "
            "before each call (`mailslot.forget_name`): a socket, the broadcast routes, one broadcast NAME QUERY "
            "and its answer. Then a name nobody owns: 3 broadcast tries 750 ms apart (Windows' "
            f"BcastNameQueryCount and BcastQueryTimeout), so about {case_names.EXPECTED_FAILURE_MS:.0f} ms."
        ),
        "",
    ]
    L += [*case_names.render_resolver(nm), ""]
    L += ["A name nobody owns, whole process:", ""]
    L += [*case_names.render_nobody(nm), ""]
    res_ms = pr["resolve"]["ms"]["median"]
    L += [
        "Reading the figures:",
        "",
        f"* `python3 -m mailslot resolve` adds {fmt(res_ms - floor)} ms to the bare interpreter "
        f"({fmt(floor)} ms): "
        + (
            f"importing mailslot and argparse alone adds {fmt(pr['imports']['ms']['median'] - floor)} ms; "
            if pr.get("imports", {}).get("ms")
            else ""
        )
        + f"one broadcast NAME QUERY and its answer take about "
        f"{fmt(idle['broadcast']['median'], 2)} ms (table above); the rest is the command's own work around "
        "the query (runpy, the parser, the broadcast routes, the threads of the NetBIOS query and of the "
        "hosts/DNS lookup beside it), not timed one by one here. "
        + (
            f"`nmblookup -B`, a C program, takes {fmt(pr['nmblookup']['ms']['median'])} ms: the difference "
            "is the interpreter's start-up and imports, not the network."
            if "nmblookup" in pr
            else ""
        )
        + import_floors_text(pr),
        "* A name nobody owns fails after the third broadcast try's 750 ms wait in lanmsg, as on Windows; "
        + (
            f"`nmblookup -B` gives up after {fmt(nm['nobody_process']['nmblookup_nobody']['ms']['median'], 0)} ms, "
            "which is why a responder must answer well inside 250 ms for nmblookup (and Samba's own "
            "broadcast lookups) to see it."
            if "nmblookup_nobody" in nm["nobody_process"]
            else "nmblookup was not installed in this run."
        ),
        (
            "* The responder answers on its own thread (`_NameService`), so a listener busy with a flood of "
            "messages still answers; the flooded rows measure what the GIL and the shared CPU cost it."
        ),
        "",
    ]
    return L


def flood_notes(fl: dict) -> list[str]:
    plain = next(r for r in fl["runs"] if not r["log"])
    logged = next(r for r in fl["runs"] if r["log"])
    notes = []
    st = plain.get("stopped") or {}
    dropped = st.get("frames_dropped") or {}
    notes.append(
        f"Without the log the listener showed {plain['shown']:,} of {plain['sent']:,} messages "
        f"({plain['shown'] / plain['sent']:.0%}) at {fmt(plain['cpu_per_shown_us'], 0)} µs of CPU each"
        + (
            f"; the kernel dropped {plain['kernel_drops']:,} datagrams because the listener could not "
            "read them fast enough (UDP gives no back-pressure: the sender is not slowed down, the "
            "messages are simply not confirmed, and a real sender would resend them)"
            if plain["kernel_drops"]
            else ""
        )
        + (f"; frames dropped by the listener: {dropped}" if dropped else "")
        + ". "
        f"With the log it showed {logged['shown']:,} ({logged['shown'] / logged['sent']:.0%}) at "
        f"{fmt(logged['cpu_per_shown_us'], 0)} µs each. The listener takes in what waits in its socket in one "
        "go, handles it as one batch and writes the lines the batch shows in one write, before the batch's "
        "CONFs. Memory stays bounded under the flood: the duplicate table (10,000 entries), the mailslot queue "
        "and a batch (256 messages) are capped."
    )
    return [notes[0], ""]


def where_the_time_goes(res: dict) -> list[str]:
    r, d, s, fl = res["rates"], res["discovery"], res["startup"], res["flood"]
    ping_us, lib_us = 1e6 / r["ping"]["median"], 1e6 / r["library"]["median"]
    floor_rate = r["floor"]["median"] if r.get("floor") else None
    plain = next(x for x in fl["runs"] if not x["log"])
    floor = s["floor"]["ms"]["median"]
    main = d["main"]
    L = [
        "### Where the time goes, and what remains",
        "",
        (
            f"**Confirmed messages (case 2).** A bare ping-pong round trip takes {fmt(ping_us, 1)} µs here; a "
            f"confirmed message through the library takes {fmt(lib_us, 0)} µs"
            + (
                f", and the same two datagrams exchanged with nothing but the codec {fmt(1e6 / floor_rate, 0)} µs "
                f"({floor_rate / r['ping']['median']:.0%} of the ping-pong rate)"
                if floor_rate
                else ""
            )
            + ". That codec-only exchange is the floor of this wire format in Python: a frame and a NetBIOS "
            "datagram encoded at one end and decoded at the other, twice, plus two datagrams through the kernel. "
            + (
                f"The library reaches {r['library']['median'] / floor_rate:.0%} of its rate: it adds what a "
                "messenger does on top (the operation, the peer's state: ids, resends, presence; the duplicate "
                "table, the route and address checks of a write and, at the listener, the shown line). "
                if floor_rate
                else ""
            )
            + "The bare ping-pong is no steady yardstick on this 2-core virtual machine: its rate depends on "
            "whether the kernel runs both processes on one core or on two (see its min-max above), and the other "
            "rows' pairs of processes need not be placed alike. The listener spent "
            f"{fmt(plain['cpu_per_shown_us'], 0)} µs of CPU per message under the flood (case 4), where batches "
            "share the cost of a turn of its loop; one message at a time costs more. The profiles behind each "
            'change, and what they show is left, are in "The message path: profiles" below the generated '
            "section."
        ),
        "",
        f"**Start-up and discovery (cases 1 and 5).** `lanmsg discover` adds "
        f"{fmt(main['discover']['ms']['median'] - main['floor']['ms']['median'])} ms to the bare interpreter "
        f"({fmt(main['floor']['ms']['median'])} ms), `lanmsg --help` "
        f"{fmt(s['help']['ms']['median'] - floor)} ms and `send --no-wait` "
        f"{fmt(s['nowait']['ms']['median'] - floor)} ms. "
        + (
            f"`python3 -c 'import socket, argparse'` alone takes {fmt(s['stdlib']['vs_floor'], 2)}x the floor "
            "(table above): that is the standard library's own floor for any command of this kind. "
            if s.get("stdlib", {}).get("vs_floor")
            else ""
        )
        + "`lanmsg --help` imports argparse and lanmsg's parser only: neither `socket` nor mailslot.py nor "
        "the protocol (tests/test_startup_imports.py keeps it so). What was lanmsg's own and is fixed: "
        "`ipaddress`, `json` and `hashlib`/`hmac`/`secrets` are imported only when an address is parsed, "
        "JSON is written or read, or a key is used; the parser adds only the arguments of the command being "
        "run (all seven commands' ~80 arguments cost about 2.5 ms, argparse translating and formatting as it "
        "adds each); lanmsg's help formatter does not import `shutil` and query the terminal for every "
        "argument as argparse's does; and an announcer answers after 0-2 ms instead of 0-10 ms (every "
        "`discover` waits half of that on average). What `send` and `discover` still spend above "
        "`import socket, argparse` (lanmsg's own modules, then the command's work) is itemised under "
        '"What is left" in the profiles section below.'
        + (
            f" `python3 -m lanmsg --help` costs {fmt(s['module']['ms']['median'] - s['help']['ms']['median'])} ms "
            "more than the console script (runpy)."
            if s.get("module", {}).get("ms")
            else ""
        ),
        "",
    ]
    return L


# --------------------------------------------------------------------------
# bench/run.py's section: mailslot.py alone, on loopback
# --------------------------------------------------------------------------


def other_busy(m: dict) -> str:
    busy = m.get("other_cores_busy")
    if busy is None:
        return "not measured"
    text = f"{busy:.2f} cores on average (from /proc/stat, minus this run's own CPU time)"
    return text + (" — the machine was not idle: treat the figures as lower bounds" if busy > 0.2 else "")


def mailslot_section(res: dict, parts: list[str]) -> str:
    """bench/run.py's section: when and where it ran and how to read it, then ``parts`` (the codec's
    and the loopback's tables: case_codec.render, case_loopback.render)."""
    m, p = res["machine"], res["params"]
    lines = [MAILSLOT_START, "## mailslot.py: codec and loopback", ""]
    lines += [
        (
            f"Measured {res['date']} with `{res['command']}` in {res['elapsed_s']:.0f} s "
            f"({'quick' if p['quick'] else 'default'} run). Reproduce: `python3 bench/run.py --out docs/performance.md`."
        ),
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {m['cpu']} |",
        f"| cores | {m['cores']} ({m['usable_cores']} usable by the run) |",
        f"| Python | {m['python']} |",
        f"| kernel | {m['kernel']} |",
        f"| lanmsg commit | {m['commit']} |",
        f"| mailslot.py measured | sha256 {m['mailslot_sha256'][:16]}… |",
        f"| CPU used by other processes during the run | {other_busy(m)} |",
        "",
        (
            f"Each figure is the median of {p['trials']} trials in one run, with the minimum and maximum "
            'in brackets. Rates are wall-clock; "CPU µs" is the CPU time of the measuring thread '
            "(`time.thread_time()`), which other load on the machine disturbs much less. Run the suite on an "
            "otherwise idle machine: the loopback cases use two processes."
        ),
        "",
    ]
    return "\n".join(lines + parts + [MAILSLOT_END])


def empty_page(section: str) -> str:
    return "\n".join(
        [
            "# lanmsg performance",
            "",
            (
                "Measured figures only: every number here comes from a run of the script named in its section, "
                "on the machine described there. Sections without a run say so."
            ),
            "",
            section,
            "",
            "## Discovery latency",
            "",
            "Not measured yet.",
            "",
            "## Messenger throughput",
            "",
            "Not measured yet.",
            "",
        ]
    )


def write_mailslot_section(path: str, section: str) -> None:
    """Put ``section`` into the page at ``path`` (its other sections kept), or start the page."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = replace_section(f.read(), MAILSLOT_START, MAILSLOT_END, section)
    else:
        text = empty_page(section)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
