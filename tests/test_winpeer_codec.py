"""winpeer's codecs (tests/peers/winpeer.py) checked offline against the spec's bytes.

No sockets: vectors from tests/vectors, packets quoted in the NBNS notes, and
random damage that must only ever raise winpeer.Malformed.
"""

from __future__ import annotations

import json
import os
import random
import struct

import pytest
from peers import winpeer as w

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors")


def vector(name: str) -> bytes:
    with open(os.path.join(VECTORS, name + ".hex")) as f:
        return bytes.fromhex("".join(line for line in f if not line.startswith("#")))


def test_datagram_builder_matches_the_windows_writefile_vector():
    smb = w.build_smb_mailslot("\\MAILSLOT\\FOXAPP", b"hello")
    built = w.build_datagram(0x11, 0x1234, "192.0.2.10", 138, w.raw_name("FOXHOST"), w.raw_name("WORKGROUP"), smb)
    assert built == vector("foxapp")


@pytest.mark.parametrize("name", sorted(n[:-4] for n in os.listdir(VECTORS) if n.endswith(".hex")))
def test_datagram_parser_reads_every_vector(name):
    with open(os.path.join(VECTORS, name + ".json")) as f:
        fields = json.load(f)
    d = w.parse_datagram(vector(name))
    assert d["slot"] == fields["mailslot"]
    assert w.show_name(d["source"]).upper() == fields["source_name"].upper()
    if "data_hex" in fields:
        assert d["data"].hex() == fields["data_hex"]


def test_names_are_34_bytes_and_round_trip():
    raw = w.raw_name("workgroup")
    enc = w.encode_name(raw)
    assert enc == b" FHEPFCELEHFCEPFFFACACACACACACAAA\x00"
    assert w.decode_name(enc, 0) == (raw, b"", 34)
    assert w.raw_name("*") == w.WILDCARD
    with pytest.raises(ValueError):
        w.raw_name("SIXTEENCHARSLONG")


def test_packet_sizes_follow_rfc1002():
    raw = w.raw_name("HOST")
    assert len(w.build_query(1, raw, w.FLAGS_QUERY_BCAST)) == 50
    assert len(w.build_positive_answer(1, raw, 0, "10.0.0.1")) == 62
    assert len(w.build_negative_answer(1, raw)) == 56
    assert len(w.build_registration(1, w.FLAGS_REGISTER_BCAST, raw, 300000, 0, "10.0.0.1")) == 100
    assert len(w.build_node_status(1, w.WILDCARD, [(raw, 0x0400)], b"\x02" * 6)) == 103 + 18


def test_positive_answer_is_windows_style():
    raw = w.raw_name("HOST")
    p = w.parse_nbns(w.build_positive_answer(0x7789, raw, 0x0000, "10.214.7.3"))
    assert (p.trn_id, p.flags, len(p.questions), len(p.answers)) == (0x7789, 0x8500, 0, 1)
    rr = p.answers[0]
    assert (rr.name, rr.rtype, rr.ttl, rr.nb_entries()) == (raw, w.T_NB, 300000, [(0, "10.214.7.3")])


def test_compressed_registration_from_nmbd_is_read():
    # nbns.md 1.4: nmbd's B-node registration, RR_NAME as the pointer C0 0C
    name = w.encode_name(w.raw_name("SAMBAB"))
    pkt = (
        bytes.fromhex("2628 2910 0001 0000 0000 0001")
        + name
        + bytes.fromhex("0020 0001 c00c 0020 0001 00000000 0006 0000 0ad60701")
    )
    p = w.parse_nbns(pkt)
    assert p.additional[0].name == w.raw_name("SAMBAB")
    assert p.additional[0].nb_entries() == [(0, "10.214.7.1")]


def test_pointer_loops_are_bounded():
    loop = bytes.fromhex("0001 0000 0001 0000 0000 0000") + b"\xc0\x0c" + b"\x00\x20\x00\x01"
    with pytest.raises(w.Malformed):
        w.parse_nbns(loop)


def test_damaged_packets_only_raise_malformed():
    rng = random.Random(1002)
    raw = w.raw_name("HOST")
    seeds = [
        w.build_query(1, raw, w.FLAGS_QUERY_BCAST),
        w.build_positive_answer(1, raw, 0, "10.0.0.1"),
        w.build_registration(1, w.FLAGS_REGISTER_BCAST, raw, 0, 0, "10.0.0.1"),
        w.build_node_status(1, w.WILDCARD, [(raw, 0x0400)], b""),
    ]
    dgrams = [vector(n[:-4]) for n in os.listdir(VECTORS) if n.endswith(".hex")]
    for i in range(20000):
        base = bytearray(rng.choice(seeds if i % 2 else dgrams))
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            if op < 0.5 and base:
                base[rng.randrange(len(base))] = rng.randrange(256)
            elif op < 0.75:
                del base[rng.randrange(len(base) + 1) :]
            else:
                base.insert(rng.randrange(len(base) + 1), rng.choice((0xC0, 0x0C, 0x20, 0xFF)))
        for parse in (w.parse_nbns, w.parse_datagram):
            try:
                parse(bytes(base))
            except w.Malformed:
                pass


def test_foxpro_frame_layout():
    frame = w.build_frame("desk3011", 12345, True, False, "hi", "cp1252")
    assert frame == b"desk3011".ljust(24) + b"12345".rjust(12) + b"10hi"
    f = w.parse_frame(frame, "cp1252")
    assert (f["sender"].rstrip(), f["id"], f["confreq"], f["sysmsg"], f["body"]) == (
        "desk3011",
        12345,
        True,
        False,
        "hi",
    )
    with pytest.raises(w.Malformed):
        w.parse_frame(frame[:37], "cp1252")
    assert w.foxpro_val("   -42abc") == -42 and w.foxpro_val("x") == 0
    assert w.build_frame("A", 1, False, True, "é", "cp1252")[-1:] == b"\xe9"


def test_winpeer_argv():
    argv = w.winpeer_argv("WP1", broadcast="10.0.0.255", send=("WP2", "hi there"), no_cache=True, wins=None)
    assert argv[1] == w.SCRIPT
    assert argv[2:] == ["--name", "WP1", "--broadcast", "10.0.0.255", "--send", "WP2", "hi there", "--no-cache"]


def test_node_status_lists_names_and_mac():
    raw = w.raw_name("HOST")
    grp = w.raw_name("WORKGROUP")
    pkt = w.build_node_status(9, w.WILDCARD, [(raw, 0x0400), (grp, 0x8400)], bytes.fromhex("020ad5000001"))
    p = w.parse_nbns(pkt)
    rdata = p.answers[0].rdata
    assert rdata[0] == 2 and rdata[1:17] == raw and struct.unpack("!H", rdata[17:19])[0] == 0x0400
    assert rdata[37:43] == bytes.fromhex("020ad5000001") and len(rdata) == 1 + 2 * 18 + 46
