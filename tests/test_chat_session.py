"""The chat's session on loopback, in this process: which address a name is sent to.

The order (docs/chat.md, "Who a name is"): with the NetBIOS name service on, its answer wins over
what datagrams said (a peer known online, a DETECT answer), which counts only once the lookup found
nothing; with it off, the hosts file, then presence.  The name service itself is played by a fake
NameLookup here; tests/test_lab_field_targets.py judges the real one against a forged datagram.
"""

import socket
import threading

import pytest

import mailslot
from lanmsg.chat.session import ChatSession
from lanmsg.settings import Settings


class FakeLookup:
    """mailslot.NameLookup that finds ``addresses`` after ``delay`` seconds."""

    made: "list[FakeLookup]" = []  # noqa: RUF012 (the lookups made, for the test to look at)

    def __init__(self, name, config, *, dns=True, addresses=(), delay=0.3):
        mailslot.classify_target(name, config)  # a bad target raises at once, as the real one does
        self.name, self.addresses, self.cancelled = name, [], False
        self._done = threading.Event()
        FakeLookup.made.append(self)
        timer = threading.Timer(delay, self._finish, args=(list(addresses),))
        timer.daemon = True
        timer.start()

    def _finish(self, addresses):
        self.addresses = addresses
        self._done.set()

    @property
    def done(self):
        return self._done.is_set()

    def cancel(self):
        self.cancelled = True


@pytest.fixture
def session(port):
    s = ChatSession(Settings(config=mailslot.Config.from_env()))
    yield s
    s.close()


def name_service(monkeypatch, session, addresses):
    """The name service on, answering ``addresses`` for every name."""
    FakeLookup.made = []
    monkeypatch.setattr(
        mailslot, "NameLookup", lambda name, config, dns=True: FakeLookup(name, config, addresses=addresses)
    )
    session.settings.config = session.settings.config._replace(ns_port=1)


def test_the_name_service_wins_over_presence(monkeypatch, session):
    session.model.peer_online("BOB", "127.0.0.9", False, 0.0)  # heard in a datagram
    name_service(monkeypatch, session, ["127.0.0.5"])
    assert session.resolve("BOB") == "127.0.0.5"
    assert [lookup.name for lookup in FakeLookup.made] == ["BOB"]


def test_presence_counts_once_the_name_service_found_nothing(monkeypatch, session):
    session.model.peer_online("BOB", "127.0.0.9", False, 0.0)
    name_service(monkeypatch, session, [])
    assert session.resolve("BOB") == "127.0.0.9"
    assert FakeLookup.made[0].done  # it was waited for, not cut short by what presence said


def test_without_the_name_service_the_hosts_file_then_presence(monkeypatch, session):
    assert session.settings.config.ns_port == 0  # a test port: the name service is off
    session.model.peer_online("BOB", "127.0.0.9", False, 0.0)
    monkeypatch.setattr(
        mailslot, "hosts_file_addresses", lambda name, path=None: ["127.0.0.5"] if name == "BOB" else []
    )
    assert session.resolve("BOB") == "127.0.0.5"
    assert session.resolve("bob") == "127.0.0.9"  # not in the (fake) hosts file: presence
    assert session.resolve("NOBODY", timeout=0.2) is None


def test_addresses_this_machine_and_everyone_need_no_lookup(session):
    assert session.resolve("127.0.0.3") == "127.0.0.3"
    assert session.resolve(".") == session.resolve("*") == session.resolve("LANMSGTEST") == ""
    assert (
        session.check_target("10.0.0.256")
        == "'10.0.0.256' is not an IPv4 address: write all four parts in decimal, e.g. 10.0.0.7"
    )
    with pytest.raises(mailslot.MailslotNameError):
        session.resolve("0.1.2.3")


def test_a_message_goes_to_the_address_found_under_the_name_it_was_sent_to(monkeypatch, session, port):
    """What the chat found is what is used: the frame for OTHERPC (found at 127.0.0.2 by the name
    service; presence said 127.0.0.9) reaches 127.0.0.2, addressed to OTHERPC's mailslot foxapp."""
    wire = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wire.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    wire.bind(("127.0.0.2", port))  # more specific than the chat's 0.0.0.0: it gets what goes there
    wire.settimeout(10)
    try:
        name_service(monkeypatch, session, ["127.0.0.2"])
        session.model.peer_online("OTHERPC", "127.0.0.9", False, 0.0)
        out = session.send("OTHERPC", "found by name")
        assert out is not None and out.msg_id is not None
        d = mailslot.decode_datagram(wire.recv(2048))
        assert (d.destination_name.name, d.mailslot.upper()) == ("OTHERPC", "\\MAILSLOT\\FOXAPP")
        assert d.data[38:] == b"found by name"
    finally:
        wire.close()
