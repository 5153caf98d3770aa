"""Test-suite guards shared by every test.

Broadcast scope: outside a lab network namespace every broadcast lanmsg sends
must stay on loopback.  LANMSG_BROADCAST is forced to 127.255.255.255 for the
whole session, before any test runs, and checked again around every test that
is not marked ``lab``.  Lab tests run their processes inside namespaces built
by tests/netlab.py, where the only network is the lab's own bridge.
"""

import os
import random
import socket
import sys

import pytest

LOOPBACK_BROADCAST = "127.255.255.255"
os.environ["LANMSG_BROADCAST"] = LOOPBACK_BROADCAST
os.environ.pop("LANMSG_TRANSPORT", None)
os.environ.setdefault("LANMSG_NAME", "LANMSGTEST")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def _broadcasts_stay_on_loopback(request):
    if request.node.get_closest_marker("lab") is None:
        assert os.environ.get("LANMSG_BROADCAST") == LOOPBACK_BROADCAST, \
            "tests outside a lab namespace must confine broadcasts to loopback"
    yield
    if request.node.get_closest_marker("lab") is None:
        assert os.environ.get("LANMSG_BROADCAST") == LOOPBACK_BROADCAST


def _free_udp_port() -> int:
    for _ in range(100):
        port = random.randrange(20000, 60000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free UDP port")


@pytest.fixture
def port(monkeypatch):
    """A free UDP port for this test's netbios transport (LANMSG_PORT is set to it)."""
    p = _free_udp_port()
    monkeypatch.setenv("LANMSG_PORT", str(p))
    return p


@pytest.fixture
def config(port):
    import mailslot
    return mailslot.Config.from_env()


@pytest.fixture
def background(port):
    """Start ``lanmsg ARGS`` in the background with ``background(*args)``; killed after the test."""
    from lanmsg_proc import Background
    started = []

    def start(*args, **kw):
        started.append(Background(*args, **kw))
        return started[-1]
    yield start
    for proc in started:
        proc.kill()
