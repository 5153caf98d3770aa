"""The FoxPro LAN Messenger frame, both directions, checked against the seed's layout.

The expected bytes are built here independently of lanmsg.protocol, straight from
the seed's SendMessage:  PADR(localname, 24) + STR(msgID, 12) + "1"/"0" + "1"/"0" + body.
"""

import random
import struct

import pytest

from lanmsg import protocol as P

NAME_SIZE, MSGID_SIZE = 24, 12


def seed_frame(sender: bytes, msg_id: int, conf: bool, system: bool, body: bytes) -> bytes:
    """What the FoxPro program writes to the mailslot (its STR(n, 12) right-aligns in 12 chars)."""
    return (
        struct.pack(
            f"{NAME_SIZE}s{MSGID_SIZE}s1s1s",
            sender.ljust(NAME_SIZE, b" "),
            str(msg_id).rjust(MSGID_SIZE).encode(),
            b"1" if conf else b"0",
            b"1" if system else b"0",
        )
        + body
    )


def seed_parse(buf: bytes):
    """The seed's OnInboundMsg: SUBSTR slices of the buffer."""
    return (
        buf[:NAME_SIZE],
        int(buf[NAME_SIZE : NAME_SIZE + MSGID_SIZE]),
        buf[NAME_SIZE + MSGID_SIZE : NAME_SIZE + MSGID_SIZE + 1] == b"1",
        buf[NAME_SIZE + MSGID_SIZE + 1 : NAME_SIZE + MSGID_SIZE + 2] == b"1",
        buf[NAME_SIZE + MSGID_SIZE + 2 :],
    )


@pytest.mark.parametrize(
    "body,conf,system",
    [
        (b"hello", True, False),
        (b"ONLINE", False, True),
        (b"OFFLINE", False, True),
        (b"DETECT", True, True),
        (b"CONF 123456", False, True),
        (b"", True, False),
    ],
)
def test_lanmsg_reads_what_the_seed_writes(body, conf, system):
    raw = seed_frame(b"DESK3011", 4242, conf, system, body)
    f = P.decode_frame(raw)
    assert f == P.Frame("DESK3011", 4242, conf, system, body.decode())


def test_what_lanmsg_writes_is_the_seed_layout_byte_for_byte():
    frame = P.Frame("DESK3011", 987654321, True, False, "hello, world")
    raw = P.encode_frame(frame)
    assert raw == seed_frame(b"DESK3011", 987654321, True, False, b"hello, world")
    assert seed_parse(raw) == (b"DESK3011".ljust(24), 987654321, True, False, b"hello, world")
    assert len(raw) == 38 + 12


def test_confirmation_is_the_seed_conf_frame():
    bob = P.Peer("BOB", rng=random.Random(3))
    actions = bob.receive(0.0, seed_frame(b"DESK3011", 77, True, False, b"hi"), "10.0.0.1")
    (conf,) = [a for a in actions if isinstance(a, P.Transmit)]
    sender, _msg_id, wants_conf, system, body = seed_parse(conf.data)
    assert sender == b"BOB".ljust(24)
    assert (wants_conf, system, body) == (False, True, b"CONF 77")  # seed: "CONF "+LTRIM(STR(id))
    assert conf.target == "DESK3011" and conf.address == "10.0.0.1"


def test_start_and_stop_send_the_seed_system_frames():
    peer = P.Peer("ALICE", rng=random.Random(1))
    start = [seed_parse(t.data) for t in peer.start(0.0)]
    assert [(c, s, b) for _, _, c, s, b in start] == [(True, True, b"DETECT"), (False, True, b"ONLINE")]
    (stop,) = [seed_parse(t.data) for t in peer.stop(1.0)]
    assert stop[2:] == (False, True, b"OFFLINE")
    ids = [i for _, i, _, _, _ in start] + [stop[1]]
    assert ids == sorted(set(ids)), "ids increase by one per frame, as the seed's msgID"


def test_utf8_by_default_cp1252_when_asked_and_read_back():
    frame = P.Frame("ZÜRICH", 1, True, False, "grüße €")
    assert P.encode_frame(frame)[38:] == "grüße €".encode()
    assert P.encode_frame(frame, encoding="cp1252")[38:] == "grüße €".encode("cp1252")
    assert P.decode_frame(seed_frame("ZÜRICH".encode("cp1252"), 1, True, False, "grüße €".encode("cp1252"))) == P.Frame(
        "ZÜRICH", 1, True, False, "grüße €"
    )


def test_sender_longer_than_24_bytes_is_cut_at_a_character_boundary():
    raw = P.encode_frame(P.Frame("É" * 20, 5, False, False, "x"))
    assert raw[:24] == ("É" * 12).encode()  # 12 two-byte characters, no half character
    assert P.decode_frame(raw).sender == "É" * 12


def test_the_250_byte_frame_limit_is_the_seeds_mailslot_maximum():
    assert P.max_text_bytes() == 250 - 38 == 212
    P.encode_frame(P.Frame("A", 1, True, False, "x" * 212))
    with pytest.raises(P.FrameError, match="at most 212"):
        P.encode_frame(P.Frame("A", 1, True, False, "x" * 213))
    with pytest.raises(P.FrameError):
        P.encode_frame(P.Frame("A", 1, True, False, "é" * 107))  # 214 bytes as UTF-8


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"", "short"),
        (b"A" * 37, "short"),
        (b" " * 24 + b"           1" + b"00", "bad-sender"),
        (b"A".ljust(24) + b"      12x456" + b"00", "bad-id"),
        (b"A".ljust(24) + b"           1" + b"20", "bad-flag"),
        (b"\x1b[2J".ljust(24) + b"           1" + b"00", "bad-sender"),
    ],
)
def test_malformed_frames_are_typed_errors_not_exceptions(raw, reason):
    assert P.decode_frame(raw) == P.BadFrame(reason, len(raw))


def test_random_and_mutated_frames_never_raise():
    rng = random.Random(7)
    good = seed_frame(b"DESK3011", 4242, True, False, b"hello")
    for _ in range(5000):
        if rng.random() < 0.5:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        else:
            raw = bytearray(good)
            for _ in range(rng.randrange(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            raw = bytes(raw[: rng.randrange(len(raw) + 1)])
        result = P.decode_frame(raw)
        assert isinstance(result, (P.Frame, P.BadFrame))
