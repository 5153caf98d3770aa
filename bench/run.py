#!/usr/bin/env python3
"""lanmsg benchmark suite, part 1: mailslot.py's codec and its loopback transport.

    python3 bench/run.py                               # full run (about 40 s)
    python3 bench/run.py --quick                       # short run (under 20 s)
    python3 bench/run.py --out docs/performance.md     # also write the results page
    python3 bench/run.py --profile                     # cProfile of the codec and write() paths

The cases are case_codec.py and case_loopback.py; the page section is written by report.py.
Every datagram stays on 127.0.0.0/8: LANMSG_BROADCAST is forced to 127.255.255.255, a free
high UDP port is used and every target address is checked to be a loopback address before
anything is sent.  Loops are bounded by a count and a time limit.  Raw results go to
bench/out/latest.json.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shlex
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# Before mailslot reads any of it: keep every broadcast on loopback, use the netbios transport.
os.environ["LANMSG_BROADCAST"] = "127.255.255.255"
os.environ.pop("LANMSG_TRANSPORT", None)

import case_codec  # noqa: E402  (after the environment above is set)
import case_loopback  # noqa: E402
import report  # noqa: E402
from common import LoadMeter, machine_info  # noqa: E402

import mailslot  # noqa: E402

with open(mailslot.__file__, "rb") as _f:  # the code measured, even if the tree changes later
    MAILSLOT_SHA256 = hashlib.sha256(_f.read()).hexdigest()


class Params:
    def __init__(self, quick: bool):
        self.quick = quick
        self.trials = 3 if quick else 7
        self.codec_trial_s = 0.05 if quick else 0.2
        self.n_bare = 20000 if quick else 100000
        self.n_write = 500 if quick else 2000
        self.n_loss_check = 100 if quick else 300
        self.n_paced = 200 if quick else 1000
        self.paced_rate = 2000
        self.max_trial_s = 3.0 if quick else 6.0  # a writer loop never runs longer than this
        self.idle_s = 0.3  # the receiver gives up this long after the writer stopped
        # Cases that lost every datagram on the first runs: a short probe trial decides whether
        # the full trials are worth running (they are, as soon as the loss is gone).
        self.probe_first = ("sep-write-name1", "own-after")

    def as_dict(self) -> dict:
        return dict(vars(self))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="lanmsg benchmarks: mailslot.py codec and loopback datagrams")
    ap.add_argument("--quick", action="store_true", help="short run (fewer trials, smaller loops)")
    ap.add_argument(
        "--out",
        metavar="MD",
        help="write the results section into this Markdown page "
        "(e.g. docs/performance.md; other sections of the page are kept)",
    )
    ap.add_argument(
        "--json",
        metavar="PATH",
        default=os.path.join(ROOT, "bench", "out", "latest.json"),
        help="raw results (default bench/out/latest.json)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="only profile (cProfile) the codec and the write() paths, print the hot spots",
    )
    args = ap.parse_args(argv)
    p = Params(args.quick)
    started = time.monotonic()

    def log(msg):
        print(f"[{time.monotonic() - started:5.1f}s] {msg}", flush=True)

    if args.profile:
        text = case_codec.profile() + "\n" + case_loopback.profile(p)
        print(text)
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(os.path.join(os.path.dirname(args.json), "profile.txt"), "w") as f:
            f.write(text)
        return 0

    cmd = "python3 bench/run.py" + "".join(f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    res = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": cmd,
        "machine": machine_info(watch=("mailslot.py",), dirty_note=" + uncommitted changes to mailslot.py"),
        "params": p.as_dict(),
    }
    res["machine"]["mailslot_sha256"] = MAILSLOT_SHA256
    with LoadMeter() as load:
        log(f"codec ({p.trials} trials)")
        res["codec"] = case_codec.run(p, log)
        for r in res["codec"]:
            log(f"  {r['datagram']:32s} {r['operation']:32s} {r['ops_per_s']['median']:>12,.0f}/s")
        log("loopback")
        res["loopback"] = case_loopback.run(p, log)
    res["elapsed_s"] = time.monotonic() - started
    res["machine"]["other_cores_busy"] = busy = load.other_cores
    log(f"done in {res['elapsed_s']:.1f} s")
    if busy is not None:
        log(
            f"other processes kept {busy:.2f} of {os.cpu_count()} cores busy during the run"
            + ("  -- NOT an idle machine: figures are depressed and noisy" if busy > 0.2 else "")
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    parts = case_codec.render(res["codec"], p.codec_trial_s) + case_loopback.render(res["loopback"], res["params"])
    section = report.mailslot_section(res, parts)
    if args.out:
        report.write_mailslot_section(args.out, section)
        log(f"wrote {args.out}")
    else:
        print()
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
