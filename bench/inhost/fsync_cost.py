"""Runs on lab host 2: the cost of one durable log record (lanmsg.output.MessageLog.append).

    python fsync_cost.py PATH --records N   ->  {"append_us": [...]} (one time per record)

The records are what ``listen --log`` writes for a received message.
"""

import argparse
import json
import os
import time

from lanmsg.output import MessageLog


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--records", type=int, default=300)
    args = ap.parse_args()
    log = MessageLog(args.path)
    times = []
    try:
        for i in range(args.records):
            rec = {
                "dir": "in",
                "time": time.time(),
                "from": "FLOODER",
                "address": "10.213.0.1",
                "id": 1000 + i,
                "text": f"flood {i:06d} from the bench",
            }
            t = time.perf_counter()
            log.append(rec)
            times.append((time.perf_counter() - t) * 1e6)
    finally:
        log.close()
        os.unlink(args.path)
    print(json.dumps({"append_us": times}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
