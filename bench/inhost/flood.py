"""Runs on lab host 1: a flood of messenger messages at a listener, and the confirmations back.

    python flood.py TARGET_IP TARGET_NAME --rate R --seconds S

Builds R*S distinct messenger frames (each asking for confirmation) as NetBIOS
datagrams to TARGET_NAME's mailslot foxapp, as lanmsg sends them, then sends
them from UDP port 138 at R per second, paced every millisecond, for S seconds
(saying "sending" on stdout as it starts).
A thread counts the CONF datagrams that come back to port 138.  Prints one
JSON object: sent, send time, confirmations received (after a grace period).
"""

import argparse
import json
import socket
import threading
import time

import mailslot
from lanmsg import protocol as P

SENDER = "FLOODER"
GRACE_S = 3.0  # confirmations still arriving after the last datagram
PACE_S = 0.001  # send what is due every millisecond
RCVBUF_BYTES = 4 << 20


def build(target_ip: str, target_name: str, source_ip: str, port: int, n: int) -> list[bytes]:
    slot = mailslot.normalize_mailslot_name(P.DEFAULT_SLOT)
    out = []
    for i in range(n):
        frame = P.encode_frame(P.Frame(SENDER, 1000 + i, True, False, f"flood {i:06d} from the bench"))
        out.append(
            mailslot.encode_datagram(
                mailslot.build_datagram(
                    msg_type=mailslot.MSG_DIRECT_UNIQUE,
                    source=SENDER,
                    destination=mailslot.NetbiosName(target_name, 0x00),
                    mailslot=slot,
                    data=frame,
                    source_ip=source_ip,
                    dgm_id=i & 0xFFFF,
                    source_port=port,
                )
            )
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("target_ip")
    ap.add_argument("target_name")
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--port", type=int, default=138)
    args = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
    s.bind(("", args.port))
    s.connect((args.target_ip, args.port))
    source_ip = s.getsockname()[0]
    datagrams = build(args.target_ip, args.target_name, source_ip, args.port, int(args.rate * args.seconds))
    confs = 0
    stop = threading.Event()

    def count_confirmations():
        nonlocal confs
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                data = s.recv(2048)
            except (TimeoutError, ConnectionRefusedError):
                continue
            try:
                frame = P.decode_frame(mailslot.decode_datagram(data).data)
            except ValueError:
                continue
            if isinstance(frame, P.Frame) and frame.system and P.parse_conf(frame.body) is not None:
                confs += 1

    reader = threading.Thread(target=count_confirmations, daemon=True)
    reader.start()
    send = s.send
    sent = errors = 0
    total = len(datagrams)
    print("sending", flush=True)  # for a bench that measures something else during the flood
    t0 = time.perf_counter()
    while sent < total:
        due = min(total, int((time.perf_counter() - t0) * args.rate) + 1)
        while sent < due:
            try:
                send(datagrams[sent])
            except OSError:
                errors += 1
            sent += 1
        time.sleep(PACE_S)
    send_s = time.perf_counter() - t0
    time.sleep(GRACE_S)
    stop.set()
    reader.join()
    print(json.dumps({"sent": sent, "send_errors": errors, "send_s": send_s, "confirmations": confs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
