"""The library listener (lanmsg.listener) on this machine (loopback only).

The lab test with a second host is tests/test_lab_listener.py.
"""

import dataclasses
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest
from docblocks import doc_block
from lanmsg_proc import ROOT, lanmsg

import mailslot
from lanmsg import protocol as P
from lanmsg.client import Messenger
from lanmsg.listener import Confirmed, Listener, Message, NotDelivered, Offline, Online, Relayed, translate
from lanmsg.node import Node
from lanmsg.output import read_log
from lanmsg.settings import LanmsgError


def raw_frame(sender, msg_id, text, conf=True, system=False):
    return (
        sender.ljust(24).encode("latin-1")
        + str(msg_id).rjust(12).encode()
        + (b"1" if conf else b"0")
        + (b"1" if system else b"0")
        + text
    )


def collect(lst, want, polls=200):
    """Poll until ``want(events)`` holds (at most ``polls`` polls); return the events."""
    events = []
    for _ in range(polls):
        events += lst.poll(0.1)
        if want(events):
            return events
    raise AssertionError(f"not seen; events: {events}")


def test_send_to_this_machine_is_received_once_and_confirmed(port):
    with Listener() as lst:
        msg_id = lst.send(".", "hello me")
        events = collect(lst, lambda evs: any(isinstance(e, Confirmed) and e.msg_id == msg_id for e in evs))
    messages = [e for e in events if isinstance(e, Message)]
    assert [m.text for m in messages] == ["hello me"]
    assert messages[0].msg_id == msg_id
    assert not messages[0].relayed  # sent by this program, not for a one-shot command


def test_events_are_immutable(port):
    ev = Message("BOB", "127.0.0.1", 5, "hi", 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.text = "changed"  # type: ignore[misc]  # frozen: the assignment must fail


def test_a_one_shot_send_from_another_process_goes_through_the_listener(port):
    with Listener() as lst:
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", lanmsg("send", ".", "from a shell")))
        t.start()
        events = collect(lst, lambda evs: any(isinstance(e, Message) and e.text == "from a shell" for e in evs))
        # keep the loop turning until the command has its confirmation
        while t.is_alive():
            events += lst.poll(0.1)
        t.join()
    assert result["r"].returncode == 0, result["r"].stderr
    assert [(e.text, e.relayed) for e in events if isinstance(e, Message)] == [("from a shell", True)]
    (relayed,) = [e for e in events if isinstance(e, Relayed)]
    assert (relayed.to, relayed.text) == (".", "from a shell")
    assert any(isinstance(e, Confirmed) and e.msg_id == relayed.msg_id for e in events)


def test_a_peer_with_this_machines_name_is_not_taken_for_a_relayed_message(port, config):
    with Listener() as lst:
        mailslot.write(".", "foxapp", raw_frame("LANMSGTEST", 7, b"from a namesake"), config=config)
        events = collect(lst, lambda evs: any(isinstance(e, Message) for e in evs))
    assert [(e.sender, e.text, e.relayed) for e in events if isinstance(e, Message)] == [
        ("LANMSGTEST", "from a namesake", False)
    ]


def test_online_online_again_and_offline(port, config):
    with Listener() as lst:
        mailslot.write(".", "foxapp", raw_frame("ALICE", 7, b"ONLINE", conf=False, system=True), config=config)
        mailslot.write(".", "foxapp", raw_frame("ALICE", 8, b"ONLINE", conf=False, system=True), config=config)
        mailslot.write(".", "foxapp", raw_frame("ALICE", 9, b"OFFLINE", conf=False, system=True), config=config)
        events = collect(lst, lambda evs: any(isinstance(e, Offline) for e in evs))
        assert lst.peers() == []
    alice = [e for e in events if isinstance(e, (Online, Offline)) and e.name == "ALICE"]
    assert [(type(e).__name__, getattr(e, "again", None)) for e in alice] == [
        ("Online", False),
        ("Online", True),
        ("Offline", None),
    ]


def test_duplicates_are_delivered_once(port, config):
    with Listener() as lst:
        for _ in range(3):
            mailslot.write(".", "foxapp", raw_frame("CAROL", 42, b"only once"), config=config)
        mailslot.write(".", "foxapp", raw_frame("CAROL", 43, b"second"), config=config)
        events = collect(lst, lambda evs: any(isinstance(e, Message) and e.text == "second" for e in evs))
    assert [e.text for e in events if isinstance(e, Message)] == ["only once", "second"]


def test_too_long_text_is_refused_before_sending(port):
    with Listener() as lst:
        assert lst.fits("x" * 212) and not lst.fits("x" * 213)
        with pytest.raises(LanmsgError) as e:
            lst.send(".", "x" * 213)
        assert e.value.exit_code == 2


def test_the_slot_is_owned_while_it_listens(port):
    with Listener():
        with pytest.raises(LanmsgError) as e:
            Listener()
        assert e.value.exit_code == 3
        r = lanmsg("listen")
        assert r.returncode == 3 and "already exists" in r.stderr
    with Listener():  # free again after the with block
        pass


def test_log_records_both_directions(port, tmp_path):
    log = tmp_path / "chat.jsonl"
    with Listener(log_path=str(log)) as lst:
        msg_id = lst.send(".", "logged")
        collect(lst, lambda evs: any(isinstance(e, Confirmed) for e in evs))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["dir"], r["text"]) for r in records] == [("out", "logged"), ("in", "logged")]
    assert records[0]["id"] == msg_id


def test_messages_that_arrive_together_are_logged_with_one_fsync_before_any_is_confirmed(
    port, config, tmp_path, monkeypatch
):
    """Group commit: what one turn of the loop takes in is written and fsynced once, and only
    then does any of its confirmations go out ("confirmed => logged", at one fsync per batch)."""
    log = tmp_path / "messages.jsonl"
    order = []
    real_fsync, real_transmit = os.fsync, Node.transmit

    def fsync(fd):
        order.append(("fsync", sorted(r["id"] for r in read_log(str(log)) if r.get("dir") == "in")))
        real_fsync(fd)

    def transmit(node, t):
        if t.frame.body.startswith("CONF"):
            order.append(("conf", P.parse_conf(t.frame.body)))
        return real_transmit(node, t)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Node, "transmit", transmit)
    with Listener(log_path=str(log)) as lst:
        for msg_id in range(50, 55):  # all queued before the listener looks
            mailslot.write(".", "foxapp", raw_frame("CAROL", msg_id, f"batch {msg_id}".encode()), config=config)
        events = collect(lst, lambda evs: sum(isinstance(e, Message) for e in evs) == 5)
    assert [e.text for e in events if isinstance(e, Message)] == [f"batch {i}" for i in range(50, 55)]
    assert order == [("fsync", [50, 51, 52, 53, 54])] + [("conf", i) for i in range(50, 55)], order


def test_callback_runs_until_told(port):
    seen = []
    with Listener() as lst:
        lst.send(".", "for the callback")
        lst.run(seen.append, until=lambda: any(isinstance(e, Confirmed) for e in seen))
    assert any(isinstance(e, Message) and e.text == "for the callback" for e in seen)


def test_closed_listener_refuses_work(port):
    lst = Listener()
    lst.close()
    lst.close()  # twice is fine
    with pytest.raises(ValueError):
        lst.send(".", "late")
    assert list(lst.events()) == []


def test_translate_maps_every_protocol_event():
    online: set[str] = set()
    failed = translate(P.DeliveryFailed(5, "BOB", 4, 1.0), online)
    assert dataclasses.replace(failed, time=0.0) == NotDelivered(5, "BOB", 4, 0.0)
    conf = translate(P.Confirmed(5, "BOB", "10.0.0.2", 1.0), online)
    assert isinstance(conf, Confirmed) and (conf.msg_id, conf.by, conf.address) == (5, "BOB", "10.0.0.2")
    # a message makes a peer known online: one Online, then nothing more for it
    first = translate(P.PresenceChanged("BOB", "10.0.0.2", True, 1.0), online)
    assert isinstance(first, Online) and not first.again
    again = translate(P.PeerAnswered("bob", "10.0.0.2", 2.0), online)
    assert isinstance(again, Online) and again.again
    assert translate(P.Dropped("short", 1.0), online) is None


def test_send_takes_retries_as_messenger_send_does_and_resends_with_a_deprecation_warning(port):
    with Listener() as lst:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the new name warns of nothing
            first = lst.send(".", "with retries", retries=1)
        with pytest.deprecated_call(match=r"send\(resends=\) is deprecated; use retries="):
            second = lst.send(".", "with resends", resends=1)
        with pytest.raises(TypeError, match="not both"), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            lst.send(".", "both", retries=2, resends=1)
        with pytest.raises(ValueError, match="must not be negative"):
            lst.send(".", "negative", retries=-1)
        events = collect(lst, lambda evs: {first, second} <= {e.msg_id for e in evs if isinstance(e, Confirmed)})
    assert [e.text for e in events if isinstance(e, Message)] == ["with retries", "with resends"]


def test_random_ids_do_not_repeat_between_listeners(port):
    ids = set()
    for seed in range(3):
        with Listener(rng=random.Random(seed)) as lst:
            ids.add(lst.send(".", "x"))
    assert len(ids) == 3


# -- SIGTERM and SIGHUP: a library object leaves as on Ctrl-C ---------------------------------------

STOP_SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]


@pytest.fixture
def default_stop_signals():
    """SIGTERM and SIGHUP at their default action for the test (what a plain script starts with)."""
    old = {sig: signal.signal(sig, signal.SIG_DFL) for sig in STOP_SIGNALS}
    yield
    for sig, handler in old.items():
        signal.signal(sig, handler)


def lanmsgs_handler(sig):
    handler = signal.getsignal(sig)
    return callable(handler) and handler.__module__ == "lanmsg.signals"


def test_a_listener_and_a_messenger_take_sigterm_and_sighup_only_while_open(port, default_stop_signals):
    lst = Listener()
    assert all(lanmsgs_handler(sig) for sig in STOP_SIGNALS)
    m = Messenger()  # through the listener; it takes nothing more
    lst.close()
    assert all(lanmsgs_handler(sig) for sig in STOP_SIGNALS), "given back while a Messenger was still open"
    m.close()
    assert all(signal.getsignal(sig) == signal.SIG_DFL for sig in STOP_SIGNALS)
    with Messenger():
        assert all(lanmsgs_handler(sig) for sig in STOP_SIGNALS)
    assert all(signal.getsignal(sig) == signal.SIG_DFL for sig in STOP_SIGNALS)


def test_a_programs_own_handlers_are_left_alone(port, default_stop_signals):
    def mine(signum, frame):
        pass

    signal.signal(signal.SIGTERM, mine)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
    with Listener(), Messenger():
        assert signal.getsignal(signal.SIGTERM) is mine
        assert not hasattr(signal, "SIGHUP") or signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is mine
    # one the program sets while a listener is open stays after it closes
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with Listener():
        signal.signal(signal.SIGTERM, mine)
    assert signal.getsignal(signal.SIGTERM) is mine


def test_a_listener_in_another_thread_takes_no_signal(port, default_stop_signals):
    seen = {}

    def run():
        try:
            with Listener() as lst:
                seen["handler"] = signal.getsignal(signal.SIGTERM)
                seen["id"] = lst.send(".", "from a thread")
        except Exception as e:  # reported below, in the test's thread
            seen["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    assert "error" not in seen, seen
    assert seen["handler"] == signal.SIG_DFL and isinstance(seen["id"], int)


class GroupWire:
    """The group's broadcasts as another peer on the LAN gets them (here: 127.255.255.255)."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.255.255.255", port))  # bound to the broadcast address: broadcasts only
        self.sock.settimeout(0.5)

    def wait_for(self, sender, body, proc, timeout=60.0):
        """The system frame ``body`` from ``sender``; fails when ``proc`` ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(2048)
            except TimeoutError:  # on loopback what it sent before it ended is here by now
                if proc.poll() is not None:
                    raise AssertionError(
                        f"it ended without {body} (exit {proc.returncode}): {proc.communicate()}"
                    ) from None
                continue
            frame = P.decode_frame(mailslot.decode_datagram(data).data)
            if isinstance(frame, P.Frame) and frame.system and (frame.sender, frame.body) == (sender, body):
                return frame
        raise AssertionError(f"no {body} from {sender} within {timeout:g} s")

    def close(self):
        self.sock.close()


def start_script(source):
    return subprocess.Popen(
        [sys.executable, "-c", source], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_sigterm_stops_the_docs_ping_bot_with_offline_and_exit_0(port):
    """What systemd does to stop a service: the bot's peers see it leave, and it exits 0."""
    wire = GroupWire(port)
    bot = start_script(doc_block("library.md", "ping-bot", "python"))
    try:
        wire.wait_for("LANMSGTEST", "ONLINE", bot)  # it joined: SIGTERM is taken from before that
        bot.send_signal(signal.SIGTERM)
        wire.wait_for("LANMSGTEST", "OFFLINE", bot)
        out, err = bot.communicate(timeout=60)
    finally:
        wire.close()
        if bot.poll() is None:
            bot.kill()
            bot.communicate()
    assert bot.returncode == 0, err
    assert out == "" and "Traceback" not in err, (out, err)


def test_sigterm_while_a_messenger_waits_runs_the_programs_finally_and_exits_0(port):
    script = (
        "from lanmsg.client import Messenger\n"
        "try:\n"
        "    with Messenger() as m:\n"
        "        print('waiting', flush=True)\n"
        "        m.send('127.0.0.9', 'nobody confirms this', timeout=60)  # the Messenger confirms nothing\n"
        "finally:\n"
        "    print('cleaned up', flush=True)\n"
    )
    proc = start_script(script)
    try:
        assert proc.stdout.readline() == "waiting\n", proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == "cleaned up\n" and "Traceback" not in err, (out, err)
