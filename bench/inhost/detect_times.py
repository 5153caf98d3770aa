"""Runs on lab host 1: ``detect`` against N listeners, when each answer arrives.

    python detect_times.py --runs R --timeout S

One lanmsg.client.Messenger; each run broadcasts DETECT and records, for every
peer that answers within S seconds, the time from the start of the call (ms).
Between runs it waits until every late answer is over.  Also reads this host's
UDP receive-buffer drops (/proc/net/snmp RcvbufErrors) around each run.
Prints one JSON object: {"runs": [{"answers_ms": [...], "rcvbuf_drops": n}, ...]}.
"""

import argparse
import json
import time

from lanmsg.client import Messenger

PAUSE_S = 0.5  # after a run: answers come within 1.028 s, the window is longer


def rcvbuf_errors() -> int:
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=1.5)
    args = ap.parse_args()
    runs = []
    with Messenger() as m:
        for _ in range(args.runs):
            times = []
            drops = rcvbuf_errors()
            t0 = time.perf_counter()
            m.detect(
                args.timeout, on_peer=lambda peer, times=times, t0=t0: times.append((time.perf_counter() - t0) * 1000)
            )
            runs.append({"answers_ms": times, "rcvbuf_drops": rcvbuf_errors() - drops})
            time.sleep(PAUSE_S)
    print(json.dumps({"runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
