"""Runs on one lab host of case 2's many-senders rows: confirmed messages, one after the other.

    python senders.py PEER_IP --start-at T --seconds S [--tag TAG]

Waits until wall-clock time T (every lab host shares the clock, so all senders start
together), then calls lanmsg.client.Messenger.send() to PEER_IP, each waiting for its
confirmation, for S seconds.  Prints one JSON object: confirmed (the texts whose send was
confirmed), unconfirmed (how many were not), elapsed (s), cpu_s (this process's CPU time then).
"""

import argparse
import json
import os
import time

from lanmsg.client import Messenger, NotConfirmed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("--start-at", type=float, required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--tag", default="s")
    args = ap.parse_args()
    confirmed: list[str] = []
    unconfirmed = 0
    with Messenger() as m:
        m.send(args.peer, f"{args.tag} warm-up")  # first contact: nothing cached yet
        time.sleep(max(0.0, args.start_at - time.time()))
        cpu0 = os.times()
        t0 = time.perf_counter()
        end = t0 + args.seconds
        i = 0
        while time.perf_counter() < end:
            text = f"{args.tag}-{i:06d} from one of many senders"
            i += 1
            try:
                m.send(args.peer, text)
                confirmed.append(text)
            except NotConfirmed:
                unconfirmed += 1
        elapsed = time.perf_counter() - t0
        cpu1 = os.times()
    cpu_s = cpu1.user + cpu1.system - cpu0.user - cpu0.system
    print(json.dumps({"confirmed": confirmed, "unconfirmed": unconfirmed, "elapsed": elapsed, "cpu_s": cpu_s}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
