"""Runs on lab host 1: confirmed messages per second to host 2, beside a bare UDP ping-pong.

    python rates.py PEER_IP --echo-port P --pings N --messages M --trials K [--profile FILE]

Trials alternate: N sequential round trips of a bare UDP datagram (the size of a
messenger datagram) to an echo server on PEER_IP:P, then M sequential
confirmed messages through one lanmsg.client.Messenger to the ``lanmsg listen``
on PEER_IP (each send waits for its CONF), then (``--floor-port``) M exchanges of the
same two datagrams with nothing but mailslot's codec and protocol's frames at each end
(echo.py --confirm).  Prints one JSON object: rates per
trial, lost round trips, unconfirmed messages, and this process's CPU seconds
during the message trials.  ``--profile``: cProfile one extra message trial and
write the hot spots to FILE.
"""

import argparse
import cProfile
import io
import json
import pstats
import socket
import time

import mailslot
from lanmsg import protocol as P
from lanmsg.client import Messenger, NotConfirmed

DATAGRAM_BYTES = 210  # a 40-byte message in its NetBIOS datagram (bench/run.py's typical one)
PING_TIMEOUT_S = 1.0


def ping_trial(sock: socket.socket, n: int) -> tuple[float, int]:
    payload = b"p" * DATAGRAM_BYTES
    lost = 0
    t = time.perf_counter()
    for _ in range(n):
        sock.send(payload)
        try:
            sock.recv(2048)
        except TimeoutError:
            lost += 1
    return n / (time.perf_counter() - t), lost


def floor_trial(sock: socket.socket, n: int) -> tuple[float, int]:
    """The same exchange as a confirmed message with nothing but the codec: a frame in a
    datagram to echo.py --confirm, its CONF datagram decoded and checked."""
    me = socket.gethostname().split(".")[0].upper()[:15]
    to = mailslot.NetbiosName("*")
    source_ip = sock.getsockname()[0]
    port = sock.getsockname()[1]
    lost = 0
    t = time.perf_counter()
    for i in range(n):
        frame = P.encode_frame(P.Frame(me, 1000 + i, True, False, f"bench message {i:06d} to measure the rate"))
        sock.send(mailslot._template(mailslot.MSG_DIRECT_GROUP, me, to, "foxapp", port).encode(i, source_ip, frame))
        try:
            answer = P.decode_frame(mailslot.decode_datagram(sock.recv(2048)).data)
        except TimeoutError:
            lost += 1
            continue
        if not isinstance(answer, P.Frame) or P.parse_conf(answer.body) != 1000 + i:
            lost += 1
    return n / (time.perf_counter() - t), lost


def message_trial(m: Messenger, peer_ip: str, n: int) -> tuple[float, int]:
    failed = 0
    t = time.perf_counter()
    for i in range(n):
        try:
            m.send(peer_ip, f"bench message {i:06d} to measure the rate")
        except NotConfirmed:
            failed += 1
    return n / (time.perf_counter() - t), failed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("--echo-port", type=int, required=True)
    ap.add_argument("--floor-port", type=int, help="echo.py --confirm: the codec-only exchange")
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--profile")
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((args.peer, args.echo_port))
    sock.settimeout(PING_TIMEOUT_S)
    out = {
        "ping_rates": [],
        "ping_lost": 0,
        "message_rates": [],
        "unconfirmed": 0,
        "floor_rates": [],
        "floor_lost": 0,
        "message_cpu_s": 0.0,  # this process's, during the message trials
    }
    floor = None
    if args.floor_port:
        floor = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        floor.connect((args.peer, args.floor_port))
        floor.settimeout(PING_TIMEOUT_S)
    with Messenger() as m:
        m.send(args.peer, "warm-up")  # first contact: nothing cached yet
        ping_trial(sock, min(200, args.pings))
        if floor is not None:
            floor_trial(floor, min(200, args.messages))
        for _ in range(args.trials):
            rate, lost = ping_trial(sock, args.pings)
            out["ping_rates"].append(rate)
            out["ping_lost"] += lost
            cpu = time.process_time()
            rate, failed = message_trial(m, args.peer, args.messages)
            out["message_cpu_s"] += time.process_time() - cpu
            out["message_rates"].append(rate)
            out["unconfirmed"] += failed
            if floor is not None:
                rate, lost = floor_trial(floor, args.messages)
                out["floor_rates"].append(rate)
                out["floor_lost"] += lost
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            message_trial(m, args.peer, args.messages)
            prof.disable()
            text = io.StringIO()
            stats = pstats.Stats(prof, stream=text)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(25)
            with open(args.profile, "w") as f:
                f.write(text.getvalue())
    sock.send(b"stop")
    if floor is not None:
        floor.send(b"stop")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
