"""Runs inside a lab host: times whole commands, the cases interleaved round by round.

    python timer.py SPEC.json  ->  one JSON object on stdout

SPEC: {"rounds": N, "cases": [{"name", "argv", "env" (added), "expect" (regex the
stdout must match), "rc" (the exit code that means success, default 0), "phase": true
(an untimed random 0-1 s pause first)}], "settle_s": pause between commands,
"timeout_s": per command}.  The result maps each case name to its times in ms and
the failed runs (exit code, output).
Timing runs here, inside the host, so the lab's own entry (ip netns exec, the
UTS namespace) is not part of any figure.
"""

import json
import os
import random
import re
import subprocess
import sys
import time

with open(sys.argv[1]) as f:
    spec = json.load(f)
cases = spec["cases"]
out = {c["name"]: {"ms": [], "failures": []} for c in cases}
for _ in range(spec["rounds"]):
    order = list(cases)
    random.shuffle(order)  # no case always runs right after another
    for c in order:
        time.sleep(random.random() if c.get("phase") else spec.get("settle_s", 0.05))
        env = dict(os.environ, **c.get("env", {}))
        t = time.perf_counter()
        try:
            r = subprocess.run(c["argv"], env=env, capture_output=True, text=True, timeout=spec["timeout_s"])
        except subprocess.TimeoutExpired:
            out[c["name"]]["failures"].append({"rc": None, "out": "timeout"})
            continue
        ms = (time.perf_counter() - t) * 1000
        ok = r.returncode == c.get("rc", 0) and (not c.get("expect") or re.search(c["expect"], r.stdout, re.M))
        if ok:
            out[c["name"]]["ms"].append(ms)
        else:
            out[c["name"]]["failures"].append({"rc": r.returncode, "out": r.stdout[-300:], "err": r.stderr[-300:]})
print(json.dumps(out))
