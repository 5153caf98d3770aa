"""Test-suite guards shared by every test.

Broadcast scope: outside a lab network namespace every broadcast lanmsg sends
must stay on loopback.  LANMSG_BROADCAST is forced to 127.255.255.255 for the
whole session, before any test runs, and checked again around every test that
is not marked ``lab``.  Lab tests run their processes inside namespaces built
by tests/netlab.py, where the only network is the lab's own bridge.
"""

import ipaddress
import os
import socket
import sys

import freeport
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
        assert os.environ.get("LANMSG_BROADCAST") == LOOPBACK_BROADCAST, (
            "tests outside a lab namespace must confine broadcasts to loopback"
        )
    yield
    if request.node.get_closest_marker("lab") is None:
        assert os.environ.get("LANMSG_BROADCAST") == LOOPBACK_BROADCAST


class ForbiddenDestination(AssertionError):
    """A test tried to send from the pytest process to an address outside loopback."""


def _loopback_only(address) -> None:
    if not (isinstance(address, tuple) and address and isinstance(address[0], str)):
        return  # AF_UNIX (str/bytes paths, abstract names)
    host = address[0]
    if host in ("", "localhost"):
        return
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        raise ForbiddenDestination(f"tests send only to loopback addresses, not to {host!r}") from None
    if not (ip.is_loopback or ip.is_unspecified):
        raise ForbiddenDestination(f"tests send only to loopback (or inside a lab namespace), not to {host}")


@pytest.fixture(autouse=True, scope="session")
def _pytest_process_sends_only_to_loopback():
    """Every socket of the pytest process may reach loopback only.

    Lab tests run their senders as processes inside the lab's namespaces, so this
    holds for them too; a test that hands a made-up address to real sending code
    fails here instead of putting a datagram on the machine's real network.
    """
    # Windows' socket has no sendmsg
    names = [n for n in ("sendto", "sendmsg", "connect", "connect_ex") if hasattr(socket.socket, n)]
    originals = {name: getattr(socket.socket, name) for name in names}

    def sendto(self, data, *args):
        _loopback_only(args[-1])
        return originals["sendto"](self, data, *args)

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        if address is None:
            return originals["sendmsg"](self, buffers, ancdata, flags)
        _loopback_only(address)
        return originals["sendmsg"](self, buffers, ancdata, flags, address)

    def connect(self, address):
        _loopback_only(address)
        return originals["connect"](self, address)

    def connect_ex(self, address):
        _loopback_only(address)
        return originals["connect_ex"](self, address)

    guards = {"sendto": sendto, "sendmsg": sendmsg, "connect": connect, "connect_ex": connect_ex}
    for name in names:
        setattr(socket.socket, name, guards[name])
    yield
    for name, fn in originals.items():
        setattr(socket.socket, name, fn)


@pytest.fixture
def free_udp_port():
    """A function that picks a free UDP port each time it is called."""
    return freeport.free_udp_port


@pytest.fixture
def port(monkeypatch):
    """A free UDP port for this test's netbios transport (LANMSG_PORT is set to it)."""
    p = freeport.free_udp_port()
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


# --------------------------------------------------------------------------
# Fuzzing and stress sizes (tests/test_fuzz.py, tests/test_lab_attack.py)
# --------------------------------------------------------------------------

FUZZ_EXAMPLES_DEFAULT = 60  # hypothesis examples per property in the normal suite (a few seconds)
FUZZ_PROFILE = "lanmsg-fuzz"


def pytest_addoption(parser):
    group = parser.getgroup("lanmsg")
    group.addoption(
        "--fuzz-examples",
        type=int,
        default=FUZZ_EXAMPLES_DEFAULT,
        metavar="N",
        help="hypothesis examples per property of tests/test_fuzz.py "
        f"(default {FUZZ_EXAMPLES_DEFAULT}; the nightly long run uses 100000)",
    )
    group.addoption(
        "--attack-scale",
        type=int,
        default=1,
        metavar="K",
        help="multiply the datagram counts of tests/test_lab_attack.py by K (default 1)",
    )


def pytest_configure(config):
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # only the property tests need hypothesis
        return
    # no example database: nothing is written into the repository, every run starts fresh
    settings.register_profile(
        FUZZ_PROFILE,
        max_examples=max(1, config.getoption("fuzz_examples")),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


_fuzz_cases_key = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def fuzz_cases(request):
    """{property: examples run}, printed in the terminal summary."""
    return request.config.stash.setdefault(_fuzz_cases_key, {})


def pytest_terminal_summary(terminalreporter, config):
    cases = config.stash.get(_fuzz_cases_key, {})
    if cases:
        terminalreporter.write_sep("-", f"fuzz: {sum(cases.values())} cases in {len(cases)} properties")
        for name, n in cases.items():
            terminalreporter.write_line(f"{n:8d}  {name}")
