"""announce / discover on one machine (loopback), and MS_MESSAGE against the seed's struct.

The seed (msserver/msclient) defines:
    typedef struct { DWORD msg_id; char ipStr[20]; DWORD ip; UINT port; } MS_MESSAGE;
The tests build and read it with plain struct calls, independently of lanmsg.protocol.
"""

import json
import random
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
from lanmsg_proc import ROOT, lanmsg

import mailslot
from lanmsg import protocol as P

SEED_STRUCT = struct.Struct("<I20sII")  # x86 Windows: DWORD, char[20], DWORD, UINT; no padding


def seed_ms_message(ip: str, port: int) -> bytes:
    """What msserver writes: inet_addr(ip) stored as a DWORD is the four bytes in network order."""
    inet_addr = struct.unpack("<I", socket.inet_aton(ip))[0]
    return SEED_STRUCT.pack(0xAABBCCDD, ip.encode(), inet_addr, port)


def test_ms_message_is_the_seed_struct_both_ways():
    ours = P.encode_ms_message("10.1.2.3", 5000)
    assert ours == seed_ms_message("10.1.2.3", 5000)
    msg_id, ip_str, ip, port = SEED_STRUCT.unpack(ours)
    assert (msg_id, ip_str.rstrip(b"\0"), socket.inet_ntoa(struct.pack("<I", ip)), port) == (
        0xAABBCCDD,
        b"10.1.2.3",
        "10.1.2.3",
        5000,
    )
    assert P.decode_ms_message(seed_ms_message("192.168.7.9", 65535)) == P.Announcement(
        P.Endpoint("192.168.7.9", 65535)
    )


@pytest.mark.parametrize(
    "ip_str,ip_field,source,want,note",
    [
        (b"10.0.0.5", "10.0.0.5", None, "10.0.0.5", ""),
        (b"10.0.0.5", "5.0.0.10", None, "10.0.0.5", "ip-field-byte-swapped"),  # ip stored as a host-order int
        (b"10.0.0.5", "10.9.9.9", None, "10.0.0.5", "ip-field-differs"),  # ipStr is preferred
        (b"garbage", "10.0.0.6", None, "10.0.0.6", "ipstr-unreadable"),
        (b"0.0.0.0", "0.0.0.0", "10.0.0.7", "10.0.0.7", "unspecified-address"),  # a server bound to INADDR_ANY
        (b"0.0.0.0", "10.0.0.8", None, "10.0.0.8", "ipstr-unspecified"),
    ],
)
def test_ambiguous_ms_messages_are_read_leniently(ip_str, ip_field, source, want, note):
    raw = struct.pack("<I20s4sI", 0xAABBCCDD, ip_str, socket.inet_aton(ip_field), 80)
    assert P.decode_ms_message(raw, source) == P.Announcement(P.Endpoint(want, 80), note)


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"", "short"),
        (b"\xdd\xcc\xbb\xaa" + bytes(27), "short"),
        (struct.pack("<I20s4sI", 0x12345678, b"10.0.0.1", bytes(4), 80), "bad-msg-id"),
        (struct.pack("<I20s4sI", 0xAABBCCDD, b"10.0.0.1", bytes(4), 0), "bad-port"),
        (struct.pack("<I20s4sI", 0xAABBCCDD, b"10.0.0.1", bytes(4), 70000), "bad-port"),
        (struct.pack("<I20s4sI", 0xAABBCCDD, b"", bytes(4), 80), "no-address"),
    ],
)
def test_bad_ms_messages_are_typed_errors(raw, reason):
    assert P.decode_ms_message(raw) == P.BadFrame(reason, len(raw))


def test_random_ms_messages_and_queries_never_raise():
    rng = random.Random(3)
    good = seed_ms_message("10.0.0.1", 80)
    for _ in range(3000):
        raw = bytearray(good if rng.random() < 0.5 else bytes(rng.randrange(256) for _ in range(40)))
        for _ in range(rng.randrange(4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        raw = bytes(raw[: rng.randrange(len(raw) + 1)])
        assert isinstance(P.decode_ms_message(raw, "10.0.0.2"), (P.Announcement, P.BadFrame))
        assert isinstance(P.decode_query(raw), (P.Query, P.BadFrame))


def test_what_announce_sends_unpacks_as_the_seed_struct(background, config):
    with mailslot.Mailslot("@_MSClient_@", config=config) as client:  # as msclient does
        background("announce", "5000")
        msg = client.read(5.0)
    msg_id, ip_str, ip, port = SEED_STRUCT.unpack(msg.data)
    assert msg_id == 0xAABBCCDD and port == 5000
    assert ip_str.split(b"\0")[0] == b"127.0.0.1"  # loopback-confined announcer
    assert struct.pack("<I", ip) == socket.inet_aton("127.0.0.1")


def test_discover_finds_an_announcer_by_asking(background):
    background("announce", "5000")
    r = lanmsg("discover", "--json")
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert (rec["ip"], rec["port"], rec["via"]) == ("127.0.0.1", 5000, "answer")


def test_discover_finds_an_msserver_that_only_broadcasts(port, config):
    stop = threading.Event()

    def msserver():  # the seed's server: MS_MESSAGE to \\*\mailslot\@_MSClient_@ every second
        while not stop.is_set():
            mailslot.write("*", "@_MSClient_@", seed_ms_message("127.0.0.1", 7777), config=config)
            stop.wait(1.0)

    t = threading.Thread(target=msserver, daemon=True)
    t.start()
    try:
        r = lanmsg("discover", "--timeout", "3", "--json")
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout.splitlines()[0])
    assert (rec["ip"], rec["port"], rec["via"]) == ("127.0.0.1", 7777, "broadcast")


def test_nothing_there_exits_1_within_the_timeout(port):
    start = time.monotonic()
    r = lanmsg("discover", "--timeout", "0.5")
    assert r.returncode == 1 and r.stdout == ""
    assert time.monotonic() - start < 20  # never hangs (generous: shared machine)


def test_several_discovers_at_once_and_while_a_listener_runs(background):
    background("listen", ready=("listening",))
    background("announce", "5000")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lanmsg", "discover"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(*p.communicate(timeout=30), p.returncode) for p in procs]
    for out, err, code in results:
        assert code == 0, err
        assert out.strip() == "127.0.0.1:5000"


def test_check_reports_an_endpoint_that_accepts_connections(background):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        open_port = server.getsockname()[1]
        background("announce", str(open_port))
        r = lanmsg("discover", "--check")
    assert r.returncode == 0 and r.stdout.strip() == f"127.0.0.1:{open_port}"


def test_check_drops_an_endpoint_whose_port_is_closed(background):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        closed_port = probe.getsockname()[1]
        background("announce", str(closed_port))
        assert lanmsg("discover").stdout.strip() == f"127.0.0.1:{closed_port}"  # it is announced ...
        r = lanmsg("discover", "--check", "--timeout", "1.5")
    assert r.returncode == 1 and r.stdout == ""  # ... but not reported


def test_announce_rejects_bad_input_before_sending(port):
    assert lanmsg("announce", "0").returncode == 2
    assert lanmsg("announce", "70000").returncode == 2
    assert lanmsg("announce", "80", "--ip", "300.1.1.1").returncode == 2
    assert lanmsg("announce", "80", "--interval", "0").returncode == 2
