"""Property tests (hypothesis) for every decoder of bytes that come from the network.

Each decoder is fed random bytes, mutations of valid encodings (bit flips, byte
changes, truncation, extension, insertion, deletion, splices of two encodings)
and generated valid values, and must keep its documented contract:

* ``mailslot.decode_datagram``, ``decode_name``, ``decode_envelope``: raise only
  ``mailslot.DecodeError``; what they accept re-encodes to the very same bytes.
* ``protocol.decode_frame``, ``decode_ms_message``, ``decode_query``: never raise;
  return the value or a ``BadFrame`` (reason and size); valid values round-trip.
* ``protocol.Peer.receive``: whatever arrives, only events and well-formed frames come out.
* ``auth.Verifier.open``: raises only ``AuthError`` with a reason from ``auth.REASONS``;
  any change to a sealed frame is refused; replays and stale frames are refused.
* ``output.read_log``: any file content gives the complete records, never an exception.

``--fuzz-examples N`` sets the examples per property (default: a few seconds for the
whole file); the nightly long run is ``--fuzz-examples 100000`` (docs/testing.md).
No example database is kept, so nothing is written into the repository.
"""

import collections
import json
import random
import socket
import struct

import pytest
import reference_codec
from conftest import FUZZ_PROFILE
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mailslot
from lanmsg import auth, output
from lanmsg import protocol as P
from mailslot import DecodeError, NetbiosName

FUZZ = settings.get_profile(FUZZ_PROFILE)
CASES = collections.Counter()  # examples run by the current property (terminal summary)


@pytest.fixture(autouse=True)
def _count_cases(request, fuzz_cases):
    CASES.clear()
    yield
    if CASES["run"]:
        fuzz_cases[request.node.name] = CASES["run"]


def case() -> None:
    """Count one example that reached the property (not one hypothesis rejected)."""
    CASES["run"] += 1


# --------------------------------------------------------------------------
# Mutations of valid encodings
# --------------------------------------------------------------------------

ANYWHERE = st.integers(0, 2**16)  # a position, taken modulo the length of what it edits

edits = st.one_of(
    st.tuples(st.just("flip"), ANYWHERE, st.integers(0, 7)),
    st.tuples(st.just("set"), ANYWHERE, st.integers(0, 255)),
    st.tuples(st.just("truncate"), ANYWHERE),
    st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("insert"), ANYWHERE, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), ANYWHERE, st.integers(1, 16)),
    st.tuples(st.just("splice"), ANYWHERE, ANYWHERE),  # this one's head, the other's tail
)


def mutate(data: bytes, ops, other: bytes) -> bytes:
    buf = bytearray(data)
    for op in ops:
        kind, *args = op
        at = args[0] % (len(buf) + 1) if isinstance(args[0], int) else 0
        if kind == "flip" and buf:
            buf[at % len(buf)] ^= 1 << args[1]
        elif kind == "set" and buf:
            buf[at % len(buf)] = args[1]
        elif kind == "truncate":
            del buf[at:]
        elif kind == "extend":
            buf += args[0]
        elif kind == "insert":
            buf[at:at] = args[1]
        elif kind == "delete":
            del buf[at : at + args[1]]
        elif kind == "splice":
            buf = buf[:at] + other[args[1] % (len(other) + 1) :]
    return bytes(buf)


def mutated(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Valid encodings from ``valid``, changed by one to four edits."""
    return st.builds(mutate, valid, st.lists(edits, min_size=1, max_size=4), valid)


# --------------------------------------------------------------------------
# NetBIOS datagrams (mailslot.py)
# --------------------------------------------------------------------------

nb_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!$%&'()^~{}", min_size=1, max_size=15)
odd_nb_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), min_size=1, max_size=15).filter(
    lambda s: s.rstrip(" ") == s and s != "*" and not s.startswith("\x01\x02")
)
scope = st.one_of(
    st.just(""),
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12), min_size=1, max_size=3
    ).map(".".join),
)
nb_names = st.one_of(
    st.builds(NetbiosName, nb_text, st.integers(0, 255), scope),
    st.builds(NetbiosName, odd_nb_text, st.integers(0, 255)),
    st.builds(NetbiosName, st.just("*"), st.integers(0, 255)),
)
ms_char = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
mailslots = st.builds(
    lambda p, rest: p + rest,
    st.sampled_from(["\\MAILSLOT\\", "\\mailslot\\", "\\MailSlot\\"]),
    st.text(alphabet=ms_char, min_size=0, max_size=60),
)
u16s = st.integers(0, 0xFFFF)
ipv4 = st.integers(0, 2**32 - 1).map(lambda n: socket.inet_ntoa(n.to_bytes(4, "big")))

datagrams = st.builds(
    mailslot.Datagram,
    msg_type=st.sampled_from([0x10, 0x11, 0x12]),
    source_name=nb_names,
    destination_name=nb_names,
    mailslot=mailslots,
    data=st.binary(max_size=600),
    dgm_id=u16s,
    source_ip=ipv4,
    source_port=u16s,
    flags=st.sampled_from([0x02, 0x06, 0x0A, 0x0E]),
    smb_flags=st.integers(0, 255),
    smb_flags2=u16s,
    pid_low=u16s,
    tid=u16s,
    uid=u16s,
    mid=u16s,
    max_parameter_count=u16s,
    trans_flags=u16s,
    timeout=st.integers(0, 2**32 - 1),
    priority=u16s,
    mailslot_class=u16s,
    padding=st.one_of(st.none(), st.binary(max_size=7)),
    parameter_offset=st.one_of(st.none(), u16s),
    byte_count=st.one_of(st.none(), u16s),
    trailing=st.binary(max_size=8),
)
encoded_datagrams = datagrams.map(mailslot.encode_datagram)


def with_dgm_length_fixed(buf: bytes) -> bytes:
    """DGM_LENGTH made to match, so the decoder looks past the NetBIOS header."""
    if len(buf) < mailslot.NBT_HEADER_BYTES or len(buf) - 14 > 0xFFFF:
        return buf
    return buf[:10] + struct.pack(">H", len(buf) - 14) + buf[12:]


def decode_or_decode_error(buf: bytes):
    """decode_datagram's contract: a Datagram that re-encodes to ``buf``, or DecodeError; and
    the very result of the decoder before the fast one (tests/reference_codec.py)."""
    try:
        want = reference_codec.decode_datagram(buf)
    except DecodeError as e:
        want = ("DecodeError", e.reason, str(e))
    try:
        d = mailslot.decode_datagram(buf)
    except DecodeError as e:
        assert e.reason and isinstance(e.reason, str)
        assert ("DecodeError", e.reason, str(e)) == want
        return None
    assert type(d) is mailslot.Datagram and d == want
    assert mailslot.encode_datagram(d) == buf
    return d


@FUZZ
@given(datagrams)
def test_datagram_round_trip(d):
    case()
    payload = mailslot.encode_datagram(d)
    got = mailslot.decode_datagram(payload)
    for field in (
        "msg_type",
        "source_name",
        "destination_name",
        "mailslot",
        "data",
        "dgm_id",
        "source_ip",
        "source_port",
        "flags",
        "priority",
        "mailslot_class",
        "trailing",
        "pid_low",
        "timeout",
    ):
        assert getattr(got, field) == getattr(d, field), field
    assert mailslot.encode_datagram(got) == payload
    assert struct.unpack_from(">H", payload, 10)[0] == len(payload) - 14


@FUZZ
@given(
    st.sampled_from([0x10, 0x11, 0x12]),
    nb_text,
    nb_names,
    st.text(alphabet=ms_char, min_size=1, max_size=60),
    st.binary(max_size=600),
    ipv4,
    st.integers(0, 2**17),
    u16s,
)
def test_datagram_templates_encode_as_the_general_encoder_does(msg_type, source, dest, slot, data, ip, dgm_id, port):
    """The datagrams lanmsg sends come from a template per (type, names, mailslot, port): the
    very bytes of encode_datagram(build_datagram(...)), twice in a row (the template kept)."""
    case()
    kw = {
        "msg_type": msg_type,
        "source": source,
        "destination": dest,
        "mailslot": slot,
        "data": data,
        "source_ip": ip,
        "dgm_id": dgm_id,
        "source_port": port,
    }
    want = mailslot.encode_datagram(mailslot.build_datagram(**kw))
    for _ in range(2):
        template = mailslot._template(msg_type, source, dest, slot, port)
        assert template.encode(dgm_id, ip, data) == want
    assert decode_or_decode_error(want) is not None


@FUZZ
@given(st.binary(max_size=700))
def test_datagram_random_bytes(buf):
    case()
    decode_or_decode_error(buf)


@FUZZ
@given(mutated(encoded_datagrams), st.booleans())
def test_datagram_mutations(buf, fix_length):
    case()
    decode_or_decode_error(with_dgm_length_fixed(buf) if fix_length else buf)


@FUZZ
@given(encoded_datagrams, st.binary(max_size=200), st.integers(0, 2**16))
def test_datagram_random_smb_part_behind_valid_names(valid, tail, cut):
    """A real NetBIOS header and names, then random bytes where the SMB part goes."""
    case()
    end_of_names = mailslot.decode_name(valid, mailslot.decode_name(valid, 14)[1])[1]
    smb = valid[end_of_names:]
    buf = valid[:end_of_names] + smb[: cut % (len(smb) + 1)] + tail
    decode_or_decode_error(with_dgm_length_fixed(buf))


names_encoded = nb_names.map(mailslot.encode_name)


@FUZZ
@given(nb_names, st.binary(max_size=8), st.binary(max_size=8))
def test_name_round_trip(nb, before, after):
    case()
    enc = mailslot.encode_name(nb)
    got, end = mailslot.decode_name(before + enc + after, len(before))
    assert (got, end) == (nb, len(before) + len(enc))


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated(names_encoded)), st.integers(0, 300))
def test_name_random_and_mutated(buf, offset):
    case()
    try:
        nb, end = mailslot.decode_name(buf, offset)
    except DecodeError:
        return
    assert offset < end <= len(buf)
    assert mailslot.encode_name(nb) == buf[offset:end]


envelopes = st.builds(
    mailslot.encode_envelope,
    st.sampled_from([mailslot.ENVELOPE_LOCAL, mailslot.ENVELOPE_FORWARDED]),
    st.tuples(ipv4, u16s),
    st.binary(max_size=100),
)


@FUZZ
@given(st.one_of(st.binary(max_size=100), envelopes, mutated(envelopes)))
def test_envelope_random_mutated_and_round_trip(buf):
    case()
    try:
        kind, peer, datagram = mailslot.decode_envelope(buf)
    except DecodeError:
        return
    assert mailslot.encode_envelope(kind, peer, datagram) == buf


# --------------------------------------------------------------------------
# The messenger frame (lanmsg.protocol)
# --------------------------------------------------------------------------

# a sender as decode_frame gives it back: printable, no surrounding spaces, at most 24 bytes
NOT_PRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")  # str.isprintable() is False (but " ")
senders = (
    st.text(
        alphabet=st.one_of(st.characters(blacklist_categories=NOT_PRINTABLE), st.just(" ")), min_size=1, max_size=24
    )
    .map(str.strip)
    .filter(lambda s: s and len(s.encode("utf-8")) <= P.NAME_SIZE)
)
cp1252_senders = (
    st.text(
        alphabet=st.one_of(st.characters(codec="cp1252", blacklist_categories=NOT_PRINTABLE), st.just(" ")),
        min_size=1,
        max_size=24,
    )
    .map(str.strip)
    .filter(bool)
)
msg_ids = st.integers(0, 10**P.MSGID_SIZE - 1)
bodies = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=P.MAX_FRAME).filter(
    lambda b: len(b.encode("utf-8")) <= P.max_text_bytes()
)
frames = st.builds(P.Frame, senders, msg_ids, st.booleans(), st.booleans(), bodies)
system_bodies = st.sampled_from(
    [P.ONLINE, P.OFFLINE, P.DETECT, "CONF 1", "CONF 999999999999", "CONF  42 \r\n", "DETECT\x00\x00", "ONLINE \r\n"]
)
system_frames = st.builds(P.Frame, senders, msg_ids, st.booleans(), st.just(True), system_bodies)


def seed_frame(sender: bytes, msg_id: int, conf: bool, system: bool, body: bytes) -> bytes:
    """The FoxPro program's SendMessage: PADR(name, 24) + STR(id, 12) + flags + body (any bytes)."""
    return (
        sender[: P.NAME_SIZE].ljust(P.NAME_SIZE, b" ")
        + str(msg_id).rjust(P.MSGID_SIZE).encode()
        + (b"1" if conf else b"0")
        + (b"1" if system else b"0")
        + body
    )


encoded_frames = st.one_of(
    frames.map(P.encode_frame),
    system_frames.map(P.encode_frame),
    st.builds(
        seed_frame, st.binary(min_size=1, max_size=24), msg_ids, st.booleans(), st.booleans(), st.binary(max_size=212)
    ),
)


def decode_frame_contract(raw: bytes):
    got = P.decode_frame(raw)
    want = reference_codec.decode_frame(raw)  # the decoder before its remembered senders
    assert type(got) is type(want) and got == want, (got, want)
    assert isinstance(got, (P.Frame, P.BadFrame)), got
    if isinstance(got, P.BadFrame):
        assert got.reason in ("short", "bad-sender", "bad-id", "bad-flag") and got.size == len(raw), got
        return None
    assert got.sender and got.sender == got.sender.strip() and got.sender.isprintable()
    assert 0 <= got.msg_id < 10**P.MSGID_SIZE
    assert isinstance(got.body, str)
    # what was read is written back as the same frame (any length: max_frame lifted)
    if len(got.sender.encode("utf-8")) <= P.NAME_SIZE:
        again = P.decode_frame(P.encode_frame(got, max_frame=1 << 20))
        assert again == got
    return got


@FUZZ
@given(frames)
def test_frame_round_trip(frame):
    case()
    raw = P.encode_frame(frame)
    assert len(raw) <= P.MAX_FRAME
    assert P.decode_frame(raw) == frame


@FUZZ
@given(
    st.builds(
        P.Frame,
        cp1252_senders,
        msg_ids,
        st.booleans(),
        st.booleans(),
        st.text(alphabet=st.characters(codec="cp1252"), max_size=P.max_text_bytes()),
    )
)
def test_frame_round_trip_cp1252(frame):
    """Text the seed's Windows peers send; read back as cp1252 unless the bytes are also valid UTF-8."""
    raw = P.encode_frame(frame, encoding="cp1252")
    fields = (raw[: P.NAME_SIZE].rstrip(b" "), raw[P.HEADER_SIZE :])
    assume(all(f.isascii() or not _is_utf8(f) for f in fields))
    case()
    assert P.decode_frame(raw) == frame


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@FUZZ
@given(st.binary(max_size=300))
def test_frame_random_bytes(raw):
    case()
    decode_frame_contract(raw)


@FUZZ
@given(mutated(encoded_frames))
def test_frame_mutations(raw):
    case()
    decode_frame_contract(raw)


PEER_EVENTS = (
    P.Transmit,
    P.MessageReceived,
    P.PresenceChanged,
    P.Confirmed,
    P.DeliveryFailed,
    P.PeerAnswered,
    P.Dropped,
)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.floats(0, 2.0),
            st.one_of(encoded_frames, mutated(encoded_frames), st.binary(max_size=120)),
            st.sampled_from([None, "10.0.0.7", "10.0.0.8"]),
        ),
        max_size=12,
    )
)
def test_peer_takes_any_sequence_of_frames(arrivals):
    """What a listener's Peer does with hostile input: events and well-formed frames, nothing else."""
    case()
    peer = P.Peer("LISTENER", rng=random.Random(0), first_id=100)
    now = 0.0
    out = list(peer.start(now))
    for dt, raw, address in arrivals:
        now += dt
        out += peer.receive(now, raw, address)
        out += peer.tick(now)
    out += peer.tick(now + 10.0)
    for item in out:
        assert isinstance(item, PEER_EVENTS), item
        if isinstance(item, P.Transmit):
            sent = P.decode_frame(item.data)
            assert isinstance(sent, P.Frame) and sent.sender == "LISTENER", item
            assert len(item.data) <= P.MAX_FRAME
    assert len(peer.presence) <= P.PRESENCE_MAX and len(peer._seen) <= P.DEDUP_MAX


# --------------------------------------------------------------------------
# msserver's MS_MESSAGE and the discovery query (lanmsg.protocol)
# --------------------------------------------------------------------------

ports = st.integers(1, 65535)
unicast_ipv4 = ipv4.filter(lambda ip: ip != "0.0.0.0")


def seed_ms_message(ip_text: bytes, ip_field: bytes, port: int, msg_id: int = P.MS_MESSAGE_ID) -> bytes:
    return struct.pack("<I20s4sI", msg_id, ip_text, ip_field, port)


ms_messages = st.one_of(
    st.builds(P.encode_ms_message, ipv4, ports),
    st.builds(lambda ip, port: seed_ms_message(b"", socket.inet_aton(ip), port), ipv4, ports),
    st.builds(lambda ip, port: seed_ms_message(ip.encode(), socket.inet_aton(ip)[::-1], port), ipv4, ports),
    st.builds(seed_ms_message, st.binary(max_size=20), st.binary(min_size=4, max_size=4), st.integers(0, 2**32 - 1)),
)


def decode_ms_message_contract(raw: bytes, source_ip):
    got = P.decode_ms_message(raw, source_ip)
    assert isinstance(got, (P.Announcement, P.BadFrame)), got
    if isinstance(got, P.BadFrame):
        assert got.size == len(raw)
        return
    ip, port = got.endpoint
    assert 0 < port < 65536 and socket.inet_ntoa(socket.inet_aton(ip)) == ip and ip != "0.0.0.0"
    # what was read can be announced again, and is read back the same
    assert P.decode_ms_message(P.encode_ms_message(ip, port)) == P.Announcement(P.Endpoint(ip, port))


@FUZZ
@given(ipv4, ports, st.one_of(st.none(), unicast_ipv4))
def test_ms_message_round_trip(ip, port, source_ip):
    case()
    got = P.decode_ms_message(P.encode_ms_message(ip, port), source_ip)
    if ip != "0.0.0.0":
        assert got == P.Announcement(P.Endpoint(ip, port))
    elif source_ip is None:
        assert got == P.BadFrame("no-address", P.MS_MESSAGE_SIZE)
    else:
        assert got == P.Announcement(P.Endpoint(source_ip, port), "unspecified-address")


@FUZZ
@given(st.one_of(st.binary(max_size=64), mutated(ms_messages)), st.one_of(st.none(), unicast_ipv4))
def test_ms_message_random_and_mutated(raw, source_ip):
    case()
    decode_ms_message_contract(raw, source_ip)


reply_slots = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=199)


@FUZZ
@given(reply_slots, st.binary(max_size=8))
def test_query_round_trip(slot, trailing):
    case()
    assert P.decode_query(P.encode_query(slot) + trailing) == P.Query(slot)


@FUZZ
@given(st.one_of(st.binary(max_size=220), mutated(reply_slots.map(P.encode_query))))
def test_query_random_and_mutated(raw):
    case()
    got = P.decode_query(raw)
    assert isinstance(got, (P.Query, P.BadFrame)), got
    if isinstance(got, P.Query):
        encoded = P.encode_query(got.reply_slot)
        assert raw.startswith(encoded)  # bytes after the name are ignored
    else:
        assert got.size == len(raw)


# --------------------------------------------------------------------------
# The authenticated frame (lanmsg.auth)
# --------------------------------------------------------------------------

keys = st.binary(min_size=auth.KEY_SIZE, max_size=auth.KEY_SIZE)
slots = st.sampled_from(["foxapp", "FOXAPP", "@_MSClient_@", "LANMSG\\QUERY\\@_MSClient_@"])
# wall-clock times (s) inside the plausible range a keyed frame's timestamp has
wall_times = st.floats(1.6e9, 2.2e9)
payloads = st.one_of(encoded_frames, st.binary(max_size=300))
sealed = st.builds(
    lambda key, payload, slot, now: (key, slot, now, auth.seal(key, payload, slot=slot, now=now)),
    keys,
    payloads,
    slots,
    wall_times,
)


def open_contract(verifier: auth.Verifier, data: bytes, slot: str, now: float):
    """Verifier.open: the payload, or AuthError with a documented reason; nothing else escapes."""
    try:
        return verifier.open(data, slot=slot, now=now)
    except auth.AuthError as e:
        assert e.reason in auth.REASONS, e.reason
        assert isinstance(e, ValueError)
        return e


@FUZZ
@given(keys, payloads, slots, wall_times, st.floats(-59.0, 59.0))
def test_auth_round_trip_then_replay_refused(key, payload, slot, now, skew):
    case()
    data = auth.seal(key, payload, slot=slot, now=now)
    assert len(data) == len(payload) + auth.TRAILER_SIZE == len(payload) + 44
    assert data[-44:-40] == b"LMA1" and struct.unpack(">Q", data[-40:-32])[0] == round(now * 1000)
    assert auth.looks_sealed(data) and auth.strip_trailer(data) == payload
    v = auth.Verifier(key, window_s=60.0)
    spelled = "\\\\.\\mailslot\\" + slot.lower()  # the same slot, spelled another way
    assert v.open(data, slot=spelled, now=now + skew) == payload
    assert open_contract(v, data, slot, now + skew).reason == "replayed"
    assert len(v) == 1


@FUZZ
@given(sealed, st.sampled_from([-1, 1]), st.floats(60.01, 1e6))
def test_auth_outside_the_window_is_stale(item, sign, off):
    case()
    key, slot, now, data = item
    assert open_contract(auth.Verifier(key), data, slot, now + sign * off).reason == "stale"


@FUZZ
@given(sealed, keys, st.sampled_from(["other", "FOXAPP2", "LANMSG\\REPLY\\1"]))
def test_auth_other_key_or_slot_is_bad_tag(item, other_key, other_slot):
    key, slot, now, data = item
    assume(other_key != key)
    case()
    assert open_contract(auth.Verifier(other_key), data, slot, now).reason == "bad-tag"
    assert open_contract(auth.Verifier(key), data, other_slot, now).reason == "bad-tag"


@FUZZ
@given(sealed, st.lists(edits, min_size=1, max_size=4), payloads)
def test_auth_any_change_to_a_sealed_frame_is_refused(item, ops, other):
    key, slot, now, data = item
    changed = mutate(data, ops, other)
    assume(changed != data)
    case()
    got = open_contract(auth.Verifier(key), changed, slot, now)
    assert isinstance(got, auth.AuthError) and got.reason in ("untagged", "bad-tag"), got


@FUZZ
@given(
    keys,
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda p, stamp, tag: p + b"LMA1" + stamp + tag,
            st.binary(max_size=60),
            st.binary(min_size=8, max_size=8),
            st.binary(min_size=32, max_size=32),
        ),
    ),
    slots,
    wall_times,
)
def test_auth_random_bytes(key, data, slot, now):
    case()
    got = open_contract(auth.Verifier(key), data, slot, now)
    assert isinstance(got, auth.AuthError) and got.reason in ("untagged", "bad-tag"), got
    assert isinstance(auth.looks_sealed(data), bool)
    stripped = auth.strip_trailer(data)
    assert stripped == (data[:-44] if auth.looks_sealed(data) else data)


@FUZZ
@given(keys, st.lists(st.tuples(st.integers(0, 7), st.floats(0.0, 30.0)), min_size=1, max_size=40), st.integers(1, 8))
def test_auth_each_sealed_frame_opens_at_most_once(key, script, max_remembered):
    """Frames re-sent at random as the wall clock advances: each is shown once while it is
    remembered; the table never holds more than ``max_remembered`` tags."""
    case()
    start = 1.7e9
    sent = {k: auth.seal(key, b"frame %d" % k, slot="foxapp", now=start + k) for k in range(8)}
    v = auth.Verifier(key, window_s=60.0, max_remembered=max_remembered)
    now, opened = start, collections.Counter()
    for k, dt in script:
        now += dt
        got = open_contract(v, sent[k], "foxapp", now)
        if not isinstance(got, auth.AuthError):
            assert got == b"frame %d" % k
            opened[k] += 1
        assert len(v) <= max_remembered
    if max_remembered >= len(sent):
        assert all(n <= 1 for n in opened.values()), opened


# --------------------------------------------------------------------------
# The message log reader (lanmsg.output.read_log)
# --------------------------------------------------------------------------

records = st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=4)


@FUZZ
@given(
    st.lists(
        st.one_of(records.map(lambda r: ("record", r)), st.binary(max_size=60).map(lambda b: ("junk", b))), max_size=10
    ),
    st.binary(max_size=40),
)
def test_read_log_skips_garbage_and_a_torn_tail(tmp_path_factory, items, torn_tail):
    """Complete records are all read back in order; junk lines and a torn last line are skipped."""
    path = tmp_path_factory.mktemp("log") / "messages.jsonl"
    lines, want = [], []
    for kind, value in items:
        if kind == "record":
            lines.append(json.dumps(value, ensure_ascii=False).encode("utf-8") + b"\n")
            want.append(value)
        else:
            junk = value.replace(b"\n", b" ")
            assume(not _is_json_object(junk))
            lines.append(junk + b"\n")
    case()
    path.write_bytes(b"".join(lines) + torn_tail.replace(b"\n", b" "))
    assert output.read_log(str(path)) == want


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


# --------------------------------------------------------------------------
# NetBIOS name service packets (mailslot.py, RFC 1002 4.2)
# --------------------------------------------------------------------------

ns_types = st.sampled_from([mailslot.NS_TYPE_NB, mailslot.NS_TYPE_NBSTAT, mailslot.NS_TYPE_NULL, mailslot.NS_TYPE_A])
nb_entries = st.lists(st.builds(mailslot.NBEntry, u16s, ipv4), max_size=4)
status_names = st.lists(
    st.builds(
        mailslot.NodeStatusName, odd_nb_text.filter(lambda s: len(s.encode("latin-1")) <= 15), st.integers(0, 255), u16s
    ),
    max_size=4,
)


@st.composite
def ns_records(draw):
    rtype = draw(ns_types)
    if rtype == mailslot.NS_TYPE_NB:
        rdata = mailslot.encode_nb_rdata(draw(nb_entries))
    elif rtype == mailslot.NS_TYPE_NBSTAT:
        rdata = mailslot.encode_node_status(draw(status_names), draw(st.binary(min_size=6, max_size=6)))
    else:
        rdata = draw(st.binary(max_size=8))
    return mailslot.NSRecord(draw(nb_names), rtype, draw(u16s), draw(st.integers(0, 2**32 - 1)), rdata)


ns_packets = st.builds(
    mailslot.NSPacket,
    u16s,
    u16s,
    st.lists(st.builds(mailslot.NSQuestion, nb_names, u16s, u16s), max_size=2).map(tuple),
    st.lists(ns_records(), max_size=2).map(tuple),
    st.lists(ns_records(), max_size=1).map(tuple),
    st.lists(ns_records(), max_size=2).map(tuple),
)
encoded_ns = ns_packets.map(mailslot.encode_ns_packet).filter(lambda b: len(b) <= mailslot.NS_MAX_PACKET)


def decode_ns_or_error(buf: bytes):
    """decode_ns_packet's contract: a packet whose encoding decodes to itself, or DecodeError."""
    try:
        p = mailslot.decode_ns_packet(buf)
    except DecodeError as e:
        assert e.reason and isinstance(e.reason, str)
        return None
    again = mailslot.encode_ns_packet(p)  # without compression: equal to buf unless buf had pointers
    assert b"\xc0" in buf or again == buf
    assert len(again) > mailslot.NS_MAX_PACKET or mailslot.decode_ns_packet(again) == p
    return p


@FUZZ
@given(ns_packets)
def test_ns_packet_round_trip(p):
    buf = mailslot.encode_ns_packet(p)
    assume(len(buf) <= mailslot.NS_MAX_PACKET)
    case()
    assert mailslot.decode_ns_packet(buf) == p


@FUZZ
@given(st.one_of(st.binary(max_size=700), mutated(encoded_ns)))
def test_ns_packet_random_and_mutated(buf):
    case()
    decode_ns_or_error(buf)


owned_names = st.lists(st.builds(mailslot.HostName, nb_names, st.booleans()), max_size=3)


@FUZZ
@given(st.one_of(encoded_ns, mutated(encoded_ns)), owned_names, st.booleans(), st.booleans(), ipv4)
def test_ns_responder_answers_any_request_with_a_valid_packet_or_nothing(buf, owned, to_broadcast, leader, local):
    try:
        p = mailslot.decode_ns_packet(buf)
    except DecodeError:
        return
    case()
    claims = mailslot.NameClaims(137, new_id=lambda: 1)
    claims.update_host(host_names=owned, leader=leader, routes=[(local, "255.255.255.255")])
    addresses = mailslot.LocalAddresses([(local, "255.255.255.0", "", False)])
    out, word = claims.receive(
        1.0, p, ("10.0.0.7", 137), local_ip=local, to_broadcast=to_broadcast, addresses=addresses
    )
    assert isinstance(word, str)
    for item in out:
        if not isinstance(item, mailslot.NsSend):
            continue
        answer = mailslot.decode_ns_packet(item.data)
        assert answer.response and answer.trn_id == p.trn_id and len(answer.answers) == 1
        if to_broadcast or p.broadcast:
            assert answer.rcode in (0, mailslot.NS_RCODE_ACT_ERR)  # never a negative answer to a broadcast query
        if (
            answer.opcode == mailslot.NS_OP_QUERY
            and answer.answers[0].rtype == mailslot.NS_TYPE_NB
            and answer.rcode == 0
        ):
            assert any(mailslot.same_nb_name(o.name, p.questions[0].name) for o in owned)  # only for names we own
