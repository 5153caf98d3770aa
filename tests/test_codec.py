"""The pure codec of mailslot.py: NetBIOS names, datagrams, limits, name and config checks.

No sockets.  Expected bytes are written out independently from the byte tables of
the wire notes (NetBIOS names: RFC 1001 14.1; datagram: RFC 1002 4.4.1 + [MS-MAIL]
2.2.1), never produced by the code under test.  The property tests of the codec
(hypothesis: round trips, random and mutated datagrams) are in tests/test_fuzz.py.
"""

import pathlib
import random
import struct

import pytest

import mailslot
from mailslot import DecodeError, NetbiosName

VECTORS = pathlib.Path(__file__).parent / "vectors"

# WORKGROUP<00>: length 0x20, " FHEPFCELEHFCEPFFFACACACACACACAAA", NUL
WORKGROUP_00 = bytes.fromhex(
    "20 46 48 45 50 46 43 45 4C 45 48 46 43 45 50 46 46 46 41 43 41 43 41 43 41 43 41 43 41 43 41 41 41 00"
)

# The worked example: \MAILSLOT\FOXAPP, "hello", DIRECT_GROUP, FOXHOST<00> (192.0.2.10) -> WORKGROUP<00>
FOXAPP_HELLO = bytes.fromhex("""
11 02 12 34 c0 00 02 0a 00 8a 00 a1 00 00 20 45
47 45 50 46 49 45 49 45 50 46 44 46 45 43 41 43
41 43 41 43 41 43 41 43 41 43 41 43 41 41 41 00
20 46 48 45 50 46 43 45 4c 45 48 46 43 45 50 46
46 46 41 43 41 43 41 43 41 43 41 43 41 43 41 41
41 00 ff 53 4d 42 25 00 00 00 00 18 04 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 ff fe 00 00
00 00 11 00 00 05 00 02 00 00 00 00 00 02 00 00
00 00 00 00 00 00 00 58 00 05 00 58 00 03 00 01
00 00 00 02 00 18 00 5c 4d 41 49 4c 53 4c 4f 54
5c 46 4f 58 41 50 50 00 00 00 68 65 6c 6c 6f
""")

SMB = 82  # UDP offset of the SMB header with scopeless names


def half_ascii(raw16: bytes) -> bytes:
    """RFC 1001 first-level encoding, written here independently of the module."""
    return bytes(c for b in raw16 for c in (0x41 + (b >> 4), 0x41 + (b & 0x0F)))


def u16(buf, off):
    return struct.unpack_from("<H", buf, off)[0]


def with_u16(buf: bytes, off: int, value: int, big=False) -> bytes:
    b = bytearray(buf)
    struct.pack_into(">H" if big else "<H", b, off, value)
    return bytes(b)


def fix_dgm_length(buf: bytes) -> bytes:
    return with_u16(buf, 10, len(buf) - 14, big=True)


def load_vectors():
    out = {}
    for p in sorted(VECTORS.glob("*.hex")):
        text = p.read_text()
        out[p.stem] = bytes.fromhex(" ".join(line for line in text.splitlines() if not line.startswith("#")))
    return out


VALID = dict(load_vectors(), foxapp_hello=FOXAPP_HELLO)


# --------------------------------------------------------------------------
# NetBIOS names
# --------------------------------------------------------------------------


def test_workgroup_00_encodes_to_the_documented_bytes():
    assert mailslot.encode_name(NetbiosName("WORKGROUP", 0x00)) == WORKGROUP_00
    assert len(WORKGROUP_00) == 34


def test_name_encoding_pads_with_spaces_and_ends_in_the_suffix():
    enc = mailslot.encode_name(NetbiosName("FOXHOST", 0x00))
    assert enc == b"\x20" + half_ascii(b"FOXHOST".ljust(15) + b"\x00") + b"\x00"
    assert enc[1:33] == b"EGEPFIEIEPFDFECACACACACACACACAAA"


def test_wildcard_star_is_padded_with_nuls():
    enc = mailslot.encode_name(NetbiosName("*", 0x00))
    assert enc == b"\x20" + b"CK" + b"AA" * 15 + b"\x00"
    name, end = mailslot.decode_name(enc, 0)
    assert (name.name, name.suffix, end) == ("*", 0, 34)


@pytest.mark.parametrize(
    "suffix, tail", [(0x1D, b"ACABN\x00"), (0x1E, b"ACABO\x00"), (0x1B, b"ACABL\x00"), (0x20, b"ACACA\x00")]
)
def test_suffix_is_the_last_encoded_pair(suffix, tail):
    enc = mailslot.encode_name(NetbiosName("WORKGROUP", suffix))
    assert enc.endswith(tail)
    assert enc[:-3] == WORKGROUP_00[:-3]


def test_scope_labels_follow_the_name():
    enc = mailslot.encode_name(NetbiosName("WORKGROUP", 0, "corp.example"))
    assert enc == WORKGROUP_00[:-1] + b"\x04corp\x07example\x00"
    name, end = mailslot.decode_name(enc, 0)
    assert (name.name, name.scope, end) == ("WORKGROUP", "corp.example", len(enc))


@pytest.mark.parametrize(
    "nb",
    [
        NetbiosName("WORKGROUP", 0x00),
        NetbiosName("FOXHOST", 0x20),
        NetbiosName("A", 0x1D),
        NetbiosName("FIFTEEN-CHARS-X", 0x1E),
        NetbiosName("*", 0x00),
        NetbiosName("", 0x00),
        NetbiosName("\x01\x02__MSBROWSE__\x02", 0x01),
        NetbiosName("SCOPED", 0x00, "a.b-c.d"),
    ],
)
def test_name_round_trip(nb):
    enc = mailslot.encode_name(nb)
    got, end = mailslot.decode_name(b"xx" + enc + b"tail", 2)
    assert got == nb
    assert end == 2 + len(enc)
    assert str(got).startswith(nb.name.replace("\x01", "\\x01").replace("\x02", "\\x02"))


def test_name_text_form():
    assert str(NetbiosName("WORKGROUP", 0x1D)) == "WORKGROUP<1d>"
    assert str(NetbiosName("X", 0, "corp")) == "X<00>.corp"


@pytest.mark.parametrize(
    "bad, reason",
    [
        (b"\xc0\x0c", "bad-name"),  # DNS compression pointer
        (b"\xc0\x0c" + WORKGROUP_00[2:], "bad-name"),
        (b"\x1f" + WORKGROUP_00[1:], "bad-name"),  # label length not 32
        (b"\x21" + WORKGROUP_00[1:] + b"A", "bad-name"),
        (WORKGROUP_00[:5] + b"Q" + WORKGROUP_00[6:], "bad-name"),  # 'Q' is outside A..P
        (WORKGROUP_00[:5] + b"e" + WORKGROUP_00[6:], "bad-name"),  # lower case is not half-ASCII
        (WORKGROUP_00[:5] + b"@" + WORKGROUP_00[6:], "bad-name"),
        (WORKGROUP_00[:-1], "truncated"),  # no terminating zero
        (WORKGROUP_00[:20], "truncated"),
        (b"", "truncated"),
        (WORKGROUP_00[:-1] + b"\x40" + b"x" * 64 + b"\x00", "bad-name"),  # scope label > 63
        (WORKGROUP_00[:-1] + b"\x05abc", "bad-name"),  # scope label runs past the end
        (WORKGROUP_00[:-1] + (b"\x3f" + b"x" * 63) * 4 + b"\x00", "bad-name"),  # name > 255 bytes
    ],
)
def test_bad_names_raise_decode_error(bad, reason):
    with pytest.raises(DecodeError) as e:
        mailslot.decode_name(bad, 0)
    assert e.value.reason == reason


@pytest.mark.parametrize("label", [b"corp\xe9", b"a.b"])
def test_scope_labels_the_encoder_cannot_rebuild_are_rejected(label):
    # accepted, they would break encode_datagram(decode_datagram(b)) == b
    buf = WORKGROUP_00[:-1] + bytes([len(label)]) + label + b"\x00"
    with pytest.raises(DecodeError) as e:
        mailslot.decode_name(buf, 0)
    assert e.value.reason == "bad-name"


def test_compression_pointer_in_a_datagram_is_rejected():
    # destination name replaced by a pointer to the source name (legal in NBNS, not here)
    buf = FOXAPP_HELLO[:48] + b"\xc0\x0e" + FOXAPP_HELLO[82:]
    with pytest.raises(DecodeError) as e:
        mailslot.decode_datagram(fix_dgm_length(buf))
    assert e.value.reason == "bad-name"


# --------------------------------------------------------------------------
# The worked example (wire.md 3.4)
# --------------------------------------------------------------------------


def foxapp_datagram(**kw):
    args = {
        "msg_type": 0x11,
        "source": "FOXHOST",
        "destination": NetbiosName("WORKGROUP", 0x00),
        "mailslot": "FOXAPP",
        "data": b"hello",
        "source_ip": "192.0.2.10",
        "dgm_id": 0x1234,
    }
    args.update(kw)
    return mailslot.build_datagram(**args)


def test_build_datagram_gives_the_worked_example_bytes():
    payload = mailslot.encode_datagram(foxapp_datagram())
    assert payload.hex(" ") == FOXAPP_HELLO.hex(" ")
    assert len(payload) == 175


def test_worked_example_fields():
    p = mailslot.encode_datagram(foxapp_datagram())
    assert struct.unpack_from(">BBH4sHHH", p) == (0x11, 0x02, 0x1234, bytes([192, 0, 2, 10]), 138, 161, 0)
    assert struct.unpack_from(">H", p, 10)[0] == len(p) - 14  # DGM_LENGTH
    assert p[14:48] == b"\x20" + half_ascii(b"FOXHOST        \x00") + b"\x00"
    assert p[48:82] == WORKGROUP_00
    assert p[SMB : SMB + 5] == b"\xffSMB\x25"
    name = b"\\MAILSLOT\\FOXAPP\x00"
    name_end = 69 + len(name)  # 86, SMB-relative
    data_offset = u16(p, SMB + 57)
    assert data_offset == 88 and data_offset % 4 == 0  # [MS-MAIL]: pad to 4 bytes
    assert u16(p, SMB + 53) == 88  # ParameterOffset = DataOffset
    assert p[SMB + 69 : SMB + name_end] == name
    assert p[SMB + name_end : SMB + data_offset] == b"\x00\x00"  # 2 zero pad bytes
    assert u16(p, SMB + 55) == u16(p, SMB + 35) == 5  # DataCount, TotalDataCount
    assert u16(p, SMB + 67) == len(name) + 2 + 5 == 0x18  # ByteCount includes padding
    assert (u16(p, SMB + 61), u16(p, SMB + 63), u16(p, SMB + 65)) == (1, 0, 2)  # opcode, prio, class
    assert p[SMB + data_offset :] == b"hello"


def test_worked_example_decodes():
    d = mailslot.decode_datagram(FOXAPP_HELLO)
    assert d == foxapp_datagram()
    assert (d.mailslot, d.mailslot_bare, d.data) == ("\\MAILSLOT\\FOXAPP", "FOXAPP", b"hello")
    assert (str(d.source_name), str(d.destination_name)) == ("FOXHOST<00>", "WORKGROUP<00>")
    assert (d.source_ip, d.source_port, d.dgm_id, d.msg_type) == ("192.0.2.10", 138, 0x1234, 0x11)


@pytest.mark.parametrize("bare", ["A", "AB", "ABC", "ABCD", "FOXAPP", "a\\b\\c", "X" * 13, "Y" * 100])
@pytest.mark.parametrize("n", [0, 1, 3, 424])
def test_dgm_length_data_offset_and_byte_count_for_any_name(bare, n):
    p = mailslot.encode_datagram(foxapp_datagram(mailslot=bare, data=b"\xaa" * n))
    assert struct.unpack_from(">H", p, 10)[0] == len(p) - 14
    full = ("\\MAILSLOT\\" + bare).encode() + b"\x00"
    off = u16(p, SMB + 57)
    assert off % 4 == 0 and 0 <= off - (69 + len(full)) <= 3
    assert u16(p, SMB + 67) == off - 69 + n
    assert len(p) == SMB + off + n


# --------------------------------------------------------------------------
# Size limits
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length, limit", [(1, 428), (4, 428), (5, 424), (6, 424), (8, 424), (9, 420), (12, 420), (13, 416), (16, 416)]
)
def test_max_remote_payload(length, limit):
    assert mailslot.max_remote_payload("N" * length) == limit
    # every accepted spelling gives the same limit
    assert mailslot.max_remote_payload("\\\\.\\mailslot\\" + "n" * length) == limit


def test_full_message_to_a_six_char_name_is_594_bytes():
    p = mailslot.encode_datagram(foxapp_datagram(data=b"m" * 424))
    assert len(p) == 594
    assert len(p) - SMB == 512  # the whole SMB part is exactly the Windows cap
    assert mailslot.decode_datagram(p).data == b"m" * 424


def test_check_remote_size():
    mailslot.check_remote_size("foxapp", 424)
    mailslot.check_remote_size("foxapp", 0)
    with pytest.raises(mailslot.MessageTooLargeError) as e:
        mailslot.check_remote_size("foxapp", 425)
    assert (e.value.size, e.value.limit) == (425, 424)
    assert "424" in str(e.value) and "425" in str(e.value)
    assert isinstance(e.value, ValueError)
    with pytest.raises(mailslot.MessageTooLargeError, match="428"):
        mailslot.check_remote_size("ab", 429)


# --------------------------------------------------------------------------
# Hostile input: only DecodeError, whatever the bytes
# --------------------------------------------------------------------------


def decode_or_decode_error(buf):
    """decode_datagram(buf) or None; any exception but DecodeError fails the test."""
    try:
        return mailslot.decode_datagram(buf)
    except DecodeError:
        return None


@pytest.mark.parametrize("stem", sorted(VALID))
def test_every_truncation_is_a_decode_error(stem):
    buf = VALID[stem]
    assert mailslot.decode_datagram(buf) is not None
    for n in range(len(buf)):
        with pytest.raises(DecodeError):
            mailslot.decode_datagram(buf[:n])
        if n >= 14:  # DGM_LENGTH patched: the SMB layer must notice
            with pytest.raises(DecodeError):
                mailslot.decode_datagram(fix_dgm_length(buf[:n]))


@pytest.mark.parametrize("stem", sorted(VALID))
def test_every_single_byte_mutation_gives_a_datagram_or_decode_error(stem):
    buf = VALID[stem]
    accepted = rejected = 0
    for pos in range(len(buf)):
        for value in {0x00, 0xFF, 0x20, 0x41, 0x80, buf[pos] ^ 0x01, buf[pos] ^ 0x10, (buf[pos] + 1) & 0xFF}:
            if value == buf[pos]:
                continue
            mutated = buf[:pos] + bytes([value]) + buf[pos + 1 :]
            d = decode_or_decode_error(mutated)
            if d is None:
                rejected += 1
            else:
                accepted += 1
                # what we accept we can reproduce exactly
                assert mailslot.encode_datagram(d) == mutated, (pos, value)
    assert accepted and rejected


def test_random_bytes_only_decode_error():
    rng = random.Random(1002)
    for _ in range(3000):
        buf = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        decode_or_decode_error(buf)
    # random bytes behind a plausible NetBIOS header
    for _ in range(3000):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        decode_or_decode_error(struct.pack(">BBH4sHHH", 0x11, 0x02, 1, b"\x7f\0\0\1", 138, len(body), 0) + body)
        decode_or_decode_error(FOXAPP_HELLO[:82] + body)
        decode_or_decode_error(fix_dgm_length(FOXAPP_HELLO[: SMB + 69] + body))


@pytest.mark.parametrize("flags, offset", [(0x03, 0), (0x01, 0), (0x00, 0), (0x02, 1), (0x0B, 0), (0x00, 100)])
def test_fragments_are_rejected(flags, offset):
    buf = bytearray(FOXAPP_HELLO)
    buf[1] = flags
    struct.pack_into(">H", buf, 12, offset)
    with pytest.raises(DecodeError) as e:
        mailslot.decode_datagram(bytes(buf))
    assert e.value.reason == "fragment"


def test_node_type_bits_are_accepted_reserved_flag_bits_are_not():
    for flags in (0x06, 0x0A, 0x0E):  # P, M, H/NBDD node, first fragment
        buf = FOXAPP_HELLO[:1] + bytes([flags]) + FOXAPP_HELLO[2:]
        assert mailslot.decode_datagram(buf).flags == flags
    with pytest.raises(DecodeError):
        mailslot.decode_datagram(FOXAPP_HELLO[:1] + b"\x12" + FOXAPP_HELLO[2:])


@pytest.mark.parametrize("msg_type", [0x00, 0x13, 0x14, 0x15, 0x16, 0xFF])
def test_non_data_message_types_are_rejected(msg_type):
    with pytest.raises(DecodeError, match="MSG_TYPE"):
        mailslot.decode_datagram(bytes([msg_type]) + FOXAPP_HELLO[1:])


def test_dgm_length_must_match():
    for value in (160, 162, 0, 0xFFFF):
        with pytest.raises(DecodeError):
            mailslot.decode_datagram(with_u16(FOXAPP_HELLO, 10, value, big=True))
    with pytest.raises(DecodeError):
        mailslot.decode_datagram(FOXAPP_HELLO + b"\x00")  # a byte more than DGM_LENGTH says


@pytest.mark.parametrize(
    "data_offset, data_count",
    [
        (86, 8),  # starts at the padding but runs one byte past the end
        (85, 5),  # inside the mailslot name (before its NUL)
        (0, 5),
        (69, 5),  # inside the SMB header / at the name
        (89, 5),  # one past: runs out of bytes
        (94, 0),  # beyond the end
        (0xFFFF, 5),
        (88, 6),
        (88, 0xFFFF),
    ],
)
def test_data_offset_and_count_out_of_range(data_offset, data_count):
    buf = with_u16(FOXAPP_HELLO, SMB + 57, data_offset)
    buf = with_u16(buf, SMB + 55, data_count)
    buf = with_u16(buf, SMB + 35, data_count)  # keep TotalDataCount consistent
    with pytest.raises(DecodeError) as e:
        mailslot.decode_datagram(buf)
    assert e.value.reason == "bad-offset"


def test_data_count_differing_from_total_is_a_fragment():
    with pytest.raises(DecodeError):
        mailslot.decode_datagram(with_u16(FOXAPP_HELLO, SMB + 35, 6))


def test_data_ending_early_leaves_trailing_bytes_that_round_trip():
    buf = with_u16(with_u16(FOXAPP_HELLO, SMB + 55, 3), SMB + 35, 3)
    d = mailslot.decode_datagram(buf)
    assert (d.data, d.trailing) == (b"hel", b"lo")
    assert mailslot.encode_datagram(d) == buf


def test_unterminated_mailslot_name_is_rejected():
    no_nul = FOXAPP_HELLO[: SMB + 69] + b"\\MAILSLOT\\FOXAPPhello"
    with pytest.raises(DecodeError) as e:
        mailslot.decode_datagram(fix_dgm_length(no_nul))
    assert e.value.reason == "bad-mailslot-name"


def test_unterminated_netbios_name_is_rejected():
    # source name without its terminating zero: what follows is read as scope labels
    buf = FOXAPP_HELLO[:47] + FOXAPP_HELLO[48:]
    with pytest.raises(DecodeError):
        mailslot.decode_datagram(fix_dgm_length(buf))
    buf = FOXAPP_HELLO[:81] + FOXAPP_HELLO[82:]  # destination name
    with pytest.raises(DecodeError):
        mailslot.decode_datagram(fix_dgm_length(buf))


@pytest.mark.parametrize(
    "name",
    [b"\\MAILSLOX\\FOXAPP", b"MAILSLOT\\FOXAPP", b"\\FOXAPP", b"", b"\\MAILSLOT\\FOX\x01AP", b"\\MAILSLOT\\FOX\xe9AP"],
)
def test_non_mailslot_names_are_rejected(name):
    buf = FOXAPP_HELLO[: SMB + 69] + name + b"\x00"
    buf = with_u16(buf, SMB + 57, len(buf) - SMB)  # data (none) right after the name
    buf = with_u16(with_u16(buf, SMB + 55, 0), SMB + 35, 0)
    with pytest.raises(DecodeError) as e:
        mailslot.decode_datagram(fix_dgm_length(buf))
    assert e.value.reason == "bad-mailslot-name"


@pytest.mark.parametrize(
    "offset, value, reason",
    [
        (SMB + 0, 0xFE, "not-smb"),
        (SMB + 4, 0x32, "not-a-mailslot-datagram"),  # SMB_COM_TRANSACTION2
        (SMB + 32, 0x10, "not-a-mailslot-datagram"),  # WordCount
        (SMB + 59, 0x02, "not-a-mailslot-datagram"),  # SetupCount
        (SMB + 61, 0x02, "not-a-mailslot-datagram"),  # opcode: not a write
        (SMB + 33, 0x01, "bad-header"),  # TotalParameterCount
        (SMB + 51, 0x01, "bad-header"),  # ParameterCount
        (SMB + 42, 0x01, "bad-header"),  # Reserved
    ],
)
def test_smb_header_checks(offset, value, reason):
    buf = bytearray(FOXAPP_HELLO)
    buf[offset] = value
    with pytest.raises(DecodeError) as e:
        mailslot.decode_datagram(bytes(buf))
    assert e.value.reason == reason


def test_lowercase_mailslot_prefix_is_accepted():
    d = foxapp_datagram()
    low = mailslot.encode_datagram(d._replace(mailslot="\\mailslot\\foxapp"))
    assert b"\\mailslot\\foxapp\x00" in low
    got = mailslot.decode_datagram(low)
    assert got.mailslot == "\\mailslot\\foxapp"
    assert got.data == b"hello"
    assert mailslot.normalize_mailslot_name(got.mailslot) == "foxapp"


def test_data_is_found_by_data_offset_with_extra_padding():
    # Insert 8 more pad bytes by hand; bump DataOffset, ParameterOffset, ByteCount, DGM_LENGTH.
    name_end = SMB + 69 + len(b"\\MAILSLOT\\FOXAPP\x00")
    buf = FOXAPP_HELLO[:name_end] + b"\x00\x00" + b"\x00\xee" * 4 + b"hello"
    buf = with_u16(buf, SMB + 57, 88 + 8)
    buf = with_u16(buf, SMB + 53, 88 + 8)
    buf = with_u16(buf, SMB + 67, 0x18 + 8)
    buf = fix_dgm_length(buf)
    d = mailslot.decode_datagram(buf)
    assert d.data == b"hello"
    assert d.padding == b"\x00\x00" + b"\x00\xee" * 4
    assert mailslot.encode_datagram(d) == buf


def test_samba_style_no_padding_is_decoded():
    name_end = SMB + 69 + len(b"\\MAILSLOT\\FOXAPP\x00")
    buf = FOXAPP_HELLO[:name_end] + b"hello"  # data right after the NUL
    buf = with_u16(buf, SMB + 57, 86)
    buf = with_u16(buf, SMB + 53, 0)
    buf = with_u16(buf, SMB + 67, 0x16)
    buf = fix_dgm_length(buf)
    d = mailslot.decode_datagram(buf)
    assert (d.data, d.padding, d.parameter_offset) == (b"hello", b"", 0)
    assert mailslot.encode_datagram(d) == buf


def test_wrong_byte_count_is_kept_not_trusted():
    buf = with_u16(FOXAPP_HELLO, SMB + 67, 3)
    d = mailslot.decode_datagram(buf)
    assert d.data == b"hello" and d.byte_count == 3
    assert mailslot.encode_datagram(d) == buf


# --------------------------------------------------------------------------
# Mailslot names
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling, bare",
    [
        ("foxapp", "foxapp"),
        ("FOXAPP", "FOXAPP"),
        ("\\\\.\\mailslot\\foxapp", "foxapp"),
        ("\\\\.\\MAILSLOT\\FoxApp", "FoxApp"),
        ("\\MAILSLOT\\foxapp", "foxapp"),
        ("\\mailslot\\foxapp", "foxapp"),
        ("a\\b\\c", "a\\b\\c"),
        ("\\MAILSLOT\\net\\netlogon", "net\\netlogon"),
        ("with space", "with space"),
        ("x" * 245, "x" * 245),
    ],
)
def test_accepted_mailslot_names(spelling, bare):
    assert mailslot.normalize_mailslot_name(spelling) == bare


@pytest.mark.parametrize(
    "spelling",
    [
        "",
        "\\MAILSLOT\\",
        "\\\\.\\mailslot\\",
        "a*b",
        "a?b",
        'a"b',
        "a<b",
        "a>b",
        "a|b",
        "a/b",
        "c:x",
        "a\\\\b",
        "\\a",
        "a\\",
        "\\\\server\\mailslot\\x",
        "caf\u00e9",
        "tab\there",
        "nul\x00",
        "x" * 246,
        b"foxapp",
        None,
        42,
    ],
)
def test_rejected_mailslot_names(spelling):
    with pytest.raises(mailslot.MailslotNameError) as e:
        mailslot.normalize_mailslot_name(spelling)
    assert isinstance(e.value, ValueError)
    assert e.value.winerror == mailslot.ERROR_INVALID_NAME
    assert "mailslot name" in str(e.value)


# --------------------------------------------------------------------------
# Config.from_env
# --------------------------------------------------------------------------


def test_config_defaults():
    c = mailslot.Config.from_env({})
    assert (c.port, c.workgroup, c.broadcast) == (138, "WORKGROUP", ())
    assert c.name == mailslot.default_computer_name()
    assert c.name and len(c.name) <= 15 and c.name == c.name.upper()


def test_config_from_environment():
    env = {
        "LANMSG_PORT": "1138",
        "LANMSG_WORKGROUP": "corp",
        "LANMSG_NAME": "myhost",
        "LANMSG_BROADCAST": "127.255.255.255, 127.0.0.255",
    }
    c = mailslot.Config.from_env(env)
    assert (c.port, c.workgroup, c.name) == (1138, "CORP", "MYHOST")
    assert c.broadcast == ("127.255.255.255", "127.0.0.255")


def test_config_arguments_override_environment():
    env = {
        "LANMSG_PORT": "1138",
        "LANMSG_WORKGROUP": "corp",
        "LANMSG_NAME": "myhost",
        "LANMSG_BROADCAST": "127.255.255.255",
    }
    c = mailslot.Config.from_env(env, port=2138, workgroup="lab", name="other", broadcast=("127.1.2.255",))
    assert (c.port, c.workgroup, c.name, c.broadcast) == (2138, "LAB", "OTHER", ("127.1.2.255",))
    c = mailslot.Config.from_env(env, broadcast="127.0.0.255 127.1.255.255")
    assert c.broadcast == ("127.0.0.255", "127.1.255.255")


def test_config_empty_environment_values_mean_default():
    c = mailslot.Config.from_env(
        {"LANMSG_PORT": "", "LANMSG_WORKGROUP": "", "LANMSG_NAME": "x", "LANMSG_BROADCAST": ""}
    )
    assert (c.port, c.workgroup, c.broadcast) == (138, "WORKGROUP", ())


def test_config_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("LANMSG_PORT", "4138")
    monkeypatch.setenv("LANMSG_NAME", "envhost")
    c = mailslot.Config.from_env()
    assert (c.port, c.name) == (4138, "ENVHOST")


@pytest.mark.parametrize(
    "env, match",
    [
        ({"LANMSG_PORT": "abc"}, "LANMSG_PORT"),
        ({"LANMSG_PORT": "0"}, "invalid port"),
        ({"LANMSG_PORT": "65536"}, "invalid port"),
        ({"LANMSG_PORT": "-5"}, "invalid port"),
        ({"LANMSG_PORT": "13.8"}, "LANMSG_PORT"),
        ({"LANMSG_BROADCAST": "not-an-address"}, "broadcast address"),
        ({"LANMSG_BROADCAST": "127.0.0.256"}, "broadcast address"),
        ({"LANMSG_BROADCAST": "::1"}, "broadcast address"),
        ({"LANMSG_NAME": "bad.name"}, "NetBIOS name"),
        ({"LANMSG_NAME": "x" * 16}, "longer than 15"),
        ({"LANMSG_NAME": "caf\u20ac"}, "NetBIOS name"),
        ({"LANMSG_WORKGROUP": "work*group"}, "NetBIOS name"),
        ({"LANMSG_WORKGROUP": "a:b"}, "NetBIOS name"),
    ],
)
def test_config_bad_values_are_clear_value_errors(env, match):
    with pytest.raises(ValueError, match=match) as e:
        mailslot.Config.from_env(env)
    assert "Traceback" not in str(e.value)
    bad = next(iter(env.values()))
    if match != "longer than 15":
        assert repr(bad).strip("'") in str(e.value) or bad in str(e.value)


def test_config_bad_arguments():
    with pytest.raises(ValueError, match="invalid port"):
        mailslot.Config.from_env({}, port=70000)
    with pytest.raises(ValueError, match="broadcast"):
        mailslot.Config.from_env({}, broadcast=("127.0.0.1", "nope"))
