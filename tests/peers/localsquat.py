#!/usr/bin/env python3
"""localsquat: an unprivileged local user against a host's lanmsg processes (stdlib only, Linux).

Run as another user (``nobody``) inside a lab host.  It knows nothing of lanmsg's internal
protocol: it only sees the AF_UNIX socket names in /proc/net/unix, as any local user can.

At start it binds abstract unix datagram sockets under plausible names, for each ``--name``
and each port of ``--ports``: ``lanmsg-nbns/<port>/<N>/leader``, ``lanmsg-host/<port>/<N>``
and the like, where <N> is the name, its hex, or the hex of its 16 padded bytes (mailslot
names, ``lanmsg-mailslot/...``, are left alone: holding one is how a mailslot is created).  It
holds them until it ends, then prints ``squatted`` (bound, refused).

Each line ``attack`` on stdin: read /proc/net/unix; for every abstract socket whose name starts
with ``lanmsg`` and is not ours, try to bind that name and sibling names (``.../leader``, other
pids), then send it junk (empty, random bytes) and plausible datagrams: NBNS packets (a
registration and a positive answer for ``--evil`` at ``--address``, ACT_ERR/RFS_ERR answers and
releases for each ``--name``, a name conflict demand), the same behind an address prefix, a
NetBIOS datagram carrying a FoxPro message from ``--evil`` to each ``--name``'s FOXAPP and
``--slot`` mailslots, and command-like text and JSON.  Prints ``attacked`` (targets, sent,
errors, bound).  EOF or ``exit`` ends it.

Output: one JSON object per line with "event" (winpeer.read_events parses it).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import re
import socket
import struct
import sys
import time

try:
    from peers import winpeer as W
except ImportError:  # run as a script: tests/peers is sys.path[0]
    import winpeer as W  # type: ignore[no-redef]

SOCK_TYPES = {1: socket.SOCK_STREAM, 2: socket.SOCK_DGRAM, 5: socket.SOCK_SEQPACKET}
FORGED_TEXT = "forged through a unix socket"


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def name_forms(name: str) -> list[str]:
    up = name.upper()
    padded = up.encode("ascii").ljust(15, b" ") + b"\x00"
    return [up.encode().hex(), up, padded.hex(), up.encode().hex().upper()]


def guessed_names(names: list[str], ports: list[int]) -> list[str]:
    out = []
    for port in ports:
        out += [f"lanmsg-nbns/{port}/leader", f"lanmsg-host/{port}", f"lanmsg-host/{port}/leader"]
        out += [f"lanmsg-nbns/{port}", f"lanmsg-nbns/{port}/host/leader", f"lanmsg-leader/{port}"]
        for name in names:
            for form in name_forms(name):
                out += [
                    f"lanmsg-nbns/{port}/{form}/leader",
                    f"lanmsg-nbns/{port}/{form}",
                    f"lanmsg-host/{port}/{form}",
                    f"lanmsg-host/{port}/{form}/leader",
                    f"lanmsg-nbns/{port}/{form}/member/1/0",
                ]
    return list(dict.fromkeys(out))


class Squatter:
    def __init__(self, args):
        self.args = args
        self.held: dict[str, socket.socket] = {}
        self.refused: dict[str, str] = {}

    def bind(self, name: str, kind=socket.SOCK_DGRAM) -> bool:
        if name in self.held:
            return True
        s = socket.socket(socket.AF_UNIX, kind)
        try:
            s.bind("\0" + name)
        except OSError as e:
            s.close()
            self.refused[name] = errno.errorcode.get(e.errno or 0, str(e))
            return False
        s.setblocking(False)
        self.held[name] = s
        return True

    # -- payloads ---------------------------------------------------------

    def payloads(self) -> list[bytes]:
        a = self.args
        rnd = random.Random(1234)
        out = [b"", b"\x00" * 64, b"\xff" * 576]
        out += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600))) for _ in range(8)]
        evil = W.raw_name(a.evil)
        nbns = [
            W.build_registration(rnd.randrange(0x10000), 0x2910, evil, 0, 0, a.address),
            W.build_registration(rnd.randrange(0x10000), 0x2900, evil, 300, 0x6000, a.address),
            W.build_positive_answer(rnd.randrange(0x10000), evil, 0, a.address),
            W.build_query(rnd.randrange(0x10000), evil, 0x0110),
            W.build_query(rnd.randrange(0x10000), evil, 0x0000),
        ]
        datagrams = []
        for name in a.name:
            raw = W.raw_name(name)
            for rcode in (5, 6):
                for _ in range(16):
                    nbns.append(
                        W._header(rnd.randrange(0x10000), 0xAD80 | rcode, an=1) + W._nb_record(raw, 0, 0, a.address)
                    )
            nbns.append(W.build_registration(rnd.randrange(0x10000), 0x3010, raw, 0, 0, a.address))
            nbns.append(W.build_registration(rnd.randrange(0x10000), 0x3000, raw, 0, 0x6000, a.address))
            nbns.append(W._header(rnd.randrange(0x10000), 0xAD87, an=1) + W._nb_record(raw, 0, 0, a.address))
            for slot in ("FOXAPP", a.slot.upper()):
                frame = W.build_frame(a.evil, 4242, True, False, FORGED_TEXT, "cp1252")
                smb = W.build_smb_mailslot("\\MAILSLOT\\" + slot, frame)
                datagrams.append(W.build_datagram(0x10, rnd.randrange(0x10000), a.peer, 138, evil, raw, smb))
        prefix = socket.inet_aton(a.peer) + struct.pack("!H", 137)
        out = datagrams + nbns + out
        out += [prefix + p for p in datagrams + nbns]
        out += [struct.pack("=Q", len(p)) + p for p in nbns[:4] + datagrams]
        words = ["leader", "stop", "quit", "exit", "release", "suspend", "yield", "handoff", "takeover"]
        out += [w.encode() for w in words] + [f"register {a.evil}".encode(), f"claim {a.evil}<00>".encode()]
        for op in ("register", "claim", "leader", "stop", "release", "answer", "yield"):
            out.append(json.dumps({"op": op, "name": a.evil, "address": a.address, "pid": 1}).encode())
            out.append(json.dumps({"type": op, "names": [a.evil, *a.name], "uid": 0}).encode())
        return out

    # -- attack -----------------------------------------------------------

    def targets(self) -> list[tuple[str, int]]:
        found = []
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) < 8 or not parts[7].startswith("@lanmsg"):
                    continue
                path = parts[7][1:]
                if path in self.held:
                    continue
                found.append((path, int(parts[4], 16)))
        return list(dict.fromkeys(found))

    def siblings(self, path: str) -> list[str]:
        if path.startswith("lanmsg-mailslot"):
            return []
        out = [re.sub(r"/[^/]*$", "/leader", path), path + "/leader"]
        m = re.match(r"(.*/member/)(\d+)(/.*)?$", path)
        if m:
            out += [f"{m.group(1)}{pid}{m.group(3) or ''}" for pid in (1, int(m.group(2)) + 1, 65535)]
            out.append(m.group(1).rsplit("/member/", 1)[0] + "/leader")
        return [p for p in dict.fromkeys(out) if p != path]

    def send(self, path: str, kind: int, payload: bytes, errors: dict) -> bool:
        sock_type = SOCK_TYPES.get(kind, socket.SOCK_DGRAM)
        try:
            if sock_type == socket.SOCK_DGRAM:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                s.setblocking(False)
                try:
                    for _ in range(20):
                        try:
                            s.sendto(payload, "\0" + path)
                            return True
                        except BlockingIOError:
                            time.sleep(0.005)
                    errors["EAGAIN"] = errors.get("EAGAIN", 0) + 1
                    return False
                finally:
                    s.close()
            with socket.socket(socket.AF_UNIX, sock_type) as s:
                s.settimeout(0.5)
                s.connect("\0" + path)
                s.sendall(payload or b"\n")
                return True
        except OSError as e:
            key = errno.errorcode.get(e.errno or 0, type(e).__name__)
            errors[key] = errors.get(key, 0) + 1
            return False

    def attack(self) -> None:
        targets = self.targets()
        bound = []
        for path, _ in targets:
            for candidate in [path, *self.siblings(path)]:
                if candidate not in self.held and self.bind(candidate):
                    bound.append(candidate)
        sent = 0
        errors: dict = {}
        payloads = self.payloads()
        full = []
        for path, kind in targets:
            refused_in_a_row = 0
            for p in payloads:
                if self.send(path, kind, p, errors):
                    sent += 1
                    refused_in_a_row = 0
                else:
                    refused_in_a_row += 1
                    if refused_in_a_row >= 3:  # nobody reads it (or it is gone): on to the next
                        full.append(path)
                        break
        emit("attacked", targets=[p for p, _ in targets], sent=sent, errors=errors, bound=bound, given_up=full)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="localsquat")
    ap.add_argument("--name", action="append", default=[], help="a NetBIOS name lanmsg holds or will hold")
    ap.add_argument("--ports", default="137,138")
    ap.add_argument("--evil", default="EVILNAME", help="a name nobody on the host holds")
    ap.add_argument("--address", required=True, help="the host's own address")
    ap.add_argument("--peer", required=True, help="another host's address, for forged sources")
    ap.add_argument("--slot", default="otherslot")
    args = ap.parse_args(argv)
    squatter = Squatter(args)
    ports = [int(p) for p in args.ports.split(",")]
    for name in guessed_names(args.name, ports):
        squatter.bind(name)
    emit("squatted", bound=sorted(squatter.held), refused=squatter.refused, uid=os.getuid())
    for line in sys.stdin:
        if line.strip() == "attack":
            squatter.attack()
        elif line.strip() == "exit":
            break
    emit("stopped")
    return 0


SCRIPT = os.path.abspath(__file__)


if __name__ == "__main__":
    sys.exit(main())
