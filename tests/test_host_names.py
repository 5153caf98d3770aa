"""Several lanmsg processes on one host, on loopback: every name any of them holds is answered,
whichever process's socket gets the query; Ctrl-Z and SIGSTOP do not take the host down; a local
user who is neither this user nor root cannot feed the host's list of names; sockets numbered
from 1024 on work.  (The same between real hosts, judged by Samba: tests/test_lab_field_host.py.)

Each test runs `python -m mailslot listen` processes on a free datagram port and a free
name-service port; every packet stays on loopback (broadcasts go to 127.255.255.255).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from nobody import as_nobody, python_for_nobody

import mailslot as M

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAIT_S = 20  # the longest a condition is waited for (a busy machine), not a speed assertion

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the host's list of names is Linux-only")


@pytest.fixture
def ports(free_udp_port):
    return free_udp_port(), free_udp_port()


class Listener:
    """`python -m mailslot listen SLOT --name NAME` in the background, in its own process group of
    this test's session (so that SIGTSTP stops it, as Ctrl-Z would)."""

    def __init__(self, ports, slot, name, *, preexec=None, pass_fds=()):
        port, ns_port = ports
        env = dict(os.environ, LANMSG_PORT=str(port), LANMSG_NS_PORT=str(ns_port))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailslot", "listen", slot, "--name", name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec or os.setpgrp,
            pass_fds=pass_fds,
        )
        self.first = self.proc.stdout.readline()
        assert self.first.startswith("listening on"), self.first + self.proc.stderr.read()
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def wait_for_line(self, text):
        deadline = time.monotonic() + WAIT_S
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"no line with {text!r}: {self.lines}"
            time.sleep(0.02)

    def state(self):
        with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2 :][:1].decode()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
        err = self.proc.stderr.read()
        self.proc.wait(timeout=10)
        return err


@pytest.fixture
def listeners():
    started = []

    def start(*args, **kw):
        listener = Listener(*args, **kw)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        err = listener.stop()
        assert "Traceback" not in err and "name service error" not in err, err


def ask(ns_port, packet, timeout=2.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", ns_port))
        try:
            return M.decode_ns_packet(s.recvfrom(2048)[0])
        except TimeoutError:
            return None


def query(ns_port, name, *, recursion=False, timeout=2.0):
    """The rcode of a unicast NAME QUERY for ``name`` (None: no answer)."""
    p = ask(ns_port, M.ns_name_query(0x77, M.NetbiosName(name), broadcast=False, recursion=recursion), timeout)
    return None if p is None else p.rcode


def eventually(condition, what):
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def write_from_elsewhere(port, slot, name, text):
    """A unicast mailslot write to this host's address, as another computer's arrives: from a
    socket of its own (mailslot.write would send from the port itself, and hand a datagram it
    receives back straight to its owner, whichever process holds the newest socket)."""
    d = M.build_datagram(
        msg_type=M.MSG_DIRECT_UNIQUE,
        source="SOMEONE",
        destination=M.NetbiosName(name),
        mailslot=slot,
        data=text.encode(),
        source_ip="127.0.0.1",
        dgm_id=M.next_dgm_id(),
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(M.encode_datagram(d), ("127.0.0.1", port))


def test_every_name_of_the_host_is_answered_whichever_process_gets_the_query(ports, listeners):
    alpha = listeners(ports, "slota", "ALPHA")
    listeners(ports, "slotb", "BETA")  # bound last: it gets every unicast
    ns_port = ports[1]
    eventually(lambda: query(ns_port, "ALPHA") == 0, "ALPHA answered by the later process")
    for name in ("ALPHA", "BETA"):
        assert query(ns_port, name) == 0 and query(ns_port, name, recursion=True) == 0
    assert query(ns_port, "NOBODY") == M.NS_RCODE_NAM_ERR
    assert query(ns_port, "NOBODY", recursion=True, timeout=0.5) is None
    status = ask(ns_port, M.ns_node_status_query(3))
    names, _ = M.decode_node_status(status.answers[0].rdata)
    assert sorted(n.name for n in names) == ["ALPHA", "BETA", "WORKGROUP"]
    write_from_elsewhere(ports[0], "slota", "ALPHA", "to alpha by unicast")
    alpha.wait_for_line("to alpha by unicast")


@pytest.mark.parametrize("signum", [signal.SIGTSTP, signal.SIGSTOP], ids=["ctrl-z", "sigstop"])
def test_a_stopped_process_does_not_take_the_hosts_unicasts_with_it(ports, listeners, signum):
    """Ctrl-Z: the process gives its shared sockets up before it stops.  SIGSTOP cannot be caught:
    the others notice (the kernel's process state) and the leader binds its sockets afresh."""
    alpha = listeners(ports, "slota", "ALPHA")
    beta = listeners(ports, "slotb", "BETA")  # bound last: it would get every unicast
    ns_port = ports[1]
    eventually(lambda: query(ns_port, "ALPHA") == 0, "ALPHA answered")
    os.kill(beta.proc.pid, signum)
    eventually(lambda: beta.state() == "T", "the later process stopped")
    eventually(lambda: query(ns_port, "ALPHA", timeout=0.5) == 0, "answered while the later process is stopped")
    write_from_elsewhere(ports[0], "slota", "ALPHA", "while beta sleeps")
    alpha.wait_for_line("while beta sleeps")
    os.kill(beta.proc.pid, signal.SIGCONT)
    eventually(lambda: beta.state() != "T", "the later process runs again")
    eventually(lambda: query(ns_port, "BETA") == 0, "BETA answered again")
    write_from_elsewhere(ports[0], "slotb", "BETA", "beta is back")
    beta.wait_for_line("beta is back")


def release_watcher(ns_port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.255.255.255", ns_port))  # gets the broadcasts only
    s.settimeout(0.2)
    return s


def releases(watcher):
    out = []
    while True:
        try:
            p = M.decode_ns_packet(watcher.recv(2048))
        except (TimeoutError, M.DecodeError):
            return out
        if p.opcode == M.NS_OP_RELEASE:
            out.append(p.questions[0].name.name)


def test_the_last_process_holding_a_name_releases_it_and_only_it(ports, listeners):
    first = listeners(ports, "slota", "SHARED")
    eventually(lambda: query(ports[1], "SHARED") == 0, "SHARED answered")
    with release_watcher(ports[1]) as watcher:
        second = listeners(ports, "slotb", "SHARED")
        second.stop()
        assert "SHARED" not in releases(watcher), "the first process still holds it"
        assert query(ports[1], "SHARED") == 0
        first.stop()
        eventually(lambda: "SHARED" in releases(watcher), "the last one released it")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as another user (nobody)")
def test_another_user_cannot_feed_or_silence_the_hosts_names(ports, listeners):
    """User nobody (without UDP 137) squats names like lanmsg's and sends it made-up entries."""
    port, ns_port = ports
    squatter = f"""
import os, socket, time, sys
sys.path.insert(0, {ROOT!r})
import mailslot as M
names = ("lanmsg-host/{port}/1.00000000", "lanmsg-host/{port}/%d.0badc0de" % os.getpid())
socks = []
for name in names:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\\0" + name)
    s.setblocking(False)
    socks.append(s)
entry = M._encode_member("active", time.monotonic() + 99, True, [M.HostName(M.NetbiosName("EVIL"), False)], hello=True)
deadline = time.monotonic() + 6
while time.monotonic() < deadline:
    for line in open("/proc/net/unix"):
        path = line.split()[-1]
        if path.startswith("@lanmsg-host/{port}/") and path[1:] not in names:
            for s in socks:
                try:
                    s.sendto(entry, "\\0" + path[1:])
                    s.sendto(os.urandom(64), "\\0" + path[1:])
                except OSError:
                    pass
    time.sleep(0.1)
"""
    python = python_for_nobody()
    if python is None:
        pytest.skip("no Python that user nobody can run with this repository (e.g. it lies under /root)")
    nobody = subprocess.Popen([python, "-c", squatter], preexec_fn=as_nobody, cwd="/")
    try:
        time.sleep(0.5)  # the squatter's sockets exist before lanmsg starts
        listeners(ports, "slota", "ALPHA")
        eventually(lambda: query(ns_port, "ALPHA") == 0, "ALPHA answered")
        for _ in range(10):
            assert query(ns_port, "EVIL") == M.NS_RCODE_NAM_ERR, "a name fed by another user was answered"
            time.sleep(0.2)
        broadcast = ask(ns_port, M.ns_name_query(5, M.NetbiosName("ALPHA"), broadcast=True))
        assert broadcast is not None and broadcast.rcode == 0, "a squatter silenced the broadcast answers"
    finally:
        nobody.kill()
        nobody.wait()


def test_a_listener_whose_sockets_are_numbered_from_1024_on(ports, listeners):
    """Regression: select() refuses descriptors >= 1024; the responder thread died silently."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip(f"the hard limit of open files is {hard}; 1,300 are needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1300), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        listener = listeners(ports, "slota", "MANYFILES", pass_fds=held)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    fds = [int(fd) for fd in os.listdir(f"/proc/{listener.proc.pid}/fd")]
    assert max(fds) >= 1024
    eventually(lambda: query(ports[1], "MANYFILES") == 0, "the responder answers")
    write_from_elsewhere(ports[0], "slota", "MANYFILES", "many files")
    listener.wait_for_line("many files")
    assert query(ports[1], "MANYFILES") == 0 and listener.proc.poll() is None
