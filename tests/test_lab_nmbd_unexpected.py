"""lanmsg reading unicasts that nmbd takes, through nmbd's "unexpected" socket (tests/nmbd_unexpected.py).

nmbd (tests/samba.py, B-node "SAMBAHOST") runs on lab host 1.  A probe on host 1
connects ``nmbd_unexpected.NmbdUnexpected`` clients to ``<socket dir>/unexpected``:

* ``all``: datagrams, no mailslot filter (what lanmsg uses);
* ``FOXAPP`` / ``foxapp``: datagrams with nmbd's filter ``\\MAILSLOT\\FOXAPP`` / ``\\MAILSLOT\\foxapp``;
* ``nmb-any``, ``nmb-4242``, ``nmb-1111``: name-service packets, any TRN_ID / only 0x4242 / only 0x1111;

and checks the handshake's edges on connections of its own (a mailslot filter
over 1024 bytes, a client that writes after the ack).  Host 2 then sends,
from UDP port 138 as lanmsg does, mailslot datagrams to SAMBAHOST<00> at host
1's address (which only nmbd receives) and a few others, and an unsolicited
NAME QUERY RESPONSE to host 1's port 137.  The test compares what each client got
with the bytes sent, then checks that nmbd still answers name queries.  About 10 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import netlab
import nmbd_unexpected as nu
import pytest
import samba

import mailslot

pytestmark = samba.pytest_marks()

PY = sys.executable
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

# Host 1: the unexpected-socket clients; one JSON line per event; ends when stdin closes.
PROBE = r"""
import json, select, socket, sys
sys.path.insert(0, sys.argv[1])
import nmbd_unexpected as nu
path = sys.argv[2]
def out(**kw):
    print(json.dumps(kw), flush=True)

# the handshake's edges, on connections of their own
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
s.sendall(nu.QUERY.pack(nu.DGRAM_PACKET, nu.MAILSLOT_FILTER_MAX + 1, -1))
out(event="edge", case="filter-too-long", got=s.recv(16).hex())  # "" = nmbd hung up without an ack
s.close()
c = nu.NmbdUnexpected(path)
c._sock.send(b"\x00")  # a client must never write after the query
select.select([c], [], [], 5)
c.read()
out(event="edge", case="write-after-ack", closed=c.closed, reason=c.close_reason)

clients = {
    "all": nu.NmbdUnexpected(path),
    "FOXAPP": nu.NmbdUnexpected(path, mailslot="\\MAILSLOT\\FOXAPP"),
    "foxapp": nu.NmbdUnexpected(path, mailslot="\\MAILSLOT\\foxapp"),
    "nmb-any": nu.NmbdUnexpected(path, packet_type=nu.NMB_PACKET),
    "nmb-4242": nu.NmbdUnexpected(path, packet_type=nu.NMB_PACKET, trn_id=0x4242),
    "nmb-1111": nu.NmbdUnexpected(path, packet_type=nu.NMB_PACKET, trn_id=0x1111),
}
# and one by hand, for the fence only, to show the bytes on the stream
raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
raw.settimeout(10)
raw.connect(path)
raw.sendall(nu.encode_query(nu.DGRAM_PACKET, -1, "\\MAILSLOT\\FENCE"))
out(event="raw-ack", hex=raw.recv(1).hex())
def drain(ready):
    for name, c in clients.items():
        if c in ready:
            for p in c.read():
                out(event="rx", client=name, type=p.packet_type, src=p.source[0], sport=p.source[1],
                    ts=p.timestamp, hex=p.data.hex())
            if c.closed:
                out(event="closed", client=name, reason=c.close_reason)
out(event="ready")
while True:
    live = [c for c in clients.values() if not c.closed]
    ready = select.select([sys.stdin, *live], [], [])[0]
    drain(ready)
    if sys.stdin in ready and not sys.stdin.readline():
        while ready := select.select(live, [], [], 0.3)[0]:
            drain(ready)
        stream = b""
        while len(stream) < nu.HEADER.size or len(stream) < nu.HEADER.size + nu.HEADER.unpack_from(stream)[0]:
            stream += raw.recv(4096)
        out(event="raw", hex=stream.hex())
        out(event="done", open=sorted(n for n, c in clients.items() if not c.closed))
        break
"""

# Host 2: sends each [dst, dport, sport, hex] of argv[1] in turn, 20 ms apart.
SENDER = r"""
import json, socket, sys, time
socks = {}
for dst, dport, sport, data in json.loads(sys.argv[1]):
    s = socks.get(sport)
    if s is None:
        s = socks[sport] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.bind(("", sport))
    s.sendto(bytes.fromhex(data), (dst, dport))
    time.sleep(0.02)
print("sent", flush=True)
"""

NMB_RESPONSE_ID = 0x4242


def datagram(lab, label: str, *, name: str, mailslot_name: str, data: bytes, msg_type: int = 0x10) -> bytes:
    return mailslot.encode_datagram(
        mailslot.build_datagram(
            msg_type=msg_type,
            source="LABSENDER",
            destination=mailslot.NetbiosName(name, 0x00),
            mailslot=mailslot_name,
            data=data,
            source_ip=lab.addr(2),
            dgm_id=0x5B00 + CASES.index(label),
        )
    )


CASES = [
    "FOXAPP to SAMBAHOST",
    "foxapp to SAMBAHOST",
    "empty to SAMBAHOST",
    "empty to OTHERNAME",
    "576 bytes to SAMBAHOST",
    "577 bytes to SAMBAHOST",
    "max remote payload to SAMBAHOST",
    "577 bytes to OTHERNAME",
    "BROWSE to SAMBAHOST",
    "bcast FOXAPP to WORKGROUP",
    "fence",
]


def build_cases(lab) -> dict[str, tuple[str, int, int, bytes]]:
    """label -> (destination, port, source port, UDP payload)."""
    h1, bcast = lab.addr(1), lab.broadcast
    own = {"name": "SAMBAHOST", "mailslot_name": "FOXAPP"}
    empty_len = len(datagram(lab, "empty to SAMBAHOST", **own, data=b""))
    out = {
        "FOXAPP to SAMBAHOST": datagram(lab, "FOXAPP to SAMBAHOST", **own, data=b"hello FOXAPP"),
        "foxapp to SAMBAHOST": datagram(
            lab, "foxapp to SAMBAHOST", name="SAMBAHOST", mailslot_name="foxapp", data=b"hello foxapp"
        ),
        "empty to SAMBAHOST": datagram(lab, "empty to SAMBAHOST", **own, data=b""),
        "empty to OTHERNAME": datagram(lab, "empty to OTHERNAME", name="OTHERNAME", mailslot_name="FOXAPP", data=b""),
        "576 bytes to SAMBAHOST": datagram(lab, "576 bytes to SAMBAHOST", **own, data=b"x" * (576 - empty_len)),
        "577 bytes to SAMBAHOST": datagram(lab, "577 bytes to SAMBAHOST", **own, data=b"y" * (577 - empty_len)),
        "max remote payload to SAMBAHOST": datagram(
            lab, "max remote payload to SAMBAHOST", **own, data=b"z" * mailslot.max_remote_payload("FOXAPP")
        ),
        "577 bytes to OTHERNAME": datagram(
            lab, "577 bytes to OTHERNAME", name="OTHERNAME", mailslot_name="FOXAPP", data=b"w" * (577 - empty_len)
        ),
        "BROWSE to SAMBAHOST": datagram(
            lab, "BROWSE to SAMBAHOST", name="SAMBAHOST", mailslot_name="BROWSE", data=b"\x63browse"
        ),
        "bcast FOXAPP to WORKGROUP": datagram(
            lab,
            "bcast FOXAPP to WORKGROUP",
            name="WORKGROUP",
            mailslot_name="FOXAPP",
            data=b"hello group",
            msg_type=0x11,
        ),
        "fence": datagram(lab, "fence", name="OTHERNAME", mailslot_name="FENCE", data=b"fence"),
    }
    rows = {k: (bcast if k.startswith("bcast") else h1, 138, 138, v) for k, v in out.items()}
    # an answer nobody asked for (NAME QUERY RESPONSE, positive, for LABSENDER<00> at host 2)
    nmb = mailslot.ns_positive_answer(
        NMB_RESPONSE_ID, mailslot.NetbiosName("LABSENDER", 0x00), [mailslot.NBEntry(0, lab.addr(2))], 300
    )
    rows["nmb response 0x4242"] = (h1, 137, 40137, nmb)
    fence = rows.pop("fence")
    rows["fence"] = fence
    return rows


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def measured():
    with netlab.Lab(2) as lab, samba.Nmbd(lab, 1, netbios_name="SAMBAHOST", debug_level=3) as nmbd:
        path = os.path.join(nmbd.socket_dir, nu.SOCKET_NAME)
        probe = lab.popen(1, [PY, "-c", PROBE, TESTS_DIR, path], stdin=subprocess.PIPE)
        probe.wait_for_line(r'"event": "ready"')
        # lanmsg itself as the sender: to the address (DIRECT_GROUP to "*") and by name
        cli = [
            lab.run(2, [PY, "-m", "mailslot", "send", target, "foxapp", text, "--name", "LABCLI"], timeout=60)
            for target, text in ((lab.addr(1), "cli to the address"), ("SAMBAHOST", "cli by name"))
        ]
        rows = build_cases(lab)
        plan = [[dst, dport, sport, data.hex()] for dst, dport, sport, data in rows.values()]
        lab.run(2, [PY, "-c", SENDER, json.dumps(plan)], timeout=20)
        probe.wait_for_line(r'"client": "all".*"hex": "' + rows["fence"][3].hex()[:60])
        time.sleep(0.2)
        probe.stdin.close()
        probe_events = events(probe.finish(10).stdout)
        unicast = samba.nmblookup(lab, 2, "-U", lab.addr(1), "SAMBAHOST")
        broadcast = samba.nmblookup(lab, 2, "-B", lab.broadcast, "SAMBAHOST")
        alive = nmbd.proc.poll() is None
        log = nmbd.log_text()
        result = {
            "lab": {"h1": lab.addr(1), "h2": lab.addr(2)},
            "rows": rows,
            "events": probe_events,
            "lookups": (unicast, broadcast),
            "cli": cli,
            "alive": alive,
            "path": path,
            "trusted": nu.trusted_socket_dir(path),
            "mode": oct(os.stat(path).st_mode & 0o7777),
            "malformed": re.findall(r"^process_dgram: ignoring malformed\d .*$", log, re.MULTILINE),
        }
    print(report(result))
    return result


def received(result, client: str) -> list[dict]:
    return [e for e in result["events"] if e["event"] == "rx" and e["client"] == client]


def copies(result, client: str, label: str) -> list[bytes]:
    sent = result["rows"][label][3]
    if label.startswith("nmb"):
        return [bytes.fromhex(e["hex"]) for e in received(result, client) if bytes.fromhex(e["hex"]) == sent]
    frames = [bytes.fromhex(e["hex"]) for e in received(result, client)]
    return [f for f in frames if f[2:4] == sent[2:4] and f[14:48] == sent[14:48]]  # DGM_ID and source name


def report(result) -> str:
    clients = ["all", "FOXAPP", "foxapp", "nmb-any", "nmb-4242", "nmb-1111"]
    lines = [
        f"--- copies each unexpected-socket client got ({result['path']})",
        f"{'case':34} " + " ".join(f"{c:>8}" for c in clients) + "  udp bytes",
    ]
    for label, (_, _, _, data) in result["rows"].items():
        lines.append(
            f"{label:34} " + " ".join(f"{len(copies(result, c, label)):8d}" for c in clients) + f"  {len(data)}"
        )
    first = received(result, "all")[0]
    raw = bytes.fromhex(first["hex"])
    lines.append(f"first frame to 'all': type {first['type']} from {first['src']}:{first['sport']} ts {first['ts']}")
    lines.append(f"  data ({len(raw)} bytes): {raw.hex()}")
    lines += [json.dumps(e) for e in result["events"] if e["event"] in ("edge", "closed", "done")]
    lines += [f"nmbd: {line}" for line in result["malformed"]]
    lines += [f"raw stream for \\MAILSLOT\\FENCE: {e['hex']}" for e in result["events"] if e["event"] == "raw"]
    return "\n".join(lines)


# {case: copies for (all, FOXAPP, foxapp, nmb-any, nmb-4242, nmb-1111)}
EXPECTED = {
    "FOXAPP to SAMBAHOST": (1, 1, 0, 0, 0, 0),
    "foxapp to SAMBAHOST": (1, 0, 1, 0, 0, 0),  # nmbd's filter is case-sensitive
    "empty to SAMBAHOST": (0, 0, 0, 0, 0, 0),  # to nmbd's own name: dropped for DataCount 0
    "empty to OTHERNAME": (1, 1, 0, 0, 0, 0),  # a name nmbd does not have: handed on unchecked
    "576 bytes to SAMBAHOST": (1, 1, 0, 0, 0, 0),
    "577 bytes to SAMBAHOST": (0, 0, 0, 0, 0, 0),  # cut to 576 bytes, then dropped as malformed
    "max remote payload to SAMBAHOST": (0, 0, 0, 0, 0, 0),  # likewise
    "577 bytes to OTHERNAME": (1, 1, 0, 0, 0, 0),  # cut to 576 bytes and handed on
    "BROWSE to SAMBAHOST": (0, 0, 0, 0, 0, 0),  # nmbd's own mailslot: consumed
    "bcast FOXAPP to WORKGROUP": (2, 2, 0, 0, 0, 0),  # nmbd got it on two sockets
    "nmb response 0x4242": (0, 0, 0, 1, 1, 0),
    "fence": (1, 0, 0, 0, 0, 0),
}
CLIENTS = ("all", "FOXAPP", "foxapp", "nmb-any", "nmb-4242", "nmb-1111")


def test_what_each_client_gets(measured):
    """Every packet nmbd does not use goes to every client whose query matches: datagrams by
    exact, case-sensitive mailslot name (or all), name-service answers nobody asked for by
    TRN_ID (or all); nothing for nmbd's own mailslots, nor an empty message to nmbd's name."""
    got = {label: tuple(len(copies(measured, c, label)) for c in CLIENTS) for label in measured["rows"]}
    assert got == EXPECTED, report(measured)


def test_frames_carry_the_udp_source_and_the_bytes_sent(measured):
    """Each frame: the UDP source address and port, the packet type, nmbd's timestamp, and for
    a datagram of at most 576 bytes exactly the bytes sent (nmbd rebuilds the packet, which
    gives the same bytes for a well-formed one)."""
    lab = measured["lab"]
    for e in received(measured, "all"):
        assert (e["src"], e["sport"], e["type"]) == (lab["h2"], 138, nu.DGRAM_PACKET)
        assert abs(e["ts"] - time.time()) < 600
    for label in ("FOXAPP to SAMBAHOST", "empty to OTHERNAME", "576 bytes to SAMBAHOST", "bcast FOXAPP to WORKGROUP"):
        sent = measured["rows"][label][3]
        assert set(copies(measured, "all", label)) == {sent}, label
        d = mailslot.decode_datagram(sent)
        assert d.mailslot == "\\MAILSLOT\\FOXAPP"
    (nmb,) = received(measured, "nmb-any")
    assert (nmb["src"], nmb["sport"], nmb["type"]) == (lab["h2"], 40137, nu.NMB_PACKET)


def test_datagrams_over_576_bytes_are_cut_or_dropped(measured):
    """nmbd reads at most 576 bytes of a datagram.  To a name nmbd does not have, a longer one is
    handed on cut to 576 bytes with a DGM_LENGTH to match, so only the SMB's own counts show the
    loss (lanmsg's decoder refuses it).  To nmbd's own name it is dropped as malformed (logged), as
    is an empty message (DataCount 0)."""
    (got,) = copies(measured, "all", "577 bytes to OTHERNAME")
    sent = measured["rows"]["577 bytes to OTHERNAME"][3]
    assert len(sent) == 577 and len(got) == 576
    assert got[:10] == sent[:10] and got[12:] == sent[12:576]
    assert int.from_bytes(got[10:12], "big") == 576 - 14
    with pytest.raises(mailslot.DecodeError):
        mailslot.decode_datagram(got)
    for label in ("577 bytes to SAMBAHOST", "max remote payload to SAMBAHOST"):
        assert copies(measured, "all", label) == []
    assert [m.split(" datagram")[0] for m in measured["malformed"]] == [
        "process_dgram: ignoring malformed1 (datasize = 88, len = 0)",  # the empty message to SAMBAHOST
        "process_dgram: ignoring malformed3 (datasize = 494, len=407, off=88)",
        "process_dgram: ignoring malformed3 (datasize = 494, len=424, off=88)",
    ], measured["malformed"]


def test_lanmsg_sends_arrive_through_nmbd(measured):
    """``python -m mailslot send`` from host 2, to host 1's address (DIRECT_GROUP to ``*<00>``)
    and by name (DIRECT_UNIQUE to SAMBAHOST<00>, resolved by nmbd's answer): nmbd takes both
    and hands them on; lanmsg writes the mailslot name as given (``foxapp``), so nmbd's
    case-sensitive filter for ``\\MAILSLOT\\FOXAPP`` misses them and lanmsg must ask for all."""
    for r in measured["cli"]:
        assert r.returncode == 0, r.stdout + r.stderr
    got = {}
    for client in ("all", "FOXAPP", "foxapp"):
        for e in received(measured, client):
            try:
                d = mailslot.decode_datagram(bytes.fromhex(e["hex"]))
            except mailslot.DecodeError:
                continue  # the datagram cut to 576 bytes
            if d.source_name.name == "LABCLI":
                got.setdefault(client, []).append((d.msg_type, str(d.destination_name), d.mailslot, d.data))
    expected = [
        (0x11, "*<00>", "\\MAILSLOT\\foxapp", b"cli to the address"),
        (0x10, "SAMBAHOST<00>", "\\MAILSLOT\\foxapp", b"cli by name"),
    ]
    assert got == {"all": expected, "foxapp": expected}


def test_the_bytes_on_the_stream(measured):
    """The ack is one zero byte; each packet is a 32-byte struct nb_packet_client_header
    (x86_64: size_t len @0, int type @8, 4 zero bytes, time_t timestamp @16, in_addr ip @24,
    int port @28, native byte order) followed by ``len`` bytes of packet, nothing else."""
    lab = measured["lab"]
    (ack,) = [e["hex"] for e in measured["events"] if e["event"] == "raw-ack"]
    (raw,) = [bytes.fromhex(e["hex"]) for e in measured["events"] if e["event"] == "raw"]
    fence = measured["rows"]["fence"][3]
    assert ack == "00"
    assert len(raw) == 32 + len(fence) and raw[32:] == fence
    if nu.HEADER.size == 32 and sys.byteorder == "little":  # x86_64, aarch64
        assert raw[0:8] == len(fence).to_bytes(8, "little")
        assert raw[8:16] == bytes([1, 0, 0, 0, 0, 0, 0, 0])
        assert abs(int.from_bytes(raw[16:24], "little") - time.time()) < 600
        assert raw[24:28] == bytes(int(x) for x in lab["h2"].split("."))
        assert raw[28:32] == (138).to_bytes(4, "little")


def test_handshake_edges(measured):
    """A mailslot filter over 1024 bytes: nmbd hangs up without an ack.  A byte written
    after the ack: nmbd drops the client."""
    edges = {e["case"]: e for e in measured["events"] if e["event"] == "edge"}
    assert measured["trusted"] and measured["mode"] == "0o777"  # nmbd: umask 0, directory root 0755
    assert edges["filter-too-long"]["got"] == ""
    assert edges["write-after-ack"]["closed"] is True
    assert edges["write-after-ack"]["reason"] == "nmbd closed the connection"
    (done,) = [e for e in measured["events"] if e["event"] == "done"]
    assert done["open"] == sorted(CLIENTS)


def test_nmbd_keeps_working(measured):
    lab = measured["lab"]
    unicast, broadcast = measured["lookups"]
    assert measured["alive"]
    for r in (unicast, broadcast):
        assert r.returncode == 0 and samba.lookup_addresses(r, "SAMBAHOST") == [lab["h1"]], r.stdout + r.stderr


CLIENT_LIMIT = r"""
import select, sys
sys.path.insert(0, sys.argv[1])
import nmbd_unexpected as nu
clients = []
for i in range(3):
    clients.append(nu.NmbdUnexpected(sys.argv[2]))
    select.select([c for c in clients if not c.closed], [], [], 0.5)
    for c in clients:
        c.read()
    print(i, [c.close_reason for c in clients], flush=True)
"""


def test_beyond_the_client_limit_nmbd_drops_the_oldest():
    """``nmbd:unexpected_clients`` (default 200): one client more and nmbd disconnects the one
    that connected first; lanmsg must reconnect on EOF."""
    with (
        netlab.Lab(1) as lab,
        samba.Nmbd(lab, 1, netbios_name="SAMBAHOST", extra={"nmbd:unexpected_clients": 2}) as nmbd,
    ):
        r = lab.run(1, [PY, "-c", CLIENT_LIMIT, TESTS_DIR, os.path.join(nmbd.socket_dir, nu.SOCKET_NAME)], timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        "0 [None]",
        "1 [None, None]",
        "2 ['nmbd closed the connection', None, None]",
    ]
