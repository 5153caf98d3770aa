"""The NetBIOS name service (RFC 1002 4.2): codec, the B-node responder's rules, the responder and
resolver on real loopback sockets, and tshark as the judge of every packet kind lanmsg sends.

The byte strings in VECTORS were captured from Samba 4.17 (nmbd, nmblookup) in a namespace lab;
the flag words are the ones the wire carries (Windows-style 0x8500 answers, nmbd's 0x8580)."""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import pytest

import mailslot as M

ROOT = pathlib.Path(__file__).resolve().parent.parent
N = "20" + "46444542454e454345424543434143414341434143414341434143414341414100"  # SAMBAB<00>, 34 bytes
STAR = "20" + "434b414141414141414141414141414141414141414141414141414141414141" + "00"  # *<00>
VECTORS = {
    "bcast-query": "7789 0110 0001 0000 0000 0000" + N + "0020 0001",
    "positive-nmbd": "7789 8580 0000 0001 0000 0000" + N + "0020 0001 0003f480 0006 0000 0ad60701",
    "negative-nmbd": "21dc 8583 0000 0001 0000 0000" + N + "000a 0001 00000000 0000",
    "status-query": "5824 0000 0001 0000 0000 0000" + STAR + "0021 0001",
    "bnode-registration-compressed": "2628 2910 0001 0000 0000 0001"
    + N
    + "0020 0001 c00c 0020 0001 00000000 0006 0000 0ad60701",
    "wins-registration": "1005 2900 0001 0000 0000 0001"
    + N
    + "0020 0001"
    + N
    + "0020 0001 000493e0 0006 6000 0ad60704",
    "wack": "1005 bc00 0000 0001 0000 0000" + N + "000a 0001 0000003c 0002 2900",
    "act-err": "1005 ad86 0000 0001 0000 0000" + N + "0020 0001 00000000 0006 6000 0ad60704",
    "refresh": "1004 4000 0001 0000 0000 0001" + N + "0020 0001" + N + "0020 0001 000493e0 0006 6000 0ad60703",
}


def vec(key: str) -> bytes:
    return bytes.fromhex(VECTORS[key].replace(" ", ""))


SAMBAB = M.NetbiosName("SAMBAB", 0x00)


# --------------------------------------------------------------------------
# codec
# --------------------------------------------------------------------------


def test_captured_packets_decode_to_their_fields():
    q = M.decode_ns_packet(vec("bcast-query"))
    assert (q.trn_id, q.flags, q.opcode, q.broadcast, q.recursion_desired) == (0x7789, 0x0110, 0, True, True)
    assert q.questions == (M.NSQuestion(SAMBAB, M.NS_TYPE_NB, M.NS_CLASS_IN),)
    pos = M.decode_ns_packet(vec("positive-nmbd"))
    assert pos.response and pos.rcode == 0 and pos.answers[0].ttl == 259200
    assert M.decode_nb_rdata(pos.answers[0].rdata) == [M.NBEntry(0, "10.214.7.1")]
    neg = M.decode_ns_packet(vec("negative-nmbd"))
    assert neg.rcode == M.NS_RCODE_NAM_ERR and neg.answers[0].rtype == M.NS_TYPE_NULL
    reg = M.decode_ns_packet(vec("bnode-registration-compressed"))
    assert reg.opcode == M.NS_OP_REGISTRATION and reg.additional[0].name == SAMBAB  # through the C0 0C pointer
    wack = M.decode_ns_packet(vec("wack"))
    assert wack.opcode == M.NS_OP_WACK and wack.answers[0].ttl == 60
    assert M.decode_ns_packet(vec("act-err")).rcode == M.NS_RCODE_ACT_ERR
    assert M.decode_ns_packet(vec("refresh")).opcode == M.NS_OP_REFRESH
    status = M.decode_ns_packet(vec("status-query"))
    assert status.questions[0].name.name == "*" and status.questions[0].qtype == M.NS_TYPE_NBSTAT


@pytest.mark.parametrize("key", [k for k in VECTORS if k != "bnode-registration-compressed"])
def test_uncompressed_captures_reencode_byte_for_byte(key):
    assert M.encode_ns_packet(M.decode_ns_packet(vec(key))) == vec(key)


def test_builders_write_the_flag_words_and_sizes_the_wire_carries():
    entry = M.NBEntry(0, "10.0.0.2")
    cases = [
        (M.ns_name_query(1, SAMBAB, broadcast=True), 0x0110, 50),
        (M.ns_name_query(1, SAMBAB, broadcast=False), 0x0100, 50),
        (M.ns_positive_answer(1, SAMBAB, [entry], 300000), 0x8500, 62),
        (M.ns_negative_answer(1, SAMBAB), 0x8503, 56),
        (M.ns_node_status_answer(1, M.NetbiosName("*"), [M.NodeStatusName("A", 0, 0x0400)]), 0x8400, 103 + 18),
        (M.ns_name_request(1, M.NS_OP_REGISTRATION, SAMBAB, entry, ttl=0, broadcast=True), 0x2910, 100),
        (M.ns_name_request(1, M.NS_OP_REGISTRATION, SAMBAB, entry, ttl=0, broadcast=False), 0x2900, 100),
        (M.ns_name_request(1, M.NS_OP_REFRESH, SAMBAB, entry, ttl=0, broadcast=False, recursion=False), 0x4000, 100),
        (M.ns_name_request(1, M.NS_OP_RELEASE, SAMBAB, entry, ttl=0, broadcast=True, recursion=False), 0x3010, 100),
        (M.ns_registration_answer(1, SAMBAB, entry, M.NS_RCODE_ACT_ERR), 0xAD86, 62),
    ]
    for packet, flags, size in cases:
        assert int.from_bytes(packet[2:4], "big") == flags and len(packet) == size, (hex(flags), packet.hex())
        assert b"\xc0\x0c" not in packet[12:]  # names are written whole, never compressed
        M.decode_ns_packet(packet)


def test_node_status_round_trip_keeps_bytes_of_names():
    names = [M.NodeStatusName("\xffB\xb5\xdf", 0x00, 0x0400), M.NodeStatusName("WORKGROUP", 0x00, 0x8400)]
    got, unit = M.decode_node_status(M.encode_node_status(names, b"\x02\x00\x0a\xd6\x07\x03"))
    assert got == names and unit == b"\x02\x00\x0a\xd6\x07\x03"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("7789 0110 0001 0000 0000", "truncated"),  # header < 12 bytes
        ("7789 0110 0001 0000 0000 0000 2046444542", "truncated"),  # question name cut
        ("7789 0110 0002 0000 0000 0000" + N + "0020 0001", "truncated"),  # QDCOUNT 2, one question
        ("7789 8500 0000 0001 0000 0000" + N + "0020 0001 00000000 0006 0000 0a00", "truncated"),  # RDLENGTH 6, 4 there
        ("7789 8500 0000 0001 0000 0000" + N + "0020 0001 00000000 0005 0000 0a0000", "bad-rdata"),  # NB RDLENGTH 5
        (
            "7789 8400 0000 0001 0000 0000" + STAR + "0021 0001 00000000 0010 05" + "00" * 15,
            "bad-rdata",
        ),  # NUM_NAMES > data
        ("7789 0110 0001 0000 0000 0000 c00c 0020 0001", "bad-name"),  # a pointer to itself
        ("7789 0110 0001 0000 0000 0000 c020 0020 0001", "bad-name"),  # a pointer forwards
        ("7789 0110 0001 0000 0000 0000" + N + "0020 0001 00", "trailing"),
        ("7789 0110 ffff 0000 0000 0000", "bad-header"),
    ],
)
def test_malformed_packets_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(M.DecodeError) as e:
        M.decode_ns_packet(bytes.fromhex(raw.replace(" ", "")))
    assert e.value.reason == reason


def test_pointer_chains_are_bounded():
    # question at 12; each additional name points back at the previous pointer: a long chain
    buf = bytearray(vec("bcast-query"))
    buf[10:12] = (1).to_bytes(2, "big")
    chain_start = len(buf)
    buf += b"\xc0\x0c"
    for _ in range(M.NS_MAX_POINTER_HOPS + 2):
        buf += (0xC000 | (len(buf) - 2)).to_bytes(2, "big")
    buf += bytes.fromhex("0020 0001 00000000 0006 0000 0a000001".replace(" ", ""))
    assert chain_start > 12
    with pytest.raises(M.DecodeError):
        M.decode_ns_packet(bytes(buf))


# The responder's rules, pure, are in tests/test_name_claims.py.


# --------------------------------------------------------------------------
# names are bytes (regression: a received name must never break a later send)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("odd", ["\xff", "\xb5", "\xdf"])
def test_a_source_name_with_oem_bytes_is_learned_as_bytes_that_still_encode(free_udp_port, odd):
    """Before: learn_address() stored name.upper(), U+0178 for 0xFF, U+039C for 0xB5, "SS" for 0xDF;
    every later write to that address failed ('latin-1' codec can't encode / name too long).
    The lab test test_lab_names.py::test_a_received_oem_name_never_breaks_a_later_send runs the
    same through `lanmsg send ADDRESS` between two hosts."""
    port = free_udp_port()
    cfg = M.Config(port=port, name="LANMSGTEST", broadcast=("127.255.255.255",))
    sender_name = "PC" + odd + "x"
    with M.Mailslot("foxapp", config=cfg) as slot:
        d = M.build_datagram(msg_type=M.MSG_DIRECT_UNIQUE, source=sender_name, destination=M.NetbiosName("LANMSGTEST"),
                             mailslot="foxapp", data=b"hi", source_ip="127.0.0.2", dgm_id=1)  # fmt: skip
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.2", 0))
            s.sendto(M.encode_datagram(d), ("127.0.0.1", port))
        msg = slot.read(5)
    assert msg.source_name == sender_name and M.learned_address(sender_name) == "127.0.0.2"
    learned = M.learned_name("127.0.0.2")
    assert learned == "PC" + odd + "X"  # ASCII upper-cased, the byte kept
    reply = M.build_datagram(msg_type=M.MSG_DIRECT_UNIQUE, source="LANMSGTEST", destination=M.NetbiosName(learned),
                             mailslot="foxapp", data=b"back", source_ip="127.0.0.1", dgm_id=2)  # fmt: skip
    assert M.decode_datagram(M.encode_datagram(reply)).destination_name.name == "PC" + odd + "X"


def test_netbios_names_upper_case_ascii_letters_only():
    assert M.nb_upper("desk\xff\xb5\xdfa") == "DESK\xff\xb5\xdfA"


@pytest.mark.parametrize(
    ("typed", "encoding", "wire"),
    [
        ("jürgen", "cp850", "J\x9aRGEN"),  # what Windows and Samba (dos charset CP850) send
        ("jürgen", "cp437", "J\x9aRGEN"),
        ("Ærø", "cp850", "\x92R\x9d"),
        ("straße", "cp850", "STRA\xe1E"),  # ß stays one character, as RtlUpcaseUnicodeToOemN keeps it
        ("МОСКВА", "cp866", "\x8c\x8e\x91\x8a\x82\x80"),
        ("desk-7", "cp850", "DESK-7"),
    ],
)
def test_typed_names_become_upper_case_oem_bytes(typed, encoding, wire):
    assert M.netbios_name(typed, encoding) == wire
    assert M.oem_text(wire, encoding) == M.oem_upper(typed)


@pytest.mark.parametrize(
    ("typed", "encoding", "why"),
    [
        ("日本", "cp850", "cannot be written in the DOS code page cp850"),
        ("jürgen", "no-such-codepage", "unknown DOS code page"),
        ("ééééééééé", "utf-8", "longer than 15 bytes"),
    ],
)
def test_names_a_code_page_cannot_hold_are_refused(typed, encoding, why):
    with pytest.raises(M.MailslotNameError, match=why):
        M.netbios_name(typed, encoding)


def test_the_oem_code_page_comes_from_the_environment():
    cfg = M.Config.from_env({"LANMSG_NAME": "jürgen", "LANMSG_OEM_ENCODING": "cp437"})
    assert (cfg.name, cfg.oem_encoding) == ("J\x9aRGEN", "cp437")
    with pytest.raises(ValueError, match="unknown DOS code page"):
        M.Config.from_env({"LANMSG_OEM_ENCODING": "cp9999"})


# --------------------------------------------------------------------------
# responder and resolver on loopback sockets
# --------------------------------------------------------------------------


def ask(ns_port: int, packet: bytes, *, to="127.0.0.1", timeout=5.0) -> M.NSPacket | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.settimeout(timeout)
        s.sendto(packet, (to, ns_port))
        try:
            data, peer = s.recvfrom(2048)
        except TimeoutError:
            return None
        assert peer[1] == ns_port
        return M.decode_ns_packet(data)


@pytest.fixture
def responder(free_udp_port):
    port, ns_port = free_udp_port(), free_udp_port()
    cfg = M.Config(port=port, ns_port=ns_port, name="LOOPHOST", workgroup="LANTEST", broadcast=("127.255.255.255",))
    with M.Mailslot("foxapp", config=cfg) as slot:
        yield cfg, slot


def test_the_responder_answers_queries_and_status_and_survives_hostile_bytes(responder):
    cfg, _ = responder
    p = ask(cfg.ns_port, M.ns_name_query(0x1234, M.NetbiosName("loophost"), broadcast=False))
    assert p is not None and p.trn_id == 0x1234 and M.decode_nb_rdata(p.answers[0].rdata)[0].address == "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for junk in (b"", b"\x00" * 11, os.urandom(600), vec("bcast-query")[:-3], b"\xc0" * 40):
            s.sendto(junk, ("127.0.0.1", cfg.ns_port))
    status = ask(cfg.ns_port, M.ns_node_status_query(0x4321))
    names, _ = M.decode_node_status(status.answers[0].rdata)
    assert [(n.name, n.flags & 0x8000) for n in names] == [("LOOPHOST", 0), ("LANTEST", 0x8000)]
    neg = ask(cfg.ns_port, M.ns_name_query(5, M.NetbiosName("NOSUCH"), broadcast=False, recursion=False))
    assert neg.rcode == M.NS_RCODE_NAM_ERR
    service = M._process.hosts[cfg.port]
    assert service.stats["dropped_malformed"] >= 4


def test_resolve_finds_the_responder_by_broadcast_and_caches_it(responder):
    cfg, _ = responder
    client = cfg._replace(name="ASKER")
    M.forget_name("LOOPHOST")
    assert M.query_name("LOOPHOST", client) == ["127.0.0.1"]
    assert M._cached(M.NetbiosName("LOOPHOST")) == ["127.0.0.1"]
    M.forget_name("LOOPHOST")
    assert M.query_name("NOBODY-HERE", client) == []


def test_python_m_mailslot_resolve_prints_addresses_and_exits_1_for_nobody(responder):
    cfg, _ = responder
    # --no-dns: outside a lab namespace, a DNS query would leave this machine for its name server
    base = [
        sys.executable,
        "-m",
        "mailslot",
        "resolve",
        "--no-dns",
        "--port",
        str(cfg.port),
        "--ns-port",
        str(cfg.ns_port),
    ]
    env = dict(os.environ, LANMSG_NAME="ASKER")
    ok = subprocess.run([*base, "loophost"], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert (ok.returncode, ok.stdout) == (0, "127.0.0.1\n"), ok.stderr
    bad = subprocess.run([*base, "NOBODY-HERE"], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert bad.returncode == 1 and bad.stdout == "" and "cannot find computer 'NOBODY-HERE'" in bad.stderr


def test_a_negative_registration_answer_from_this_host_hands_the_name_over(free_udp_port):
    """Another name server on this host (nmbd with `netbios aliases`) answering our registration
    negatively owns the name for us: lanmsg stops answering for it and says so, without exiting."""
    port, ns_port = free_udp_port(), free_udp_port()
    cfg = M.Config(port=port, ns_port=ns_port, name="TAKENHERE", broadcast=("127.255.255.255",))
    seen = []
    M.name_service_reporter = lambda kind, message: seen.append((kind, message))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as defender:
            defender.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            defender.bind(("", ns_port))
            defender.settimeout(5)
            with M.Mailslot("foxapp", config=cfg) as slot:
                while True:
                    data, peer = defender.recvfrom(2048)
                    p = M.decode_ns_packet(data)
                    if p.opcode == M.NS_OP_REGISTRATION and p.questions[0].name.name == "TAKENHERE":
                        break
                entry = M.decode_nb_rdata(p.additional[0].rdata)[0]
                defender.sendto(
                    M.ns_registration_answer(p.trn_id, p.questions[0].name, entry, M.NS_RCODE_ACT_ERR), peer
                )
                deadline = time.monotonic() + 5
                while not seen and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert seen and seen[0][0] == "notice" and "another NetBIOS server on this host" in seen[0][1]
                assert slot.try_read() is None  # no NameConflictError: the name is served, by the other server
                assert (
                    ask(ns_port, M.ns_name_query(1, M.NetbiosName("TAKENHERE"), broadcast=False), timeout=0.5) is None
                )
    finally:
        M.name_service_reporter = None


# --------------------------------------------------------------------------
# tshark judges every kind of packet the name service sends
# --------------------------------------------------------------------------

TSHARK = shutil.which("tshark")


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed; scripts/install-test-tools.sh installs it as root")
def test_tshark_dissects_every_packet_kind_cleanly(tmp_path, responder):
    from test_tshark import Udp, write_pcap

    cfg, _ = responder
    entry = M.NBEntry(0, "10.0.0.2")
    sent = [
        M.ns_name_query(1, SAMBAB, broadcast=True),
        M.ns_name_query(2, SAMBAB, broadcast=False),
        M.ns_node_status_query(3),
        M.ns_name_request(4, M.NS_OP_REGISTRATION, SAMBAB, entry, ttl=300000, broadcast=True),
        M.ns_name_request(5, M.NS_OP_REGISTRATION, SAMBAB, M.NBEntry(0x6000, "10.0.0.2"), ttl=300000, broadcast=False),
        M.ns_name_request(6, M.NS_OP_REFRESH, SAMBAB, entry, ttl=300000, broadcast=False, recursion=False),
        M.ns_name_request(7, M.NS_OP_RELEASE, SAMBAB, entry, ttl=0, broadcast=True, recursion=False),
        M.ns_registration_answer(8, SAMBAB, entry, M.NS_RCODE_ACT_ERR),
    ]
    # and what the live responder answers
    for q in (
        M.ns_name_query(9, M.NetbiosName("LOOPHOST"), broadcast=False),
        M.ns_name_query(10, M.NetbiosName("NOSUCH"), broadcast=False, recursion=False),
        M.ns_node_status_query(11),
    ):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(q, ("127.0.0.1", cfg.ns_port))
            sent.append(s.recv(2048))
    pcap = tmp_path / "nbns.pcap"
    write_pcap(pcap, [Udp("10.0.0.2", 137, "10.0.0.255", 137, p) for p in sent])
    out = subprocess.run([TSHARK, "-r", str(pcap), "-T", "fields", "-e", "nbns.flags", "-e", "nbns.name"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    rows = out.stdout.splitlines()
    assert len(rows) == len(sent) and all(r.split("\t")[0] for r in rows), out.stdout + out.stderr
    bad = subprocess.run([TSHARK, "-r", str(pcap), "-Y", "nbns && (_ws.malformed || _ws.expert)"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.stdout == "", bad.stdout
    assert "LOOPHOST<00>" in out.stdout and "NOSUCH<00>" in out.stdout
