#!/usr/bin/env python3
"""Small independent peers for the field tests (tests/test_lab_field_targets.py).

Written from RFC 1002 (name service packets, 4.2; datagram header, 4.4), RFC 1035 (a DNS
message's header and question), [MS-MAIL] and docs/security.md's frame table, through the
encoders of tests/peers/winpeer.py: never from lanmsg's code.  Standard library only; each
command runs inside a lab host as ``python nbns_tools.py COMMAND ...`` and prints one JSON
object per line (flushed):

``dns-recorder``
    binds UDP 53 on every address, prints ``{"event": "ready"}``, then one
    ``{"event": "query", "qname": ..., "qtype": ..., "from": ..., "t": epoch}`` per DNS
    query, and answers each with NXDOMAIN (so a resolver that asks does not wait).
``forge ADDRESS SOURCE_NAME DEST_NAME DEST_ADDRESS TEXT [--kind plain|bad-tag ...]``
    binds ADDRESS:138 (the forger's own address: it then hears only unicasts to it) and
    sends, for each kind, one FoxPro messenger frame (sender SOURCE_NAME, confirmation
    requested) in a DIRECT_UNIQUE mailslot datagram (source name SOURCE_NAME<00>,
    SOURCE_IP ADDRESS, destination DEST_NAME<00>, ``\\MAILSLOT\\FOXAPP``) to
    DEST_ADDRESS:138.  ``plain`` carries no authentication trailer; ``bad-tag`` carries
    docs/security.md's 44-byte trailer (``LMA1``, the time, HMAC-SHA256) made with a key
    nobody else has.  Prints ``{"event": "forged", ...}``, then one
    ``{"event": "received", "from": ..., "raw": hex}`` for every datagram that reaches
    ADDRESS:138, until SIGTERM.
``node-status ADDRESS``
    sends a NODE STATUS REQUEST for ``*`` to ADDRESS:137 (RFC 1002 4.2.17); prints
    ``{"event": "names", "names": [[hex of the 15 name bytes, suffix, NAME_FLAGS], ...]}``
    (4.2.18), or ``{"event": "no-answer"}`` (exit 1) after 3 tries 1 s apart.
``many-fds N ARGV...``
    raises RLIMIT_NOFILE, opens N inheritable descriptors on /dev/null (so the sockets
    of the program get numbers above N) and execs ARGV.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import resource
import signal
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.abspath(__file__)

NS_PORT = 137  # RFC 1002 section 6
DGM_PORT = 138
DNS_PORT = 53  # RFC 1035 4.2
T_NBSTAT, C_IN = 0x0021, 0x0001  # RFC 1002 4.2.1.3
DGM_DIRECT_UNIQUE = 0x10  # RFC 1002 4.4.1
FOXAPP = "\\MAILSLOT\\FOXAPP"


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def read_events(text: str) -> list[dict]:
    """The JSON objects in a peer's (or ``lanmsg --json``'s) stdout."""
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def argv(command: str, *args, python: str | None = None) -> list[str]:
    """The command line that runs ``command`` of this module (for ``lab.popen``)."""
    return [python or sys.executable, SCRIPT, command, *map(str, args)]


# --------------------------------------------------------------------------
# NetBIOS name service: node status (RFC 1002 4.1, 4.2.17, 4.2.18)
# --------------------------------------------------------------------------


def encode_name(raw16: bytes) -> bytes:
    """First- and second-level encoding of a 16-byte name without scope: 34 bytes."""
    half = bytearray()
    for c in raw16:
        half += bytes([0x41 + (c >> 4), 0x41 + (c & 0x0F)])
    return b"\x20" + bytes(half) + b"\x00"


def skip_name(buf: bytes, off: int) -> int:
    """Offset after a (possibly compressed) domain name at ``off``."""
    while True:
        n = buf[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n
        if n == 0:
            return off


def node_status_request(trn_id: int) -> bytes:
    """NODE STATUS REQUEST for the wildcard name, unicast (B=0, RD=0)."""
    header = struct.pack("!HHHHHH", trn_id, 0x0000, 1, 0, 0, 0)
    return header + encode_name(b"*" + b"\x00" * 15) + struct.pack("!HH", T_NBSTAT, C_IN)


def parse_node_status(buf: bytes, trn_id: int) -> list[tuple[bytes, int, int]] | None:
    """(15 name bytes, suffix, NAME_FLAGS) of each name of a NODE STATUS RESPONSE, or None."""
    try:
        tid, flags, _qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", buf, 0)
        if tid != trn_id or not flags & 0x8000 or an < 1:
            return None
        off = skip_name(buf, 12)
        rtype, _rclass, _ttl, _rdlen = struct.unpack_from("!HHIH", buf, off)
        if rtype != T_NBSTAT:
            return None
        off += 10
        count = buf[off]
        off += 1
        names = []
        for _ in range(count):
            raw = buf[off : off + 16]
            (name_flags,) = struct.unpack_from("!H", buf, off + 16)
            names.append((raw[:15], raw[15], name_flags))
            off += 18
        return names
    except (IndexError, struct.error):
        return None


def node_status(address: str, tries: int = 3, wait: float = 1.0) -> list[tuple[bytes, int, int]] | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(tries):
            trn_id = random.randrange(1, 0x10000)
            s.sendto(node_status_request(trn_id), (address, NS_PORT))
            end = time.monotonic() + wait
            while (left := end - time.monotonic()) > 0:
                s.settimeout(left)
                try:
                    data, peer = s.recvfrom(2048)
                except TimeoutError:
                    break
                if peer[0] == address and (names := parse_node_status(data, trn_id)) is not None:
                    return names
    return None


# --------------------------------------------------------------------------
# DNS (RFC 1035 4.1)
# --------------------------------------------------------------------------


def dns_question(buf: bytes) -> tuple[str, int, int]:
    """(qname, qtype, offset after the question) of a DNS query."""
    labels, off = [], 12
    while buf[off]:
        n = buf[off]
        labels.append(buf[off + 1 : off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    off += 1
    (qtype,) = struct.unpack_from("!H", buf, off)
    return ".".join(labels), qtype, off + 4


def dns_recorder() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", DNS_PORT))
    emit("ready")
    while True:
        data, peer = s.recvfrom(4096)
        try:
            qname, qtype, end = dns_question(data)
        except (IndexError, struct.error):
            emit("malformed", raw=data.hex(), t=time.time(), **{"from": peer[0]})
            continue
        emit("query", qname=qname, qtype=qtype, t=time.time(), **{"from": peer[0]})
        tid, flags = struct.unpack_from("!HH", data, 0)
        answer_flags = 0x8000 | (flags & 0x0100) | 0x0080 | 3  # QR, RD copied, RA, NXDOMAIN
        s.sendto(struct.pack("!HHHHHH", tid, answer_flags, 1, 0, 0, 0) + data[12:end], peer)


# --------------------------------------------------------------------------
# Forged messenger datagrams (RFC 1002 4.4.1, [MS-MAIL], the FoxPro frame, docs/security.md)
# --------------------------------------------------------------------------


def bad_tag_trailer(frame: bytes) -> bytes:
    """docs/security.md's trailer, well formed and fresh, but keyed with a random key."""
    stamp = struct.pack("!Q", int(time.time() * 1000))
    tag = hmac.new(os.urandom(32), b"lanmsg-auth-v1\x00FOXAPP\x00" + stamp + frame, hashlib.sha256).digest()
    return b"LMA1" + stamp + tag


def forge(address: str, source_name: str, dest_name: str, dest_address: str, text: str, kinds: list[str]) -> int:
    sys.path.insert(0, HERE)
    import winpeer  # the Windows-faithful peer's frame and datagram encoders

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, DGM_PORT))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for n, kind in enumerate(kinds):
        msg_id = random.randrange(10_000, 1_000_000)
        frame = winpeer.build_frame(source_name, msg_id, True, False, f"{text} ({kind})", "cp1252")
        if kind == "bad-tag":
            frame += bad_tag_trailer(frame)
        datagram = winpeer.build_datagram(
            DGM_DIRECT_UNIQUE,
            (os.getpid() + n) & 0xFFFF,
            address,
            DGM_PORT,
            winpeer.raw_name(source_name),
            winpeer.raw_name(dest_name),
            winpeer.build_smb_mailslot(FOXAPP, frame),
        )
        s.sendto(datagram, (dest_address, DGM_PORT))
        emit("forged", kind=kind, source=source_name, id=msg_id)
    while True:
        data, peer = s.recvfrom(65535)
        emit("received", raw=data.hex(), **{"from": peer[0]})


# --------------------------------------------------------------------------
# Many open descriptors, then exec
# --------------------------------------------------------------------------


def many_fds(count: int, command: list[str]) -> int:
    want = count + 4096
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        hard = want  # root may raise the hard limit
    if soft != resource.RLIM_INFINITY and soft < want:
        soft = want
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(count)]
    for fd in fds:
        os.set_inheritable(fd, True)  # Python opens files close-on-exec by default
    os.execvp(command[0], command)
    return 127


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def main(args: list[str]) -> int:
    if args[:1] == ["many-fds"] and len(args) >= 3:
        return many_fds(int(args[1]), args[2:])
    parser = argparse.ArgumentParser(prog="nbns_tools.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dns-recorder")
    f = sub.add_parser("forge")
    for name in ("address", "source_name", "dest_name", "dest_address", "text"):
        f.add_argument(name)
    f.add_argument("--kind", action="append", choices=("plain", "bad-tag"))
    n = sub.add_parser("node-status")
    n.add_argument("address")
    a = parser.parse_args(args)
    if a.command == "dns-recorder":
        return dns_recorder()
    if a.command == "forge":
        return forge(a.address, a.source_name, a.dest_name, a.dest_address, a.text, a.kind or ["plain"])
    names = node_status(a.address)
    if names is None:
        emit("no-answer")
        return 1
    emit("names", names=[[raw.hex(), suffix, flags] for raw, suffix, flags in names])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
