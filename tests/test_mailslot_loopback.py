"""The netbios transport over real sockets, on loopback only.

Every test gets its own UDP port (the ``port`` fixture sets LANMSG_PORT) and group
writes go to 127.255.255.255 (conftest).  Datagrams "from another computer" are
built with the codec and sent from a plain socket bound to 127.0.0.5: their source
name OTHERHOST is not this machine's (LANMSGTEST), so they are not dropped as our own.
No timing is asserted; timeouts only keep a broken build from hanging.
"""

import json
import os
import queue
import random
import socket
import subprocess
import sys
import threading
import time

import pytest

import mailslot
from mailslot import NetbiosName

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HANG = 20.0  # seconds: only to stop a broken build from hanging
OTHER_IP = "127.0.0.5"
LOCAL_NAME = os.environ["LANMSG_NAME"]  # conftest: LANMSGTEST unless set outside


@pytest.fixture(autouse=True)
def _forget_learned_addresses():
    """Received datagrams (some with mutated source addresses) teach names; forget them."""
    yield
    with mailslot._process.lock:
        mailslot._process.learned.clear()


@pytest.fixture
def slots(port):
    """Open mailslots through ``slots(name, **kw)``; all closed after the test."""
    opened = []

    def make(name, **kw):
        s = mailslot.Mailslot(name, **kw)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def other_datagram(
    slot_name,
    data,
    *,
    dest=NetbiosName("WORKGROUP"),
    msg_type=0x11,
    source="OTHERHOST",
    dgm_id=None,
    ip=OTHER_IP,
    port=138,
    mailslot_path=None,
):
    d = mailslot.build_datagram(
        msg_type=msg_type,
        source=source,
        destination=dest,
        mailslot=slot_name,
        data=data,
        source_ip=ip,
        source_port=port,
        dgm_id=random.randrange(0x10000) if dgm_id is None else dgm_id,
    )
    if mailslot_path is not None:
        d = d._replace(mailslot=mailslot_path)
    return mailslot.encode_datagram(d)


class RawSender:
    """A plain UDP socket on 127.0.0.5 (an ephemeral port): 'another computer' on loopback."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.bind((OTHER_IP, 0))

    def unicast(self, payload):
        self.sock.sendto(payload, ("127.0.0.1", self.port))

    def broadcast(self, payload):
        self.sock.sendto(payload, ("127.255.255.255", self.port))

    def close(self):
        self.sock.close()


@pytest.fixture
def raw(port):
    s = RawSender(port)
    yield s
    s.close()


def pump_until(slot, condition, what, collected=None):
    """Read (and collect) messages until ``condition()``; fail after HANG seconds."""
    deadline = time.monotonic() + HANG
    while not condition():
        m = slot.try_read()
        if m is not None:
            if collected is not None:
                collected.append(m)
            continue
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}; stats {slot.stats}")
        time.sleep(0.002)


def in_thread(fn, *args):
    """Run fn in a daemon thread; returns (thread, result dict)."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # reported by the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def later(delay, fn, *args):
    def run():
        time.sleep(delay)
        fn(*args)

    return in_thread(run)


# --------------------------------------------------------------------------
# Create, write, read
# --------------------------------------------------------------------------


def test_write_to_dot_and_read_in_order(slots):
    slot = slots("foxapp")
    assert (slot.name, slot.transport, slot.closed) == ("foxapp", "netbios", False)
    for text in (b"one", b"two", b"three", b"", bytes(range(256))):
        assert mailslot.write(".", "foxapp", text) == len(text)
    got = [slot.read(timeout=HANG) for _ in range(5)]
    assert [m.data for m in got] == [b"one", b"two", b"three", b"", bytes(range(256))]
    for m in got:
        assert (m.mailslot, m.source_name, m.source_ip, m.local) == ("foxapp", LOCAL_NAME, "127.0.0.1", True)
    with pytest.raises(TimeoutError):
        slot.read(timeout=0)


def test_names_are_case_insensitive_and_any_spelling_works(slots):
    slot = slots("\\\\.\\mailslot\\FoxApp")
    assert slot.name == "FoxApp"
    mailslot.write(".", "FOXAPP", b"upper")
    mailslot.write(".", "\\MAILSLOT\\foxapp", b"lower")
    assert [slot.read(timeout=HANG).data for _ in range(2)] == [b"upper", b"lower"]


def test_sub_directory_names(slots):
    slot = slots("a\\b\\c")
    other = slots("a\\b")
    mailslot.write(".", "A\\B\\C", b"deep")
    assert slot.read(timeout=HANG).data == b"deep"
    with pytest.raises(TimeoutError):
        other.read(timeout=0.05)


def test_large_local_messages(slots):
    """Local messages are not bound by the 424-byte remote limit, up to LOCAL_MAX_MESSAGE."""
    for name in ("foxapp", "x" * 245):  # shortest usual and longest possible name
        slot = slots(name)
        for n in (425, 5000, mailslot.LOCAL_MAX_MESSAGE):
            data = random.randbytes(n)
            assert mailslot.write(".", name, data) == n
            m = slot.read(timeout=HANG)
            assert m.data == data
        with pytest.raises(mailslot.MessageTooLargeError) as e:
            mailslot.write(".", name, bytes(mailslot.LOCAL_MAX_MESSAGE + 1))
        assert e.value.limit == mailslot.LOCAL_MAX_MESSAGE
        with pytest.raises(TimeoutError):
            slot.read(timeout=0.05)
        assert "dropped_malformed" not in slot.stats


# --------------------------------------------------------------------------
# info() and read timeouts
# --------------------------------------------------------------------------


def test_info_reports_next_size_count_and_timeout(slots):
    slot = slots("foxapp", read_timeout=0.25, max_size=1000)
    assert slot.info() == mailslot.MailslotInfo(1000, mailslot.MAILSLOT_NO_MESSAGE, 0, 250)
    mailslot.write(".", "foxapp", b"abc")
    mailslot.write(".", "foxapp", b"hello")
    info = slot.info()
    assert (info.next_size, info.count) == (3, 2)
    assert slot.read().data == b"abc"
    assert (slot.info().next_size, slot.info().count) == (5, 1)
    assert slot.read().data == b"hello"
    assert (slot.info().next_size, slot.info().count) == (mailslot.MAILSLOT_NO_MESSAGE, 0)
    slot.set_read_timeout(None)
    assert slot.info().read_timeout == mailslot.MAILSLOT_WAIT_FOREVER == 0xFFFFFFFF
    slot.set_read_timeout(2)
    assert slot.info().read_timeout == 2000
    slot.set_read_timeout(0)
    assert slot.info().read_timeout == 0


def test_info_of_an_empty_zero_length_message_is_zero_not_no_message(slots):
    slot = slots("foxapp")
    mailslot.write(".", "foxapp", b"")
    assert (slot.info().next_size, slot.info().count) == (0, 1)


def test_default_read_timeout_is_forever(slots):
    assert slots("foxapp").info().read_timeout == mailslot.MAILSLOT_WAIT_FOREVER


def test_max_size_drops_larger_messages(slots):
    slot = slots("foxapp", max_size=4)
    mailslot.write(".", "foxapp", b"12345")
    mailslot.write(".", "foxapp", b"1234")
    assert slot.read(timeout=HANG).data == b"1234"
    assert slot.stats["dropped_too_large"] == 1


def test_read_timeout_zero_and_n_ms(slots):
    slot = slots("foxapp", read_timeout=0)
    with pytest.raises(TimeoutError):
        slot.read()  # the slot's default: do not wait
    with pytest.raises(TimeoutError):
        slot.read(timeout=0)
    with pytest.raises(TimeoutError) as e:
        slot.read(timeout=0.05)
    assert "foxapp" in str(e.value)
    slot.set_read_timeout(0.05)
    with pytest.raises(TimeoutError):
        slot.read()
    mailslot.write(".", "foxapp", b"now")
    assert slot.read(timeout=0).data == b"now"  # already queued: no wait needed


def test_a_message_arriving_during_a_timed_read_ends_it(slots):
    slot = slots("foxapp")
    t, box = later(0.1, mailslot.write, ".", "foxapp", b"soon")
    assert slot.read(timeout=HANG).data == b"soon"
    t.join(HANG)
    assert "error" not in box


def test_read_forever_returns_when_a_writer_writes_later(slots):
    slot = slots("foxapp")  # read_timeout None: wait forever
    reader, box = in_thread(slot.read)
    reader.join(0.2)
    assert reader.is_alive()  # still waiting: nothing was written
    mailslot.write(".", "foxapp", b"at last")
    reader.join(HANG)
    assert not reader.is_alive(), "read() did not return after a write"
    assert box["value"].data == b"at last"


# --------------------------------------------------------------------------
# Ownership: already exists, close and re-create, bad names
# --------------------------------------------------------------------------


def test_already_exists_in_the_same_process(slots):
    first = slots("foxapp")
    for spelling in ("foxapp", "FOXAPP", "\\\\.\\mailslot\\FoxApp", "\\MAILSLOT\\foxapp"):
        with pytest.raises(mailslot.MailslotExistsError) as e:
            mailslot.Mailslot(spelling)
        assert e.value.winerror == mailslot.ERROR_ALREADY_EXISTS == 183
        assert isinstance(e.value, FileExistsError)
        assert "already exists" in str(e.value)
    mailslot.write(".", "foxapp", b"still mine")  # the first owner is untouched
    assert first.read(timeout=HANG).data == b"still mine"


LISTENER = r"""
import json, sys, mailslot
try:
    slot = mailslot.Mailslot(sys.argv[1])
except mailslot.MailslotExistsError as e:
    print(json.dumps({"error": type(e).__name__, "winerror": e.winerror}), flush=True)
    sys.exit(3)
print(json.dumps({"ready": slot.name}), flush=True)
while True:
    m = slot.read(timeout=float(sys.argv[2]))
    if m.data == b"STOP":
        break
    print(json.dumps({"data": m.data.decode("latin-1"), "source_name": m.source_name,
                      "source_ip": m.source_ip, "local": m.local, "destination": m.destination}), flush=True)
while True:                                  # anything still on its way is reported too
    try:
        m = slot.read(timeout=0.3)
    except TimeoutError:
        break
    print(json.dumps({"data": m.data.decode("latin-1"), "late": True}), flush=True)
print(json.dumps({"stats": slot.stats}), flush=True)
slot.close()
"""


class Listener:
    """A subprocess owning one mailslot; reports each message as a JSON line."""

    def __init__(self, name, env=None):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LISTENER, name, str(HANG)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": ROOT, **(env or {})},
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self):
        try:
            item = self.lines.get(timeout=HANG)
        except queue.Empty:
            pytest.fail(f"listener {self.name} said nothing for {HANG} s")
        assert item is not None, f"listener {self.name} ended: {self.proc.wait()} {self.proc.stderr.read()}"
        return item

    def ready(self):
        first = self.next()
        assert first == {"ready": self.name}, first
        return self

    def messages(self, n):
        return [self.next() for _ in range(n)]

    def stop(self):
        """Ask it to finish; return (late messages, stats)."""
        mailslot.write(".", self.name, b"STOP")
        late = []
        while True:
            item = self.next()
            if "stats" in item:
                break
            late.append(item)
        assert self.proc.wait(HANG) == 0, self.proc.stderr.read()
        return late, item["stats"]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def listeners(port):
    started = []

    def start(name, env=None):
        started.append(Listener(name, env))
        return started[-1]

    yield start
    for lst in started:
        lst.kill()


def test_already_exists_across_processes(slots, listeners):
    owner = listeners("foxapp").ready()
    with pytest.raises(mailslot.MailslotExistsError) as e:
        mailslot.Mailslot("FoxApp")
    assert e.value.winerror == 183
    # and the other way round: a second process cannot take a name this process owns
    slots("mine")
    contender = listeners("MINE")
    assert contender.next() == {"error": "MailslotExistsError", "winerror": 183}
    assert contender.proc.wait(HANG) == 3
    # the first owner still gets its messages
    mailslot.write(".", "foxapp", b"for the owner")
    assert owner.next()["data"] == "for the owner"
    assert owner.stop()[0] == []


def test_a_dead_owner_releases_its_name(port, listeners, slots):
    owner = listeners("foxapp").ready()
    owner.proc.kill()
    owner.proc.wait(HANG)
    slot = slots("foxapp")
    mailslot.write(".", "foxapp", b"new owner")
    assert slot.read(timeout=HANG).data == b"new owner"


@pytest.mark.parametrize("bad", ["", "a*b", "what?", "a/b", "c:x", "a\\\\b", "tr\u00e9s", "\\MAILSLOT\\"])
def test_bad_names(port, bad):
    with pytest.raises(mailslot.MailslotNameError):
        mailslot.Mailslot(bad)
    with pytest.raises(mailslot.MailslotNameError):
        mailslot.write(".", bad, b"x")
    with pytest.raises(mailslot.MailslotNameError):
        mailslot.write("*", bad, b"x")


def test_close_and_recreate(slots):
    slot = slots("foxapp")
    mailslot.write(".", "foxapp", b"left unread")
    slot.close()
    slot.close()  # closing twice is harmless
    assert slot.closed
    with pytest.raises(ValueError, match="closed"):
        slot.read(timeout=0)
    with pytest.raises(ValueError, match="closed"):
        slot.info()
    with pytest.raises(mailslot.MailslotNotFoundError):
        mailslot.write(".", "foxapp", b"nobody home")
    again = slots("foxapp")
    mailslot.write(".", "foxapp", b"fresh")
    assert again.read(timeout=HANG).data == b"fresh"  # nothing from the old owner
    with pytest.raises(TimeoutError):
        again.read(timeout=0.05)


def test_context_manager_closes(port):
    with mailslot.Mailslot("foxapp") as slot:
        assert "open" in repr(slot)
    assert slot.closed and "closed" in repr(slot)
    with mailslot.Mailslot("foxapp"):  # the name is free again
        pass


def test_write_to_dot_without_owner(port):
    with pytest.raises(mailslot.MailslotNotFoundError) as e:
        mailslot.write(".", "nobody", b"hello?")
    assert isinstance(e.value, FileNotFoundError)
    assert "nobody" in str(e.value)


# --------------------------------------------------------------------------
# Targets: own name, "*", 127.0.0.1, size limits
# --------------------------------------------------------------------------


def test_write_to_own_computer_name_is_local(slots):
    slot = slots("foxapp")
    for target in (LOCAL_NAME, LOCAL_NAME.lower(), "\\\\" + LOCAL_NAME, "127.0.0.1"):
        mailslot.write(target, "foxapp", target.encode())
        m = slot.read(timeout=HANG)
        assert (m.data, m.local, m.source_name) == (target.encode(), True, LOCAL_NAME)
    assert slot.stats.get("received", 0) == 0  # nothing went over UDP
    assert slot.stats["received_local"] == 4


def test_write_to_star_reaches_a_local_owner_exactly_once(slots):
    slot = slots("foxapp")
    assert mailslot.write("*", "foxapp", b"to everyone") == 11
    m = slot.read(timeout=HANG)
    assert (m.data, m.local, m.source_name) == (b"to everyone", True, LOCAL_NAME)
    # the broadcast copy comes back over loopback and is recognised as our own
    extra = []
    pump_until(slot, lambda: slot.stats.get("dropped_own", 0) >= 1, "the looped-back broadcast", extra)
    assert extra == []
    assert slot.stats["dropped_own"] == 1 and slot.stats["delivered"] == 1
    # writing to the workgroup by name is the same group write
    mailslot.write("workgroup", "foxapp", b"to the group")
    assert slot.read(timeout=HANG).data == b"to the group"
    pump_until(slot, lambda: slot.stats.get("dropped_own", 0) >= 2, "the second broadcast", extra)
    assert extra == []


def test_write_to_star_without_local_owner_still_succeeds(port):
    assert mailslot.write("*", "nobody", b"anyone?") == 7


def test_remote_size_limit_sends_nothing(slots):
    slot = slots("foxapp")  # 6 characters: 424 bytes
    for target in ("*", "WORKGROUP", "127.0.0.1"):
        with pytest.raises(mailslot.MessageTooLargeError) as e:
            mailslot.write(target, "foxapp", b"x" * 425)
        assert (e.value.size, e.value.limit) == (425, 424)
        assert "424" in str(e.value)
    assert mailslot.write("*", "foxapp", b"y" * 424) == 424
    assert slot.read(timeout=HANG).data == b"y" * 424
    # the 424-byte write's broadcast copy arrives; no copy of the refused ones came before it
    pump_until(slot, lambda: slot.stats.get("dropped_own", 0) >= 1, "the broadcast copy")
    assert slot.stats["received"] == 1
    assert slot.stats["received_local"] == 1
    with pytest.raises(TimeoutError):
        slot.read(timeout=0.05)


# --------------------------------------------------------------------------
# Datagrams from another computer
# --------------------------------------------------------------------------


def test_datagram_from_another_computer(slots, raw):
    slot = slots("foxapp")
    raw.broadcast(other_datagram("FOXAPP", b"broadcast hello", dgm_id=1))
    m = slot.read(timeout=HANG)
    assert (m.data, m.source_name, m.source_ip, m.local, m.destination) == (
        b"broadcast hello",
        "OTHERHOST",
        OTHER_IP,
        False,
        "WORKGROUP<00>",
    )
    assert m.datagram.dgm_id == 1
    raw.unicast(other_datagram("foxapp", b"direct", dest=NetbiosName(LOCAL_NAME), msg_type=0x10))
    m = slot.read(timeout=HANG)
    assert (m.data, m.destination, m.local) == (b"direct", f"{LOCAL_NAME}<00>", False)
    # source IP 0.0.0.0 in the header: the UDP source address is used instead
    raw.unicast(other_datagram("foxapp", b"no ip", ip="0.0.0.0"))
    assert slot.read(timeout=HANG).source_ip == OTHER_IP
    # the sender was learned: writes by its name go to the address it was heard from
    assert mailslot.learned_address("otherhost") == OTHER_IP


def test_lowercase_mailslot_prefix_is_delivered(slots, raw):
    slot = slots("FOXAPP")
    raw.unicast(other_datagram("x", b"lower case", mailslot_path="\\mailslot\\foxapp"))
    assert slot.read(timeout=HANG).data == b"lower case"


def test_duplicates_and_foreign_datagrams_are_dropped(slots, raw):
    slot = slots("foxapp")
    same = other_datagram("FOXAPP", b"twice", dgm_id=77)
    raw.broadcast(same)
    raw.unicast(same)  # the copy a second socket would see
    raw.unicast(other_datagram("FOXAPP", b"other group", dest=NetbiosName("ELSEWHERE")))
    raw.unicast(other_datagram("FOXAPP", b"other host", dest=NetbiosName("NOTME"), msg_type=0x10))
    raw.unicast(other_datagram("FOXAPP", b"browser", dest=NetbiosName("WORKGROUP", 0x1D)))
    scoped = mailslot.build_datagram(
        msg_type=0x11,
        source="OTHERHOST",
        mailslot="FOXAPP",
        data=b"scoped",
        destination=NetbiosName("WORKGROUP", 0, "corp.example"),
        source_ip=OTHER_IP,
        dgm_id=5,
    )
    raw.unicast(mailslot.encode_datagram(scoped))
    raw.unicast(other_datagram("FOXAPP", b"same id new data", dgm_id=77))  # not a duplicate
    raw.unicast(other_datagram("FOXAPP", b"last", dgm_id=78))
    got = []
    pump_until(slot, lambda: any(m.data == b"last" for m in got), "the last datagram", got)
    assert [m.data for m in got] == [b"twice", b"same id new data", b"last"]
    st = slot.stats
    assert (st["dropped_duplicate"], st["dropped_not_for_us"], st["dropped_scope"]) == (1, 3, 1)


def test_message_for_star_name_and_broadcast_type(slots, raw):
    slot = slots("foxapp")
    raw.broadcast(other_datagram("foxapp", b"to star", dest=NetbiosName("*"), msg_type=0x12))
    assert slot.read(timeout=HANG).data == b"to star"


# --------------------------------------------------------------------------
# Several slots in one process
# --------------------------------------------------------------------------


def test_read_any_over_two_slots(slots):
    a, b = slots("alpha"), slots("bravo")
    with pytest.raises(TimeoutError):
        mailslot.read_any([a, b], timeout=0)
    with pytest.raises(TimeoutError):
        mailslot.read_any([a, b], timeout=0.05)
    mailslot.write(".", "bravo", b"for b")
    slot, m = mailslot.read_any([a, b], timeout=HANG)
    assert (slot, m.data) == (b, b"for b")
    mailslot.write(".", "alpha", b"for a")
    slot, m = mailslot.read_any([a, b], timeout=HANG)
    assert (slot, m.data) == (a, b"for a")
    t, _box = later(0.1, mailslot.write, ".", "bravo", b"later")
    slot, m = mailslot.read_any([a, b], timeout=None)
    assert (slot, m.data) == (b, b"later")
    t.join(HANG)
    with pytest.raises(TimeoutError):
        mailslot.read_any([a, b], timeout=0)


def test_unicast_reaches_the_right_slot_of_this_process(slots, raw):
    """The slots of one process share one UDP socket that routes each datagram to its owner."""
    a, b = slots("alpha"), slots("bravo")
    for i in range(5):
        raw.unicast(other_datagram("alpha", b"a%d" % i))
        raw.unicast(other_datagram("bravo", b"b%d" % i))
    got = {a: [], b: []}
    deadline = time.monotonic() + HANG
    while len(got[a]) + len(got[b]) < 10 and time.monotonic() < deadline:
        try:
            s, m = mailslot.read_any([a, b], timeout=0.5)
            got[s].append(m.data)
        except TimeoutError:
            pass
    assert got[a] == [b"a%d" % i for i in range(5)]
    assert got[b] == [b"b%d" % i for i in range(5)]
    assert a.stats["received"] == 10 and a.stats.get("forwarded", 0) == 0  # routed in-process


# --------------------------------------------------------------------------
# Several processes, each owning one name
# --------------------------------------------------------------------------


def test_processes_get_exactly_their_own_datagrams(port, listeners, raw):
    names = ["ALPHA", "bravo", "Charlie"]
    procs = {n: listeners(n) for n in names}
    for p in procs.values():
        p.ready()
    for n in names:
        mailslot.write("*", n, f"star {n}".encode())  # local copy + broadcast
    for n in names:
        mailslot.write("127.0.0.1", n, f"ip {n}".encode())  # this machine by address
    for n in names:  # another computer, unicast
        raw.unicast(other_datagram(n.upper(), f"uni {n}".encode(), dest=NetbiosName(LOCAL_NAME), msg_type=0x10))
    raw.unicast(other_datagram("NOBODY", b"uni nobody", dest=NetbiosName(LOCAL_NAME), msg_type=0x10))
    for n in names:  # another computer, broadcast
        raw.broadcast(other_datagram(n.lower(), f"bc {n}".encode()))
    stats = {}
    for n, p in procs.items():
        got = p.messages(4)
        assert sorted(m["data"] for m in got) == sorted(f"{k} {n}" for k in ("star", "ip", "uni", "bc"))
        for m in got:
            mine = m["data"].split()[0] in ("star", "ip")
            assert m["source_name"] == (LOCAL_NAME if mine else "OTHERHOST")
            assert m["local"] is mine
            if not mine:
                assert m["source_ip"] == OTHER_IP
    for n, p in procs.items():
        late, stats[n] = p.stop()
        assert late == [], f"{n} got more than its own: {late}"
    for n, st in stats.items():
        # every listener saw the three "*" broadcasts come back and knew them as this machine's
        assert st["dropped_own"] == 3, (n, st)
        # and the other two names' broadcasts from OTHERHOST, which it left alone
        assert st["other_mailslot"] == 2, (n, st)
    # unicast datagrams land on one socket; the others reach their owner by forwarding
    assert sum(st.get("forwarded", 0) for st in stats.values()) >= 2, stats
    assert sum(st.get("dropped_no_owner", 0) for st in stats.values()) == 1, stats


# --------------------------------------------------------------------------
# Hostile traffic
# --------------------------------------------------------------------------


def test_listener_survives_1000_hostile_datagrams(slots, raw):
    slot = slots("foxapp")
    rng = random.Random(138)
    base = [
        other_datagram("FOXAPP", b"hello", dgm_id=1),
        other_datagram("FOXAPP", bytes(range(40)), dest=NetbiosName(LOCAL_NAME), msg_type=0x10, dgm_id=2),
        other_datagram("OTHERSLOT", b"x" * 100, dgm_id=3),
    ]
    hostile = []
    for _ in range(200):  # random bytes
        hostile.append(rng.randbytes(rng.randrange(0, 700)))
    for _ in range(100):  # truncations
        b = rng.choice(base)
        hostile.append(b[: rng.randrange(len(b))])
    for _ in range(700):  # 1-3 byte mutations
        b = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.choice([0, 0xFF, 0x20, 0x41, rng.randrange(256)])
        if rng.random() < 0.5:
            b[10:12] = (len(b) - 14).to_bytes(2, "big")  # keep DGM_LENGTH plausible
        hostile.append(bytes(b))
    assert len(hostile) == 1000
    malformed = 0
    for h in hostile:
        try:
            mailslot.decode_datagram(h)
        except mailslot.DecodeError:
            malformed += 1
    assert malformed > 500

    delivered = []
    for i in range(0, 1000, 50):  # in bursts, so no socket buffer overflows
        for h in hostile[i : i + 50]:
            raw.unicast(h)
        pump_until(slot, lambda i=i: slot.stats.get("received", 0) >= i + 50, f"datagram {i + 50}", delivered)
    st = slot.stats
    assert st["received"] == 1000
    assert st["dropped_malformed"] == malformed
    assert "dropped_socket_error" not in st

    raw.unicast(other_datagram("FOXAPP", b"after the storm", dgm_id=9999))
    pump_until(slot, lambda: any(m.data == b"after the storm" for m in delivered), "the valid message", delivered)
    assert [m.data for m in delivered].count(b"after the storm") == 1
    assert all(m.mailslot == "foxapp" for m in delivered)
    mailslot.write(".", "foxapp", b"local still works")
    assert slot.read(timeout=HANG).data == b"local still works"


@pytest.mark.skipif(mailslot._SO_MEMINFO is None, reason="the kernel's drop count is read on Linux only")
def test_what_the_kernel_drops_for_a_full_socket_is_counted(slots, raw):
    """More datagrams than the socket's buffer holds, sent while nobody reads: the kernel drops
    the rest, and the slot counts them (dropped_by_kernel): read + dropped = sent."""
    slot = slots("foxapp")
    template = mailslot._template(0x11, "OTHERHOST", NetbiosName("WORKGROUP"), "FOXAPP", 138)
    sent = 40_000  # about 20 MB: more than the 8 MB a socket's buffer gets at most here
    for i in range(sent):
        raw.unicast(template.encode(i, OTHER_IP, b"%06d" % i + bytes(400)))
    read = []
    pump_until(
        slot, lambda: slot.stats.get("received", 0) + slot.stats.get("dropped_by_kernel", 0) >= sent, "all", read
    )
    while (m := slot.try_read()) is not None:
        read.append(m)
    st = slot.stats
    assert st["dropped_by_kernel"] > 0, st
    assert st["received"] + st["dropped_by_kernel"] == sent, st
    assert len(read) == st["received"] == st["delivered"], st
    assert [m.data[:6] for m in read] == sorted({m.data[:6] for m in read})  # in order, none twice


# --------------------------------------------------------------------------
# Two slots in one process (a listener and its control slot)
# --------------------------------------------------------------------------


def test_a_burst_of_unicasts_for_a_slot_whose_neighbour_was_bound_last_all_arrive(slots, raw):
    # The newest socket on the port takes every unicast; here that is `control`, a slot
    # of the same process, which must pass foxapp's datagrams on without losing any.
    foxapp = slots("foxapp")
    slots("lanmsg\\control\\foxapp")
    for i in range(100):
        raw.unicast(other_datagram("foxapp", b"burst %03d" % i, dest=NetbiosName("LANMSGTEST"), msg_type=0x10))
    got = []
    pump_until(foxapp, lambda: len(got) == 100, "100 unicasts", got)
    assert sorted(m.data for m in got) == [b"burst %03d" % i for i in range(100)]


def test_writes_from_another_thread_of_the_owner_arrive_in_order(slots):
    slot = slots("foxapp")
    n = 3000
    writer, _ = in_thread(lambda: [mailslot.write(".", "foxapp", b"%05d" % i) for i in range(n)])
    got = [slot.read(HANG).data for _ in range(n)]
    writer.join(HANG)
    assert got == [b"%05d" % i for i in range(n)]
