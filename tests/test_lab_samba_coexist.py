"""What reaches a second program on a host where Samba's nmbd runs (lanmsg issue 12, point 5).

lanmsg binds ``0.0.0.0:137`` and ``0.0.0.0:138`` with SO_REUSEADDR (and
IP_PKTINFO).  nmbd binds 0.0.0.0, the host's address and the subnet's broadcast
address on both ports, with SO_REUSEADDR and SO_REUSEPORT.  Here nmbd runs on
lab host 1 as a B-node "SAMBAHOST" (tests/samba.py, ``-d 5`` so that it logs every
datagram it ignores or hands on), a probe on host 1 binds like lanmsg does, and
host 2 sends, one case at a time:

* NBNS name queries: broadcast for a name nobody owns and for SAMBAHOST, unicast
  to host 1's address for SAMBAHOST and for a name nobody owns (RD=0);
* NetBIOS datagrams (mailslot writes to ``\\MAILSLOT\\foxapp`` from port 138):
  broadcast DIRECT_GROUP to WORKGROUP<00> (nmbd's group) and to another group,
  unicast DIRECT_UNIQUE to host 1's address for SAMBAHOST<00> and for another name.

For each case the test records which probe sockets got it, how often nmbd logged
processing it, what nmbd sent back to host 2, and what nmbd handed to a client of
its "unexpected" packet socket (``<nmbd:socket dir>/unexpected``, the channel
Samba's own tools use to get datagrams nmbd does not consume; the probe connects
to it as such a client, asking for every datagram).  Scenarios: the probe bound
after nmbd, before nmbd, with SO_REUSEPORT too, bound to the host's own address
(which lanmsg must not do: it takes the unicasts from nmbd), and nmbd with
``netbios aliases = LANMSGHOST`` (how lanmsg's name can live in nmbd).

The measured facts are asserted; ``-s`` prints the whole table.  About 25 s.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import netlab
import pytest
import samba

pytestmark = samba.pytest_marks()

PY = sys.executable
SETTLE_S = 0.4  # after a case is sent: time for delivery, nmbd's answer and its log line (no timing asserted)
NBNS, DGM = 137, 138

# --------------------------------------------------------------------------
# Programs run in the lab hosts
# --------------------------------------------------------------------------

# Host 1: sockets bound as the spec says, and optionally a client of nmbd's
# "unexpected" packet socket asking for every datagram.  One JSON line per event;
# ends when stdin closes.
PROBE = r"""
import json, select, socket, struct, sys
spec = json.loads(sys.argv[1])
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
def out(**kw):
    print(json.dumps(kw), flush=True)
def ident(port, data):
    return int.from_bytes(data[0:2] if port == 137 else data[2:4], "big") if len(data) >= 4 else -1
socks = {}
for s in spec["sockets"]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if s.get("reuseaddr"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if s.get("reuseport"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    try:
        sock.bind((s["addr"], s["port"]))
    except OSError as e:
        out(event="bindfail", sock=s["name"], errno=e.errno)
        sock.close()
        continue
    out(event="bound", sock=s["name"])
    socks[sock.fileno()] = (s["name"], s["port"], sock)
unexpected = None
if spec.get("unexpected"):
    unexpected = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unexpected.connect(spec["unexpected"])
    # struct nb_packet_query {enum packet_type type; size_t mailslot_namelen; int trn_id;}:
    # DGRAM_PACKET (1), no mailslot filter, any id
    unexpected.sendall(struct.pack("@iNi4x", 1, 0, -1))
    out(event="unexpected-ack", ack=unexpected.recv(1).hex())
HDR = struct.Struct("@Niq4si")  # struct nb_packet_client_header {len, type, timestamp, ip, port}
buf = b""
def handle(fd):
    global buf, unexpected
    if unexpected is not None and fd == unexpected.fileno():
        data = unexpected.recv(65536)
        if not data:
            out(event="unexpected-closed")
            unexpected = None
            return
        buf += data
        while len(buf) >= HDR.size:
            n, typ, ts, ip, port = HDR.unpack_from(buf)
            if len(buf) < HDR.size + n:
                break
            pkt, buf = buf[HDR.size:HDR.size + n], buf[HDR.size + n:]
            out(event="rx", sock="unexpected", src=socket.inet_ntoa(ip), sport=port, id=ident(138, pkt),
                type=typ, msg=pkt[0])
    else:
        name, port, sock = socks[fd]
        data, anc, flags, peer = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        dst = None
        for level, kind, value in anc:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                dst = socket.inet_ntoa(value[8:12])
        out(event="rx", sock=name, src=peer[0], sport=peer[1], dst=dst, id=ident(port, data))
out(event="ready")
while True:
    fds = [0, *socks] + ([unexpected.fileno()] if unexpected else [])
    for fd in select.select(fds, [], [])[0]:
        if fd == 0:
            if not sys.stdin.readline():
                fds.remove(0)
                while select.select(fds, [], [], 0.3)[0]:  # drain what is still queued
                    for fd in select.select(fds, [], [], 0)[0]:
                        handle(fd)
                out(event="done")
                sys.exit(0)
        else:
            handle(fd)
"""

# Host 2: sends one case per stdin line; NBNS queries from an ephemeral port (as
# nmblookup does), datagrams from port 138 (as lanmsg does).  Everything that
# arrives on its sockets (137, 138, the query socket) is printed.
SENDER = r"""
import json, select, socket, struct, sys, threading
import mailslot
me = sys.argv[1]
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
lock = threading.Lock()
def out(**kw):
    with lock:
        print(json.dumps(kw), flush=True)
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s.bind(("", port))
    return s
query, d138, n137 = udp(0), udp(138), udp(137)
socks = {query.fileno(): ("query", query), d138.fileno(): ("138", d138), n137.fileno(): ("137", n137)}
def listen():
    while True:
        for fd in select.select(list(socks), [], [])[0]:
            name, s = socks[fd]
            data, anc, flags, peer = s.recvmsg(4096, socket.CMSG_SPACE(12))
            dst = None
            for level, kind, value in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    dst = socket.inet_ntoa(value[8:12])
            if peer[0] == me:
                continue  # our own broadcasts
            if name == "138":
                ident, what = int.from_bytes(data[2:4], "big"), f"dgm-type-{data[0]:#x}"
            else:
                ident, flags = struct.unpack_from(">HH", data)
                what = f"nbns-flags-{flags:#06x}"
            out(event="reply", sock=name, src=peer[0], sport=peer[1], dst=dst, id=ident, what=what)
threading.Thread(target=listen, daemon=True).start()
out(event="ready")
for line in sys.stdin:
    c = json.loads(line)
    name = mailslot.NetbiosName(c["name"], c.get("suffix", 0))
    if c["kind"] == "nbns":
        flags = 0x0110 if c["bcast"] else 0x0000
        pkt = struct.pack(">HHHHHH", c["id"], flags, 1, 0, 0, 0) + mailslot.encode_name(name) + struct.pack(">HH", 0x20, 1)
        query.sendto(pkt, (c["dst"], 137))
    else:
        pkt = mailslot.encode_datagram(mailslot.build_datagram(
            msg_type=c["msg_type"], source="PROBESENDER", destination=name, mailslot="foxapp",
            data=b"coexist probe", source_ip=me, dgm_id=c["id"]))
        d138.sendto(pkt, (c["dst"], 138))
    out(event="sent", id=c["id"])
"""


# --------------------------------------------------------------------------
# Running a scenario
# --------------------------------------------------------------------------


def cases(lab, dgm_names=("SAMBAHOST", "OTHERNAME")) -> list[dict]:
    """The cases host 2 sends to host 1, each with its own NBNS TRN_ID / DGM_ID."""
    bcast, ip = lab.broadcast, lab.addr(1)
    out = [
        {"label": "bcast query NOSUCHNAME", "kind": "nbns", "dst": bcast, "bcast": True, "name": "NOSUCHNAME"},
        {"label": "bcast query SAMBAHOST", "kind": "nbns", "dst": bcast, "bcast": True, "name": "SAMBAHOST"},
        {"label": "unicast query SAMBAHOST", "kind": "nbns", "dst": ip, "bcast": False, "name": "SAMBAHOST"},
        {"label": "unicast query NOSUCHNAME", "kind": "nbns", "dst": ip, "bcast": False, "name": "NOSUCHNAME"},
        {"label": "bcast dgm WORKGROUP<00>", "kind": "dgm", "dst": bcast, "msg_type": 0x11, "name": "WORKGROUP"},
        {"label": "bcast dgm OTHERGROUP<00>", "kind": "dgm", "dst": bcast, "msg_type": 0x11, "name": "OTHERGROUP"},
    ]
    out += [{"label": f"unicast dgm {n}<00>", "kind": "dgm", "dst": ip, "msg_type": 0x10, "name": n} for n in dgm_names]
    for k, c in enumerate(out):
        c["id"] = 0x5A00 + k
    return out


def probe_spec(addr: str = "0.0.0.0", *, reuseport: bool = False, unexpected: str | None = None) -> dict:
    return {
        "sockets": [
            {"name": f"probe{port}", "addr": addr, "port": port, "reuseaddr": True, "reuseport": reuseport}
            for port in (NBNS, DGM)
        ],
        "unexpected": unexpected,
    }


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def start_probe(lab, spec: dict):
    p = lab.popen(1, [PY, "-c", PROBE, json.dumps(spec)], stdin=subprocess.PIPE)
    p.wait_for_line(r'"event": "ready"')
    bound = [e for e in events(p.stdout_text) if e["event"] in ("bound", "bindfail")]
    assert all(e["event"] == "bound" for e in bound), bound
    return p


FENCE_ID = 0x5AFF


def run_cases(lab, nmbd: samba.Nmbd, probe, case_list: list[dict]) -> list[dict]:
    """Send the cases from host 2; return one row per case with what went where.

    Attribution is by content, not by time: the probe reports each datagram's
    TRN_ID / DGM_ID; nmbd (``-d 4`` and up) logs each NBNS packet with its id and
    each datagram with its destination name and sender address.  After the cases a
    broadcast query for SAMBAHOST (the fence) must be answered by nmbd: nmbd works
    through its packets in order, so by then it has logged the cases before it.
    """
    sender = lab.popen(2, [PY, "-c", SENDER, lab.addr(2)], stdin=subprocess.PIPE)
    sender.wait_for_line(r'"event": "ready"')
    log_start = len(nmbd.log_text())
    fence = {"label": "fence", "kind": "nbns", "dst": lab.broadcast, "bcast": True, "name": "SAMBAHOST", "id": FENCE_ID}
    for c in [*case_list, fence]:
        sender.stdin.write(json.dumps(c) + "\n")
        sender.stdin.flush()
        sender.wait_for_line(rf'"event": "sent", "id": {c["id"]}\b')
        time.sleep(0.02)
    sender.wait_for_line(rf'"event": "reply", .*"id": {FENCE_ID}\b')
    time.sleep(0.2)  # nmbd's hand-off to the unexpected socket is queued; the probe drains 0.3 s more
    sender.stdin.close()
    sender.stop()
    probe.stdin.close()
    probe_events = events(probe.finish(10).stdout)
    log = nmbd.log_text()[log_start:]
    replies = [e for e in events(sender.stdout_text) if e["event"] == "reply"]
    h1, h2 = lab.addr(1), lab.addr(2)
    # any datagram nmbd sent to host 2's address (a DATAGRAM ERROR, say); none is expected
    unicast_dgm_to_h2 = [e["what"] for e in replies if e["sock"] == "138" and e["dst"] == h2 and e["src"] == h1]
    rows = []
    for c in case_list:
        port = NBNS if c["kind"] == "nbns" else DGM
        got = [e for e in probe_events if e["event"] == "rx" and e["id"] == c["id"] and e["src"] == h2]
        if c["kind"] == "nbns":
            rx = rf"^nmb packet from {re.escape(h2)}\(\d+\) header: id={c['id']} opcode=Query\(0\) response=No$"
            answers = [e["what"] for e in replies if e["sock"] == "query" and e["id"] == c["id"] and e["src"] == h1]
        else:
            name = re.escape(f"{c['name']}<00>")
            rx = (
                rf"^process_dgram: (datagram from \S+ to {name} IP {re.escape(h2)} for "
                rf"|ignoring dgram packet sent to name {name} from {re.escape(h2)}$)"
            )
            answers = []
        rows.append(
            {
                "case": c["label"],
                "probe": sum(1 for e in got if e["sock"] == f"probe{port}"),
                "nmbd": len(re.findall(rx, log, re.MULTILINE)),
                "answers": answers,
                "unexpected": sum(1 for e in got if e["sock"] == "unexpected"),
                "unicast_dgm_to_h2": unicast_dgm_to_h2,
                "probe_events": probe_events,
            }
        )
    return rows


def table(title: str, rows: list[dict]) -> str:
    lines = [f"--- {title}", f"{'case':30} {'probe':>5} {'nmbd':>4} {'unexp':>5}  nmbd answers"]
    for r in rows:
        lines.append(
            f"{r['case']:30} {r['probe']:5d} {r['nmbd']:4d} {r['unexpected']:5d}  {', '.join(r['answers']) or '-'}"
        )
    return "\n".join(lines)


def by_case(rows: list[dict]) -> dict:
    return {r["case"]: (r["probe"], r["nmbd"], tuple(r["answers"]), r["unexpected"]) for r in rows}


# --------------------------------------------------------------------------
# The measurements
# --------------------------------------------------------------------------

DEBUG = 5  # nmbd logs every datagram it processes or ignores at 4-5


A = "after nmbd, 0.0.0.0, SO_REUSEADDR; unexpected-socket client"
B = "after nmbd, 0.0.0.0, SO_REUSEADDR+SO_REUSEPORT"
C = "after nmbd, host address, SO_REUSEADDR"
D = "before nmbd, 0.0.0.0, SO_REUSEADDR"
E = "nmbd alias LANMSGHOST; after nmbd, 0.0.0.0; unexpected-socket client"


@pytest.fixture(scope="module")
def measured():
    """All scenarios, measured once: {scenario: rows}, plus the alias lookup and the probe's view."""
    results = {}
    with netlab.Lab(2) as lab:
        results["lab"] = {"h1": lab.addr(1), "h2": lab.addr(2), "broadcast": lab.broadcast}
        # nmbd first, then the probe, bound three ways in turn
        with samba.Nmbd(lab, 1, netbios_name="SAMBAHOST", debug_level=DEBUG) as nmbd:
            for scenario, spec in (
                (A, probe_spec(unexpected=f"{nmbd.socket_dir}/unexpected")),
                (B, probe_spec(reuseport=True)),
                (C, probe_spec(lab.addr(1))),
            ):
                probe = start_probe(lab, spec)
                results[scenario] = run_cases(lab, nmbd, probe, cases(lab))
            results["unexpected events"] = results[A][0]["probe_events"]
            results["unexpected as nobody"] = unexpected_as_nobody(lab, nmbd)
        # the probe first, then nmbd
        probe = start_probe(lab, probe_spec())
        with samba.Nmbd(lab, 1, netbios_name="SAMBAHOST", debug_level=DEBUG) as nmbd:
            results[D] = run_cases(lab, nmbd, probe, cases(lab))
        # lanmsg's name as an nmbd alias
        with samba.Nmbd(lab, 1, netbios_name="SAMBAHOST", aliases=("LANMSGHOST",), debug_level=DEBUG) as nmbd:
            results["alias lookup"] = samba.nmblookup(lab, 2, "-B", lab.broadcast, "LANMSGHOST")
            probe = start_probe(lab, probe_spec(unexpected=f"{nmbd.socket_dir}/unexpected"))
            results[E] = run_cases(lab, nmbd, probe, cases(lab, dgm_names=("LANMSGHOST", "SAMBAHOST", "OTHERNAME")))
    for scenario in (A, B, C, D, E):
        print("\n" + table(scenario, results[scenario]))
    return results


UNEXPECTED_AS_NOBODY = r"""
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("refused", e.errno)
    sys.exit(0)
s.sendall(struct.pack("@iNi4x", 1, 0, -1))
print("ack", s.recv(1).hex())
"""


def unexpected_as_nobody(lab, nmbd) -> str | None:
    """Can an unprivileged user read nmbd's unexpected socket when its directory is
    world-traversable, as Debian's /run/samba/nmbd (0755) is?  None: cannot check here."""
    py = lab.python("nobody")
    if py is None or netlab.tool("setpriv") is None:
        return None
    import os

    mode = os.stat(nmbd.dir).st_mode & 0o777
    os.chmod(nmbd.dir, 0o755)  # the private root is 0700; the socket dir itself is nmbd's 0755
    try:
        r = lab.run(1, [py, "-c", UNEXPECTED_AS_NOBODY, f"{nmbd.socket_dir}/unexpected"], user="nobody", timeout=20)
    finally:
        os.chmod(nmbd.dir, mode)
    return r.stdout.strip()


# {case: (probe receipts, times nmbd processed it, nmbd's answers, copies nmbd handed to the unexpected client)}
BCAST_QUERIES = {
    "bcast query NOSUCHNAME": (1, 2, (), 0),  # nmbd: 0.0.0.0 and broadcast sockets; never a negative to a bcast
    "bcast query SAMBAHOST": (1, 2, ("nbns-flags-0x8580", "nbns-flags-0x8580"), 0),  # answered twice
}
UNICAST_QUERIES_TO_NMBD = {
    "unicast query SAMBAHOST": (0, 1, ("nbns-flags-0x8580",), 0),
    "unicast query NOSUCHNAME": (0, 1, ("nbns-flags-0x8583",), 0),  # NAM_ERR
}


def expected(scenario: str) -> dict:
    client = 1 if scenario in (A, E) else 0  # copies per socket nmbd got the datagram on
    if scenario == C:  # the probe on the host address: no broadcasts for it, every unicast taken from nmbd
        return {
            "bcast query NOSUCHNAME": (0, 2, (), 0),
            "bcast query SAMBAHOST": (0, 2, ("nbns-flags-0x8580", "nbns-flags-0x8580"), 0),
            "unicast query SAMBAHOST": (1, 0, (), 0),
            "unicast query NOSUCHNAME": (1, 0, (), 0),
            "bcast dgm WORKGROUP<00>": (0, 2, (), 0),
            "bcast dgm OTHERGROUP<00>": (0, 2, (), 0),
            "unicast dgm SAMBAHOST<00>": (1, 0, (), 0),
            "unicast dgm OTHERNAME<00>": (1, 0, (), 0),
        }
    out = {
        **BCAST_QUERIES,
        **UNICAST_QUERIES_TO_NMBD,
        "bcast dgm WORKGROUP<00>": (1, 2, (), 2 * client),  # nmbd's group, an unknown mailslot
        "bcast dgm OTHERGROUP<00>": (1, 2, (), 2 * client),  # a group nmbd is not in
    }
    if scenario == E:
        out["unicast dgm LANMSGHOST<00>"] = (0, 1, (), client)
    out["unicast dgm SAMBAHOST<00>"] = (0, 1, (), client)
    out["unicast dgm OTHERNAME<00>"] = (0, 1, (), client)
    return out


@pytest.mark.parametrize(
    "scenario",
    [A, B, C, D, E],
    ids=["after", "reuseport", "host-address", "before", "alias"],
)
def test_who_gets_what_next_to_nmbd(measured, scenario):
    """Broadcasts reach the lanmsg-style socket once and nmbd twice; unicasts to the host's
    address reach nmbd only, whichever was bound first and with SO_REUSEPORT too; a socket on
    the host's address takes every unicast from nmbd (which then answers nothing) and gets no
    broadcasts.  nmbd answers broadcast queries for its names twice, unicast queries with a
    positive answer or NAM_ERR, and never answers a datagram."""
    rows = measured[scenario]
    assert by_case(rows) == expected(scenario), table(scenario, rows)
    assert rows[0]["unicast_dgm_to_h2"] == [], "nmbd sent a datagram back to the sender"


def test_nmbd_hands_every_datagram_it_does_not_consume_to_unexpected_clients(measured):
    """Datagrams for names nmbd does not have, and for its own names on mailslots it does not
    serve, go to every client of <nmbd:socket dir>/unexpected, with the UDP source address
    and port; a broadcast once per socket nmbd got it on (twice)."""
    lab = measured["lab"]
    got = [e for e in measured["unexpected events"] if e.get("sock") == "unexpected"]
    assert got, "no datagram from nmbd's unexpected socket"
    assert {(e["src"], e["sport"], e["type"]) for e in got} == {(lab["h2"], 138, 1)}
    assert sorted(e["msg"] for e in got) == [0x10, 0x10, 0x11, 0x11, 0x11, 0x11]


def test_unexpected_socket_is_open_to_every_user_where_its_directory_is(measured):
    """The socket file is mode 0777: any user who can reach the directory (Debian:
    /run/samba/nmbd, 0755) reads the datagrams nmbd hands on."""
    answer = measured["unexpected as nobody"]
    if answer is None:
        pytest.skip("no setpriv or no Python that `nobody` can run")
    assert answer == "ack 00"


def test_nmbd_alias_answers_for_lanmsgs_name(measured):
    lab = measured["lab"]
    r = measured["alias lookup"]
    assert r.returncode == 0 and samba.lookup_addresses(r, "LANMSGHOST") == [lab["h1"]], r.stdout + r.stderr


def test_nmbd_binds_the_same_sockets_with_debians_default_interfaces_settings():
    """The facts above hold for nmbd as Debian configures it (no ``interfaces``, ``bind interfaces
    only = no``): it binds 0.0.0.0, the host's address and the broadcast address on 137 and 138
    all the same, so unicasts to the host's address still go to its own socket."""
    with (
        netlab.Lab(1) as lab,
        samba.Nmbd(lab, 1, netbios_name="SAMBAHOST", extra={"interfaces": None, "bind interfaces only": False}),
    ):
        ss = lab.run(1, ["ss", "-Hulpn"]).stdout
    bound = {tuple(line.split()[3].rsplit(":", 1)) for line in ss.splitlines() if '"nmbd"' in line}
    assert bound == {(a, p) for a in ("0.0.0.0", lab.addr(1), lab.broadcast) for p in ("137", "138")}, ss
