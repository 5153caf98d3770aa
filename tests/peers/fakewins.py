#!/usr/bin/env python3
"""fakewins: a small NetBIOS name server (WINS) whose answers a test chooses.

An independent judge for lanmsg's WINS client, written from RFC 1002 (4.2.2-4.2.16, 5.1.2),
not from lanmsg's code; the packet codec is winpeer's (tests/peers/winpeer.py).  Standard
library only, Linux, Python 3.10+.  It binds UDP ``--port`` (137) on every address and serves
until SIGTERM/SIGINT or ``--duration``:

Broadcast requests (B=1) and responses are ignored, as a WINS server ignores them.

* NAME REGISTRATION REQUEST (opcode 5, or 15 multi-homed): per name, the first
  ``--silent-tries`` requests get no answer; the next one gets a WAIT FOR ACKNOWLEDGEMENT
  RESPONSE (4.2.16: flags 0xBC00, NULL RR, TTL ``--wack-ttl``, RDATA = the request's
  flags) when ``--wack-ttl`` is given, and ``--grant-delay`` seconds later a POSITIVE NAME
  REGISTRATION RESPONSE (4.2.5: 0xAD80, the request's TRN_ID, TTL ``--ttl``); without
  ``--wack-ttl`` it is granted at once (``--grant-on-stdin``: after the WACK, only when a line
  ``grant`` arrives on stdin).  Later requests for a granted name are granted at once.
* NAME REFRESH REQUEST (opcode 8 or 9): for a name granted to that address, a positive answer
  with opcode 5 (as Samba answers), ``--refresh-delay`` seconds later; from another address
  RFS_ERR (0xAD85), as Samba's WINS server does.
* NAME RELEASE REQUEST (opcode 6): POSITIVE NAME RELEASE RESPONSE (4.2.10: 0xB400), unless
  ``--silent-release``; the name is forgotten.
* NAME QUERY REQUEST with RD=1: positive (0x8580) for a granted name, else NAM_ERR (0x8583).

Output: one JSON object per line on stdout (flushed) with "event" and "t" (seconds since start):

  ready         port, pid
  registration  name, group, address, trn, src, port, try   (every registration request)
  silent        name, try                                    (a registration left unanswered)
  wack          name, ttl, trn
  granted       name, address, ttl, trn
  refresh       name, address, trn, src, port, answer "positive"|"RFS_ERR"
  release       name, address, trn, src, port, answered
  query         name, src, port, answer "positive"|"NAM_ERR"
  dropped       src, reason

Use from tests: ``fakewins_argv(ttl=6, silent_tries=2, wack_ttl=3)`` builds the argv;
``winpeer.read_events(text)`` parses the output.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import sys
import threading

try:
    from peers import winpeer as W
except ImportError:  # run as a script: tests/peers is sys.path[0]
    import winpeer as W  # type: ignore[no-redef]

OP_REGISTER_MULTIHOMED = 15
FLAGS_WACK = 0xBC00  # R, opcode 7, AA (RFC 1002 4.2.16)
FLAGS_REGISTER_ANSWER = 0xAD80  # R, opcode 5, AA, RD, RA (4.2.5; what Samba sends)
FLAGS_RELEASE_ANSWER = 0xB400  # R, opcode 6, AA (4.2.10)
FLAGS_QUERY_ANSWER = 0x8580  # R, opcode 0, AA, RD, RA (Samba's WINS answer)
RFS_ERR, NAM_ERR = 5, 3


def wack(trn_id: int, raw16: bytes, ttl: int, request_flags: int) -> bytes:
    """WAIT FOR ACKNOWLEDGEMENT RESPONSE (4.2.16)."""
    rr = W.encode_name(raw16) + struct.pack("!HHIHH", W.T_NULL, W.C_IN, ttl, 2, request_flags)
    return W._header(trn_id, FLAGS_WACK, an=1) + rr


def registration_answer(trn_id: int, raw16: bytes, ttl: int, nb_flags: int, address: str, rcode: int = 0) -> bytes:
    """POSITIVE (rcode 0) or NEGATIVE NAME REGISTRATION RESPONSE (4.2.5, 4.2.6)."""
    return W._header(trn_id, FLAGS_REGISTER_ANSWER | rcode, an=1) + W._nb_record(raw16, ttl, nb_flags, address)


def release_answer(trn_id: int, raw16: bytes, nb_flags: int, address: str) -> bytes:
    """POSITIVE NAME RELEASE RESPONSE (4.2.10)."""
    return W._header(trn_id, FLAGS_RELEASE_ANSWER, an=1) + W._nb_record(raw16, 0, nb_flags, address)


def query_answer(trn_id: int, raw16: bytes, ttl: int, nb_flags: int, address: str) -> bytes:
    return W._header(trn_id, FLAGS_QUERY_ANSWER, an=1) + W._nb_record(raw16, ttl, nb_flags, address)


def negative_query_answer(trn_id: int, raw16: bytes) -> bytes:
    """NEGATIVE NAME QUERY RESPONSE (4.2.14) as a WINS server sends it: NAM_ERR, NULL RR."""
    rr = W.encode_name(raw16) + struct.pack("!HHIH", W.T_NULL, W.C_IN, 0, 0)
    return W._header(trn_id, FLAGS_QUERY_ANSWER | NAM_ERR, an=1) + rr


class Server:
    def __init__(self, args):
        self.args = args
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", args.port))
        self.tries: dict[bytes, int] = {}
        self.granted: dict[bytes, tuple[str, int]] = {}  # raw16 -> (address, nb_flags)
        self.wacked: set[bytes] = set()
        self.pending_grants: list = []  # (answer, destination, then) held for a "grant" line on stdin
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def send_later(self, delay: float, data: bytes, dest, then=None) -> None:
        def fire():
            if then is not None:
                then()
            self.sock.sendto(data, dest)

        if delay <= 0:
            fire()
        else:
            t = threading.Timer(delay, fire)
            t.daemon = True
            t.start()

    def serve(self) -> None:
        W.emit("ready", port=self.args.port, pid=os.getpid())
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                data, src = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self.on_packet(data, src)
            except W.Malformed as e:
                W.emit("dropped", src=f"{src[0]}:{src[1]}", reason=str(e))

    def on_packet(self, data: bytes, src) -> None:
        p = W.parse_nbns(data)
        if p.is_response or p.flags & W.F_B:
            return  # a WINS server serves point-to-point requests only (broadcasts are for B-nodes)
        op = p.opcode
        if op in (W.OP_REGISTER, OP_REGISTER_MULTIHOMED) and p.additional:
            self.on_registration(p, src)
        elif op in (W.OP_REFRESH, W.OP_REFRESH_ALT) and p.additional:
            self.on_refresh(p, src)
        elif op == W.OP_RELEASE and p.additional:
            self.on_release(p, src)
        elif op == W.OP_QUERY and p.questions and p.flags & W.F_RD:
            self.on_query(p, src)

    def on_registration(self, p, src) -> None:
        rr = p.additional[0]
        nb_flags, address = rr.nb_entries()[0]
        name = rr.name
        with self.lock:
            self.tries[name] = n = self.tries.get(name, 0) + 1
            already = name in self.granted or name in self.wacked
        W.emit(
            "registration",
            name=W.show_name(name),
            group=bool(nb_flags & W.NB_GROUP),
            address=address,
            trn=p.trn_id,
            src=src[0],
            port=src[1],
            **{"try": n},
        )
        args = self.args
        if not already and n <= args.silent_tries:
            W.emit("silent", name=W.show_name(name), **{"try": n})
            return
        if name in self.wacked and name not in self.granted:
            W.emit("silent", name=W.show_name(name), **{"try": n})  # the grant is on its way
            return

        def grant():
            with self.lock:
                self.granted[name] = (address, nb_flags)
            W.emit("granted", name=W.show_name(name), address=address, ttl=args.ttl, trn=p.trn_id)

        answer = registration_answer(p.trn_id, name, args.ttl, nb_flags, address)
        if args.wack_ttl is not None and not already:
            with self.lock:
                self.wacked.add(name)
            self.sock.sendto(wack(p.trn_id, name, args.wack_ttl, p.flags), src)
            W.emit("wack", name=W.show_name(name), ttl=args.wack_ttl, trn=p.trn_id)
            if args.grant_on_stdin:
                with self.lock:
                    self.pending_grants.append((answer, src, grant))
            else:
                self.send_later(args.grant_delay, answer, src, then=grant)
        else:
            self.send_later(0, answer, src, then=grant)

    def grant_pending(self) -> None:
        """Send every grant held back by --grant-on-stdin."""
        with self.lock:
            pending, self.pending_grants = self.pending_grants, []
        for answer, src, grant in pending:
            self.send_later(0, answer, src, then=grant)

    def on_refresh(self, p, src) -> None:
        rr = p.additional[0]
        nb_flags, address = rr.nb_entries()[0]
        with self.lock:
            held = self.granted.get(rr.name)
        ok = held is not None and held[0] == address
        W.emit(
            "refresh",
            name=W.show_name(rr.name),
            address=address,
            trn=p.trn_id,
            src=src[0],
            port=src[1],
            answer="positive" if ok else "RFS_ERR",
        )
        answer = registration_answer(p.trn_id, rr.name, self.args.ttl, nb_flags, address, 0 if ok else RFS_ERR)
        self.send_later(self.args.refresh_delay, answer, src)

    def on_release(self, p, src) -> None:
        rr = p.additional[0]
        nb_flags, address = rr.nb_entries()[0]
        with self.lock:
            self.granted.pop(rr.name, None)
            self.wacked.discard(rr.name)
            self.tries.pop(rr.name, None)
        answered = not self.args.silent_release
        W.emit(
            "release",
            name=W.show_name(rr.name),
            address=address,
            trn=p.trn_id,
            src=src[0],
            port=src[1],
            answered=answered,
        )
        if answered:
            self.sock.sendto(release_answer(p.trn_id, rr.name, nb_flags, address), src)

    def on_query(self, p, src) -> None:
        name = p.questions[0][0]
        with self.lock:
            held = self.granted.get(name)
        if held is None:
            self.sock.sendto(negative_query_answer(p.trn_id, name), src)
        else:
            self.sock.sendto(query_answer(p.trn_id, name, self.args.ttl, held[1], held[0]), src)
        W.emit(
            "query",
            name=W.show_name(name),
            src=src[0],
            port=src[1],
            answer="NAM_ERR" if held is None else "positive",
        )


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="fakewins", description="A WINS server whose answers a test chooses.")
    ap.add_argument("--port", type=int, default=W.NS_PORT)
    ap.add_argument("--ttl", type=int, default=300, help="TTL granted (seconds)")
    ap.add_argument("--silent-tries", type=int, default=0, help="registration requests per name left unanswered")
    ap.add_argument("--wack-ttl", type=int, default=None, help="answer the next request with a WACK of this TTL")
    ap.add_argument("--grant-delay", type=float, default=0.0, help="seconds from the WACK to the grant")
    ap.add_argument("--grant-on-stdin", action="store_true", help='after a WACK, grant on a line "grant" on stdin')
    ap.add_argument("--refresh-delay", type=float, default=0.0, help="seconds before a refresh is answered")
    ap.add_argument("--silent-release", action="store_true", help="never answer a release")
    ap.add_argument("--duration", type=float, default=None)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        server = Server(args)
    except OSError as e:
        W.emit("error", reason=f"cannot bind: {e}")
        return 2

    def on_signal(signum, frame):
        server.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.duration is not None:
        threading.Timer(args.duration, server.stop.set).start()
    if args.grant_on_stdin:

        def read_commands():
            for line in sys.stdin:
                if line.strip() == "grant":
                    server.grant_pending()

        threading.Thread(target=read_commands, daemon=True).start()
    server.serve()
    W.emit("stopped")
    return 0


SCRIPT = os.path.abspath(__file__)


def fakewins_argv(python: str | None = None, **options) -> list[str]:
    """argv running fakewins: ``fakewins_argv(ttl=6, silent_tries=2, wack_ttl=3, grant_delay=2)``."""
    argv = [python or sys.executable, SCRIPT]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return argv


if __name__ == "__main__":
    sys.exit(main())
