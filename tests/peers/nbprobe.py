#!/usr/bin/env python3
"""nbprobe: hand-made NetBIOS name service packets for lab tests (RFC 1002 4.2, stdlib only).

Written from the RFC, not from lanmsg's code; the codec is winpeer's (tests/peers/winpeer.py).
Runs inside a lab host.  Output: one JSON object per line (winpeer.read_events parses it).

``nbprobe.py query DEST NAME [--suffix 0x00] [--flags 0x0000] [--status] [--count N]
[--interval S] [--wait S]``
    sends ``count`` NAME QUERY REQUESTs (``--status``: NODE STATUS REQUESTs, 4.2.17) to
    DEST:137 from one ephemeral port, each with a fresh TRN_ID, ``interval`` seconds apart,
    and collects every answer until ``wait`` seconds after the last send.  ``--flags`` is the
    header's flags word: 0x0000 unicast RD=0, 0x0100 RD=1, 0x0010 B=1, 0x0110 B=1 RD=1.
    Events: ``answer`` (trn, flags, rcode, from, port, kind "name"|"status"|"other",
    addresses or names) for each answer, then ``done`` (sent, answers, unmatched).

``nbprobe.py flood DEST PORT NAME ADDRESS [--rcodes 6,5] [--sweeps N] [--rate PPS]``
    sends NEGATIVE NAME REGISTRATION RESPONSEs (4.2.6: R, opcode 5, AA, RD, RA, RCODE) for
    NAME<00> with an NB record for ADDRESS to DEST:PORT, with every TRN_ID 0..65535 for each
    rcode (ACT_ERR 6, RFS_ERR 5), ``sweeps`` times, at most ``rate`` a second.  Nothing but the contents is forged: the
    packets come from this host's own address.  Events: ``flood`` (sent, seconds).
"""

from __future__ import annotations

import argparse
import os
import random
import select
import socket
import struct
import sys
import time

try:
    from peers import winpeer as W
except ImportError:  # run as a script: tests/peers is sys.path[0]
    import winpeer as W  # type: ignore[no-redef]


def node_status_request(trn_id: int, raw16: bytes, flags: int) -> bytes:
    """NODE STATUS REQUEST (4.2.17): question type NBSTAT."""
    return W._header(trn_id, flags, qd=1) + W._question(raw16, W.T_NBSTAT)


def negative_registration_answer(trn_id: int, raw16: bytes, rcode: int, address: str) -> bytes:
    """NEGATIVE NAME REGISTRATION RESPONSE (4.2.6) for a unique H-node name at ``address``, TTL 0."""
    return W._header(trn_id, 0xAD80 | rcode, an=1) + W._nb_record(raw16, 0, 0x6000, address)


def status_names(rdata: bytes) -> list[str]:
    """NODE_NAME entries of a NODE STATUS RESPONSE's RDATA as ``NAME<xx>`` (``/G`` for groups)."""
    if not rdata:
        return []
    out = []
    count = rdata[0]
    for i in range(count):
        off = 1 + 18 * i
        if off + 18 > len(rdata):
            break
        raw = rdata[off : off + 16]
        (flags,) = struct.unpack_from("!H", rdata, off + 16)
        out.append(W.show_name(raw) + ("/G" if flags & W.NB_GROUP else ""))
    return out


def describe(data: bytes) -> dict:
    try:
        p = W.parse_nbns(data)
    except W.Malformed as e:
        return {"kind": "malformed", "detail": str(e)}
    out = {"trn": p.trn_id, "flags": f"0x{p.flags:04x}", "rcode": p.rcode}
    if p.answers:
        rr = p.answers[0]
        out["name"] = W.show_name(rr.name)
        if rr.rtype == W.T_NBSTAT:
            out["kind"] = "status"
            out["names"] = status_names(rr.rdata)
        elif rr.rtype == W.T_NB and p.rcode == 0:
            out["kind"] = "name"
            try:
                out["addresses"] = [a for _, a in rr.nb_entries()]
            except W.Malformed:
                out["addresses"] = []
        else:
            out["kind"] = "other"
    else:
        out["kind"] = "other"
    return out


def query(args) -> int:
    raw = W.raw_name(args.name, int(args.suffix, 0))
    flags = int(args.flags, 0)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("0.0.0.0", 0))
    sent_ids: set[int] = set()
    answers = unmatched = 0
    next_send = time.monotonic()
    end = None
    while True:
        now = time.monotonic()
        if len(sent_ids) < args.count and now >= next_send:
            trn = random.randrange(0x10000)
            while trn in sent_ids:
                trn = random.randrange(0x10000)
            sent_ids.add(trn)
            pkt = node_status_request(trn, raw, flags) if args.status else W.build_query(trn, raw, flags)
            s.sendto(pkt, (args.dest, args.port))
            next_send = now + args.interval
            if len(sent_ids) == args.count:
                end = now + args.wait
            continue
        deadline = end if end is not None else next_send
        remaining = deadline - time.monotonic()
        if end is not None and remaining <= 0:
            break
        ready, _, _ = select.select([s], [], [], max(0.0, remaining))
        if not ready:
            continue
        data, src = s.recvfrom(4096)
        info = describe(data)
        if info.get("trn") in sent_ids:
            answers += 1
            W.emit("answer", **{"from": src[0]}, port=src[1], **info)
        else:
            unmatched += 1
            W.emit("unmatched", **{"from": src[0]}, port=src[1], **info)
    W.emit("done", sent=len(sent_ids), answers=answers, unmatched=unmatched)
    return 0


def flood(args) -> int:
    raw = W.raw_name(args.name, 0x00)
    rcodes = [int(r, 0) for r in args.rcodes.split(",")]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    s.bind(("0.0.0.0", 0))
    dest = (args.dest, args.port)
    templates = {rc: bytearray(negative_registration_answer(0, raw, rc, args.address)) for rc in rcodes}
    sent = 0
    started = time.monotonic()
    for _ in range(args.sweeps):
        for trn in range(0x10000):
            if args.rate and trn % 100 == 0:  # pace: never ahead of `rate` packets per second
                ahead = sent / args.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            for rc in rcodes:
                pkt = templates[rc]
                struct.pack_into("!H", pkt, 0, trn)
                while True:
                    try:
                        s.sendto(pkt, dest)
                        break
                    except (BlockingIOError, OSError):  # ENOBUFS under load: try again
                        time.sleep(0.001)
                sent += 1
    W.emit("flood", sent=sent, seconds=round(time.monotonic() - started, 2))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="nbprobe")
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("query")
    q.add_argument("dest")
    q.add_argument("name")
    q.add_argument("--suffix", default="0x00")
    q.add_argument("--flags", default="0x0000")
    q.add_argument("--status", action="store_true")
    q.add_argument("--count", type=int, default=1)
    q.add_argument("--interval", type=float, default=0.0)
    q.add_argument("--wait", type=float, default=2.0)
    q.add_argument("--port", type=int, default=W.NS_PORT)
    f = sub.add_parser("flood")
    f.add_argument("dest")
    f.add_argument("port", type=int)
    f.add_argument("name")
    f.add_argument("address")
    f.add_argument("--rcodes", default="6,5")
    f.add_argument("--sweeps", type=int, default=1)
    f.add_argument("--rate", type=float, default=0.0, help="packets per second (0: as fast as possible)")
    args = ap.parse_args(argv)
    return query(args) if args.cmd == "query" else flood(args)


SCRIPT = os.path.abspath(__file__)


if __name__ == "__main__":
    sys.exit(main())
