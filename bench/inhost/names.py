"""Runs on lab host 1: NetBIOS name resolution, the responders' answer times and the resolver's cost.

    python names.py --target LABEL:NAME:IP ... --queries N [--spread-s S] [--inproc M] [--nobody K]
                   [--broadcast ADDRESS]

For every target (a responder: ``lanmsg listen`` or nmbd on IP, owning NAME):

* ``--queries N``: N unicast NAME QUERYs (to IP:137) and N broadcast ones (to this
  host's broadcast address), alternating, each built with mailslot.ns_name_query
  and sent from one raw UDP socket; the time from sendto() to the matching answer
  (same transaction id, a response) in ms, or lost after 1 s.  ``--spread-s S``:
  spread the queries over about S seconds (while a flood runs, say); otherwise a
  random 0-10 ms pause between them;
* ``--inproc M``: M calls of mailslot.query_name(NAME, config) in this process,
  the name cache cleared before each (mailslot.forget_name): the resolver's whole
  cost, socket set-up and route lookup included.

``--nobody K``: K calls of query_name for a name nobody owns (time until it gives up).
Prints one JSON object: {"targets": {LABEL: {"unicast_ms", "unicast_lost",
"broadcast_ms", "broadcast_lost", "query_name_ms", "query_name_failed"}},
"nobody_ms": [...], "nobody_found": n}.
"""

import argparse
import json
import random
import socket
import time

import mailslot

ANSWER_WAIT_S = 1.0  # a query not answered within this is counted lost
NOBODY = "NOBODY-OWNS-IT"
PORT = 137


def broadcast_address() -> str:
    routes = mailslot.broadcast_routes(mailslot.Config.from_env())
    return routes[0][1]


def ask(sock: socket.socket, name: str, address: str, broadcast: bool) -> float | None:
    """ms from sending a NAME QUERY for ``name`` to ``address`` until its answer; None if lost."""
    trn_id = random.randrange(1, 0x10000)
    packet = mailslot.ns_name_query(trn_id, mailslot.NetbiosName(name, 0x00), broadcast=broadcast)
    t = time.perf_counter()
    sock.sendto(packet, (address, PORT))
    deadline = t + ANSWER_WAIT_S
    while (left := deadline - time.perf_counter()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(2048)
        except TimeoutError:
            break
        ms = (time.perf_counter() - t) * 1000
        try:
            p = mailslot.decode_ns_packet(data)
        except mailslot.DecodeError:
            continue
        if p.response and p.trn_id == trn_id and p.answers and p.rcode == 0:
            return ms
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", action="append", default=[], help="LABEL:NAME:IP")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--spread-s", type=float, default=0.0)
    ap.add_argument("--inproc", type=int, default=0)
    ap.add_argument("--nobody", type=int, default=0)
    ap.add_argument("--broadcast", help="where broadcast queries go (default: this host's first broadcast route)")
    args = ap.parse_args()
    bcast = args.broadcast or broadcast_address()
    config = mailslot.Config.from_env()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(("", 0))
    out = {"targets": {}, "broadcast_address": bcast}
    targets = [t.split(":") for t in args.target]
    for label, name, ip in targets:
        ask(sock, name, ip, False)  # warm-up: first contact (ARP), not timed
        ask(sock, name, bcast, True)
        res = out["targets"][label] = {
            "unicast_ms": [],
            "unicast_lost": 0,
            "broadcast_ms": [],
            "broadcast_lost": 0,
            "query_name_ms": [],
            "query_name_failed": 0,
        }
        pause = args.spread_s / (2 * args.queries) if args.spread_s else None
        started = time.perf_counter()
        for _ in range(args.queries):
            for kind, address in random.sample([("unicast", ip), ("broadcast", bcast)], 2):
                time.sleep(pause if pause is not None else random.random() * 0.01)
                ms = ask(sock, name, address, kind == "broadcast")
                if ms is None:
                    res[f"{kind}_lost"] += 1
                else:
                    res[f"{kind}_ms"].append(ms)
        res["queries_s"] = time.perf_counter() - started
        for _ in range(args.inproc):
            time.sleep(random.random() * 0.01)
            mailslot.forget_name(name)
            t = time.perf_counter()
            found = mailslot.query_name(name, config)
            ms = (time.perf_counter() - t) * 1000
            if found == [ip]:
                res["query_name_ms"].append(ms)
            else:
                res["query_name_failed"] += 1
    out["nobody_ms"], out["nobody_found"] = [], 0
    for _ in range(args.nobody):
        mailslot.forget_name(NOBODY)
        t = time.perf_counter()
        found = mailslot.query_name(NOBODY, config)
        out["nobody_ms"].append((time.perf_counter() - t) * 1000)
        out["nobody_found"] += bool(found)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
