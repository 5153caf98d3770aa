#!/usr/bin/env python3
"""lanmsg's benchmark suite: one command, one lab, every case, one results page.

    sudo python3 bench/suite.py            # everything (about 5 minutes), writes docs/performance.md
    sudo python3 bench/suite.py --quick    # a smoke run (about 40 s), writes nothing unless --out is given

Installs what it compares against (scripts/install-bench-tools.sh: avahi-daemon,
avahi-utils, Samba's nmblookup and a venv with pinned python-zeroconf), byte-compiles lanmsg, raises
the kernel's neighbour-table limits for the run, builds a lab of network
namespaces (tests/netlab.py: the asker on host 1 and up to 50 servers or
listeners beside it), and measures, with each case repeated and interleaved:

1. discovery latency: ``lanmsg discover``, the seed's passive wait, avahi-browse,
   python-zeroconf and ``python3 -c pass``, with 1, 10, 25 and 50 servers;
2. confirmed messages per second (library and command line) beside a bare UDP ping-pong;
3. ``detect`` with 10, 25 and 50 listeners;
4. a listener under a flood of 10,000 messages/s for 10 s, without and with ``--log``;
5. start-up of ``lanmsg --help`` and ``lanmsg send --no-wait``;
6. NetBIOS name resolution: ``python3 -m mailslot resolve`` beside ``nmblookup -B``,
   the responder's answer time (idle and flooded), ``query_name`` in one process,
   and how long a name nobody owns takes to fail;

then bench/run.py (mailslot.py's codec and loopback figures).  Every datagram
stays inside the lab (or on loopback for bench/run.py).  Raw results:
bench/out/suite.json; plots: docs/img/*.svg.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, LoadMeter, machine_info, replace_section

sys.path.insert(0, ROOT)
import case_detect
import case_discovery
import case_flood
import case_names
import case_rates
import case_startup
import labkit
import svg
from labkit import netlab

SECTION_START, SECTION_END = "<!-- bench/suite.py:start -->", "<!-- bench/suite.py:end -->"
OLD_SECTIONS = (("<!-- bench/discovery.py:start -->", "<!-- bench/discovery.py:end -->"),)
PAGE_HEAD = (
    "# lanmsg performance\n\nMeasured figures only: every number here comes from a run of the script "
    "named in its section, on the machine described there.\n"
)
COMMAND = "sudo python3 bench/suite.py"
# What pip's generated `lanmsg` script does (project.scripts lanmsg = "lanmsg.cli:main").
CONSOLE_SCRIPT = "import sys; from lanmsg.cli import main; sys.argv[0] = 'lanmsg'; sys.exit(main())"
FULL_RUN_MINUTES = 5


class Params:
    """How much each case does: the full run, or a smoke run (``--quick``)."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.sweep = [2] if quick else [10, 25, 50]  # servers / listeners beside host 1
        self.startup_runs = 3 if quick else 21
        self.discovery_runs = 2 if quick else 21
        self.sweep_runs = 2 if quick else 7
        self.detect_runs = 2 if quick else 10
        self.rate_trials = 2 if quick else 7
        self.pings = 200 if quick else 3000
        self.messages = 30 if quick else 500
        self.senders = 10  # case 2's many senders, one per host (as many as the lab has beside hosts 1-2)
        self.sender_trials = 1 if quick else 3
        self.sender_seconds = 1 if quick else 3
        self.flood_rate = 1000 if quick else 10_000
        self.flood_s = 1 if quick else 10
        self.fsync_records = 30 if quick else 300
        self.names_runs = 3 if quick else 21  # whole-process resolve rounds
        self.names_nobody_runs = 1 if quick else 5  # a name nobody owns: each run takes about 2.3 s
        self.name_queries = 20 if quick else 500  # raw NAME QUERYs of each kind to an idle responder
        self.name_busy_queries = 20 if quick else 300  # the same during the flood
        self.name_inproc = 5 if quick else 100  # query_name calls in one process

    @property
    def hosts(self) -> int:
        return 1 + max(self.sweep)

    def as_dict(self) -> dict:
        return dict(vars(self).items())


class Context:
    """What the cases run with: the lab, the interpreters, the comparison tools, scratch space."""

    def __init__(self, p: Params, lab, venv: str | None, avahi, tmp: str, disk_tmp: str):
        self.p, self.lab, self.venv, self.avahi, self.tmp, self.disk_tmp = p, lab, venv, avahi, tmp, disk_tmp
        # Every Python command runs on the bench venv's interpreter: this interpreter
        # (sys.executable, never a version manager's shim) with a clean site, as after
        # `pip install lanmsg` in a venv; lanmsg itself comes from the repository (PYTHONPATH).
        self.py = venv or sys.executable
        self.system_py = sys.executable

    def lanmsg(self, *args) -> list[str]:
        """The ``lanmsg`` command as its console script runs it (no runpy, unlike ``python -m``)."""
        return [self.py, "-c", CONSOLE_SCRIPT, *map(str, args)]


_STARTED = time.monotonic()  # the run's start time, for log()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {msg}", flush=True)


def install_tools(skip: bool) -> tuple[str | None, str | None]:
    """(venv python or None, why the comparisons are missing or None)."""
    venv = os.path.join(os.path.expanduser("~"), ".cache", "lanmsg", "bench-venv", "bin", "python")
    if not skip:
        r = subprocess.run(
            ["bash", os.path.join(ROOT, "scripts", "install-bench-tools.sh"), sys.executable],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            return None, f"scripts/install-bench-tools.sh failed: {r.stderr.strip()[-300:]}"
        venv = r.stdout.strip().splitlines()[-1]
    missing = [k for k, v in labkit.comparison_tools().items() if v is None]
    missing += [] if labkit.nmblookup_path() else ["nmblookup"]
    if missing:
        return (venv if os.path.exists(venv) else None), f"not installed: {', '.join(missing)}"
    if not os.path.exists(venv):
        return None, "no python-zeroconf venv (run scripts/install-bench-tools.sh)"
    return venv, None


def tool_versions(venv: str | None) -> dict:
    out = {}
    if labkit.comparison_tools()["avahi-daemon"]:
        r = subprocess.run([labkit.comparison_tools()["avahi-daemon"], "--version"], capture_output=True, text=True)
        out["avahi"] = r.stdout.strip() or r.stderr.strip()
    if labkit.nmblookup_path():  # -V prints the version before any smb.conf is read
        r = subprocess.run([labkit.nmblookup_path(), "-V"], capture_output=True, text=True)
        out["samba"] = r.stdout.strip()
    if venv:
        r = subprocess.run(
            [venv, "-c", "import zeroconf, sys; print(zeroconf.__version__, sys.version.split()[0])"],
            capture_output=True,
            text=True,
        )
        out["zeroconf"] = r.stdout.strip()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 hosts, 2-3 runs per case (about 40 s)")
    ap.add_argument("--out", help="results page (default docs/performance.md; a --quick run writes none)")
    ap.add_argument("--img-dir", help="where the SVG plots go (default: img/ beside the page)")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "out", "suite.json"), help="raw results")
    ap.add_argument(
        "--no-install",
        action="store_true",
        help="do not run scripts/install-bench-tools.sh; compare with what is installed, skip what is not",
    )
    ap.add_argument("--no-mailslot", action="store_true", help="skip bench/run.py (mailslot.py codec and loopback)")
    ap.add_argument(
        "--profile", action="store_true", help="also cProfile the library send loop (bench/out/profile-messages.txt)"
    )
    ap.add_argument("--render", metavar="JSON", help="only rewrite the page from the raw results of an earlier run")
    ap.add_argument(
        "--cases",
        metavar="N,N",
        help="only these cases (numbers, e.g. 2,4): their results and verdicts, no page (a page needs every case)",
    )
    args = ap.parse_args(argv)
    p = Params(args.quick)
    cases = {int(c) for c in args.cases.split(",")} if args.cases else None
    out = args.out or (None if args.quick or cases else os.path.join(ROOT, "docs", "performance.md"))
    if cases and args.out:
        ap.error("--cases writes no page: leave out --out")
    if args.render:
        with open(args.render) as f:
            res = json.load(f)
        img_dir = args.img_dir or os.path.join(os.path.dirname(os.path.abspath(out)), "img")
        write_page(out, img_dir, res)
        print(f"wrote {out} from {args.render}")
        return 0
    reason = netlab.unavailable_reason()
    if reason:
        print(f"bench/suite.py: {reason}", file=sys.stderr)
        return 2
    log(
        f"lanmsg benchmark suite ({'smoke run' if p.quick else f'full run, about {FULL_RUN_MINUTES} minutes'}); "
        f"lab of {p.hosts} hosts"
    )
    venv, missing = install_tools(args.no_install)
    if missing:
        log(f"comparisons limited: {missing}")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "mailslot.py"), os.path.join(ROOT, "lanmsg")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    res = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": COMMAND + "".join(f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:])),
        "machine": machine_info(),
        "params": p.as_dict(),
        "tools": tool_versions(venv),
        "missing": missing,
        "load": {},
    }
    started = time.monotonic()
    use_avahi = all(labkit.comparison_tools().values())
    disk_tmp = os.path.join(ROOT, "bench", "out")  # on the repository's disk: fsync must reach a disk
    os.makedirs(disk_tmp, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="lanmsg-bench-") as tmp,
        LoadMeter() as total,
        labkit.neighbour_table(p.hosts),
        netlab.Lab(p.hosts, empty_resolv_conf=True) as lab,
    ):
        avahi = labkit.Avahi(lab) if use_avahi else None
        ctx = Context(p, lab, venv, avahi, tmp, disk_tmp)
        try:
            res.update(run_cases(ctx, args.profile, res["load"], cases))
        finally:
            if avahi is not None:
                avahi.close()
    res["elapsed_s"] = time.monotonic() - started
    res["load"]["whole run"] = total.other_cores
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    for line in verdicts(res):
        log(line)
    if out:
        img_dir = args.img_dir or os.path.join(os.path.dirname(os.path.abspath(out)), "img")
        write_page(out, img_dir, res)
        log(f"wrote {out} and plots in {img_dir}")
        if not args.no_mailslot and not p.quick:
            log("bench/run.py: mailslot.py codec and loopback")
            page = os.path.relpath(os.path.abspath(out), ROOT)  # the page records its command line
            subprocess.run([sys.executable, os.path.join("bench", "run.py"), "--out", page], check=True, cwd=ROOT)
    log(f"done in {(time.monotonic() - started) / 60:.1f} min")
    return 0


def run_cases(ctx: Context, profile: bool, load: dict, cases: set[int] | None = None) -> dict:
    """Every case, or only ``cases`` (their numbers)."""
    res = {}

    def measure(key: str, load_name: str, message: str, run) -> None:
        log(message)
        with LoadMeter() as m:
            res[key] = run()
        load[load_name] = m.other_cores

    def wanted(case: int) -> bool:
        return not cases or case in cases

    if wanted(5) or wanted(2):
        listener = labkit.start_listener(ctx, 2, os.path.join(ctx.tmp, "listener-h2.out"))
        try:
            if wanted(5):
                measure(
                    "startup",
                    "start-up",
                    f"case 5: start-up ({ctx.p.startup_runs} interleaved rounds)",
                    lambda: case_startup.run(ctx),
                )
            if wanted(2):
                profile_path = os.path.join(ROOT, "bench", "out", "profile-messages.txt") if profile else None
                measure(
                    "rates",
                    "messages per second",
                    f"case 2: confirmed messages per second ({ctx.p.rate_trials} alternating trials)",
                    lambda: case_rates.run(ctx, profile_path, listener.pid),
                )
        finally:
            listener.stop()
    if wanted(2):
        measure(
            "senders",
            "many senders",
            f"case 2: {case_rates.senders_text(min(ctx.p.senders, ctx.p.hosts - 2))} at once, without and with --log "
            f"({ctx.p.sender_trials} trials of {ctx.p.sender_seconds} s)",
            lambda: case_rates.run_senders(ctx),
        )
    if wanted(4):
        measure(
            "flood",
            "flood",
            f"case 4: flood of {ctx.p.flood_rate:,}/s for {ctx.p.flood_s} s, without and with --log",
            lambda: case_flood.run(ctx),
        )
    sweep = ", ".join(map(str, ctx.p.sweep))
    if wanted(3):
        measure("detect", "detect", f"case 3: detect with {sweep} listeners", lambda: case_detect.run(ctx))
    if wanted(6):
        measure(
            "names",
            "name resolution",
            f"case 6: name resolution ({ctx.p.names_runs} interleaved rounds, {ctx.p.name_queries} raw queries "
            "of each kind, idle and flooded)",
            lambda: case_names.run(ctx),
        )
    if wanted(1):
        measure(
            "discovery",
            "discovery",
            f"case 1: discovery, 1 server ({ctx.p.discovery_runs} rounds), then "
            f"{sweep} servers ({ctx.p.sweep_runs} rounds)",
            lambda: case_discovery.run(ctx),
        )
    return res


# --------------------------------------------------------------------------
# Verdicts and the page
# --------------------------------------------------------------------------


def verdicts(res: dict) -> list[str]:
    """One line per target of the cases that ran: the figure, the target, met or missed."""
    lines = []
    ok = lambda c: "met" if c else "MISSED"  # noqa: E731  (a one-line helper)
    if "discovery" in res:
        d = res["discovery"]
        lines.append(
            f"discovery: lanmsg discover {d['main']['discover']['ms']['median']:.1f} ms = "
            f"{d['vs_floor']:.2f}x the floor (target <= 2x: {ok(d['vs_floor'] <= case_discovery.TARGET_VS_FLOOR)})"
        )
        if d["avahi_vs_discover"]:
            lines.append(
                f"discovery: avahi-browse takes {d['avahi_vs_discover']:.1f}x as long as lanmsg discover "
                f"(target >= 10x: {ok(d['avahi_vs_discover'] >= case_discovery.TARGET_VS_AVAHI)})"
            )
    if "rates" in res:
        r = res["rates"]
        lines.append(
            f"messages: library {r['library']['median']:,.0f}/s = {r['share']:.0%} of the ping-pong's "
            f"{r['ping']['median']:,.0f}/s (target >= 50%: {ok(r['share'] >= case_rates.TARGET_SHARE)})"
            + (f"; the codec alone {r['floor']['median']:,.0f}/s" if r.get("floor") else "")
        )
    if "senders" in res:
        for run in res["senders"]["runs"]:
            gain = case_rates.log_gain(res["senders"]) if run["log"] else None
            lines.append(
                f"messages: {case_rates.senders_text(res['senders']['senders'])}{' to listen --log' if run['log'] else ''}: "
                f"{run['rate']['median']:,.0f}/s"
                + (
                    f" = {gain:.1f}x the {case_rates.LOG_SENDERS_BEFORE['rate']:,}/s before group commit "
                    f"(target >= {case_rates.TARGET_LOG_GAIN:g}x: {ok(gain >= case_rates.TARGET_LOG_GAIN)}); "
                    f"confirmed but not logged: {run['confirmed_not_logged']}"
                    if gain is not None
                    else ""
                )
            )
    if "detect" in res:
        dt = res["detect"]
        last = dt["steps"][-1]
        lines.append(
            f"detect: {last['listeners']} listeners, {last['lost']} answers lost in {last['runs']} runs "
            f"(target 0: {ok(all(x['lost'] == 0 for x in dt['steps']))}), last answer after "
            f"{last['last_ms']['median']:.0f} ms (median)"
        )
    for run in res["flood"]["runs"] if "flood" in res else ():
        lines.append(
            f"flood{' with --log' if run['log'] else ''}: {run['shown']:,} of {run['sent']:,} shown "
            f"(target >= {case_flood.target_shown(run['log']):.0%}: {ok(case_flood.shown_ok(run))}), "
            f"{run['kernel_drops']:,} dropped by the kernel, peak RSS {run['peak_rss_mb']:.1f} MB "
            f"(target <= {case_flood.TARGET_PEAK_RSS_MB} MB: {ok(run['peak_rss_mb'] <= case_flood.TARGET_PEAK_RSS_MB)}), "
            f"{run['cpu_s']:.2f} CPU s"
        )
    if "names" in res:
        nm = res["names"]
        lines.append(
            f"names: resolve {nm['process']['resolve']['ms']['median']:.1f} ms"
            + (
                f", nmblookup -B {nm['process']['nmblookup']['ms']['median']:.1f} ms"
                if "nmblookup" in nm["process"]
                else ""
            )
            + f", floor {nm['process']['floor']['ms']['median']:.1f} ms; answer unicast "
            f"{nm['idle']['lanmsg']['unicast']['median']:.2f} ms, broadcast "
            f"{nm['idle']['lanmsg']['broadcast']['median']:.2f} ms (target < 250 ms: {ok(case_names.answer_ok(nm))}); "
            f"a name nobody owns fails after {nm['nobody_query_name']['median']:.0f} ms"
        )
    if "startup" in res:
        s = res["startup"]
        lines.append(
            f"start-up: --help {s['help']['vs_floor']:.2f}x, send --no-wait {s['nowait']['vs_floor']:.2f}x "
            f"the floor ({s['floor']['ms']['median']:.1f} ms)"
        )
    return lines


def write_page(path: str, img_dir: str, res: dict) -> None:
    os.makedirs(img_dir, exist_ok=True)
    rel_img = os.path.relpath(img_dir, os.path.dirname(os.path.abspath(path)))
    plots = write_plots(img_dir, res)
    import report

    section = report.section(res, {k: f"{rel_img}/{v}" for k, v in plots.items()}, SECTION_START, SECTION_END)
    page = PAGE_HEAD
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            page = f.read()
    for start, end in OLD_SECTIONS:  # folded into this suite
        page = replace_section(page, start, end, "") if start in page else page
    page = page.replace("## Messenger throughput\n\nNot measured yet.\n", "")
    if SECTION_START not in page:  # first run: the suite's section goes first
        head, sep, rest = page.partition(report.MAILSLOT_START)
        page = (
            head.rstrip("\n") + "\n\n" + section + "\n\n" + sep + rest
            if sep
            else page.rstrip("\n") + "\n\n" + section + "\n"
        )
    else:
        page = replace_section(page, SECTION_START, SECTION_END, section)
    while "\n\n\n" in page:
        page = page.replace("\n\n\n", "\n\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page.rstrip("\n") + "\n")


def write_plots(img_dir: str, res: dict) -> dict:
    names = {}
    d = res["discovery"]
    rows = [{"servers": 1, "cases": d["main"]}] + d["sweep"]
    series = []
    for key, name in (
        ("discover", "lanmsg discover"),
        ("passive", "seed's passive wait"),
        ("avahi", "avahi-browse -rtp"),
        ("zeroconf", "python-zeroconf browse"),
        ("floor", "python3 -c pass"),
    ):
        pts = [
            (row["servers"], s["median"], s["min"], s["max"])
            for row in rows
            if key in row["cases"] and (s := row["cases"][key]["ms"])
        ]
        if pts:
            series.append({"name": name, "points": pts, "dashed": key == "floor"})
    if len(rows) > 1:
        with open(os.path.join(img_dir, "discovery-latency.svg"), "w") as f:
            f.write(
                svg.line_chart(
                    "Discovery latency, whole process, cold",
                    "servers in the lab",
                    "ms until the command exits with the answer",
                    series,
                )
            )
        names["discovery"] = "discovery-latency.svg"
    steps = res["detect"]["steps"]
    if steps:
        series = [
            {
                "name": "last answer (median, min-max)",
                "points": [
                    (s["listeners"], s["last_ms"]["median"], s["last_ms"]["min"], s["last_ms"]["max"]) for s in steps
                ],
            },
            {
                "name": "first answer",
                "points": [
                    (s["listeners"], s["first_ms"]["median"], s["first_ms"]["min"], s["first_ms"]["max"]) for s in steps
                ],
            },
            {
                "name": "expected last (jitter)",
                "dashed": True,
                "points": [
                    (s["listeners"], s["expected_last_ms"], s["expected_last_ms"], s["expected_last_ms"]) for s in steps
                ],
            },
        ]
        with open(os.path.join(img_dir, "detect-answers.svg"), "w") as f:
            f.write(svg.line_chart("detect: when the answers arrive", "listeners", "ms after DETECT", series))
        names["detect"] = "detect-answers.svg"
    return names


if __name__ == "__main__":
    sys.exit(main())
