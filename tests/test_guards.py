"""The suite's own network guards (tests/conftest.py) hold: they are what keeps a test run
from sending anything beyond loopback."""

import os
import socket

import pytest


def test_broadcasts_are_confined_to_loopback():
    assert os.environ["LANMSG_BROADCAST"] == "127.255.255.255"


def test_a_udp_connect_outside_loopback_is_refused():
    # a UDP connect() puts nothing on the wire, so even a broken guard sends nothing here
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(AssertionError, match="only to loopback"):
        s.connect(("198.51.100.7", 138))


def test_a_sendto_outside_loopback_is_refused():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.close()  # a closed socket cannot send: a broken guard gives OSError, not a packet
    with pytest.raises(AssertionError, match="only to loopback"):
        s.sendto(b"x", ("198.51.100.7", 138))
    with pytest.raises(AssertionError, match="only to loopback"):
        s.sendto(b"x", 0, ("255.255.255.255", 138))


def test_loopback_and_unix_sockets_are_allowed():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.sendto(b"x", s.getsockname())
        assert s.recv(10) == b"x"
