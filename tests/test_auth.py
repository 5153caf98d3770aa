"""Shared-key authentication: lanmsg.auth on its own (sans-I/O), two keyed peers in
memory, and the CLI on this machine (loopback only).

Multi-host behaviour and a LAN attacker's replays are in test_lab_auth.py.
"""

import hashlib
import hmac
import json
import os
import random
import stat
import struct
import time

import pytest
from lanmsg_proc import lanmsg

import mailslot
from lanmsg import auth
from lanmsg import protocol as P
from lanmsg.node import Node
from lanmsg.settings import Settings

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = 1_700_000_000.0  # a wall-clock time, seconds since the epoch


def fox_frame(sender, msg_id, text, conf=True, system=False) -> bytes:
    return (
        sender.ljust(24).encode("latin-1")
        + str(msg_id).rjust(12).encode()
        + (b"1" if conf else b"0")
        + (b"1" if system else b"0")
        + text.encode()
    )


def reason(verifier, data, *, slot="foxapp", now=NOW):
    try:
        verifier.open(data, slot=slot, now=now)
    except auth.AuthError as e:
        return e.reason
    return "accepted"


# -- the trailer -----------------------------------------------------------------------------------


def test_sealed_frame_is_payload_magic_timestamp_and_hmac_of_slot_time_and_payload():
    payload = fox_frame("ALICE", 42, "hello")
    data = auth.seal(KEY, payload, slot="\\\\.\\mailslot\\foxapp", now=NOW + 0.1234)
    assert len(data) == len(payload) + auth.TRAILER_SIZE == len(payload) + 44
    assert data[: len(payload)] == payload
    assert data[len(payload) : len(payload) + 4] == b"LMA1"
    stamp = data[len(payload) + 4 : len(payload) + 12]
    assert struct.unpack(">Q", stamp)[0] == 1_700_000_000_123
    want = hmac.new(KEY, b"lanmsg-auth-v1\x00FOXAPP\x00" + stamp + payload, hashlib.sha256).digest()
    assert data[-32:] == want


def test_round_trip_and_every_spelling_of_the_slot_is_the_same_slot():
    v = auth.Verifier(KEY)
    for i, spelling in enumerate(["foxapp", "FOXAPP", "\\\\.\\mailslot\\FoxApp", "\\MAILSLOT\\foxapp"]):
        payload = fox_frame("ALICE", i, "hi")
        assert v.open(auth.seal(KEY, payload, slot=spelling, now=NOW), slot="foxapp", now=NOW) == payload


def test_wrong_key_or_another_slot_is_a_bad_tag():
    v = auth.Verifier(KEY)
    assert reason(v, auth.seal(OTHER_KEY, b"frame", slot="foxapp", now=NOW)) == "bad-tag"
    assert reason(v, auth.seal(KEY, b"frame", slot="other", now=NOW)) == "bad-tag"
    assert reason(v, auth.seal(KEY, b"frame", slot="foxapp", now=NOW)) == "accepted"


def test_every_flipped_bit_is_refused_magic_as_untagged_the_rest_as_bad_tag():
    payload = fox_frame("ALICE", 7, "pay 10 to bob")
    data = auth.seal(KEY, payload, slot="foxapp", now=NOW)
    magic_at = range(len(payload), len(payload) + 4)
    for i in range(len(data)):
        for bit in range(8):
            v = auth.Verifier(KEY)
            forged = bytearray(data)
            forged[i] ^= 1 << bit
            assert reason(v, bytes(forged)) == ("untagged" if i in magic_at else "bad-tag"), (i, bit)


def test_truncated_or_extended_frames_are_refused():
    data = auth.seal(KEY, fox_frame("ALICE", 7, "x"), slot="foxapp", now=NOW)
    v = auth.Verifier(KEY)
    for n in range(len(data)):
        assert reason(v, data[:n]) in ("untagged", "bad-tag"), n
    for extra in (b"\x00", b" ", data[-44:]):
        assert reason(v, data + extra) in ("untagged", "bad-tag")


def test_untagged_frames_as_the_foxpro_program_and_msserver_send_them():
    v = auth.Verifier(KEY)
    assert reason(v, fox_frame("FOXPC", 1, "hello")) == "untagged"
    assert reason(v, P.encode_ms_message("127.0.0.2", 5000)) == "untagged"
    assert reason(v, b"") == "untagged"


def test_stale_in_both_directions_and_the_window_is_inclusive():
    v = auth.Verifier(KEY, window_s=60)
    for sent_at, expected in [
        (NOW - 60.5, "stale"),
        (NOW + 60.5, "stale"),
        (NOW - 60.0, "accepted"),
        (NOW + 60.0, "accepted"),
    ]:
        assert reason(v, auth.seal(KEY, b"frame %r" % sent_at, slot="foxapp", now=sent_at)) == expected, sent_at
    short = auth.Verifier(KEY, window_s=2)
    assert reason(short, auth.seal(KEY, b"f", slot="foxapp", now=NOW - 3)) == "stale"


def test_a_replay_within_the_window_is_refused_and_after_it_is_stale():
    v = auth.Verifier(KEY, window_s=60)
    data = auth.seal(KEY, b"frame", slot="foxapp", now=NOW)
    assert reason(v, data) == "accepted"
    assert reason(v, data, now=NOW + 1) == "replayed"
    assert reason(v, data, now=NOW + 59) == "replayed"
    assert reason(v, data, now=NOW + 61) == "stale"
    assert len(v) == 0  # forgotten once out of the window


def test_a_refused_frame_is_not_remembered():
    v = auth.Verifier(KEY)
    good = auth.seal(KEY, b"frame", slot="foxapp", now=NOW)
    assert reason(v, good[:-1] + bytes([good[-1] ^ 1])) == "bad-tag"
    assert reason(v, auth.seal(KEY, b"frame", slot="foxapp", now=NOW - 100)) == "stale"
    assert len(v) == 0
    assert reason(v, good) == "accepted"


def test_the_memory_of_tags_is_capped_and_keeps_the_newest():
    v = auth.Verifier(KEY, max_remembered=10)
    frames = [auth.seal(KEY, b"frame %d" % i, slot="foxapp", now=NOW + i / 1000) for i in range(100)]
    for data in frames:
        assert reason(v, data, now=NOW + 1) == "accepted"
        assert len(v) <= 10
    assert all(reason(v, data, now=NOW + 1) == "replayed" for data in frames[-10:])
    assert reason(v, frames[0], now=NOW + 1) == "accepted"  # evicted: the messenger's dedup remains


def test_open_raises_nothing_but_auth_error_for_any_bytes():
    v = auth.Verifier(KEY)
    rng = random.Random(7)
    good = auth.seal(KEY, fox_frame("ALICE", 1, "x"), slot="foxapp", now=NOW)
    for i in range(3000):
        if i % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(120)))
        elif i % 3 == 1:
            data = b"x" * rng.randrange(40) + b"LMA1" + bytes(rng.randrange(256) for _ in range(40))
        else:
            data = bytearray(good)
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            v.open(bytes(data), slot="foxapp", now=NOW)
        except auth.AuthError as e:
            assert e.reason in auth.REASONS


def test_looks_sealed_tells_a_keyed_frame_from_a_plain_one():
    assert auth.looks_sealed(auth.seal(KEY, b"frame", slot="foxapp", now=time.time()))
    assert not auth.looks_sealed(fox_frame("FOXPC", 1, "hello"))
    assert not auth.looks_sealed(fox_frame("FOXPC", 1, "x" * 20 + "LMA1" + "y" * 40))  # text, not a time


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError):
        auth.Verifier(b"short")
    with pytest.raises(ValueError):
        auth.Verifier(KEY, window_s=0)
    with pytest.raises(ValueError):
        auth.seal(KEY, b"x", slot="foxapp", now=float("nan"))
    with pytest.raises(ValueError):
        auth.seal(KEY, b"x", slot="fox*app", now=NOW)


# -- key files -------------------------------------------------------------------------------------


def test_key_files_round_trip_and_whitespace_is_ignored(tmp_path):
    key = auth.generate_key()
    assert len(key) == auth.KEY_SIZE and key != auth.generate_key()
    path = tmp_path / "group.key"
    path.write_text("\n  " + auth.format_key(key).upper() + "\r\n\n")
    assert auth.load_key(str(path)) == key
    assert len(auth.fingerprint(key)) == 16 and auth.fingerprint(key) != auth.fingerprint(OTHER_KEY)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("abc", "expected 64 hex digits"),
        ("g" * 64, "expected 64 hex digits"),
        ("00" * 33, "expected 64 hex digits"),
        ("00" * 32 + " 00", "expected 64 hex digits"),
        (b"\xff" * 64, "expected 64 hex digits"),
        ("0" * 10_000, "expected 64 hex digits"),
    ],
)
def test_unusable_key_files_are_one_line_key_file_errors(tmp_path, content, message):
    path = tmp_path / "bad.key"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(auth.KeyFileError) as e:
        auth.load_key(str(path))
    assert message in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(auth.KeyFileError):
        auth.load_key(str(tmp_path))  # a directory


# -- two keyed peers in memory -----------------------------------------------------------------------


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def keyed_node(name, key, clock):
    settings = Settings(transport="netbios", config=mailslot.Config(port=138, name=name), key=key)
    return Node(settings, None, P.Peer(name, max_frame=settings.max_frame, rng=random.Random(name)), wall_clock=clock)


def take(node, data, source_ip):
    """``node`` reads ``data``: the peer's events and actions, drops counted (nothing is sent)."""
    items = node.receive(mailslot.Message(data, "FOXAPP", source_ip=source_ip))
    for item in items:
        if isinstance(item, P.Dropped):
            node.count_drop(item.reason)
    return items


def deliver(sender, receiver, transmit, source_ip):
    """What the transport does between two keyed nodes: seal at send time, open on arrival."""
    return take(receiver, sender.seal(transmit.data, "foxapp"), source_ip)


def test_two_keyed_peers_confirm_and_a_resend_after_a_lost_conf_is_confirmed_again():
    clock = Clock(NOW)
    alice, bob = keyed_node("ALICE", KEY, clock), keyed_node("BOB", KEY, clock)
    msg_id, (first,) = alice.peer.send_text(0.0, "BOB", "127.0.0.2", "lunch?")
    events = deliver(alice, bob, first, "127.0.0.1")
    shown = [e for e in events if isinstance(e, P.MessageReceived)]
    assert [(m.sender, m.text, m.duplicate) for m in shown] == [("ALICE", "lunch?", False)]
    (lost_conf,) = [e for e in events if isinstance(e, P.Transmit)]  # never delivered

    clock.t += 0.75
    (resend,) = [a for a in alice.peer.tick(0.75) if isinstance(a, P.Transmit)]
    assert resend.data == first.data  # the peer resends the same frame ...
    events = deliver(alice, bob, resend, "127.0.0.1")  # ... sealed again: not a replay
    assert [e.duplicate for e in events if isinstance(e, P.MessageReceived)] == [True]
    (conf,) = [e for e in events if isinstance(e, P.Transmit)]
    assert P.decode_frame(conf.data).body == P.decode_frame(lost_conf.data).body == f"CONF {msg_id}"
    events = deliver(bob, alice, conf, "127.0.0.2")
    assert [e.msg_id for e in events if isinstance(e, P.Confirmed)] == [msg_id]
    assert bob.frames_dropped == {} and alice.frames_dropped == {}


def test_a_byte_identical_copy_an_old_frame_and_a_wrong_key_are_dropped_and_counted():
    clock = Clock(NOW)
    alice, bob = keyed_node("ALICE", KEY, clock), keyed_node("BOB", KEY, clock)
    mallory = keyed_node("ALICE", OTHER_KEY, clock)
    _, (t,) = alice.peer.send_text(0.0, "BOB", None, "once")
    data = alice.seal(t.data, "foxapp")

    def arrive(raw):
        return take(bob, raw, "127.0.0.1")

    assert [e.text for e in arrive(data) if isinstance(e, P.MessageReceived)] == ["once"]
    assert [e.reason for e in arrive(data)] == ["auth-replayed"]
    clock.t += 120
    assert [e.reason for e in arrive(data)] == ["auth-stale"]
    assert [e.reason for e in arrive(mallory.seal(t.data, "foxapp"))] == ["auth-bad-tag"]
    assert [e.reason for e in arrive(t.data)] == ["auth-untagged"]
    assert bob.frames_dropped == {"auth-replayed": 1, "auth-stale": 1, "auth-bad-tag": 1, "auth-untagged": 1}


def test_an_unkeyed_node_counts_keyed_frames_instead_of_showing_them():
    plain = Node(Settings(transport="netbios", config=mailslot.Config(port=138, name="PLAIN")), None, P.Peer("PLAIN"))
    data = auth.seal(KEY, fox_frame("ALICE", 3, "secret group"), slot="foxapp", now=time.time())
    events = take(plain, data, "127.0.0.1")
    assert [type(e) for e in events] == [P.Dropped]
    assert plain.frames_dropped == {"keyed-frame-without-key": 1}


def test_with_a_key_the_messenger_frame_shrinks_by_the_trailer_and_ms_message_still_fits():
    keyed = Settings(transport="netbios", key=KEY)
    assert keyed.datagram_max == P.MAX_FRAME == 250
    assert keyed.max_frame == 250 - 44
    assert P.max_text_bytes(keyed.max_frame) == 168
    assert P.MS_MESSAGE_SIZE + auth.TRAILER_SIZE <= P.MAX_FRAME


# -- the command line on this machine -------------------------------------------------------------------


@pytest.fixture
def keys(tmp_path):
    """Two key files made by `lanmsg keygen`: (group key, another group's key)."""
    paths = []
    for name in ("group.key", "other.key"):
        path = tmp_path / name
        r = lanmsg("keygen", str(path))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"wrote a new key to {path} (fingerprint ")
        paths.append(str(path))
    return paths


def events_of(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def wait_for_event(proc, kind, predicate, timeout=30.0):
    """The first JSON event of ``kind`` the background listener printed that satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(proc.lines):
            if line.startswith("{"):
                event = json.loads(line)
                if event["event"] == kind and predicate(event):
                    return event
        time.sleep(0.05)
    raise AssertionError(f"no {kind} event as expected in {proc.lines}")


def test_keygen_writes_an_owner_only_key_and_never_overwrites_one(tmp_path):
    path = tmp_path / "k"
    assert lanmsg("keygen", str(path)).returncode == 0
    key = auth.load_key(str(path))
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    r = lanmsg("keygen", str(path))
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr
    assert auth.load_key(str(path)) == key
    assert lanmsg("keygen", "--force", str(path)).returncode == 0
    assert auth.load_key(str(path)) != key
    r = lanmsg("keygen", "-")
    assert r.returncode == 0 and len(r.stdout.strip()) == 64 and int(r.stdout, 16) >= 0


def test_a_bad_key_file_or_window_is_exit_2_with_one_line(tmp_path, port):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    for args in (
        ["detect", "--key-file", str(tmp_path / "missing")],
        ["listen", "--key-file", str(bad)],
        ["discover", "--key-file", str(bad)],
        ["announce", "--key-file", str(bad), "5000"],
        ["send", "--key-file", str(bad), ".", "x"],
        ["broadcast", "--key-file", str(bad), "x"],
    ):
        r = lanmsg(*args)
        assert r.returncode == 2, (args, r)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("lanmsg: error: key file"), r.stderr
    good = tmp_path / "good.key"
    assert lanmsg("keygen", str(good)).returncode == 0
    r = lanmsg("detect", "--key-file", str(good), "--auth-window", "0")
    assert r.returncode == 2 and "window" in r.stderr


def test_keyed_listener_and_keyed_send_confirm_and_show_once(background, keys):
    key, _ = keys
    lst = background("listen", "--json", "--key-file", key, ready=("listening",))
    assert events_of(lst.first)[0]["key"] == auth.fingerprint(auth.load_key(key))
    r = lanmsg("send", "--key-file", key, ".", "keyed hello")
    assert r.returncode == 0, r.stderr
    assert "confirmed by" in r.stdout
    out, _err = lst.stop()
    messages = [e["text"] for e in events_of(out) if e["event"] == "message"]
    assert messages == ["keyed hello"]
    (stopped,) = [e for e in events_of(out) if e["event"] == "stopped"]
    assert not any(reason.startswith("auth-") for reason in stopped["frames_dropped"]), stopped


def test_the_key_file_can_come_from_the_environment_and_the_option_wins(background, keys, monkeypatch):
    key, other = keys
    monkeypatch.setenv("LANMSG_KEY_FILE", key)
    lst = background("listen", "--json", ready=("listening",))
    assert lanmsg("send", ".", "key from the environment").returncode == 0
    r = lanmsg("send", "--key-file", other, ".", "the option wins")
    assert r.returncode == 2
    out, _ = lst.stop()
    assert [e["text"] for e in events_of(out) if e["event"] == "message"] == ["key from the environment"]


def test_a_command_with_another_key_or_none_is_refused_by_the_local_listener(background, keys, monkeypatch):
    key, other = keys
    lst = background("listen", "--json", "--key-file", key, ready=("listening",))
    fp = auth.fingerprint(auth.load_key(key))
    for args in (
        ["send", ".", "no key"],
        ["send", "--key-file", other, ".", "other key"],
        ["detect", "--key-file", other],
        ["broadcast", "no key"],
    ):
        r = lanmsg(*args)
        assert r.returncode == 2, (args, r)
        assert f"listener on this machine runs with key {fp}" in r.stderr, r.stderr
    out, _ = lst.stop()
    assert [e for e in events_of(out) if e["event"] == "message"] == []
    (stopped,) = [e for e in events_of(out) if e["event"] == "stopped"]
    assert stopped["frames_dropped"]["control-key-mismatch"] == 4

    plain = background("listen", "--json", ready=("listening",))
    r = lanmsg("send", "--key-file", key, ".", "keyed to a plain listener")
    assert r.returncode == 2 and "runs with no key" in r.stderr, r.stderr
    plain.stop()


def test_forged_replayed_stale_and_untagged_frames_are_dropped_counted_and_never_shown(background, keys, config):
    key_path, other_path = keys
    key, other = auth.load_key(key_path), auth.load_key(other_path)
    lst = background(
        "listen",
        "--json",
        "--key-file",
        key_path,
        "--auth-window",
        "30",
        "--stats-interval",
        "0.2",
        ready=("listening",),
    )
    now = time.time()

    def write(data):
        mailslot.write(".", "foxapp", data, config=config)

    write(fox_frame("FOXPC", 1, "untagged, as the FoxPro program sends"))
    write(auth.seal(other, fox_frame("MALLORY", 2, "another key"), slot="foxapp", now=now))
    write(auth.seal(key, fox_frame("ALICE", 3, "meant for the mailslot SECRET"), slot="secret", now=now))
    write(auth.seal(key, fox_frame("ALICE", 4, "an hour old"), slot="foxapp", now=now - 3600))
    write(auth.seal(key, fox_frame("ALICE", 5, "from the future"), slot="foxapp", now=now + 3600))
    good = auth.seal(key, fox_frame("ALICE", 6, "genuine"), slot="foxapp", now=now)
    write(good)
    write(good)  # a replay
    want = {"auth-untagged": 1, "auth-bad-tag": 2, "auth-stale": 2, "auth-replayed": 1}
    stats = wait_for_event(lst, "stats", lambda e: all(e["frames_dropped"].get(k) == n for k, n in want.items()))
    assert stats["shown"] == 1
    assert lst.proc.poll() is None
    out, err = lst.stop()
    assert [e["text"] for e in events_of(out) if e["event"] == "message"] == ["genuine"]
    assert [e["name"] for e in events_of(out) if e["event"] == "online"] == ["ALICE"]
    (stopped,) = [e for e in events_of(out) if e["event"] == "stopped"]
    assert {k: stopped["frames_dropped"].get(k) for k in want} == want
    assert "Traceback" not in err


def test_a_listener_without_a_key_counts_keyed_frames_and_shows_none(background, keys, config):
    key = auth.load_key(keys[0])
    lst = background("listen", "--json", ready=("listening",))
    mailslot.write(
        ".", "foxapp", auth.seal(key, fox_frame("ALICE", 9, "keyed"), slot="foxapp", now=time.time()), config=config
    )
    assert lanmsg("send", ".", "plain").returncode == 0
    out, _ = lst.stop()
    assert [e["text"] for e in events_of(out) if e["event"] == "message"] == ["plain"]
    (stopped,) = [e for e in events_of(out) if e["event"] == "stopped"]
    assert stopped["frames_dropped"]["keyed-frame-without-key"] == 1


def test_too_long_text_names_both_limits_and_the_tag(keys, port):
    key, _ = keys
    r = lanmsg("send", "--key-file", key, ".", "x" * 169)
    assert r.returncode == 2
    assert "at most 168" in r.stderr and "212 without a key" in r.stderr, r.stderr
    assert "authentication tag takes 44 bytes" in r.stderr
    r = lanmsg("broadcast", "--key-file", key, "y" * 169)
    assert r.returncode == 2 and "at most 168" in r.stderr
    assert lanmsg("broadcast", "--key-file", key, "y" * 168).returncode == 0


def test_announce_and_discover_with_the_key_find_each_other_and_without_it_nothing(background, keys):
    key, other = keys
    ann = background(
        "announce", "--json", "--key-file", key, "--ip", "127.0.0.1", "5000", "--interval", "0.5", ready=("announcing",)
    )
    r = lanmsg("discover", "--key-file", key)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["127.0.0.1:5000"]
    r = lanmsg("discover", "--key-file", other, "--timeout", "1.5")
    assert r.returncode == 1 and r.stdout == "", r
    assert "refused by authentication" in r.stderr and "bad-tag" in r.stderr, r.stderr
    r = lanmsg("discover", "--timeout", "1.5")
    assert r.returncode == 1 and r.stdout == "", r
    assert "authenticated frame(s) were ignored: this group uses a key" in r.stderr, r.stderr
    out, _ = ann.stop()
    (stopped,) = [e for e in events_of(out) if e["event"] == "stopped"]
    assert stopped["answers"] >= 1
    assert stopped["frames_dropped"].get("auth-bad-tag", 0) >= 1  # the other key's queries
    assert stopped["frames_dropped"].get("auth-untagged", 0) >= 1  # the plain discover's


def test_a_keyed_discover_ignores_an_unkeyed_announcer(background, keys):
    background("announce", "--ip", "127.0.0.1", "5001", "--interval", "0.5", ready=("announcing",))
    r = lanmsg("discover", "--key-file", keys[0], "--timeout", "1.5")
    assert r.returncode == 1 and r.stdout == ""
    assert "untagged" in r.stderr
