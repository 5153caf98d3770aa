"""The benchmark suite still runs: a smoke run of bench/suite.py in a small lab.

``bench/suite.py --quick`` builds a 3-host lab and runs every case a couple of
times (about 40 s); comparisons whose tools are not installed (avahi,
python-zeroconf, Samba's nmblookup: scripts/install-bench-tools.sh; nmbd) are
left out, not failed.
The figures of a smoke run mean nothing; what is checked is that every case
ran, found what it looked for and wrote its part of the page.
"""

import json
import os
import subprocess
import sys

import netlab

pytestmark = netlab.pytest_marks()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_TIMEOUT_S = 240  # generous: the machine is shared


def test_a_smoke_run_of_the_suite_measures_every_case_and_writes_the_page(tmp_path):
    page, raw = tmp_path / "performance.md", tmp_path / "suite.json"
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "bench", "suite.py"),
            "--quick",
            "--no-install",
            "--out",
            str(page),
            "--json",
            str(raw),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(raw.read_text())
    main = res["discovery"]["main"]
    for case in ("floor", "discover", "passive") + (("avahi",) if "avahi" in main else ()):
        assert main[case]["failures"] == [] and main[case]["ms"]["n"] >= 1, (case, main[case])
    assert res["rates"]["unconfirmed"] == 0 and res["rates"]["ping_lost"] == 0
    assert res["rates"]["floor_lost"] == 0 and res["rates"]["floor"]["n"] >= 1
    senders = res["senders"]
    assert [run["log"] for run in senders["runs"]] == [False, True]
    for run in senders["runs"]:
        assert run["confirmed"] > 0 and run["unconfirmed"] == 0, run
    assert senders["runs"][1]["confirmed_not_logged"] == 0
    assert all(step["lost"] == 0 for step in res["detect"]["steps"])
    for run in res["flood"]["runs"]:
        assert run["shown"] > 0 and run["confirmations"] > 0
    for case in ("floor", "help", "nowait", "send"):
        assert res["startup"][case]["failures"] == [], res["startup"][case]
    names = res["names"]
    for case, timed in list(names["process"].items()) + list(names["nobody_process"].items()):
        assert timed["failures"] == [] and timed["ms"]["n"] >= 1, (case, timed)
    for responder in names["idle"].values():
        assert responder["unicast_lost"] == 0 and responder["broadcast_lost"] == 0, responder
    assert names["busy"]["unicast"]["n"] >= 1 and names["busy"]["broadcast"]["n"] >= 1, names["busy"]
    assert names["idle"]["lanmsg"]["query_name_failed"] == 0 and names["nobody_found"] == 0
    text = page.read_text()
    for heading in (
        "### 1. Discovery latency",
        "### 2. Confirmed messages per second",
        "### 3. detect",
        "### 4. A listener under a flood",
        "### 5. Start-up",
        "### 6. Name resolution",
        "### Summary",
    ):
        assert heading in text
    assert (tmp_path / "img" / "detect-answers.svg").read_text().startswith("<svg")
